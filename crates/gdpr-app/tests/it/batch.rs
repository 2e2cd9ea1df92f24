//! Batch erasure as a durable job over the fakes: counts as the dry run said, a receipt per
//! subject, holds respected, and a job whose worker died taken over and finished.

use gdpr_app::{AppError, JobKind};
use gdpr_audit::AuditAction;
use gdpr_ports::{AuditLog as _, ErasureStore, JobQueue, LegalHoldStore, Page};
use gdpr_rights::{BatchSelector, HoldGround};
use time::Duration;

use crate::erasure::subject_with_data;
use crate::helpers::world;

#[tokio::test]
async fn a_batch_erasure_runs_as_a_job_and_matches_its_dry_run() {
    let w = world().await;
    let (a, b, held, bystander, form) = crate::erasure::batch_fixture(&w).await;
    let selector = BatchSelector::Form { form };
    let dry = w.app.plan_batch_erasure(w.ctx, &selector).await.unwrap();

    let (id, plan) = w.app.start_batch_erasure(w.ctx, selector).await.unwrap();
    assert_eq!(plan, dry);
    let queued = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!((queued.state, queued.done, queued.total), ("queued", 0, 2));
    // Nothing is erased until a worker runs it.
    assert!(w.app.subject(w.ctx, a.id).await.is_ok());

    let run = loop {
        let run = w.app.run_next_job("w1").await.unwrap().expect("a job");
        if run.kind == JobKind::BatchErasure.name() {
            break run;
        }
    };
    assert!(run.outcome.is_ok(), "{run:?}");
    let done = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!((done.state, done.done, done.total), ("done", 2, 2));
    let summary = done.summary.unwrap();
    assert_eq!(
        (summary.erased, summary.records, summary.blocked),
        (2, dry.records, 1)
    );
    for s in [&a, &b] {
        assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), 0);
    }
    assert!(w.app.subject(w.ctx, held.id).await.is_ok(), "the hold wins");
    assert!(
        w.app.subject(w.ctx, bystander.id).await.is_ok(),
        "not selected"
    );
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    let erased = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::SubjectErased)
        .count();
    let blocked = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::ErasureBlocked)
        .count();
    assert_eq!((erased, blocked), (2, 1), "one receipt per subject");
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::BatchErasureCompleted)
    );

    // Another tenant cannot see the job.
    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.batch_erasure(other, id).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_batch_whose_worker_died_is_taken_over_and_finished() {
    let w = world().await;
    let subjects = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
    ];
    let form = w.app.forms(w.ctx).await.unwrap()[0].id;
    let (id, _) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    // Worker "dead" claims it, erases one subject, and dies (no progress, no completion).
    let now = gdpr_ports::Clock::now(&w.clock);
    let claimed = loop {
        let job = w
            .store
            .claim("dead", now, Duration::minutes(10))
            .await
            .unwrap()
            .unwrap();
        if job.id == id {
            break job;
        }
        w.store.complete(job.id, "dead", "", None).await.unwrap();
    };
    assert_eq!(claimed.attempts, 1);
    w.app
        .erase_subject(w.ctx, subjects[0].id, None)
        .await
        .unwrap();
    // Within its lease nobody else takes it.
    assert!(w.app.run_next_job("w2").await.unwrap().is_none());
    assert_eq!(
        w.app.batch_erasure(w.ctx, id).await.unwrap().state,
        "running"
    );

    w.clock.advance(Duration::minutes(11));
    let mut finished = false;
    while let Some(run) = w.app.run_next_job("w2").await.unwrap() {
        if run.job == id {
            assert!(run.outcome.is_ok(), "{run:?}");
            finished = true;
        }
    }
    assert!(finished);
    let done = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!(
        (done.state, done.done, done.total, done.attempts),
        ("done", 3, 3, 2)
    );
    for s in &subjects {
        assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), 0);
    }
    // Each subject erased exactly once: one receipt each, none left unfinished.
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    let erased = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::SubjectErased)
        .count();
    assert_eq!(erased, 3);
    assert!(
        w.store
            .unfinished_erasure_receipts()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_batch_deletion_of_records_keeps_the_subjects_and_the_held_records() {
    let w = world().await;
    let (a, b, held, bystander, form) = crate::erasure::batch_fixture(&w).await;
    let selector = BatchSelector::Form { form };
    let dry = w.app.plan_record_deletion(w.ctx, &selector).await.unwrap();
    assert_eq!((dry.records, dry.subjects, dry.blocked), (4, 2, 2));
    let (id, plan) = w.app.start_record_deletion(w.ctx, selector).await.unwrap();
    assert_eq!(plan, dry);
    assert_eq!(
        w.app.record_deletion(w.ctx, id).await.unwrap().state,
        "queued"
    );
    while w.app.run_next_job("w1").await.unwrap().is_some() {}
    let done = w.app.record_deletion(w.ctx, id).await.unwrap();
    assert_eq!((done.state, done.done, done.total), ("done", 4, 4));
    assert_eq!(done.summary, Some(dry));
    let left = |s| w.app.records(w.ctx, None, Some(s), gdpr_ports::Page::ALL);
    assert!(left(a.id).await.unwrap().is_empty());
    assert!(left(b.id).await.unwrap().is_empty());
    assert_eq!(left(held.id).await.unwrap().len(), 2, "the hold keeps them");
    for s in [&a, &b, &bystander] {
        assert!(w.app.subject(w.ctx, s.id).await.is_ok(), "subjects stay");
    }
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    let deleted: u64 = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::RecordsBatchDeleted)
        .map(|r| r.event.details["count"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(deleted, 4);
    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.record_deletion(other, id).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn records_are_imported_in_bulk_each_checked_like_a_single_submission() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let without_consent = w.subject(2).await;
    let restricted = subject_with_data(&w, 3).await;
    w.app
        .place_limit(
            w.ctx,
            restricted.id,
            gdpr_rights::LimitKind::Restriction,
            None,
            "contested",
        )
        .await
        .unwrap();
    let form = w.app.forms(w.ctx).await.unwrap()[0].id;
    let before = w
        .app
        .records(w.ctx, None, None, gdpr_ports::Page::ALL)
        .await
        .unwrap()
        .len();
    let lines = vec![
        (s.id, crate::helpers::contractor(1)),
        (s.id, serde_json::json!({"email": "not an address"})),
        (without_consent.id, crate::helpers::contractor(2)),
        (restricted.id, crate::helpers::contractor(3)),
        (
            gdpr_pii::SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            crate::helpers::contractor(4),
        ),
        (s.id, crate::helpers::contractor(1)),
    ];
    let results = w.app.import_records(w.ctx, form, lines).await.unwrap();
    assert!(results[0].is_ok() && results[5].is_ok());
    assert!(matches!(results[1], Err(AppError::InvalidRecord(_))));
    assert!(matches!(results[2], Err(AppError::ConsentRequired { .. })));
    assert!(matches!(results[3], Err(AppError::ProcessingBlocked(_))));
    assert!(matches!(results[4], Err(AppError::NotFound(_))));
    let after = w
        .app
        .records(w.ctx, None, None, gdpr_ports::Page::ALL)
        .await
        .unwrap()
        .len();
    assert_eq!(after, before + 2);
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    let imported = audit
        .iter()
        .filter(|r| r.event.details.get("import").is_some_and(|v| v == "true"))
        .count();
    assert_eq!(imported, 2);
}

#[tokio::test]
async fn a_batch_never_reaches_beyond_its_dry_run() {
    let w = world().await;
    let (a, b, _, _, form) = crate::erasure::batch_fixture(&w).await;
    let (id, plan) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    assert_eq!(plan.subjects.len(), 2);
    // Someone fills in the form after the job started, before a worker runs it.
    w.clock.advance(Duration::seconds(1));
    let late = subject_with_data(&w, 9).await;
    while w.app.run_next_job("w1").await.unwrap().is_some() {}
    let done = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!(done.summary.unwrap().erased, 2);
    for s in [&a, &b] {
        assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), 0);
    }
    assert!(
        w.app.subject(w.ctx, late.id).await.is_ok(),
        "not in the dry run: kept"
    );
}

