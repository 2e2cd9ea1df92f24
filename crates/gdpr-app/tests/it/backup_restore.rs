//! Backups end to end over the fakes: the format's promises (complete only with a manifest,
//! checked on restore), crypto-shredding, tombstone replay, disaster recovery into an empty
//! store, and failures that change nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use gdpr_app::backup::format::{
    Envelope, JournalEntry, KeyringShard, MANIFEST, Manifest, PAYLOAD, envelope, journal_prefix,
    shard_of, shards_to_search,
};
use gdpr_app::{AppConfig, AppError, BackupLayout, Progress};
use gdpr_audit::AuditAction;
use gdpr_pii::TenantId;
use gdpr_ports::Signer as _;
use gdpr_ports::{EncryptError, Page};
use gdpr_rights::Decision;
use gdpr_rights::{BatchSelector, ErasureStatus, Outcome, Place};
use gdpr_testkit::HmacSigner;
use gdpr_testkit::{EnvelopeDecryptor, InMemory, InMemoryStore};
use time::Duration;

use crate::erasure::subject_with_data;
use crate::helpers::{PGP_KEY, World, app, world_with};

pub(crate) fn config() -> AppConfig {
    AppConfig {
        backup_recipients: vec![PGP_KEY.into()],
        ..AppConfig::default()
    }
}

pub(crate) fn progress() -> Arc<Progress> {
    Arc::default()
}

pub(crate) fn folder(t: TenantId, id: &str) -> String {
    format!("{}{id}/", BackupLayout::tenant_prefix(t))
}

fn keyring(w: &World, t: TenantId, id: &str, subject: gdpr_pii::SubjectId) -> KeyringShard {
    signed(w, &format!("{}{}", folder(t, id), shard_of(subject)))
}

/// The content of a signed object, read without checking (the tests look inside).
pub(crate) fn signed<T: serde::de::DeserializeOwned>(w: &World, key: &str) -> T {
    let bytes = w.backups.bytes(key).expect("the object exists");
    let stored: Envelope<'_> = serde_json::from_slice(&bytes).unwrap();
    serde_json::from_str(stored.signed.get()).unwrap()
}

/// Writes `value` at `key` as `signer` signs it (the deployment, or someone else).
pub(crate) async fn write_signed<T: serde::Serialize>(
    w: &World,
    key: &str,
    value: &T,
    signer: &HmacSigner,
) {
    let content = serde_json::to_vec(value).unwrap();
    let signature = signer.sign(content.clone().into()).await.unwrap();
    w.backups.insert(
        key,
        &envelope(&content, &signature),
        time::OffsetDateTime::UNIX_EPOCH,
    );
}

/// The tenant's journal entries, as written.
fn journal(w: &World, t: TenantId) -> Vec<JournalEntry> {
    w.backups
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&journal_prefix(t)))
        .map(|k| signed(w, &k))
        .collect()
}

/// The erasures the journal holds.
fn journaled_erasures(w: &World, t: TenantId) -> Vec<(gdpr_pii::SubjectId, uuid::Uuid)> {
    journal(w, t)
        .into_iter()
        .flat_map(|e| e.decisions)
        .filter_map(|d| match d {
            Decision::SubjectErased {
                subject, receipt, ..
            } => Some((subject, receipt)),
            _ => None,
        })
        .collect()
}

/// The deployment after losing its database: an empty store, the same object storage.
pub(crate) fn on_an_empty_store(w: &World) -> (InMemoryStore, gdpr_app::App<InMemory>) {
    let fresh = InMemoryStore::default();
    let app = app::<InMemory>(
        fresh.clone(),
        w.backups.clone(),
        w.encryptor.clone(),
        w.reporter.clone(),
        w.clock.clone(),
        config(),
    );
    (fresh, app)
}

/// A backup of the world's tenant; its id.
pub(crate) async fn back_up(w: &World) -> String {
    let report = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    report.manifest.backup_id
}

