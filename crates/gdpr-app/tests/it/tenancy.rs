//! Tenancy: a tenant's context never reaches another tenant's data; foreign ids are "not found".

use gdpr_app::AppError;
use gdpr_ports::Page;
use gdpr_rights::{BatchSelector, HoldGround, RequestKind};

use crate::helpers::{contractor, web, world};

#[tokio::test]
async fn another_tenants_ids_are_not_found_and_stay_untouched() {
    let w = world().await;
    let other = w.other_tenant().await;
    let (form, consent) = w.contractors_in(other).await;
    let s = w.subject_in(other, 1).await;
    w.app
        .give_consent(other, s.id, consent.id, web(None))
        .await
        .unwrap();
    let record = w
        .app
        .submit_record(other, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    let request = w
        .app
        .open_request(other, s.id, RequestKind::Access)
        .await
        .unwrap();
    let me = w.ctx;

    let nf = |r: Result<(), AppError>, what: &str| {
        assert!(matches!(&r, Err(AppError::NotFound(_))), "{what}: {r:?}");
    };
    nf(w.app.subject(me, s.id).await.map(drop), "get subject");
    nf(w.app.record(me, record.id).await.map(drop), "get record");
    nf(w.app.delete_record(me, record.id).await, "delete record");
    nf(w.app.form(me, form.id).await.map(drop), "get form");
    nf(
        w.app.consent_form(me, consent.id).await.map(drop),
        "get consent form",
    );
    nf(
        w.app
            .give_consent(me, s.id, consent.id, web(None))
            .await
            .map(drop),
        "give consent",
    );
    nf(
        w.app
            .withdraw_consent(me, s.id, consent.id, web(None))
            .await
            .map(drop),
        "withdraw",
    );
    nf(
        w.app.request(me, request.request.id).await.map(drop),
        "get request",
    );
    nf(
        w.app
            .extend_request(me, request.request.id, 1, "x")
            .await
            .map(drop),
        "extend request",
    );
    nf(w.app.erase_subject(me, s.id, None).await.map(drop), "erase");
    nf(
        w.app
            .place_legal_hold(me, s.id, HoldGround::LegalClaims, "x")
            .await
            .map(drop),
        "hold",
    );
    nf(w.app.export_subject(me, s.id).await.map(drop), "export");
    nf(
        w.app.consent_state(me, s.id).await.map(drop),
        "consent state",
    );
    nf(
        w.app
            .submit_record(me, form.id, s.id, &contractor(1))
            .await
            .map(drop),
        "submit",
    );
    let email = s.email.as_ref().unwrap().expose_pii();
    nf(
        w.app.find_subject_by_email(me, email).await.map(drop),
        "look-up",
    );

    assert!(w.app.subjects(me, Page::ALL).await.unwrap().is_empty());
    assert!(
        w.app
            .records(me, None, None, Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.app
            .requests(me, false, Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    let plan = w
        .app
        .plan_batch_erasure(me, &BatchSelector::Subjects { ids: [s.id].into() })
        .await
        .unwrap();
    assert!(plan.subjects.is_empty() && plan.unknown == 1);
    let plan = w
        .app
        .plan_batch_erasure(me, &BatchSelector::Form { form: form.id })
        .await
        .unwrap();
    assert!(plan.subjects.is_empty());

    // The owner still sees all of it, unchanged.
    assert!(w.app.subject(other, s.id).await.is_ok());
    assert!(w.app.record(other, record.id).await.is_ok());
    assert!(w.app.has_consent(other, s.id, "contractors").await.unwrap());
}
