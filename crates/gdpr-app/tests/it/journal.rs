//! The decision journal: every decision that takes data away or limits its use is written
//! beside the backups before it is made, and is in force again after a restore, whatever the
//! backup predates.

use gdpr_app::backup::format::{JournalEntry, journal_prefix};
use gdpr_app::{AppError, Ctx};
use gdpr_consent::{ConsentStatus, LawfulBasis};
use gdpr_pii::{RecordId, SubjectId};
use gdpr_ports::{BackupError, Page};
use gdpr_retention::RetentionPeriod;
use gdpr_rights::{BatchSelector, Decision, LimitKind};
use gdpr_testkit::EnvelopeDecryptor;

use crate::backup_restore::{back_up, config, on_an_empty_store, progress, signed};
use crate::erasure::subject_with_data;
use crate::helpers::{World, contractor, web, world_with};

pub(crate) fn decisions(w: &World) -> Vec<Decision> {
    w.backups
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&journal_prefix(w.ctx.tenant)))
        .flat_map(|k| signed::<JournalEntry>(w, &k).decisions)
        .collect()
}

async fn records_of(
    app: &gdpr_app::App<gdpr_testkit::InMemory>,
    ctx: Ctx,
    s: SubjectId,
) -> Vec<RecordId> {
    app.records(ctx, None, Some(s), Page::ALL)
        .await
        .map(|r| r.into_iter().map(|r| r.id).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_decision_made_after_a_backup_is_in_force_after_the_database_is_lost() {
    let w = world_with(config()).await;
    let ctx = w.ctx;
    w.app
        .define_purpose(
            ctx,
            "analytics",
            "Usage analytics",
            LawfulBasis::LegitimateInterests,
        )
        .await
        .unwrap();
    let [
        withdrawn,
        restricted,
        objected,
        lifted,
        one_deleted,
        batch_deleted,
        erased,
        kept,
    ] = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
        subject_with_data(&w, 4).await,
        subject_with_data(&w, 5).await,
        subject_with_data(&w, 6).await,
        subject_with_data(&w, 7).await,
        subject_with_data(&w, 8).await,
    ];
    // A form whose records are kept ten days; one of them, backed up, expires after.
    let timesheets = w
        .app
        .define_form(
            ctx,
            "Timesheets",
            gdpr_testkit::fake::contractors_schema().specs(),
            "analytics",
        )
        .await
        .unwrap();
    w.app
        .set_form_retention(ctx, timesheets.id, RetentionPeriod::days(10).ok())
        .await
        .unwrap();
    let aged = w
        .app
        .submit_record(ctx, timesheets.id, kept.id, &contractor(8))
        .await
        .unwrap();
    let consent_form = w.app.consent_forms(ctx).await.unwrap()[0].id;
    let backup = back_up(&w).await;

    // After the backup, one decision of each kind.
    w.app
        .withdraw_consent(ctx, withdrawn.id, consent_form, web(None))
        .await
        .unwrap();
    let restriction = w
        .app
        .place_limit(
            ctx,
            restricted.id,
            LimitKind::Restriction,
            None,
            "accuracy contested",
        )
        .await
        .unwrap();
    w.app
        .place_limit(
            ctx,
            objected.id,
            LimitKind::Objection,
            Some("analytics"),
            "no profiling",
        )
        .await
        .unwrap();
    let temporary = w
        .app
        .place_limit(ctx, lifted.id, LimitKind::Restriction, None, "checking")
        .await
        .unwrap();
    w.app
        .lift_limit(ctx, lifted.id, temporary.id)
        .await
        .unwrap();
    let gone = records_of(&w.app, ctx, one_deleted.id).await[0];
    w.app.delete_record(ctx, gone).await.unwrap();
    let selector = BatchSelector::Subjects {
        ids: [batch_deleted.id].into(),
    };
    w.app.start_record_deletion(ctx, selector).await.unwrap();
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        assert!(run.outcome.is_ok(), "{run:?}");
    }
    w.app.erase_subject(ctx, erased.id, None).await.unwrap();
    w.app.retire_consent_form(ctx, consent_form).await.unwrap();
    w.clock.advance(time::Duration::days(11));
    let expiry = w.app.expire(ctx.tenant).await.unwrap();
    assert_eq!(expiry.records_expired, 1);
    let kinds: Vec<&str> = decisions(&w).iter().map(Decision::kind).collect();
    for kind in [
        "consent_withdrawn",
        "limit_placed",
        "limit_lifted",
        "records_deleted",
        "records_expired",
        "consent_form_retired",
        "subject_erased",
    ] {
        assert!(kinds.contains(&kind), "{kind} journaled: {kinds:?}");
    }

    // The database is lost; the backup predates every decision.
    let (_, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(
            ctx.tenant,
            Some(&backup),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    // Withdrawal, restriction, objection, placed-then-lifted (2), record deletion (2), expiry,
    // the consent form's retirement.
    assert_eq!(report.decisions_replayed, 9, "{report:?}");
    assert!(
        recovered
            .consent_form(ctx, consent_form)
            .await
            .unwrap()
            .retired_at
            .is_some(),
        "the consent form is retired again"
    );
    assert_eq!(report.subjects_left_out, 1);

    let state = recovered.consent_state(ctx, withdrawn.id).await.unwrap();
    assert!(
        matches!(state[0].status, ConsentStatus::Withdrawn { .. }),
        "{state:?}"
    );
    let check = recovered
        .processing_check(ctx, withdrawn.id, "contractors")
        .await
        .unwrap();
    assert!(!check.may_process);
    let limits = recovered.limits(ctx, restricted.id).await.unwrap();
    assert_eq!(limits.len(), 1);
    assert!(limits[0].is_active() && limits[0].id == restriction.id);
    assert!(
        !recovered
            .processing_check(ctx, restricted.id, "contractors")
            .await
            .unwrap()
            .may_process
    );
    assert!(
        !recovered
            .processing_check(ctx, objected.id, "analytics")
            .await
            .unwrap()
            .may_process
    );
    let lifted_now = recovered.limits(ctx, lifted.id).await.unwrap();
    assert!(
        lifted_now.len() == 1 && !lifted_now[0].is_active(),
        "{lifted_now:?}"
    );
    assert!(
        !records_of(&recovered, ctx, one_deleted.id)
            .await
            .contains(&gone)
    );
    assert_eq!(records_of(&recovered, ctx, one_deleted.id).await.len(), 1);
    assert!(
        records_of(&recovered, ctx, batch_deleted.id)
            .await
            .is_empty()
    );
    assert!(matches!(
        recovered.subject(ctx, erased.id).await,
        Err(AppError::NotFound(_))
    ));
    let kept_records = records_of(&recovered, ctx, kept.id).await;
    assert_eq!(kept_records.len(), 2, "the expired one stays gone");
    assert!(!kept_records.contains(&aged.id));
    assert!(
        recovered
            .processing_check(ctx, kept.id, "contractors")
            .await
            .unwrap()
            .may_process
    );

    // Each replay is in the audit chain (consecutive record deletions in one record, which
    // counts them); restoring again replays what the backup lacks again, and nothing twice.
    let audit = recovered.audit_log(ctx, 0, 10_000).await.unwrap();
    let replays: u64 = audit
        .iter()
        .filter(|r| r.event.details.contains_key("replayed_from_journal"))
        .map(|r| {
            r.event
                .details
                .get("decisions")
                .map_or(1, |n| n.parse::<u64>().unwrap())
        })
        .sum();
    assert_eq!(replays, 9);
    let again = recovered
        .restore_tenant(
            ctx.tenant,
            Some(&backup),
            true,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(again.decisions_replayed, 9);
    assert_eq!(
        recovered.limits(ctx, restricted.id).await.unwrap().len(),
        1,
        "nothing applied twice"
    );
}

#[tokio::test]
async fn a_decision_whose_journal_write_fails_is_not_made() {
    let w = world_with(config()).await;
    let ctx = w.ctx;
    let s = subject_with_data(&w, 1).await;
    let consent_form = w.app.consent_forms(ctx).await.unwrap()[0].id;
    w.backups.set_unavailable(true);
    let refused = w
        .app
        .withdraw_consent(ctx, s.id, consent_form, web(None))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppError::Backup(BackupError::Unavailable(_))),
        "{refused:?}"
    );
    let refused = w
        .app
        .place_limit(ctx, s.id, LimitKind::Restriction, None, "contested")
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Backup(_)), "{refused:?}");
    let record = records_of(&w.app, ctx, s.id).await[0];
    assert!(w.app.delete_record(ctx, record).await.is_err());
    assert!(w.app.erase_subject(ctx, s.id, None).await.is_err());
    // Nothing was made.
    w.backups.set_unavailable(false);
    assert!(
        w.app
            .processing_check(ctx, s.id, "contractors")
            .await
            .unwrap()
            .may_process
    );
    assert!(w.app.limits(ctx, s.id).await.unwrap().is_empty());
    assert_eq!(records_of(&w.app, ctx, s.id).await.len(), 2);
    assert!(w.app.subject(ctx, s.id).await.is_ok());
    assert!(decisions(&w).is_empty());
}

