//! Attestations: a healthy tenant's holds, and each condition, broken once, is reported as
//! failing with its evidence; the attestations form a verifiable chain.

use std::sync::Arc;

use gdpr_app::{AppConfig, Progress};
use gdpr_audit::{Attestation, CheckKind, Verdict};
use gdpr_ports::{LogScan, LogScanner};
use gdpr_rights::RequestKind;
use gdpr_testkit::EnvelopeDecryptor;
use time::Duration;

use crate::helpers::{PGP_KEY, World, world_with};

/// The world's application, with a log scanner that reports `scan`.
fn with_logs(w: &World, scan: LogScan) -> gdpr_app::App<gdpr_testkit::InMemory> {
    w.another_app(config())
        .with_log_scanner(Arc::new(Logs(Some(scan))))
}

fn progress() -> Arc<Progress> {
    Arc::default()
}

/// A scanner standing in for the log files: it reports what the test says.
struct Logs(Option<LogScan>);

#[async_trait::async_trait]
impl LogScanner for Logs {
    async fn scan(&self) -> Result<Option<LogScan>, String> {
        Ok(self.0)
    }

    /// Offboarding is not what these tests look at: no line names a tenant here.
    async fn forget_tenant(&self, _tenant: gdpr_pii::TenantId) -> Result<u64, String> {
        Ok(0)
    }
}

/// A tenant with a subject and a verified backup: every condition holds.
fn config() -> AppConfig {
    AppConfig {
        backup_recipients: vec![PGP_KEY.into()],
        ..AppConfig::default()
    }
}

async fn healthy() -> World {
    let w = world_with(config()).await;
    w.subject(1).await;
    back_up_and_verify(&w).await;
    w
}

async fn back_up_and_verify(w: &World) {
    w.app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    w.app
        .verify_backups(Some(w.ctx.tenant), &EnvelopeDecryptor, &progress())
        .await
        .unwrap();
}

fn verdict(a: &Attestation, kind: CheckKind) -> (Verdict, String) {
    let check = a.check(kind).expect("every check is listed");
    (check.verdict, check.detail.clone())
}

async fn attest(w: &World) -> Attestation {
    w.app.attest_tenant(w.ctx.tenant).await.unwrap()
}

#[tokio::test]
async fn a_healthy_tenant_is_attested_and_the_attestations_chain() {
    let w = healthy().await;
    let first = attest(&w).await;
    assert!(first.holds(), "{first:#?}");
    let kinds: Vec<CheckKind> = first.checks.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, CheckKind::ALL);
    for kind in &CheckKind::ALL[..5] {
        assert_eq!(verdict(&first, *kind).0, Verdict::Pass, "{kind:?}");
    }
    // No scanner: the log check is neither proof nor breach.
    assert_eq!(
        verdict(&first, CheckKind::LogsClean).0,
        Verdict::NotApplicable
    );
    assert!(first.audit.is_some());

    w.clock.advance(Duration::DAY);
    let second = attest(&w).await;
    assert_eq!((second.seq, second.prev_hash), (2, first.hash));
    let listed = w.app.attestations(w.ctx, 0, 10).await.unwrap();
    assert_eq!(listed, [first, second.clone()]);
    assert_eq!(
        w.app
            .verify_attestation_chain(w.ctx)
            .await
            .unwrap()
            .unwrap()
            .head,
        second.hash
    );
    // Another tenant sees none of them.
    let other = w.other_tenant().await;
    assert!(w.app.attestations(other, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_newest_verified_backup_older_than_26_hours_fails_its_check() {
    let w = healthy().await;
    let verified = w.app.list_backups(w.ctx.tenant).await.unwrap()[0]
        .id
        .clone();
    w.clock.advance(Duration::DAY);
    let report = w
        .app
        .back_up_tenant(w.ctx.tenant, &progress())
        .await
        .unwrap();
    let id = report.manifest.backup_id;
    // A day later, a new backup awaits `gdpr verify` (which runs where the key lives): the
    // verified one is still fresh enough.
    let (v, detail) = verdict(&attest(&w).await, CheckKind::NewestBackupVerified);
    assert_eq!(v, Verdict::Pass, "{detail}");
    assert!(
        detail.contains(&verified) && detail.contains(&format!("not verified yet: {id}")),
        "{detail}"
    );
    // Backups (or their verification) stopped: 26 hours on, the check fails, saying so.
    w.clock.advance(Duration::hours(3));
    let a = attest(&w).await;
    let (v, detail) = verdict(&a, CheckKind::NewestBackupVerified);
    assert_eq!(v, Verdict::Fail);
    assert!(
        detail.contains(&verified) && detail.contains("27 h old") && detail.contains(&id),
        "{detail}"
    );
    assert!(!a.holds());
    // Once the new one is verified, it passes again; with backups turned off on purpose, the
    // check does not apply.
    w.app
        .verify_backups(
            Some(w.ctx.tenant),
            &gdpr_testkit::EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    let (v, _) = verdict(&attest(&w).await, CheckKind::NewestBackupVerified);
    assert_eq!(v, Verdict::Pass);
    let off = w.reconfigured(AppConfig {
        backups_disabled: true,
        ..AppConfig::default()
    });
    off.clock.advance(Duration::days(3));
    let (v, _) = verdict(&attest(&off).await, CheckKind::NewestBackupVerified);
    assert_eq!(v, Verdict::NotApplicable);
}

#[tokio::test]
async fn a_backup_kept_past_retention_fails_its_check_until_pruned() {
    let w = healthy().await;
    let old = w.app.list_backups(w.ctx.tenant).await.unwrap()[0]
        .id
        .clone();
    w.clock.advance(Duration::days(31));
    back_up_and_verify(&w).await;
    let (v, detail) = verdict(&attest(&w).await, CheckKind::BackupsWithinRetention);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains(&old), "{detail}");
    w.app.prune_backups(w.ctx.tenant, false).await.unwrap();
    let (v, _) = verdict(&attest(&w).await, CheckKind::BackupsWithinRetention);
    assert_eq!(v, Verdict::Pass);
}

#[tokio::test]
async fn an_edited_or_truncated_audit_chain_fails_its_check() {
    let w = healthy().await;
    attest(&w).await;
    // Records cut from the end leave a chain that verifies alone: the attestation before
    // remembers where it ended.
    w.store.tamper_with_audit(Some(w.ctx.tenant), |chain| {
        chain.pop();
    });
    let (v, detail) = verdict(&attest(&w).await, CheckKind::AuditChainVerified);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("removed from its end"), "{detail}");
    // And the next day too: the failing attestation kept the last good mark.
    w.clock.advance(Duration::DAY);
    let (v, _) = verdict(&attest(&w).await, CheckKind::AuditChainVerified);
    assert_eq!(v, Verdict::Fail);
    let good_mark = w.app.attestations(w.ctx, 0, 1).await.unwrap()[0].audit;

    w.store.tamper_with_audit(Some(w.ctx.tenant), |chain| {
        chain[0].event.action = gdpr_audit::AuditAction::SubjectViewed;
    });
    let a = attest(&w).await;
    let (v, detail) = verdict(&a, CheckKind::AuditChainVerified);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains("record 1 was altered"), "{detail}");
    assert_eq!(a.audit, good_mark);
}

