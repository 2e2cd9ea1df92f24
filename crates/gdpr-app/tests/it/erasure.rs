//! Erasure: every place, one transaction, a tombstone without PII, a receipt; holds block it;
//! failures stay visible and are retried; batch dry runs change nothing.

use std::collections::BTreeSet;

use gdpr_app::AppError;
use gdpr_audit::AuditAction;
use gdpr_ports::{ErasureStore, Page};
use gdpr_rights::{
    BatchSelector, ErasureStatus, HoldGround, Outcome, Place, RequestKind, RequestStatus,
};
use serde_json::json;
use time::Duration;

use crate::helpers::{World, contractor, web, world};

pub(crate) async fn subject_with_data(w: &World, seed: u64) -> gdpr_pii::Subject {
    let (form, consent) = match w.app.forms(w.ctx).await.unwrap().first() {
        Some(f) => (
            f.clone(),
            w.app.consent_forms(w.ctx).await.unwrap()[0].clone(),
        ),
        None => w.contractors().await,
    };
    let s = w.subject(seed).await;
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(Some("192.0.2.10")))
        .await
        .unwrap();
    w.app
        .submit_record(w.ctx, form.id, s.id, &contractor(seed))
        .await
        .unwrap();
    w.app
        .submit_record(w.ctx, form.id, s.id, &contractor(seed))
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn erasure_reaches_every_place_and_says_so() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let keep = subject_with_data(&w, 2).await;
    assert!(w.store.rows_about(w.ctx.tenant, s.id) > 0);

    let receipt = w.app.erase_subject(w.ctx, s.id, None).await.unwrap();

    assert_eq!(receipt.status(), ErasureStatus::Complete);
    let count = |place| match receipt.outcome(place) {
        Some(Outcome::Done { count, .. }) => *count,
        other => panic!("{place:?}: {other:?}"),
    };
    assert_eq!(count(Place::Records), Some(2));
    assert_eq!(count(Place::PersonalFields), Some(3));
    assert_eq!(count(Place::DataKey), Some(1));
    assert_eq!(count(Place::Consents), Some(1));
    assert_eq!(count(Place::Backups), Some(0), "no backup held its key");
    assert_eq!(count(Place::ErrorTracker), None);
    assert_eq!(receipt.places.len(), Place::ALL.len());

    assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), 0);
    assert!(!w.store.has_subject_key(w.ctx.tenant, s.id).unwrap());
    assert!(matches!(
        w.app.subject(w.ctx, s.id).await,
        Err(AppError::NotFound("subject"))
    ));
    assert_eq!(w.reporter.forgotten(), vec![s.id]);
    // The other subject is untouched.
    assert_eq!(
        w.app
            .records(w.ctx, None, Some(keep.id), Page::ALL)
            .await
            .unwrap()
            .len(),
        2
    );

    let tombstones = w.store.tombstones(w.ctx.tenant).await.unwrap();
    assert_eq!(tombstones.len(), 1);
    assert_eq!(
        (tombstones[0].subject, tombstones[0].receipt),
        (s.id, receipt.id)
    );
    let tombstone_json = serde_json::to_string(&tombstones[0]).unwrap();
    assert!(
        !tombstone_json.contains("example.org"),
        "ids and time only: {tombstone_json}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tombstone_json)
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        4
    );

    let stored = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert_eq!(stored, receipt);
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let erased = audit
        .iter()
        .find(|r| r.event.action == AuditAction::SubjectErased)
        .unwrap();
    assert_eq!(erased.event.subject, Some(s.id));
    assert_eq!(erased.event.details["receipt"], receipt.id.to_string());
}

#[tokio::test]
async fn a_failed_storage_transaction_erases_nothing_and_writes_no_receipt() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let before = w.store.rows_about(w.ctx.tenant, s.id);
    w.store.set_unavailable(true);
    assert!(matches!(
        w.app.erase_subject(w.ctx, s.id, None).await,
        Err(AppError::Store(_))
    ));
    w.store.set_unavailable(false);
    assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), before);
    assert!(
        w.store
            .unfinished_erasure_receipts()
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.reporter.forgotten().is_empty(),
        "nobody is asked to forget a subject still held"
    );
}

#[tokio::test]
async fn an_unreachable_error_tracker_leaves_the_step_pending_until_a_retry_succeeds() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    w.reporter.fail_next_forgets(2);

    let receipt = w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Pending);
    assert!(matches!(
        receipt.outcome(Place::ErrorTracker),
        Some(Outcome::Pending { attempts: 1, last_error, .. }) if last_error.contains("unavailable")
    ));
    assert_eq!(
        w.store.rows_about(w.ctx.tenant, s.id),
        0,
        "the rest is erased regardless"
    );

    let first = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!((first.receipts, first.attempts, first.completed), (1, 1, 0));
    let still = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert!(matches!(
        still.outcome(Place::ErrorTracker),
        Some(Outcome::Pending { attempts: 2, .. })
    ));

    let second = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!(second.completed, 1);
    let done = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert_eq!(done.status(), ErasureStatus::Complete);
    assert_eq!(w.reporter.forgotten(), vec![s.id]);
    assert_eq!(w.app.retry_pending_erasures().await.unwrap().receipts, 0);
}