/// A subject backed up, then another added after the backup: `(backed up, backup id, later)`.
async fn backed_up_then_one_more(w: &World) -> (gdpr_pii::Subject, String, gdpr_pii::Subject) {
    let a = subject_with_data(w, 1).await;
    let id = back_up(w).await;
    let later = subject_with_data(w, 2).await;
    (a, id, later)
}

/// The damaged backup `id` is refused by restore, which changes nothing, and by verify.
async fn refused_and_nothing_changed(w: &World, id: &str, kept: &[&gdpr_pii::Subject]) {
    let err = w
        .app
        .restore_tenant(
            w.ctx.tenant,
            Some(id),
            true,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::BackupUnusable { .. }), "{err:?}");
    for s in kept {
        assert_eq!(
            &w.app.subject(w.ctx, s.id).await.unwrap(),
            *s,
            "nothing changed"
        );
    }
    let outcomes = w
        .app
        .verify_backups(Some(w.ctx.tenant), &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert!(outcomes[0].problem.is_some(), "{outcomes:?}");
    assert!(!w.app.list_backups(w.ctx.tenant).await.unwrap()[0].verified);
}

#[tokio::test]
async fn a_backup_is_described_by_its_manifest_and_verifies() {
    let w = world_with(config()).await;
    let a = subject_with_data(&w, 1).await;
    subject_with_data(&w, 2).await;

    let report = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    let m = &report.manifest;
    assert_eq!((m.format.as_str(), m.version), ("gdpr-backup", 2));
    assert_eq!(m.tenant, w.ctx.tenant);
    assert_eq!(m.rows["subjects"], 2);
    assert_eq!(m.rows["records"], 4);
    assert_eq!(m.rows["consent_events"], 2);
    assert_eq!(m.keys, 2);
    let id = m.backup_id.clone();
    let stored: Manifest = signed(&w, &format!("{}{MANIFEST}", folder(w.ctx.tenant, &id)));
    assert_eq!(&stored, m);
    assert!(
        keyring(&w, w.ctx.tenant, &id, a.id)
            .keys
            .contains_key(&a.id)
    );
    assert_eq!(
        w.encryptor.recipients_used().last().unwrap(),
        &vec![PGP_KEY.to_owned()]
    );

    let listed = w.app.list_backups(w.ctx.tenant).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].verified);
    let outcomes = w
        .app
        .verify_backups(None, &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].problem, None);
    assert_eq!(outcomes[0].rows, m.rows.values().sum::<u64>());
    assert!(w.app.list_backups(w.ctx.tenant).await.unwrap()[0].verified);
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    for action in [AuditAction::BackupCreated, AuditAction::BackupVerified] {
        assert!(audit.iter().any(|r| r.event.action == action), "{action:?}");
    }
}

#[tokio::test]
async fn without_a_recipient_no_backup_is_written() {
    let w = world_with(AppConfig::default()).await;
    subject_with_data(&w, 1).await;
    let err = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Encryption(EncryptError::NoRecipient)),
        "{err:?}"
    );
    assert!(w.backups.keys().is_empty(), "nothing leaves in clear");
}