#[tokio::test]
async fn a_batch_keeps_its_dry_run_list_and_copes_with_what_changed_meanwhile() {
    let w = world().await;
    let (a, b, held, _, form) = crate::erasure::batch_fixture(&w).await;
    let hold = w.store.holds_of(w.ctx.tenant, held.id).await.unwrap()[0].id;
    let (id, plan) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    assert_eq!(plan.blocked, vec![held.id]);
    // Before a worker runs it: b's records in the form are deleted, so selecting again would
    // no longer pick b; the dry run's list still names b, and b goes.
    for record in w
        .app
        .records(w.ctx, Some(form), Some(b.id), Page::ALL)
        .await
        .unwrap()
    {
        w.app.delete_record(w.ctx, record.id).await.unwrap();
    }
    // One listed subject is erased on its own, and the held one's hold is lifted and it is
    // erased too. The list still names both: the job skips them.
    w.app.erase_subject(w.ctx, a.id, None).await.unwrap();
    w.app
        .release_legal_hold(w.ctx, held.id, hold)
        .await
        .unwrap();
    w.app.erase_subject(w.ctx, held.id, None).await.unwrap();
    assert_ran_ok(&w, id).await;
    let done = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!((done.state, done.done, done.total), ("done", 2, 2));
    let summary = done.summary.unwrap();
    assert_eq!(
        (summary.erased, summary.blocked),
        (3, 0),
        "b erased, a and the formerly held subject found gone"
    );
    assert_eq!(
        w.store.rows_about(w.ctx.tenant, b.id),
        0,
        "b, though no longer selected"
    );
    let erased = w
        .app
        .audit_log(w.ctx, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.event.action == AuditAction::SubjectErased)
        .count();
    assert_eq!(erased, 3, "a, the formerly held subject, then b: each once");
}