#[tokio::test]
async fn a_legal_hold_blocks_erasure_and_the_receipt_and_request_say_why() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let before = w.store.rows_about(w.ctx.tenant, s.id);
    let hold = w
        .app
        .place_legal_hold(w.ctx, s.id, HoldGround::LegalClaims, "litigation 2026-114")
        .await
        .unwrap();
    let request = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Erasure)
        .await
        .unwrap();
    verify(&w, request.request.id).await;

    let receipt = w
        .app
        .erase_subject(w.ctx, s.id, Some(request.request.id))
        .await
        .unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Blocked);
    // The receipt names the hold by ground and id; its free text stays with the hold (a
    // receipt outlives the erasure it records).
    let why = format!("Art. 17(3)(e) (hold {})", hold.id);
    assert!(matches!(receipt.outcome(Place::Records),
        Some(Outcome::Blocked { reason }) if reason.contains(&why)));
    assert!(
        !serde_json::to_string(&receipt)
            .unwrap()
            .contains("litigation")
    );
    assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), before);
    assert!(w.reporter.forgotten().is_empty());
    let request = w.app.request(w.ctx, request.request.id).await.unwrap();
    assert_eq!(request.request.status, RequestStatus::Refused);
    let refusal = request.request.refusal_reason.unwrap();
    assert!(
        refusal.contains(&why) && !refusal.contains("litigation"),
        "{refusal}"
    );

    w.app
        .release_legal_hold(w.ctx, s.id, hold.id)
        .await
        .unwrap();
    let receipt = w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Complete);
}

#[tokio::test]
async fn an_erasure_request_is_completed_by_the_erasure_it_asked_for() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let other = w.subject(2).await;
    let request = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Erasure)
        .await
        .unwrap();
    let access = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();
    assert!(matches!(
        w.app
            .erase_subject(w.ctx, other.id, Some(request.request.id))
            .await,
        Err(AppError::InvalidInput {
            field: "request",
            ..
        })
    ));
    assert!(matches!(
        w.app
            .erase_subject(w.ctx, s.id, Some(access.request.id))
            .await,
        Err(AppError::InvalidInput {
            field: "request",
            ..
        })
    ));
    // Not for a requester whose identity is not verified: nothing is erased.
    assert!(matches!(
        w.app
            .erase_subject(w.ctx, s.id, Some(request.request.id))
            .await,
        Err(AppError::Request(
            gdpr_rights::RequestError::IdentityNotVerified
        ))
    ));
    assert!(w.app.subject(w.ctx, s.id).await.is_ok(), "still there");
    verify(&w, request.request.id).await;
    w.app
        .erase_subject(w.ctx, s.id, Some(request.request.id))
        .await
        .unwrap();
    let closed = w.app.request(w.ctx, request.request.id).await.unwrap();
    assert_eq!(closed.request.status, RequestStatus::Completed);
    assert!(matches!(
        w.app.erase_subject(w.ctx, s.id, None).await,
        Err(AppError::NotFound("subject"))
    ));
}

/// Two subjects with records in the form, a third held by a legal hold, a fourth without
/// records: `(a, b, held, bystander, form)`.
pub(crate) async fn batch_fixture(
    w: &World,
) -> (
    gdpr_pii::Subject,
    gdpr_pii::Subject,
    gdpr_pii::Subject,
    gdpr_pii::Subject,
    gdpr_pii::FormId,
) {
    let a = subject_with_data(w, 1).await;
    let b = subject_with_data(w, 2).await;
    let held = subject_with_data(w, 3).await;
    let bystander = w.subject(4).await;
    w.app
        .place_legal_hold(
            w.ctx,
            held.id,
            HoldGround::LegalObligation,
            "invoices kept 10 years",
        )
        .await
        .unwrap();
    let form = w.app.forms(w.ctx).await.unwrap()[0].id;
    (a, b, held, bystander, form)
}

