//! The use cases over the real store: the app's rules hold on SQLite and PostgreSQL too.

use gdpr_app::{Adapters, App, AppConfig, Ctx, GiveConsent, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentMethod, LawfulBasis};
use gdpr_ports::{Page, Ports, RecordStore};
use gdpr_rights::ErasureStatus;
use gdpr_store_seaorm::SeaOrmStore;
use gdpr_testkit::{
    ManualClock, MemoryObjectStore, RecordingEncryptor, RecordingErrorReporter, fake,
};
use serde_json::json;

use crate::harness::databases;
use crate::subjects::at;

pub(crate) struct OnSeaOrm;

impl Ports for OnSeaOrm {
    type Store = SeaOrmStore;
    type Backups = MemoryObjectStore;
    type Encryptor = RecordingEncryptor;
    type Reporter = RecordingErrorReporter;
    type Clock = ManualClock;
    type Signer = gdpr_testkit::HmacSigner;
}

#[tokio::test]
async fn consent_gates_records_and_erasure_completes_on_the_real_store() {
    for db in databases().await {
        let reporter = RecordingErrorReporter::default();
        let app = App::<OnSeaOrm>::new(
            Adapters {
                store: db.store.clone(),
                backups: MemoryObjectStore::default(),
                encryptor: RecordingEncryptor::default(),
                reporter: reporter.clone(),
                clock: ManualClock::at(at(0)),
                signer: gdpr_testkit::HmacSigner::default(),
            },
            AppConfig::default(),
        );
        let tenant = app
            .create_tenant(Actor::Operator, "LogAlto", "dpo@logalto.example")
            .await
            .unwrap();
        let ctx = Ctx::new(tenant.id, Actor::System);
        app.define_purpose(ctx, "contractors", "Contractors", LawfulBasis::Consent)
            .await
            .unwrap();
        let consent = app
            .publish_consent_form(ctx, "contractors", "Data", "I agree")
            .await
            .unwrap();
        let form = app
            .define_form(
                ctx,
                "Contractors",
                fake::contractors_schema().specs(),
                "contractors",
            )
            .await
            .unwrap();
        app.attach_consent_form(ctx, form.id, consent.id)
            .await
            .unwrap();
        let ada = app
            .register_subject(
                ctx,
                NewSubject {
                    email: Some("Ada@Example.org".into()),
                    ..NewSubject::default()
                },
            )
            .await
            .unwrap();
        let values = json!({"email": "ada@example.org", "full_name": "Ada Lovelace"});
        assert!(
            app.submit_record(ctx, form.id, ada.id, &values)
                .await
                .is_err(),
            "{}",
            db.name
        );
        let how = GiveConsent {
            method: ConsentMethod::WebForm,
            source_ip: None,
            version: None,
        };
        app.give_consent(ctx, ada.id, consent.id, how)
            .await
            .unwrap();
        app.submit_record(ctx, form.id, ada.id, &values)
            .await
            .unwrap();
        assert_eq!(
            app.find_subject_by_email(ctx, "ADA@example.org")
                .await
                .unwrap()
                .id,
            ada.id
        );

        let receipt = app.erase_subject(ctx, ada.id, None).await.unwrap();
        assert_eq!(receipt.status(), ErasureStatus::Complete, "{}", db.name);
        assert_eq!(app.erasure_receipt(ctx, receipt.id).await.unwrap(), receipt);
        assert!(!db.store.has_subject_key(tenant.id, ada.id).await.unwrap());
        assert!(
            db.store
                .list_records(tenant.id, None, None, Page::ALL)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(reporter.forgotten(), vec![ada.id]);
        let head = app.verify_audit(Some(tenant.id)).await.unwrap().unwrap();
        assert!(head.records >= 9, "{}: {}", db.name, head.records);
        db.finish().await;
    }
}