#[tokio::test]
async fn a_batch_queued_without_a_list_selects_again() {
    let w = world().await;
    let (a, b, held, bystander, form) = crate::erasure::batch_fixture(&w).await;
    let (id, plan) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    // The same job as an earlier version queued it: no list in its payload.
    let mut payload: serde_json::Value =
        serde_json::from_str(&w.store.job(id).await.unwrap().payload).unwrap();
    let object = payload.as_object_mut().unwrap();
    assert!(object.remove("subjects").is_some() && object.remove("blocked").is_some());
    // The new job is set aside unrun (with whatever else is due), so only the old one erases.
    let now = gdpr_ports::Clock::now(&w.clock);
    while let Some(job) = w
        .store
        .claim("w0", now, Duration::minutes(10))
        .await
        .unwrap()
    {
        w.store.complete(job.id, "w0", "", None).await.unwrap();
    }
    let old = uuid::Uuid::new_v4();
    w.store
        .enqueue(old, JobKind::BatchErasure.name(), &payload.to_string(), now)
        .await
        .unwrap();
    assert_ran_ok(&w, old).await;
    let done = w.app.batch_erasure(w.ctx, old).await.unwrap();
    let summary = done.summary.unwrap();
    assert_eq!(
        (done.done, summary.erased, summary.records, summary.blocked),
        (2, 2, plan.records, 1)
    );
    for s in [&a, &b] {
        assert_eq!(w.store.rows_about(w.ctx.tenant, s.id), 0);
    }
    for s in [&held, &bystander] {
        assert!(w.app.subject(w.ctx, s.id).await.is_ok());
    }
}