#[tokio::test]
async fn a_batch_dry_run_counts_without_changing_anything() {
    let w = world().await;
    let (a, b, held, bystander, form) = batch_fixture(&w).await;
    let audit_before = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap().len();

    let plan = w
        .app
        .plan_batch_erasure(w.ctx, &BatchSelector::Form { form })
        .await
        .unwrap();
    let picked: BTreeSet<_> = plan.subjects.iter().copied().collect();
    assert_eq!(picked, [a.id, b.id].into());
    assert_eq!(plan.records, 4);
    assert_eq!(plan.blocked, vec![held.id]);

    let by_value = BatchSelector::FieldEquals {
        form,
        field: "email".into(),
        value: json!(gdpr_testkit::fake::email(2).expose_pii()),
    };
    assert_eq!(
        w.app
            .plan_batch_erasure(w.ctx, &by_value)
            .await
            .unwrap()
            .subjects,
        vec![b.id]
    );

    let now = gdpr_ports::Clock::now(&w.clock);
    let window = BatchSelector::CreatedBetween {
        from: now - Duration::hours(1),
        to: now,
        form: None,
    };
    assert!(
        w.app
            .plan_batch_erasure(w.ctx, &window)
            .await
            .unwrap()
            .subjects
            .is_empty()
    );

    let listed = BatchSelector::Subjects {
        ids: [
            bystander.id,
            gdpr_pii::SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        ]
        .into(),
    };
    let plan = w.app.plan_batch_erasure(w.ctx, &listed).await.unwrap();
    assert_eq!(
        (plan.subjects.clone(), plan.records, plan.unknown),
        (vec![bystander.id], 0, 1)
    );

    for s in [&a, &b, &held] {
        assert!(w.store.rows_about(w.ctx.tenant, s.id) > 0);
    }
    assert_eq!(
        w.app.audit_log(w.ctx, 0, 10_000).await.unwrap().len(),
        audit_before
    );
}

#[tokio::test]
async fn an_erasure_cut_short_after_its_transaction_is_finished_by_the_retry_job() {
    use gdpr_ports::{Erased, Erasure};
    use gdpr_rights::{ErasurePlan, ErasureReceipt, Tombstone};
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    // What a crash right after the commit leaves: the subject erased, its receipt stored
    // with the backups and the error tracker still planned, nothing reached outside.
    let plan = ErasurePlan::for_subject(w.ctx.tenant, s.id, &[]).unwrap();
    let receipt = ErasureReceipt::planned(&plan, None, gdpr_ports::Clock::now(&w.clock));
    let erasure = Erasure {
        tombstone: Tombstone {
            tenant: w.ctx.tenant,
            subject: s.id,
            erased_at: receipt.started_at,
            receipt: receipt.id,
        },
        audit: gdpr_audit::AuditEvent::new(
            receipt.started_at,
            Some(w.ctx.tenant),
            gdpr_audit::Actor::System,
            AuditAction::SubjectErased,
        )
        .about(s.id),
        receipt: receipt.clone(),
    };
    let outcome = w.store.erase_subjects(vec![erasure]).await.unwrap();
    assert!(matches!(outcome.as_slice(), [Erased::Done(_)]));
    let stored = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert_eq!(stored.status(), ErasureStatus::Pending);
    assert_eq!(stored.unfinished(), [Place::Backups, Place::ErrorTracker]);
    assert!(w.reporter.forgotten().is_empty());

    // Right after, it may still be in flight: the retry job leaves it to its erasure...
    assert_eq!(w.app.retry_pending_erasures().await.unwrap().receipts, 0);
    assert!(w.reporter.forgotten().is_empty());
    // ...and once it is old enough to be a crash's leftover, finishes it.
    w.clock.advance(Duration::minutes(10));
    let report = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!((report.receipts, report.completed), (1, 1));
    let done = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert_eq!(done.status(), ErasureStatus::Complete);
    assert_eq!(w.reporter.forgotten(), [s.id]);
    let journal = gdpr_app::backup::format::journal_key(w.ctx.tenant, 1);
    assert!(
        w.backups.keys().contains(&journal),
        "the erasure reached the journal"
    );
}

#[tokio::test]
async fn a_batch_asks_a_failing_tracker_once_and_leaves_the_rest_pending_for_the_retry() {
    let w = world().await;
    let mut ids = std::collections::BTreeSet::new();
    for n in 0..5 {
        ids.insert(subject_with_data(&w, n).await.id);
    }
    w.reporter.fail_next_forgets(1);
    let (job, _) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Subjects { ids: ids.clone() })
        .await
        .unwrap();
    while w.app.run_next_job("worker").await.unwrap().is_some() {}
    assert_eq!(w.app.batch_erasure(w.ctx, job).await.unwrap().done, 5);
    // One call failed: the four others were not made to wait on it.
    assert_eq!(w.reporter.forget_calls(), 1);
    let pending = w.store.unfinished_erasure_receipts().await.unwrap();
    assert_eq!(pending.len(), 5);
    assert!(pending.iter().any(|r| matches!(
        r.outcome(Place::ErrorTracker),
        Some(Outcome::Pending { last_error, .. }) if last_error.starts_with("not asked")
    )));
    // Back up: the retry job reaches every one.
    let retry = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!((retry.attempts, retry.completed), (5, 5));
    assert_eq!(
        w.reporter
            .forgotten()
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
}

/// Records that the requester's identity was verified (what answering a request needs).
async fn verify(w: &crate::helpers::World, request: gdpr_pii::RequestId) {
    w.app
        .verify_request_identity(
            w.ctx,
            request,
            gdpr_rights::VerificationMethod::AccountLogin,
            None,
        )
        .await
        .unwrap();
}
