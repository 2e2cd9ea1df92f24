//! Customers leave (Art. 28(3)(g)): an offboarding is scheduled with a grace period (the
//! tenant's keys refused meanwhile, cancellable), the data may be handed over first, and at
//! the end every row, key, backup, journal entry, export and log line of the tenant goes,
//! with a receipt for the operator; no other tenant is touched.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use gdpr_app::{AppError, ExportFormat};
use gdpr_audit::{Actor, AuditAction};
use gdpr_pii::TenantId;
use gdpr_ports::{AuditLog, LogScan, LogScanner, Recipients, TenantStore};
use gdpr_testkit::RecordingEncryptor;
use time::Duration;

use crate::backup_restore::{back_up, config};
use crate::erasure::subject_with_data;
use crate::helpers::{PGP_KEY, World, web, world_with};

/// Log files in memory: the lines a process wrote; and a tenant whose lines cannot be
/// rewritten (a log file that cannot be written), if any.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>, Arc<Mutex<Option<TenantId>>>);

#[async_trait::async_trait]
impl LogScanner for Logs {
    async fn scan(&self) -> Result<Option<LogScan>, String> {
        Ok(None)
    }

    async fn forget_tenant(&self, tenant: TenantId) -> Result<u64, String> {
        if *self.1.lock().unwrap() == Some(tenant) {
            return Err("a log file could not be rewritten".into());
        }
        let mut lines = self.0.lock().unwrap();
        let before = lines.len();
        lines.retain(|l| !l.contains(&tenant.to_string()));
        Ok((before - lines.len()) as u64)
    }
}

/// A tenant with data everywhere it can be: rows, a backup, journal entries, an export
/// waiting to be downloaded, log lines; and another tenant beside it.
async fn leaving() -> (World, gdpr_app::Ctx, Logs) {
    let w = world_with(config()).await;
    let logs = Logs::default();
    let w = World {
        app: w.app.with_log_scanner(Arc::new(logs.clone())),
        ..w
    };
    let s = subject_with_data(&w, 1).await;
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    back_up(&w).await;
    w.app
        .withdraw_consent(w.ctx, s.id, consent, web(None))
        .await
        .unwrap();
    w.app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    let other = w.other_tenant().await;
    let theirs = w.subject_in(other, 9).await;
    {
        let mut lines = logs.0.lock().unwrap();
        lines.push(format!(
            r#"{{"event":"api_key_created","tenant":"{}"}}"#,
            w.ctx.tenant
        ));
        lines.push(format!(
            r#"{{"event":"api_key_created","tenant":"{}"}}"#,
            other.tenant
        ));
    }
    let _ = theirs;
    (w, other, logs)
}

#[tokio::test]
async fn an_offboarding_refuses_the_tenants_keys_until_cancelled() {
    let w = world_with(config()).await;
    let key = w
        .app
        .create_api_key(Actor::Operator, w.ctx.tenant, false)
        .await
        .unwrap();
    let scheduled = w
        .app
        .schedule_offboarding(Actor::Operator, w.ctx.tenant, None)
        .await
        .unwrap();
    assert_eq!(
        scheduled.delete_at - scheduled.scheduled_at,
        Duration::days(30)
    );
    assert!(matches!(
        w.app.authenticate(&key.token).await,
        Err(AppError::TenantOffboarding { .. })
    ));
    assert!(matches!(
        w.app
            .schedule_offboarding(Actor::Operator, w.ctx.tenant, Some(1))
            .await,
        Err(AppError::Conflict(_))
    ));
    w.app
        .cancel_offboarding(Actor::Operator, w.ctx.tenant)
        .await
        .unwrap();
    assert!(w.app.authenticate(&key.token).await.is_ok());
    assert!(matches!(
        w.app
            .cancel_offboarding(Actor::Operator, w.ctx.tenant)
            .await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        w.app
            .schedule_offboarding(Actor::Operator, w.ctx.tenant, Some(366))
            .await,
        Err(AppError::InvalidInput { .. })
    ));
    // Both journaled; audited in the tenant's chain and the operator's.
    assert_scheduled_then_cancelled(&w);
    let system = w.store.audit_records(None, 0, 100).await.unwrap();
    assert!(system.iter().any(
        |r| r.event.action == AuditAction::TenantOffboardingScheduled
            && r.event.details["tenant"] == w.ctx.tenant.to_string()
    ));
}

#[tokio::test]
async fn the_handover_is_every_subjects_export_encrypted_to_the_keys_named() {
    let w = world_with(config()).await;
    for seed in 1..=3 {
        subject_with_data(&w, seed).await;
    }
    let stream = w
        .app
        .handover(
            Actor::Operator,
            w.ctx.tenant,
            Recipients::Armored(vec![PGP_KEY.into()]),
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = stream.map(|chunk| chunk.unwrap().to_vec()).concat().await;
    let plain = String::from_utf8(RecordingEncryptor::open(&sealed).unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = plain
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "a header and one line per subject");
    assert_eq!(lines[0]["format"], "gdpr-handover");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l["records"].as_array().unwrap().len() == 2)
    );
    assert_eq!(
        w.encryptor.recipients_used().last().unwrap(),
        &vec![PGP_KEY.to_owned()]
    );
    assert!(matches!(
        w.app
            .handover(Actor::Operator, w.ctx.tenant, Recipients::Armored(vec![]))
            .await,
        Err(AppError::Encryption(_))
    ));
    // Recorded in the system chain too, which outlives the tenant's.
    let system = w.store.audit_records(None, 0, 100).await.unwrap();
    assert!(
        system
            .iter()
            .any(|r| r.event.action == AuditAction::TenantHandedOver
                && r.event.details["tenant"] == w.ctx.tenant.to_string()
                && r.event.details["subjects"] == "3")
    );
}