/// Runs every due job; `id` among them must succeed.
async fn assert_ran_ok(w: &crate::helpers::World, id: uuid::Uuid) {
    let mut outcome = None;
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        if run.job == id {
            outcome = Some(run.outcome);
        }
    }
    assert!(matches!(outcome, Some(Ok(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_batch_of_several_chunks_is_run_from_the_top_whatever_an_earlier_run_recorded() {
    let w = world().await;
    let mut ids = std::collections::BTreeSet::new();
    for seed in 0..1_100 {
        ids.insert(w.subject(seed).await.id);
    }
    let (id, plan) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Subjects { ids: ids.clone() })
        .await
        .unwrap();
    assert_eq!((plan.subjects.len(), plan.blocked.len()), (1_100, 0));
    // Held after the dry run, in the third chunk.
    let late = plan.subjects[1_050];
    w.app
        .place_legal_hold(w.ctx, late, HoldGround::LegalClaims, "a claim came in")
        .await
        .unwrap();
    // A worker claims it, records it all as done (as a run would whose last follow-up never
    // ran, or an earlier version counting differently) and dies without erasing anything.
    let now = gdpr_ports::Clock::now(&w.clock);
    while let Some(job) = w
        .store
        .claim("dead", now, Duration::minutes(10))
        .await
        .unwrap()
    {
        if job.id == id {
            w.store
                .record_progress(id, "dead", 1_100, 1_100, now)
                .await
                .unwrap();
            break;
        }
        w.store.complete(job.id, "dead", "", None).await.unwrap();
    }
    w.clock.advance(Duration::minutes(11));
    assert_ran_ok(&w, id).await;

    let done = w.app.batch_erasure(w.ctx, id).await.unwrap();
    assert_eq!((done.done, done.total), (1_100, 1_100));
    let summary = done.summary.unwrap();
    assert_eq!(
        (summary.erased, summary.blocked),
        (1_099, 1),
        "the late hold counted"
    );
    for subject in &ids {
        let kept = w.app.subject(w.ctx, *subject).await.is_ok();
        assert_eq!(kept, *subject == late, "{subject}");
    }
    let audit = w.app.audit_log(w.ctx, 0, 100_000).await.unwrap();
    let count = |action| audit.iter().filter(|r| r.event.action == action).count();
    assert_eq!(
        (
            count(AuditAction::SubjectErased),
            count(AuditAction::ErasureBlocked)
        ),
        (1_099, 1)
    );
}

/// Selections by consent, for erasure and for record deletion: every subject who withdrew
/// consent for a purpose; every subject who consented under one consent form.
#[tokio::test]
async fn batches_select_by_consent_state_and_by_consent_form() {
    use gdpr_rights::ConsentState;
    let w = world().await;
    let [withdrew, consenting, other] = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
    ];
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    w.app
        .withdraw_consent(w.ctx, withdrew.id, consent, crate::helpers::web(None))
        .await
        .unwrap();
    let withdrawn = BatchSelector::ConsentState {
        purpose: gdpr_consent::PurposeId::parse("contractors").unwrap(),
        state: ConsentState::Withdrawn,
    };
    let plan = w.app.plan_batch_erasure(w.ctx, &withdrawn).await.unwrap();
    assert_eq!(plan.subjects, vec![withdrew.id]);
    assert_eq!(plan.records, 2);
    // Deleting records by consent form: every consenting subject's records of its purpose's
    // forms; the subjects stay.
    let by_form = BatchSelector::ConsentForm {
        consent_form: consent,
    };
    let dry = w.app.plan_record_deletion(w.ctx, &by_form).await.unwrap();
    assert_eq!((dry.records, dry.subjects), (6, 3));
    w.app.start_batch_erasure(w.ctx, withdrawn).await.unwrap();
    while let Some(run) = w.app.run_next_job("w").await.unwrap() {
        assert!(run.outcome.is_ok(), "{run:?}");
    }
    assert!(matches!(
        w.app.subject(w.ctx, withdrew.id).await,
        Err(AppError::NotFound(_))
    ));
    for kept in [&consenting, &other] {
        assert!(w.app.subject(w.ctx, kept.id).await.is_ok());
    }
    let unknown = BatchSelector::ConsentForm {
        consent_form: gdpr_pii::ConsentFormId::at(time::OffsetDateTime::UNIX_EPOCH),
    };
    assert!(matches!(
        w.app.plan_batch_erasure(w.ctx, &unknown).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_finished_batch_keeps_ids_and_counts_not_the_value_it_selected_by() {
    let w = world().await;
    let (a, b, _, _, form) = crate::erasure::batch_fixture(&w).await;
    let by = |n| BatchSelector::FieldEquals {
        form,
        field: "email".into(),
        value: serde_json::json!(gdpr_testkit::fake::email(n).expose_pii()),
    };
    let (erasure, _) = w.app.start_batch_erasure(w.ctx, by(2)).await.unwrap();
    let (deletion, _) = w.app.start_record_deletion(w.ctx, by(1)).await.unwrap();
    // Queued, a job holds the address it selects by: it needs it to run.
    let address = |n| gdpr_testkit::fake::email(n).expose_pii().to_owned();
    assert!(
        w.store
            .job(erasure)
            .await
            .unwrap()
            .payload
            .contains(&address(2))
    );
    assert!(
        w.store
            .job(deletion)
            .await
            .unwrap()
            .payload
            .contains(&address(1))
    );
    while w.app.run_next_job("w1").await.unwrap().is_some() {}
    // Done, it keeps its tenant and counts only, and its status still reads.
    for (id, subject) in [(erasure, b.id), (deletion, a.id)] {
        let kept = w.store.job(id).await.unwrap().payload;
        assert!(!kept.contains('@'), "{kept}");
        assert!(!kept.contains(&subject.to_string()), "{kept}");
    }
    let done = w.app.batch_erasure(w.ctx, erasure).await.unwrap();
    assert_eq!((done.state, done.done, done.total), ("done", 1, 1));
    let done = w.app.record_deletion(w.ctx, deletion).await.unwrap();
    assert_eq!((done.state, done.total), ("done", 2));
}

#[tokio::test]
async fn a_batch_left_queued_when_its_tenant_was_deleted_writes_nothing_under_its_name() {
    let w = world().await;
    let (_, _, _, _, form) = crate::erasure::batch_fixture(&w).await;
    let (id, _) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    let (deletion, _) = w
        .app
        .start_record_deletion(w.ctx, BatchSelector::Form { form })
        .await
        .unwrap();
    let tenant = w.ctx.tenant;
    w.app
        .schedule_offboarding(gdpr_audit::Actor::Operator, tenant, Some(0))
        .await
        .unwrap();
    assert_eq!(w.app.offboard_due_tenants().await.unwrap().len(), 1);
    // The job fails (its tenant is gone) and leaves no trace of the tenant behind.
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        if run.job == id || run.job == deletion {
            assert!(run.outcome.is_err(), "{run:?}");
        }
    }
    assert!(
        w.store
            .audit_records(Some(tenant), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let named = w.backups.keys();
    assert!(
        named.iter().all(|k| !k.contains(&tenant.to_string())),
        "{named:?}"
    );
}
