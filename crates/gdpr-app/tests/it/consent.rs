//! Consent: records of consent-based forms need current consent; the proof is complete; the
//! history only grows; withdrawal is as easy as giving and takes effect at once.

use gdpr_app::AppError;
use gdpr_consent::{ConsentAction, ConsentError, ConsentStatus, LawfulBasis};
use gdpr_ports::ConsentStore;
use gdpr_testkit::fake;
use serde_json::json;

use crate::helpers::{contractor, web, world};

#[tokio::test]
async fn a_record_needs_current_consent_when_its_purpose_rests_on_consent() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let s = w.subject(1).await;

    let err = w
        .app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::ConsentRequired { purpose } if purpose == "contractors"),
        "{err:?}"
    );

    w.app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    let record = w
        .app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    assert_eq!(record.values.len(), 4);

    w.app
        .withdraw_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    let err = w
        .app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::ConsentRequired { .. }),
        "withdrawal takes effect at once"
    );
}

#[tokio::test]
async fn a_new_version_requiring_reconsent_stops_old_consents_counting() {
    let w = world().await;
    let (form, consent, s) = w.consenting_subject(1).await;

    w.app
        .publish_consent_version(w.ctx, consent.id, "Typo fixed.", false)
        .await
        .unwrap();
    assert!(
        w.app
            .submit_record(w.ctx, form.id, s.id, &contractor(1))
            .await
            .is_ok()
    );

    let v3 = w
        .app
        .publish_consent_version(
            w.ctx,
            consent.id,
            "We now also share data with payroll.",
            true,
        )
        .await
        .unwrap();
    assert!(matches!(
        w.app
            .submit_record(w.ctx, form.id, s.id, &contractor(1))
            .await,
        Err(AppError::ConsentRequired { .. })
    ));
    let state = w.app.consent_state(w.ctx, s.id).await.unwrap();
    assert!(matches!(
        state[0].status,
        ConsentStatus::ReconsentRequired { .. }
    ));

    let receipt = w
        .app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    assert_eq!(receipt.consent_form_version, v3.latest().hash.to_string());
    assert!(
        w.app
            .submit_record(w.ctx, form.id, s.id, &contractor(1))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn forms_without_a_consent_form_or_under_another_basis() {
    let w = world().await;
    w.app
        .define_purpose(w.ctx, "newsletter", "Monthly news", LawfulBasis::Consent)
        .await
        .unwrap();
    let unattached = w
        .app
        .define_form(
            w.ctx,
            "Signups",
            fake::contractors_schema().specs(),
            "newsletter",
        )
        .await
        .unwrap();
    let s = w.subject(1).await;
    assert!(matches!(
        w.app
            .submit_record(w.ctx, unattached.id, s.id, &contractor(1))
            .await,
        Err(AppError::ConsentFormMissing)
    ));

    w.app
        .define_purpose(
            w.ctx,
            "invoicing",
            "Invoicing contractors",
            LawfulBasis::Contract,
        )
        .await
        .unwrap();
    let invoices = w
        .app
        .define_form(
            w.ctx,
            "Invoices",
            fake::contractors_schema().specs(),
            "invoicing",
        )
        .await
        .unwrap();
    assert!(
        w.app
            .submit_record(w.ctx, invoices.id, s.id, &contractor(1))
            .await
            .is_ok()
    );
    assert!(matches!(
        w.app
            .publish_consent_form(w.ctx, "invoicing", "t", "x")
            .await,
        Err(AppError::Consent(ConsentError::NotConsentBased { .. }))
    ));
}

#[tokio::test]
async fn the_proof_keeps_who_when_which_text_how_and_a_pseudonymised_where() {
    let w = world().await;
    let (_, consent) = w.contractors().await;
    let s = w.subject(1).await;
    let receipt = w
        .app
        .give_consent(w.ctx, s.id, consent.id, web(Some("203.0.113.77")))
        .await
        .unwrap();
    let history = w.store.consent_history(w.ctx.tenant, s.id).await.unwrap();
    let event = &history[0];
    assert_eq!(event.subject, s.id);
    assert_eq!(event.at, gdpr_ports::Clock::now(&w.clock));
    assert_eq!(event.form_version, consent.latest().hash);
    assert_eq!(event.method, gdpr_consent::ConsentMethod::WebForm);
    assert_eq!(event.source.unwrap().to_string(), "203.0.113.0/24");
    let json = serde_json::to_string(&receipt).unwrap();
    assert!(
        !json.contains("203.0.113.77") && !json.contains(s.email.as_ref().unwrap().expose_pii())
    );
    assert_eq!(receipt.pii_principal_id, s.id.to_string());
    assert_eq!(receipt.pii_controllers[0].name, "LogAlto SAS");
    let categories = &receipt.services[0].purposes[0].pii_category;
    assert_eq!(categories, &["email", "full_name", "phone"]);
    assert!(
        !receipt.services[0].purposes[0].third_party_disclosure,
        "no recipient in the register"
    );
    // Once a recipient of this purpose's data is registered, receipts say it is disclosed.
    w.app
        .put_recipient(
            w.ctx,
            None,
            gdpr_rights::Recipient {
                name: "Staffing partner".into(),
                role: gdpr_rights::RecipientRole::Recipient,
                description: String::new(),
                purposes: vec![consent.purpose.clone()],
                categories: vec![gdpr_pii::PiiCategory::Email],
                country: gdpr_rights::Country::parse("FR").ok(),
                location: None,
                safeguard: gdpr_rights::Safeguard::None,
                contract: None,
            },
        )
        .await
        .unwrap();
    let receipt = w
        .app
        .withdraw_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    assert!(receipt.services[0].purposes[0].third_party_disclosure);
}

#[tokio::test]
async fn the_history_only_grows_and_every_event_has_a_receipt() {
    let w = world().await;
    let (_, consent, s) = w.consenting_subject(1).await;
    w.app
        .withdraw_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    assert!(matches!(
        w.app
            .withdraw_consent(w.ctx, s.id, consent.id, web(None))
            .await,
        Err(AppError::Consent(ConsentError::NotGiven))
    ));
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    let receipts = w.app.consent_receipts(w.ctx, s.id).await.unwrap();
    let actions: Vec<_> = receipts.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            ConsentAction::Given,
            ConsentAction::Withdrawn,
            ConsentAction::Given
        ]
    );
    assert!(w.app.has_consent(w.ctx, s.id, "contractors").await.unwrap());
}

