//! Embedding the compliance core in your own Rust service, with the in-memory adapters.
//!
//! `cargo run -p gdpr-app --example embed` walks through the policy's "Contractors" story:
//! a form under consent, a subject, a refused record, consent, an accepted record, erasure.
#![allow(clippy::print_stdout, reason = "an example shows its output")]

use gdpr_app::{Adapters, App, AppConfig, AppError, Ctx, GiveConsent, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentMethod, LawfulBasis};
use gdpr_testkit::{InMemory, ManualClock, RecordingEncryptor, fake};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AppError> {
    // Swap these for the SeaORM, S3, OpenPGP and Rollbar adapters in production.
    let app = App::<InMemory>::new(
        Adapters {
            store: Default::default(),
            backups: Default::default(),
            encryptor: RecordingEncryptor::default(),
            reporter: Default::default(),
            clock: ManualClock::at(time::OffsetDateTime::now_utc()),
            signer: Default::default(),
        },
        AppConfig::default(),
    );

    let tenant = app
        .create_tenant(Actor::Operator, "LogAlto SAS", "dpo@logalto.example")
        .await?;
    let ctx = Ctx::new(tenant.id, Actor::System);
    app.define_purpose(
        ctx,
        "contractors",
        "Managing contractors",
        LawfulBasis::Consent,
    )
    .await?;
    let consent = app
        .publish_consent_form(ctx, "contractors", "Contractor data", "I agree to ...")
        .await?;
    let form = app
        .define_form(
            ctx,
            "Contractors",
            fake::contractors_schema().specs(),
            "contractors",
        )
        .await?;
    app.attach_consent_form(ctx, form.id, consent.id).await?;

    let ada = app
        .register_subject(
            ctx,
            NewSubject {
                email: Some("ada@example.org".into()),
                full_name: Some("Ada Lovelace".into()),
                ip_address: None,
            },
        )
        .await?;
    let record = json!({"email": "ada@example.org", "full_name": "Ada Lovelace"});

    let refused = app
        .submit_record(ctx, form.id, ada.id, &record)
        .await
        .unwrap_err();
    println!("without consent: {refused}");

    let how = GiveConsent {
        method: ConsentMethod::WebForm,
        source_ip: None,
        version: None,
    };
    let receipt = app.give_consent(ctx, ada.id, consent.id, how).await?;
    println!(
        "consent receipt {} for version {}",
        receipt.consent_receipt_id, receipt.consent_form_version
    );
    let accepted = app.submit_record(ctx, form.id, ada.id, &record).await?;
    println!("record {} accepted", accepted.id);

    let erased = app.erase_subject(ctx, ada.id, None).await?;
    for place in &erased.places {
        println!("erasure: {:?} -> {:?}", place.place, place.outcome);
    }
    let head = app
        .verify_audit(Some(tenant.id))
        .await?
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    println!(
        "audit chain verified: {} records, head {}",
        head.records, head.head
    );
    Ok(())
}
