//! Restriction (Art. 18) and objection (Art. 21) over the fakes.

use gdpr_app::AppError;
use gdpr_audit::AuditAction;
use gdpr_consent::LawfulBasis;
use gdpr_ports::ProcessingLimitStore;
use gdpr_rights::LimitKind;

use crate::erasure::subject_with_data;
use crate::helpers::{contractor, world};

#[tokio::test]
async fn a_restriction_stops_processing_but_not_the_subjects_rights_until_lifted() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let form = w.app.forms(w.ctx).await.unwrap()[0].clone();
    let r = w
        .app
        .place_limit(
            w.ctx,
            s.id,
            LimitKind::Restriction,
            None,
            "accuracy of the address contested",
        )
        .await
        .unwrap();
    let err = w
        .app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::ProcessingBlocked(b) if b.kind == LimitKind::Restriction && b.limit == r.id)
    );
    assert!(!err.to_string().contains('@'), "{err}");
    let check = w
        .app
        .processing_check(w.ctx, s.id, "contractors")
        .await
        .unwrap();
    assert!(check.consented && !check.may_process);
    // The subject's own rights still work: access and rectification.
    assert!(w.app.export_subject(w.ctx, s.id).await.is_ok());

    let lifted = w.app.lift_limit(w.ctx, s.id, r.id).await.unwrap();
    assert!(!lifted.is_active());
    assert!(matches!(
        w.app.lift_limit(w.ctx, s.id, r.id).await,
        Err(AppError::Conflict(_))
    ));
    w.app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    assert!(
        w.app
            .processing_check(w.ctx, s.id, "contractors")
            .await
            .unwrap()
            .may_process
    );
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    for action in [
        AuditAction::ProcessingLimited,
        AuditAction::ProcessingLimitLifted,
    ] {
        let entry = audit.iter().find(|a| a.event.action == action).unwrap();
        assert_eq!(entry.event.details["article"], "Art. 18");
        assert!(
            !entry
                .event
                .details
                .values()
                .any(|v| v.contains("contested")),
            "no reason in the audit"
        );
    }
}

#[tokio::test]
async fn an_objection_stops_legitimate_interest_processing_only() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    w.app
        .define_purpose(
            w.ctx,
            "analytics",
            "Usage statistics",
            LawfulBasis::LegitimateInterests,
        )
        .await
        .unwrap();
    let specs = gdpr_testkit::fake::contractors_schema().specs();
    let stats = w
        .app
        .define_form(w.ctx, "Stats", specs, "analytics")
        .await
        .unwrap();
    let contractors = w.app.forms(w.ctx).await.unwrap()[0].clone();
    // Naming a consent-based purpose is refused: Art. 21(1) concerns legitimate interests.
    let refused = w
        .app
        .place_limit(w.ctx, s.id, LimitKind::Objection, Some("contractors"), "no")
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        AppError::InvalidInput {
            field: "purpose",
            ..
        }
    ));
    w.app
        .place_limit(
            w.ctx,
            s.id,
            LimitKind::Objection,
            None,
            "objects to profiling",
        )
        .await
        .unwrap();
    let err = w
        .app
        .submit_record(w.ctx, stats.id, s.id, &contractor(1))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::ProcessingBlocked(b) if b.kind == LimitKind::Objection));
    // Consent-based processing goes on.
    w.app
        .submit_record(w.ctx, contractors.id, s.id, &contractor(1))
        .await
        .unwrap();
    let check = w
        .app
        .processing_check(w.ctx, s.id, "analytics")
        .await
        .unwrap();
    assert!(!check.may_process);
    assert_eq!(check.blocked.unwrap().kind, LimitKind::Objection);
    // Bad input changes nothing.
    let before = w.app.limits(w.ctx, s.id).await.unwrap().len();
    for (kind, purpose, reason) in [
        (LimitKind::Restriction, Some("analytics"), "why"),
        (LimitKind::Objection, None, " "),
        (LimitKind::Objection, Some("unknown-purpose"), "why"),
    ] {
        assert!(
            w.app
                .place_limit(w.ctx, s.id, kind, purpose, reason)
                .await
                .is_err()
        );
    }
    assert_eq!(w.app.limits(w.ctx, s.id).await.unwrap().len(), before);
    // Another tenant sees nothing.
    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.limits(other, s.id).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn erasure_takes_the_subjects_limits_with_it() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    w.app
        .place_limit(
            w.ctx,
            s.id,
            LimitKind::Restriction,
            None,
            "pending a court decision",
        )
        .await
        .unwrap();
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    assert!(
        w.store
            .limits_of(w.ctx.tenant, s.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Restriction and withdrawal stop reading for processing too, not only new records: the
/// records stay stored, the subject's own access export works, and a read for legal claims is
/// allowed and audited as such.
#[tokio::test]
async fn stopped_processing_keeps_records_stored_but_unread_except_for_legal_claims() {
    use gdpr_app::ReadUse;
    use gdpr_ports::Page;
    let w = world().await;
    let [restricted, withdrew, free] = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
    ];
    let form = w.app.forms(w.ctx).await.unwrap()[0].clone();
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    let restriction = w
        .app
        .place_limit(
            w.ctx,
            restricted.id,
            LimitKind::Restriction,
            None,
            "contested",
        )
        .await
        .unwrap();
    w.app
        .withdraw_consent(w.ctx, withdrew.id, consent, crate::helpers::web(None))
        .await
        .unwrap();
    let all = w
        .app
        .record_page(w.ctx, Some(form.id), None, Page::ALL, ReadUse::LegalClaims)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 6, "everything is still stored");
    let of = |s: gdpr_pii::SubjectId| all.items.iter().find(|r| r.subject == s).unwrap().id;

    // Read for processing: refused one by one, and withheld from a listing.
    assert!(matches!(
        w.app.record(w.ctx, of(restricted.id)).await,
        Err(AppError::ProcessingBlocked(b)) if b.limit == restriction.id
    ));
    assert!(matches!(
        w.app.record(w.ctx, of(withdrew.id)).await,
        Err(AppError::ConsentRequired { .. })
    ));
    assert!(w.app.record(w.ctx, of(free.id)).await.is_ok());
    assert!(matches!(
        w.app
            .records(w.ctx, None, Some(restricted.id), Page::ALL)
            .await,
        Err(AppError::ProcessingBlocked(_))
    ));
    let page = w
        .app
        .record_page(w.ctx, Some(form.id), None, Page::ALL, ReadUse::Processing)
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.withheld), (2, 4));
    assert!(page.items.iter().all(|r| r.subject == free.id));

    // For legal claims, and the subject's own access: allowed.
    let claimed = w
        .app
        .record_for(w.ctx, of(restricted.id), ReadUse::LegalClaims)
        .await
        .unwrap();
    assert_eq!(claimed.subject, restricted.id);
    assert_eq!(
        w.app
            .export_subject(w.ctx, withdrew.id)
            .await
            .unwrap()
            .records
            .len(),
        2
    );
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.event.action == AuditAction::RecordViewed
                && a.event.subject == Some(restricted.id)
                && a.event.details["use"] == "legal_claims")
    );

    // Lifted, the restricted subject's records are read again.
    w.app
        .lift_limit(w.ctx, restricted.id, restriction.id)
        .await
        .unwrap();
    assert!(w.app.record(w.ctx, of(restricted.id)).await.is_ok());
}