#[tokio::test]
async fn disaster_recovery_into_an_empty_store_brings_back_every_row() {
    let w = world_with(config()).await;
    let a = subject_with_data(&w, 1).await;
    let b = subject_with_data(&w, 2).await;
    w.app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();

    // The database is lost: a fresh, empty store, the same object storage.
    let (_, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(w.ctx.tenant, None, false, &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert_eq!(report.subjects_left_out, 0);
    assert_eq!(report.keys, 2);
    assert_eq!(report.replaced, 0);
    for s in [&a, &b] {
        assert_eq!(&recovered.subject(w.ctx, s.id).await.unwrap(), s);
        let before = w
            .app
            .records(w.ctx, None, Some(s.id), Page::ALL)
            .await
            .unwrap();
        let after = recovered
            .records(w.ctx, None, Some(s.id), Page::ALL)
            .await
            .unwrap();
        assert_eq!(after, before);
        assert_eq!(before.len(), 2);
    }
    assert_eq!(
        recovered.consent_forms(w.ctx).await.unwrap(),
        w.app.consent_forms(w.ctx).await.unwrap()
    );
    // The audit chain came back whole and verifies.
    assert!(
        recovered
            .verify_audit(Some(w.ctx.tenant))
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn an_erased_subject_never_comes_back_from_an_older_backup() {
    let w = world_with(config()).await;
    let erased = subject_with_data(&w, 1).await;
    let kept = subject_with_data(&w, 2).await;
    let older = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    let id = older.manifest.backup_id.clone();

    let receipt = w.app.erase_subject(w.ctx, erased.id, None).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Complete);
    assert!(matches!(
        receipt.outcome(Place::Backups),
        Some(Outcome::Done { count: Some(1), .. })
    ));
    // Crypto-shredded at once: the old backup's keyring no longer holds the key...
    let shard = keyring(&w, w.ctx.tenant, &id, erased.id);
    assert!(!shard.keys.contains_key(&erased.id));
    // ...and the erasure is journaled beside the backups, ids and time only.
    assert_eq!(
        journaled_erasures(&w, w.ctx.tenant),
        vec![(erased.id, receipt.id)]
    );

    // Restoring over the live tenant needs the explicit go-ahead.
    let refused = w
        .app
        .restore_tenant(
            w.ctx.tenant,
            Some(&id),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Conflict(_)), "{refused:?}");

    let report = w
        .app
        .restore_tenant(
            w.ctx.tenant,
            Some(&id),
            true,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(report.subjects_left_out, 1);
    assert_eq!(
        report.rows_left_out,
        1 + 2 + 1,
        "profile, two records, one consent"
    );
    assert_eq!(report.tombstones, 1);
    assert!(matches!(
        w.app.subject(w.ctx, erased.id).await,
        Err(AppError::NotFound(_))
    ));
    assert_eq!(w.store.rows_about(w.ctx.tenant, erased.id), 0);
    assert_eq!(w.app.subject(w.ctx, kept.id).await.unwrap(), kept);
    // The live audit chain was kept (it records the erasure) and says a restore happened.
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::SubjectErased)
    );
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::BackupRestored)
    );
    assert!(
        w.app
            .verify_audit(Some(w.ctx.tenant))
            .await
            .unwrap()
            .is_ok()
    );

    // Even into an empty store with no database journal, the journal beside the backups
    // keeps the subject out.
    let (fresh, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(
            w.ctx.tenant,
            Some(&id),
            false,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    assert_eq!(report.subjects_left_out, 1);
    assert_eq!(fresh.rows_about(w.ctx.tenant, erased.id), 0);
}

#[tokio::test]
async fn erasure_finds_a_key_filed_by_a_server_older_than_the_shard_rule() {
    let w = world_with(config()).await;
    // A subject whose two candidate shards differ (one id in 256 has them equal); each try
    // a new person (the same address twice is refused as a duplicate).
    let mut seed = 1;
    let mut a = subject_with_data(&w, seed).await;
    while shards_to_search(a.id).len() < 2 {
        seed += 1;
        a = subject_with_data(&w, seed).await;
    }
    let id = back_up(&w).await;
    // As a replica older than the rule would have written it: under the id's first byte.
    let [new_rule, old_rule] = shards_to_search(a.id).try_into().unwrap();
    let folder = folder(w.ctx.tenant, &id);
    let mut moved: KeyringShard = signed(&w, &format!("{folder}{new_rule}"));
    let wrapped = moved.keys.remove(&a.id).expect("filed under the new rule");
    let mut legacy: KeyringShard = if w.backups.bytes(&format!("{folder}{old_rule}")).is_some() {
        signed(&w, &format!("{folder}{old_rule}"))
    } else {
        KeyringShard::new(w.ctx.tenant, &id, &old_rule)
    };
    legacy.keys.insert(a.id, wrapped);
    for (name, shard) in [(new_rule, &moved), (old_rule.clone(), &legacy)] {
        write_signed(
            &w,
            &format!("{folder}{name}"),
            shard,
            &HmacSigner::default(),
        )
        .await;
    }

    let receipt = w.app.erase_subject(w.ctx, a.id, None).await.unwrap();
    assert!(matches!(
        receipt.outcome(Place::Backups),
        Some(Outcome::Done { count: Some(1), .. })
    ));
    let legacy: KeyringShard = signed(&w, &format!("{folder}{old_rule}"));
    assert!(!legacy.keys.contains_key(&a.id), "the key is shredded");
}

#[tokio::test]
async fn a_subject_whose_key_was_shredded_is_left_out_even_without_a_tombstone() {
    let w = world_with(config()).await;
    let a = subject_with_data(&w, 1).await;
    let report = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    let id = report.manifest.backup_id;
    // The key is gone from the keyring (shredded) but no tombstone exists anywhere.
    let key = format!("{}{}", folder(w.ctx.tenant, &id), shard_of(a.id));
    let mut shredded: KeyringShard = signed(&w, &key);
    shredded.keys.clear();
    let listed = report
        .manifest
        .keyring
        .iter()
        .find(|r| r.name == shard_of(a.id));
    shredded.original = Some(listed.unwrap().sha256.clone());
    write_signed(&w, &key, &shredded, &HmacSigner::default()).await;
    let (fresh, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(w.ctx.tenant, None, false, &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert_eq!(report.subjects_left_out, 1);
    assert_eq!(report.keys, 0);
    assert_eq!(fresh.rows_about(w.ctx.tenant, a.id), 0);
}

#[tokio::test]
async fn a_damaged_backup_restores_nothing_and_verification_says_so() {
    let w = world_with(config()).await;
    let (a, id, later) = backed_up_then_one_more(&w).await;
    let payload = format!("{}{PAYLOAD}", folder(w.ctx.tenant, &id));
    let mut bytes = w.backups.bytes(&payload).unwrap().to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    w.backups
        .insert(&payload, &bytes, time::OffsetDateTime::UNIX_EPOCH);
    // zstd's own check or the checksum, whichever sees it first.
    refused_and_nothing_changed(&w, &id, &[&a, &later]).await;
}

#[tokio::test]
async fn an_interrupted_backup_is_never_listed_and_is_pruned_once_abandoned() {
    let w = world_with(config()).await;
    subject_with_data(&w, 1).await;
    let complete = back_up(&w).await;
    // A backup that died before its manifest: payload and keyring, nothing else.
    let now = gdpr_ports::Clock::now(&w.clock);
    let dead = BackupLayout::new_id(now + Duration::minutes(5));
    w.backups.insert(
        &format!("{}{PAYLOAD}", folder(w.ctx.tenant, &dead)),
        b"partial",
        now,
    );
    w.backups.insert(
        &format!("{}keyring/00.json", folder(w.ctx.tenant, &dead)),
        b"{}",
        now,
    );

    let listed: Vec<String> = w
        .app
        .list_backups(w.ctx.tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(listed, vec![complete.clone()]);
    let report = w
        .app
        .restore_tenant(w.ctx.tenant, None, true, &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert_eq!(
        report.backup, complete,
        "the newest complete backup, not the partial one"
    );

    let early = w.app.prune_backups(w.ctx.tenant, false).await.unwrap();
    assert!(early.abandoned.is_empty(), "it may still be being written");
    w.clock.advance(Duration::days(2));
    let later = w.app.prune_backups(w.ctx.tenant, false).await.unwrap();
    assert_eq!(later.abandoned, vec![dead.clone()]);
    assert!(w.backups.keys().iter().all(|k| !k.contains(&dead)));
    assert!(w.backups.keys().iter().any(|k| k.contains(&complete)));
}

#[tokio::test]
async fn erasure_while_backups_are_unreachable_stays_pending_until_a_retry() {
    let w = world_with(config()).await;
    let a = subject_with_data(&w, 1).await;
    let id = back_up(&w).await;

    // The backups cannot be written (a full disk under them): the erasure is journaled (the
    // journal is beside them), but no keyring can be rewritten.
    w.backups
        .set_full_under(Some(&BackupLayout::tenant_prefix(w.ctx.tenant)));
    let receipt = w.app.erase_subject(w.ctx, a.id, None).await.unwrap();
    assert!(matches!(
        receipt.outcome(Place::Backups),
        Some(Outcome::Pending { .. })
    ));
    assert_eq!(receipt.status(), ErasureStatus::Pending);
    assert_eq!(
        w.store.rows_about(w.ctx.tenant, a.id),
        0,
        "the database part is done"
    );

    let still_down = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!(still_down.completed, 0);
    w.backups.set_full_under(None);
    let retried = w.app.retry_pending_erasures().await.unwrap();
    assert_eq!(retried.completed, 1);
    let receipt = w.app.erasure_receipt(w.ctx, receipt.id).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Complete);
    assert!(
        !keyring(&w, w.ctx.tenant, &id, a.id)
            .keys
            .contains_key(&a.id)
    );
}

#[tokio::test]
async fn the_daily_backup_runs_once_at_its_time_and_only_with_a_recipient() {
    use gdpr_app::JobKind;
    let w = world_with(AppConfig {
        backup_at: Some(time::macros::time!(02:30)),
        ..config()
    })
    .await;
    subject_with_data(&w, 1).await;
    w.clock.set(time::macros::datetime!(2026-02-01 02:29 UTC));
    // Two replicas schedule the same slot: one job.
    w.app.schedule_due_jobs().await.unwrap();
    w.app.schedule_due_jobs().await.unwrap();
    let mut runs = Vec::new();
    while let Some(run) = w.app.run_next_job("replica-1").await.unwrap() {
        runs.push(run);
    }
    let daily: Vec<_> = runs
        .iter()
        .filter(|r| r.kind == JobKind::DailyBackup.name())
        .collect();
    assert_eq!(daily.len(), 1, "{runs:?}");
    assert!(
        daily[0]
            .outcome
            .as_ref()
            .unwrap()
            .starts_with("1 tenants backed up, 0 already backed up in this slot, 0 failed")
    );
    let backups = w.app.list_backups(w.ctx.tenant).await.unwrap();
    assert_eq!(backups.len(), 1);
    // The slot was yesterday's 02:30: the backup is stamped with now, the run's time.
    assert_eq!(
        backups[0].created_at,
        time::macros::datetime!(2026-02-01 02:29 UTC)
    );
    // Past 02:30 a new slot: one more job.
    w.clock.set(time::macros::datetime!(2026-02-01 02:31 UTC));
    w.app.schedule_due_jobs().await.unwrap();
    while w.app.run_next_job("replica-2").await.unwrap().is_some() {}
    assert_eq!(w.app.list_backups(w.ctx.tenant).await.unwrap().len(), 2);

    // Without a recipient, no backup job is ever queued.
    let none = world_with(AppConfig {
        backup_at: Some(time::macros::time!(02:30)),
        ..AppConfig::default()
    })
    .await;
    none.app.schedule_due_jobs().await.unwrap();
    while let Some(run) = none.app.run_next_job("replica-1").await.unwrap() {
        assert_ne!(run.kind, JobKind::DailyBackup.name());
    }
    assert!(none.backups.keys().is_empty());
}

#[tokio::test]
async fn a_daily_backup_that_fails_for_one_tenant_is_retried_for_that_tenant_only() {
    use gdpr_app::JobKind;
    let w = world_with(AppConfig {
        backup_at: Some(time::macros::time!(02:30)),
        ..config()
    })
    .await;
    subject_with_data(&w, 1).await;
    let other = w.other_tenant().await;
    w.subject_in(other, 2).await;
    // The other tenant's backups land on a full disk.
    let full = format!("backups/{}/", other.tenant);
    w.backups.set_full_under(Some(&full));
    w.clock.set(time::macros::datetime!(2026-02-01 02:31 UTC));
    w.app.schedule_due_jobs().await.unwrap();
    let daily = |runs: Vec<gdpr_app::JobRun>| {
        runs.into_iter()
            .filter(|r| r.kind == JobKind::DailyBackup.name())
            .collect::<Vec<_>>()
    };
    let mut runs = Vec::new();
    while let Some(run) = w.app.run_next_job("replica-1").await.unwrap() {
        runs.push(run);
    }
    let first = daily(runs);
    assert_eq!(first.len(), 1);
    let error = first[0].outcome.as_ref().unwrap_err();
    assert!(
        error.starts_with("1 tenants backed up, 0 already backed up in this slot, 1 failed")
            && error.contains(&other.tenant.to_string())
            && error.contains("no space left on the backup target"),
        "{error}"
    );
    assert_eq!(w.app.list_backups(w.ctx.tenant).await.unwrap().len(), 1);
    assert!(w.app.list_backups(other.tenant).await.unwrap().is_empty());
    let reported = w.reporter.reports();
    assert!(
        reported
            .iter()
            .any(|r| r.message == "a tenant's daily backup failed"
                && r.context["tenant"] == other.tenant.to_string()),
        "{reported:?}"
    );

    // Not before a minute has passed; then once, for the failed tenant only.
    assert!(w.app.run_next_job("replica-2").await.unwrap().is_none());
    w.backups.set_full_under(None);
    w.clock.advance(Duration::minutes(1));
    let mut runs = Vec::new();
    while let Some(run) = w.app.run_next_job("replica-2").await.unwrap() {
        runs.push(run);
    }
    let retried = daily(runs);
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].outcome,
        Ok("1 tenants backed up, 1 already backed up in this slot, 0 failed".to_owned())
    );
    assert_eq!(w.app.list_backups(w.ctx.tenant).await.unwrap().len(), 1);
    assert_eq!(w.app.list_backups(other.tenant).await.unwrap().len(), 1);

    // A backup stamped days ahead (a clock that ran ahead, then was set right) does not stand
    // for the slots before it: the next day's job backs the tenant up.
    w.clock.set(time::macros::datetime!(2026-02-05 12:00 UTC));
    back_up(&w).await;
    w.clock.set(time::macros::datetime!(2026-02-02 02:31 UTC));
    w.app.schedule_due_jobs().await.unwrap();
    let mut runs = Vec::new();
    while let Some(run) = w.app.run_next_job("replica-1").await.unwrap() {
        runs.push(run);
    }
    assert_eq!(
        daily(runs)[0].outcome,
        Ok("2 tenants backed up, 0 already backed up in this slot, 0 failed".to_owned())
    );
}

#[tokio::test]
async fn a_backup_missing_a_keyring_shard_restores_nothing() {
    let w = world_with(config()).await;
    let (a, id, later) = backed_up_then_one_more(&w).await;
    let shard = format!("{}{}", folder(w.ctx.tenant, &id), shard_of(a.id));
    gdpr_ports::BackupStore::delete(&w.backups, &shard)
        .await
        .unwrap();
    refused_and_nothing_changed(&w, &id, &[&a, &later]).await;
}

#[tokio::test]
async fn a_batch_erasure_reaches_the_backups_in_one_pass_per_chunk() {
    let w = world_with(config()).await;
    let tenant = w.ctx.tenant;
    let mut erased = Vec::new();
    for seed in 1..=3 {
        erased.push(subject_with_data(&w, seed).await);
    }
    let kept = subject_with_data(&w, 4).await;
    let id = back_up(&w).await;
    let ids = erased.iter().map(|s| s.id).collect();
    let (job, _) = w
        .app
        .start_batch_erasure(w.ctx, BatchSelector::Subjects { ids })
        .await
        .unwrap();
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        assert!(run.outcome.is_ok(), "{run:?}");
    }
    assert_eq!(w.app.batch_erasure(w.ctx, job).await.unwrap().state, "done");

    // Every key shredded from the older backup; the bystander's is still there.
    for s in &erased {
        assert!(!keyring(&w, tenant, &id, s.id).keys.contains_key(&s.id));
    }
    assert!(
        keyring(&w, tenant, &id, kept.id)
            .keys
            .contains_key(&kept.id)
    );
    // One journal entry holds the chunk's erasures.
    assert_eq!(journal(&w, tenant).len(), 1);
    let entry = journaled_erasures(&w, tenant);
    let journaled: BTreeSet<_> = entry.iter().map(|(subject, _)| *subject).collect();
    assert_eq!(journaled, erased.iter().map(|s| s.id).collect());
    // Each subject has its own complete receipt, saying its key was in one keyring.
    for (subject, receipt) in entry {
        let receipt = w.app.erasure_receipt(w.ctx, receipt).await.unwrap();
        assert_eq!(receipt.subject, subject);
        assert_eq!(receipt.status(), ErasureStatus::Complete);
        assert!(matches!(
            receipt.outcome(Place::Backups),
            Some(Outcome::Done { count: Some(1), .. })
        ));
    }

    // After losing the database, the batch's journal entry keeps all of them out.
    let (fresh, recovered) = on_an_empty_store(&w);
    let report = recovered
        .restore_tenant(tenant, Some(&id), false, &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
    assert_eq!((report.subjects_left_out, report.tombstones), (3, 3));
    for s in &erased {
        assert_eq!(fresh.rows_about(tenant, s.id), 0);
    }
    assert_eq!(recovered.subject(w.ctx, kept.id).await.unwrap(), kept);
}

#[tokio::test]
async fn a_damaged_keyring_shard_holds_back_only_the_subjects_it_concerns() {
    let w = world_with(config()).await;
    let tenant = w.ctx.tenant;
    let mut subjects = Vec::new();
    for seed in 1..=8 {
        subjects.push(subject_with_data(&w, seed).await);
    }
    let (stuck, others): (Vec<_>, Vec<_>) = subjects
        .iter()
        .partition(|s| shard_of(s.id) == shard_of(subjects[0].id));
    assert!(!others.is_empty(), "eight random ids share one shard");
    let id = back_up(&w).await;
    let damaged = format!("{}{}", folder(tenant, &id), shard_of(stuck[0].id));
    w.backups
        .insert(&damaged, b"not a keyring", time::OffsetDateTime::now_utc());
    let ids = subjects.iter().map(|s| s.id).collect();
    w.app
        .start_batch_erasure(w.ctx, BatchSelector::Subjects { ids })
        .await
        .unwrap();
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        assert!(run.outcome.is_ok(), "{run:?}");
    }
    for (subject, receipt) in journaled_erasures(&w, tenant) {
        let receipt = w.app.erasure_receipt(w.ctx, receipt).await.unwrap();
        let held_back = stuck.iter().any(|s| s.id == subject);
        assert_eq!(
            matches!(
                receipt.outcome(Place::Backups),
                Some(Outcome::Pending { .. })
            ),
            held_back,
            "only the damaged shard's subjects wait for the retry"
        );
        if !held_back {
            assert!(
                !keyring(&w, tenant, &id, subject)
                    .keys
                    .contains_key(&subject)
            );
        }
    }
}