#[tokio::test]
async fn a_tenant_whose_deletion_fails_holds_no_other_back_and_cannot_be_cancelled_once_due() {
    let (w, other, logs) = leaving().await;
    for t in [w.ctx.tenant, other.tenant] {
        w.app
            .schedule_offboarding(Actor::Operator, t, Some(1))
            .await
            .unwrap();
    }
    // The tenant the pass comes to first cannot be deleted.
    let first = w.app.tenants().await.unwrap()[0].id;
    let second = if first == w.ctx.tenant {
        other.tenant
    } else {
        w.ctx.tenant
    };
    *logs.1.lock().unwrap() = Some(first);
    w.clock.advance(Duration::days(1));
    assert!(w.app.offboard_due_tenants().await.is_err());
    assert!(matches!(
        w.app.tenant(second).await,
        Err(AppError::NotFound(_))
    ));
    assert!(w.app.offboarding(first).await.unwrap().is_some());
    // Its deletion has begun (its objects are gone): too late to cancel.
    assert!(matches!(
        w.app.cancel_offboarding(Actor::Operator, first).await,
        Err(AppError::Conflict(_))
    ));
    assert!(w.app.offboarding(first).await.unwrap().is_some());
    // The next pass finishes it.
    *logs.1.lock().unwrap() = None;
    assert_eq!(w.app.offboard_due_tenants().await.unwrap().len(), 1);
    assert!(matches!(
        w.app.tenant(first).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn at_the_end_of_the_grace_period_everything_of_the_tenant_goes_and_nothing_else() {
    let (w, other, logs) = leaving().await;
    let tenant = w.ctx.tenant;
    w.app
        .schedule_offboarding(Actor::Operator, tenant, Some(30))
        .await
        .unwrap();
    let mine = |w: &World| {
        w.backups
            .keys()
            .into_iter()
            .filter(|k| k.contains(&tenant.to_string()))
            .count()
    };
    assert!(mine(&w) >= 4, "backup, journal, export objects");
    // Not yet due: nothing happens.
    w.clock.advance(Duration::days(29));
    assert!(w.app.offboard_due_tenants().await.unwrap().is_empty());

    // Due, but object storage fails half-way: the tenant stays, schedule and all, and the
    // next pass finishes.
    w.clock.advance(Duration::days(1));
    w.backups.set_unavailable(true);
    assert!(w.app.offboard_due_tenants().await.is_err());
    assert!(w.app.offboarding(tenant).await.unwrap().is_some());
    w.backups.set_unavailable(false);
    let receipts = w.app.offboard_due_tenants().await.unwrap();
    assert_eq!(receipts.len(), 1);
    let receipt = &receipts[0];
    assert_eq!(receipt.rows["subjects"], 1);
    assert_eq!(receipt.rows["records"], 2);
    assert!(receipt.rows["audit_log"] > 0);
    assert!(receipt.objects["backups"] > 0 && receipt.objects["journal"] > 0);
    assert_eq!(receipt.objects["exports"], 2);
    assert_eq!(receipt.log_lines, Some(1));

    // Nothing of the tenant is left anywhere.
    assert_eq!(mine(&w), 0);
    assert!(matches!(
        w.app.tenant(tenant).await,
        Err(AppError::NotFound(_))
    ));
    assert!(
        w.store
            .audit_records(Some(tenant), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        w.store.tenant_offboarding(tenant).await,
        Err(gdpr_ports::StoreError::NotFound)
    ));
    let left = logs.0.lock().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert!(left[0].contains(&other.tenant.to_string()));
    // The operator's receipt, in the system chain, in counts.
    let system = w.store.audit_records(None, 0, 100).await.unwrap();
    let record = system
        .iter()
        .find(|r| r.event.action == AuditAction::TenantOffboarded)
        .unwrap();
    assert_eq!(record.event.details["tenant"], tenant.to_string());
    assert_eq!(record.event.details["rows.records"], "2");
    assert!(w.app.verify_audit(None).await.unwrap().is_ok());

    // The other tenant is whole.
    assert!(w.app.tenant(other.tenant).await.is_ok());
    assert_eq!(
        w.app
            .subjects(other, gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        w.app
            .verify_audit(Some(other.tenant))
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn a_schedule_whose_write_fails_is_voided_in_the_journal_so_no_restore_replays_it() {
    let w = world_with(config()).await;
    let tenant = w.ctx.tenant;
    w.store.set_offboarding_unwritable(true);
    assert!(
        w.app
            .schedule_offboarding(Actor::Operator, tenant, Some(0))
            .await
            .is_err()
    );
    w.store.set_offboarding_unwritable(false);
    assert_eq!(w.app.offboarding(tenant).await.unwrap(), None);
    // Journaled before the write, then voided: a restore replays both, and the tenant stays.
    assert_scheduled_then_cancelled(&w);
    // A schedule that works is not voided.
    w.app
        .schedule_offboarding(Actor::Operator, tenant, Some(30))
        .await
        .unwrap();
    assert_eq!(crate::journal::decisions(&w).len(), 3);
    assert!(w.app.offboarding(tenant).await.unwrap().is_some());
}

/// The journal holds an offboarding scheduled, then cancelled, and nothing else.
fn assert_scheduled_then_cancelled(w: &World) {
    let kinds: Vec<&str> = crate::journal::decisions(w)
        .iter()
        .map(gdpr_rights::Decision::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "tenant_offboarding_scheduled",
            "tenant_offboarding_cancelled"
        ]
    );
}
