//! Deadlines announced: an open request once within a week of its due date, once past it,
//! again for an extension's new date; never a closed one; and the announcements reach the
//! webhooks as `request.due_soon` and `request.overdue`.

use gdpr_audit::{Actor, AuditAction};
use gdpr_rights::RequestKind;
use gdpr_webhooks::{Event, EventType};
use time::Duration;

use crate::helpers::{audited, world};

const STAGES: [AuditAction; 2] = [AuditAction::RequestDueSoon, AuditAction::RequestOverdue];

#[tokio::test]
async fn an_open_request_is_announced_once_due_soon_once_overdue_and_a_closed_one_never() {
    let w = world().await;
    let s = w.subject(1).await;
    // Opened on 31 January: due on the last day of February.
    let open = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();
    let closed = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Erasure)
        .await
        .unwrap();
    w.app
        .refuse_request(w.ctx, closed.request.id, "manifestly unfounded")
        .await
        .unwrap();
    assert_eq!(open.due_date.to_string(), "2026-02-28");

    // Eight days before: nothing yet.
    w.clock.set(time::macros::datetime!(2026-02-20 10:00 UTC));
    let report = w.app.announce_request_deadlines().await.unwrap();
    assert_eq!((report.due_soon, report.overdue), (0, 0));
    // Seven days before: due soon, once however often the job runs.
    w.clock.advance(Duration::days(1));
    assert_eq!(
        w.app.announce_request_deadlines().await.unwrap().due_soon,
        1
    );
    assert_eq!(
        w.app.announce_request_deadlines().await.unwrap().due_soon,
        0
    );
    // The due date itself is still in time; the day after is overdue, once.
    w.clock.set(time::macros::datetime!(2026-02-28 23:00 UTC));
    assert_eq!(w.app.announce_request_deadlines().await.unwrap().overdue, 0);
    w.clock.advance(Duration::hours(2));
    assert_eq!(w.app.announce_request_deadlines().await.unwrap().overdue, 1);
    assert_eq!(w.app.announce_request_deadlines().await.unwrap().overdue, 0);
    assert_eq!(
        audited(&w, &STAGES).await,
        [AuditAction::RequestDueSoon, AuditAction::RequestOverdue]
    );

    // Each announcement is the system's, names the request and its due date, and is a
    // webhook event.
    let log = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let overdue = log
        .iter()
        .find(|r| r.event.action == AuditAction::RequestOverdue)
        .unwrap();
    assert_eq!(overdue.event.actor, Actor::System);
    assert_eq!(overdue.event.subject, Some(s.id));
    assert_eq!(
        overdue.event.details["request"],
        open.request.id.to_string()
    );
    assert_eq!(overdue.event.details["due"], "2026-02-28");
    let event = Event::from_audit(overdue).unwrap();
    assert_eq!(event.kind, EventType::RequestOverdue);
    assert!(event.payload().contains("\"type\":\"request.overdue\""));
}

#[tokio::test]
async fn an_extension_is_announced_for_its_new_date() {
    let w = world().await;
    let s = w.subject(1).await;
    let open = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();
    w.clock.set(time::macros::datetime!(2026-02-25 10:00 UTC));
    assert_eq!(
        w.app.announce_request_deadlines().await.unwrap().due_soon,
        1
    );
    // Extended by a month: due on 31 March, announced again a week before it.
    w.app
        .extend_request(w.ctx, open.request.id, 1, "many records to gather")
        .await
        .unwrap();
    assert_eq!(
        w.app.announce_request_deadlines().await.unwrap().due_soon,
        0
    );
    w.clock.set(time::macros::datetime!(2026-03-24 10:00 UTC));
    assert_eq!(
        w.app.announce_request_deadlines().await.unwrap().due_soon,
        1
    );
    // Completed in time: nothing more.
    w.app
        .verify_request_identity(
            w.ctx,
            open.request.id,
            gdpr_rights::VerificationMethod::InPerson,
            None,
        )
        .await
        .unwrap();
    w.app
        .complete_request(w.ctx, open.request.id)
        .await
        .unwrap();
    w.clock.set(time::macros::datetime!(2026-04-10 10:00 UTC));
    assert_eq!(w.app.announce_request_deadlines().await.unwrap().overdue, 0);
    assert_eq!(
        audited(&w, &STAGES).await,
        [AuditAction::RequestDueSoon, AuditAction::RequestDueSoon]
    );
}
