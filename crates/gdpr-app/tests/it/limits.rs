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