#[tokio::test]
async fn an_overdue_request_fails_its_check_and_is_listed() {
    let w = healthy().await;
    let subject = w.subject(2).await;
    let request = w
        .app
        .open_request(w.ctx, subject.id, RequestKind::Access)
        .await
        .unwrap();
    assert_eq!(
        verdict(&attest(&w).await, CheckKind::NoOverdueRequest).0,
        Verdict::Pass
    );
    w.clock.advance(Duration::days(32));
    back_up_and_verify(&w).await;
    let (v, detail) = verdict(&attest(&w).await, CheckKind::NoOverdueRequest);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains(&request.request.id.to_string()), "{detail}");
}

#[tokio::test]
async fn an_erased_subject_back_in_the_data_fails_the_tombstone_check() {
    let w = healthy().await;
    let gone = w.subject(2).await;
    w.app.erase_subject(w.ctx, gone.id, None).await.unwrap();
    assert_eq!(
        verdict(&attest(&w).await, CheckKind::TombstonesHold).0,
        Verdict::Pass
    );
    // A restore that skipped the journal would bring them back.
    w.store.smuggle_subject(gone.clone());
    let (v, detail) = verdict(&attest(&w).await, CheckKind::TombstonesHold);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.contains(&gone.id.to_string()), "{detail}");
}

#[tokio::test]
async fn personal_data_in_the_log_files_fails_the_canary_check() {
    let w = healthy().await;
    let clean = with_logs(
        &w,
        LogScan {
            files: 2,
            lines: 100,
            leaks: 0,
        },
    );
    let a = clean.attest_tenant(w.ctx.tenant).await.unwrap();
    assert_eq!(verdict(&a, CheckKind::LogsClean).0, Verdict::Pass);
    let leaky = with_logs(
        &w,
        LogScan {
            files: 2,
            lines: 100,
            leaks: 3,
        },
    );
    let a = leaky.attest_tenant(w.ctx.tenant).await.unwrap();
    let (v, detail) = verdict(&a, CheckKind::LogsClean);
    assert_eq!(v, Verdict::Fail);
    assert!(detail.starts_with("3 of 100 lines"), "{detail}");
}

#[tokio::test]
async fn the_daily_attestation_runs_once_an_hour_after_the_backup_for_every_tenant() {
    use gdpr_app::JobKind;
    let w = world_with(AppConfig {
        backup_at: Some(time::macros::time!(02:30)),
        ..config()
    })
    .await;
    let other = w.other_tenant().await;
    // 03:29: the slot of 03:30 yesterday; two replicas schedule it, one job runs.
    w.clock.set(time::macros::datetime!(2026-02-01 03:29 UTC));
    w.app.schedule_due_jobs().await.unwrap();
    w.app.schedule_due_jobs().await.unwrap();
    let mut runs = Vec::new();
    while let Some(run) = w.app.run_next_job("replica-1").await.unwrap() {
        runs.push(run);
    }
    let daily: Vec<_> = runs
        .iter()
        .filter(|r| r.kind == JobKind::DailyAttestation.name())
        .collect();
    assert_eq!(daily.len(), 1, "{runs:?}");
    assert!(
        daily[0]
            .outcome
            .as_ref()
            .unwrap()
            .starts_with("2 tenants attested"),
        "{daily:?}"
    );
    // Neither tenant has a backup: each failing attestation is reported to the operator.
    let warned = w
        .reporter
        .reports()
        .iter()
        .filter(|r| r.message == "a tenant's daily attestation does not hold")
        .count();
    assert_eq!(warned, 2);
    for ctx in [w.ctx, other] {
        assert_eq!(w.app.attestations(ctx, 0, 10).await.unwrap().len(), 1);
    }
    // Past 03:30, the next slot: one more each.
    w.clock.set(time::macros::datetime!(2026-02-01 03:31 UTC));
    w.app.schedule_due_jobs().await.unwrap();
    while w.app.run_next_job("replica-2").await.unwrap().is_some() {}
    assert_eq!(w.app.attestations(w.ctx, 0, 10).await.unwrap().len(), 2);
}
