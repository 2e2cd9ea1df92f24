//! Backup pruning: expired backups go, the newest verified one stays, dry runs delete nothing.

use gdpr_app::BackupLayout;
use gdpr_audit::AuditAction;
use gdpr_retention::{KeepReason, PolicyOverride, RetentionPeriod};
use time::{Duration, OffsetDateTime};

use crate::helpers::{World, world};

fn stage(w: &World, tenant: gdpr_pii::TenantId, age_days: i64, verified: bool) -> String {
    let now = gdpr_ports::Clock::now(&w.clock);
    let at = now - Duration::days(age_days);
    let id = BackupLayout::new_id(at);
    let prefix = format!("{}{id}", BackupLayout::tenant_prefix(tenant));
    w.backups
        .insert(&format!("{prefix}/manifest.json"), b"{}", at);
    w.backups
        .insert(&format!("{prefix}/payload.zst.pgp"), b"x", at);
    if verified {
        w.backups
            .insert(&format!("{prefix}/{}", BackupLayout::VERIFIED), b"", at);
    }
    id
}

#[tokio::test]
async fn pruning_deletes_expired_backups_but_never_the_newest_verified() {
    let w = world().await;
    let t = w.ctx.tenant;
    let fresh = stage(&w, t, 1, false);
    let old_verified = stage(&w, t, 40, true);
    let older = stage(&w, t, 60, true);
    let oldest = stage(&w, t, 90, false);
    w.backups.insert(
        &format!("{}notes.txt", BackupLayout::tenant_prefix(t)),
        b"",
        OffsetDateTime::UNIX_EPOCH,
    );

    let dry = w.app.prune_backups(t, true).await.unwrap();
    assert_eq!(dry.plan.delete.len(), 2);
    assert!(dry.deleted_objects.is_empty());
    assert_eq!(w.backups.keys().len(), 11, "a dry run deletes nothing");

    let report = w.app.prune_backups(t, false).await.unwrap();
    let mut deleted = report.plan.delete.clone();
    deleted.sort();
    let mut expected = vec![older.clone(), oldest.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(
        report
            .plan
            .keep
            .contains(&(old_verified.clone(), KeepReason::NewestVerified))
    );
    assert!(
        report
            .plan
            .keep
            .contains(&(fresh.clone(), KeepReason::WithinRetention))
    );
    assert_eq!(report.deleted_objects.len(), 5);
    assert_eq!(report.unrecognised.len(), 1);
    let keys = w.backups.keys();
    assert!(
        keys.iter()
            .all(|k| !k.contains(&older) && !k.contains(&oldest))
    );
    assert!(keys.iter().any(|k| k.contains(&old_verified)));
    assert!(
        keys.iter().any(|k| k.ends_with("notes.txt")),
        "unrecognised objects are left alone"
    );

    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let pruned = audit
        .iter()
        .find(|r| r.event.action == AuditAction::BackupPruned)
        .unwrap();
    assert_eq!(pruned.event.details["objects"], "5");
}

#[tokio::test]
async fn pruning_follows_the_tenants_retention_and_touches_no_other_tenant() {
    let w = world().await;
    let other = w.other_tenant().await;
    w.app
        .set_retention(
            w.ctx,
            PolicyOverride {
                backups: Some(RetentionPeriod::days(7).unwrap()),
                ..PolicyOverride::default()
            },
        )
        .await
        .unwrap();
    let _fresh = stage(&w, w.ctx.tenant, 1, true);
    let ten_days = stage(&w, w.ctx.tenant, 10, true);
    let theirs = stage(&w, other.tenant, 10, false);
    let report = w.app.prune_backups(w.ctx.tenant, false).await.unwrap();
    assert_eq!(report.plan.delete, vec![ten_days]);
    assert!(w.backups.keys().iter().any(|k| k.contains(&theirs)));
    assert!(
        w.app
            .prune_backups(other.tenant, false)
            .await
            .unwrap()
            .plan
            .delete
            .is_empty()
    );
}

#[test]
fn backup_ids_carry_their_creation_time() {
    let at = time::macros::datetime!(2026-01-31 02:00:07 UTC);
    let id = BackupLayout::new_id(at);
    assert!(id.starts_with("20260131T020007Z-"), "{id}");
    assert_eq!(BackupLayout::created_at(&id), Some(at));
    assert_eq!(BackupLayout::created_at("notes"), None);
}

#[tokio::test]
async fn deleting_a_tenants_backups_removes_all_of_them_and_only_theirs_with_a_receipt() {
    let w = world().await;
    let t = w.ctx.tenant;
    let other = w.other_tenant().await;
    stage(&w, t, 1, true);
    stage(&w, t, 40, false);
    let kept = stage(&w, other.tenant, 1, true);
    let receipt = w
        .app
        .delete_tenant_backups(gdpr_audit::Actor::Operator, t)
        .await
        .unwrap();
    // Even the newest verified backup goes: the customer asked.
    assert_eq!(receipt.deleted_objects.len(), 5, "{receipt:?}");
    let keys = w.backups.keys();
    assert!(keys.iter().all(|k| k.contains(&kept)), "{keys:?}");
    assert_eq!(keys.len(), 3, "the other tenant's backup is untouched");
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let entry = audit
        .iter()
        .find(|r| r.event.action == AuditAction::TenantBackupsDeleted)
        .expect("the deletion is audited");
    assert_eq!(entry.event.details["objects"], "5");
    // Unknown tenants are refused, and nothing else is touched.
    assert!(matches!(
        w.app
            .delete_tenant_backups(
                gdpr_audit::Actor::Operator,
                gdpr_pii::TenantId::at(time::OffsetDateTime::UNIX_EPOCH)
            )
            .await,
        Err(gdpr_app::AppError::NotFound(_))
    ));
    assert_eq!(w.backups.keys().len(), 3);
}