/// Journal entries go with the backups they outlive, never earlier: once the oldest backup
/// kept holds a decision (by a day's margin), its entry is pruned behind a signed checkpoint;
/// the backups kept still restore with every later decision; and a removed checkpoint is a
/// gap like any removed entry.
#[tokio::test]
async fn the_journal_is_pruned_with_the_backups_it_outlived_and_still_verifies() {
    let w = world_with(config()).await;
    let ctx = w.ctx;
    let [withdrew, erased, restricted, trimmed] = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
        subject_with_data(&w, 4).await,
    ];
    let consent_form = w.app.consent_forms(ctx).await.unwrap()[0].id;
    w.app
        .withdraw_consent(ctx, withdrew.id, consent_form, web(None))
        .await
        .unwrap();
    w.app.erase_subject(ctx, erased.id, None).await.unwrap();
    w.clock.advance(time::Duration::days(2));
    back_up(&w).await;
    w.clock.advance(time::Duration::days(2));
    w.app
        .place_limit(
            ctx,
            restricted.id,
            LimitKind::Restriction,
            None,
            "contested",
        )
        .await
        .unwrap();
    let kept_backup = back_up(&w).await;
    w.clock.advance(time::Duration::days(2));
    let gone = records_of(&w.app, ctx, trimmed.id).await[0];
    w.app.delete_record(ctx, gone).await.unwrap();
    let entries = |w: &World| {
        let mut keys: Vec<String> = w
            .backups
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&journal_prefix(ctx.tenant)))
            .map(|k| k.rsplit('/').next().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(entries(&w).len(), 4);

    // The first backup expires; the second, two days younger, is kept. Entries 1 and 2
    // (before it by more than a day) go; entry 3, written just before it, stays.
    w.clock.advance(time::Duration::days(27));
    let report = w.app.prune_backups(ctx.tenant, false).await.unwrap();
    assert_eq!(report.plan.delete.len(), 1, "{report:?}");
    assert_eq!(report.journal_entries_pruned, 2);
    assert_eq!(
        entries(&w),
        [
            "00000000000000000003.json",
            "00000000000000000004.json",
            "checkpoint.json"
        ]
    );
    // Nothing more goes until another backup expires.
    assert_eq!(
        w.app
            .prune_backups(ctx.tenant, false)
            .await
            .unwrap()
            .journal_entries_pruned,
        0
    );

    // The kept backup restores, with the later decision replayed; the erased subject stays
    // out.
    let (_, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(
            ctx.tenant,
            Some(&kept_backup),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(report.decisions_replayed, 1, "{report:?}");
    assert!(
        !records_of(&recovered, ctx, trimmed.id)
            .await
            .contains(&gone)
    );
    assert!(matches!(
        recovered.subject(ctx, erased.id).await,
        Err(AppError::NotFound(_))
    ));

    // Without its checkpoint, the pruned journal has a gap: refused, nothing restored.
    w.backups
        .remove(&gdpr_app::backup::format::journal_checkpoint_key(
            ctx.tenant,
        ));
    let (_, again) = on_an_empty_store(&w);
    let refused = again
        .restore_tenant(
            ctx.tenant,
            Some(&kept_backup),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AppError::Untrusted { reason, .. } if reason.contains("gap")),
        "{refused:?}"
    );
}
