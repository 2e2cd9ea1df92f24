//! Requests: due one calendar month after receipt, one extension with a reason, overdue visible.

use gdpr_app::AppError;
use gdpr_ports::Page;
use gdpr_rights::{RequestError, RequestKind};
use time::macros::{date, datetime};

use crate::helpers::world;

#[tokio::test]
async fn a_request_shows_its_due_date_and_becomes_overdue() {
    let w = world().await;
    let s = w.subject(1).await;
    // The world's clock reads 31 January: due on the last day of February.
    let opened = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();
    assert_eq!(opened.due_date, date!(2026 - 02 - 28));
    assert!(!opened.overdue);

    w.clock.set(datetime!(2026-02-28 23:59 UTC));
    assert!(
        w.app
            .requests(w.ctx, true, Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    w.clock.set(datetime!(2026-03-01 00:00 UTC));
    let overdue = w.app.requests(w.ctx, true, Page::ALL).await.unwrap();
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].overdue);
    assert_eq!(w.app.overdue_request_count().await.unwrap(), 1);

    // Not answered before the requester's identity is verified (Art. 12(2), 12(6)).
    assert!(matches!(
        w.app.complete_request(w.ctx, opened.request.id).await,
        Err(AppError::Request(RequestError::IdentityNotVerified))
    ));
    let verified = w
        .app
        .verify_request_identity(
            w.ctx,
            opened.request.id,
            gdpr_rights::VerificationMethod::EmailCode,
            Some("a code sent to the address on file, given back"),
        )
        .await
        .unwrap();
    let v = verified.request.verification.unwrap();
    assert_eq!(v.method, gdpr_rights::VerificationMethod::EmailCode);
    assert!(v.by.starts_with("api_key:"), "{}", v.by);
    assert_eq!(v.at, datetime!(2026-03-01 00:00 UTC));
    assert!(matches!(
        w.app
            .verify_request_identity(
                w.ctx,
                opened.request.id,
                gdpr_rights::VerificationMethod::InPerson,
                None
            )
            .await,
        Err(AppError::Request(RequestError::AlreadyVerified))
    ));
    w.app
        .complete_request(w.ctx, opened.request.id)
        .await
        .unwrap();
    let audit = w.app.audit_log(w.ctx, 0, 100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == gdpr_audit::AuditAction::RequestIdentityVerified)
    );
    assert!(
        w.app
            .requests(w.ctx, true, Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.app.overdue_request_count().await.unwrap(), 0);
}

#[tokio::test]
async fn one_extension_of_up_to_two_months_with_a_reason() {
    let w = world().await;
    let s = w.subject(1).await;
    let r = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Portability)
        .await
        .unwrap();
    let id = r.request.id;
    assert!(matches!(
        w.app.extend_request(w.ctx, id, 2, "").await,
        Err(AppError::Request(RequestError::ReasonRequired))
    ));
    let extended = w
        .app
        .extend_request(w.ctx, id, 2, "records span 14 forms")
        .await
        .unwrap();
    assert_eq!(extended.due_date, date!(2026 - 04 - 30));
    assert!(matches!(
        w.app.extend_request(w.ctx, id, 1, "again").await,
        Err(AppError::Request(RequestError::AlreadyExtended))
    ));
    w.clock.set(datetime!(2026-04-15 00:00 UTC));
    assert!(
        w.app
            .requests(w.ctx, true, Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = w
        .app
        .refuse_request(w.ctx, id, "identity could not be verified")
        .await
        .unwrap();
    assert!(matches!(
        w.app.complete_request(w.ctx, refused.request.id).await,
        Err(AppError::Request(RequestError::Closed(_)))
    ));
}

#[tokio::test]
async fn a_request_needs_a_subject_of_the_tenant() {
    let w = world().await;
    assert!(matches!(
        w.app
            .open_request(
                w.ctx,
                gdpr_pii::SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
                RequestKind::Erasure
            )
            .await,
        Err(AppError::NotFound("subject"))
    ));
}