#[tokio::test]
async fn published_versions_cannot_be_rewritten_through_storage() {
    let w = world().await;
    let (_, consent) = w.contractors().await;
    let stored = w.app.consent_form(w.ctx, consent.id).await.unwrap();
    let mut versions = stored.versions().to_vec();
    versions[0].text = "a different text".into();
    versions[0].hash = gdpr_consent::ContentHash::of("a different text");
    let forged = gdpr_consent::ConsentForm::from_parts(
        stored.id,
        stored.tenant,
        stored.purpose.clone(),
        stored.title.clone(),
        versions,
    )
    .unwrap();
    assert!(matches!(
        w.store.save_consent_form(&forged).await,
        Err(gdpr_ports::StoreError::Conflict(_))
    ));
    assert_eq!(w.app.consent_form(w.ctx, consent.id).await.unwrap(), stored);
}

#[tokio::test]
async fn a_record_that_breaks_the_schema_is_refused_field_by_field() {
    let w = world().await;
    let (form, _, s) = w.consenting_subject(1).await;
    let err = w
        .app
        .submit_record(
            w.ctx,
            form.id,
            s.id,
            &json!({"email": "x", "day_rate": "a lot", "age": 3}),
        )
        .await
        .unwrap_err();
    let AppError::InvalidRecord(errors) = err else {
        panic!()
    };
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["age", "email", "full_name", "day_rate"]);
    assert!(
        w.app
            .records(w.ctx, None, None, gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_form_field_without_a_category_is_refused() {
    let w = world().await;
    w.app
        .define_purpose(w.ctx, "hr", "Staff records", LawfulBasis::Contract)
        .await
        .unwrap();
    let mut fields = fake::contractors_schema().specs();
    fields[2].category = None;
    let err = w
        .app
        .define_form(w.ctx, "Staff", fields, "hr")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AppError::InvalidInput { field: "fields", reason } if reason.contains("'phone' has no PII category")),
        "{err}"
    );
    assert!(w.app.forms(w.ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn consent_and_records_need_the_subject_to_exist_not_its_profile_opened() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let s = w.subject(1).await;
    // Data minimisation: none of these reads the subject's personal data, so they work even
    // when no profile can be opened.
    w.store.set_profiles_unreadable(true);
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    let check = w
        .app
        .processing_check(w.ctx, s.id, "contractors")
        .await
        .unwrap();
    assert!(check.consented && check.may_process);
    w.app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    // What does open the profile fails, as it should.
    assert!(matches!(
        w.app.subject(w.ctx, s.id).await,
        Err(AppError::Store(gdpr_ports::StoreError::Corrupt(_)))
    ));
    // An unknown subject is still not found.
    let unknown = gdpr_pii::SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
    assert!(matches!(
        w.app.processing_check(w.ctx, unknown, "contractors").await,
        Err(AppError::NotFound("subject"))
    ));
}

/// A retired consent form collects no new consent, while the consents given under it stay as
/// proof (still in force, still withdrawable); its retirement is journaled.
#[tokio::test]
async fn a_retired_consent_form_takes_no_new_consent_and_keeps_the_old_as_proof() {
    let w = crate::helpers::world_with(crate::backup_restore::config()).await;
    let (form, consent) = w.contractors().await;
    let (before, after) = (w.subject(1).await, w.subject(2).await);
    w.app
        .give_consent(w.ctx, before.id, consent.id, web(None))
        .await
        .unwrap();
    let retired = w.app.retire_consent_form(w.ctx, consent.id).await.unwrap();
    assert!(retired.retired_at.is_some());
    assert!(matches!(
        w.app
            .give_consent(w.ctx, after.id, consent.id, web(None))
            .await,
        Err(AppError::Consent(ConsentError::Retired))
    ));
    assert!(matches!(
        w.app
            .publish_consent_version(w.ctx, consent.id, "a new text", false)
            .await,
        Err(AppError::Consent(ConsentError::Retired))
    ));
    assert!(matches!(
        w.app.retire_consent_form(w.ctx, consent.id).await,
        Err(AppError::Consent(ConsentError::Retired))
    ));
    // The consent given before still counts, and can be withdrawn.
    w.app
        .submit_record(w.ctx, form.id, before.id, &contractor(1))
        .await
        .unwrap();
    w.app
        .withdraw_consent(w.ctx, before.id, consent.id, web(None))
        .await
        .unwrap();
    let kinds: Vec<&str> = crate::journal::decisions(&w)
        .iter()
        .map(gdpr_rights::Decision::kind)
        .collect();
    assert!(kinds.contains(&"consent_form_retired"), "{kinds:?}");
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.event.action == gdpr_audit::AuditAction::ConsentFormRetired)
    );
}
