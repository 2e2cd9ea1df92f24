//! Where backups live in object storage, and pruning them by retention.
//!
//! A backup is a folder of objects, `backups/<tenant>/<backup id>/...`, whose id starts with
//! its UTC creation time, so pruning decides from a listing alone. A `VERIFIED` object marks a
//! backup that a verification pass decrypted and checksummed. The decision itself is
//! `gdpr_retention::plan_pruning`; this module carries it out.

use std::collections::BTreeMap;

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{BackupStore, Clock, Ports};
use gdpr_retention::{BackupSummary, PruningPlan, plan_pruning};
use serde::Serialize;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::{App, AppError};

const ID_TIME: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The naming of backup objects.
#[derive(Debug, Clone, Copy)]
pub struct BackupLayout;

impl BackupLayout {
    /// The object that marks a backup verified.
    pub const VERIFIED: &'static str = "VERIFIED";

    /// The prefix of every backup of a tenant.
    #[must_use]
    pub fn tenant_prefix(tenant: TenantId) -> String {
        format!("backups/{tenant}/")
    }

    /// A new backup id for a backup taken at `at`: `20260131T020000Z-1a2b3c4d`.
    #[must_use]
    pub fn new_id(at: OffsetDateTime) -> String {
        let at = at.to_offset(time::UtcOffset::UTC);
        let stamp = at.format(ID_TIME).unwrap_or_default();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{stamp}-{}", &suffix[..8])
    }

    /// The creation time encoded in a backup id.
    #[must_use]
    pub fn created_at(id: &str) -> Option<OffsetDateTime> {
        let stamp = id.split('-').next()?;
        PrimitiveDateTime::parse(stamp, ID_TIME)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    }
}

/// What a pruning pass decided and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// The decision.
    pub plan: PruningPlan,
    /// Objects deleted (empty on a dry run).
    pub deleted_objects: Vec<String>,
    /// Keys under the tenant's prefix that are not part of a recognisable backup (left alone).
    pub unrecognised: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

/// What deleting all of a tenant's backups removed: the receipt given to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupDeletionReceipt {
    /// The tenant.
    pub tenant: TenantId,
    /// When the deletion finished.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Every object removed, sorted.
    pub deleted_objects: Vec<String>,
}

impl<P: Ports> App<P> {
    /// Prunes the backups of every tenant (see [`Self::prune_backups`]); one report each.
    ///
    /// # Errors
    /// As [`Self::prune_backups`]; tenants before the failure stay pruned.
    pub async fn prune_every_tenant(&self, dry_run: bool) -> Result<Vec<PruneReport>, AppError> {
        let mut reports = Vec::new();
        for tenant in self.tenants().await? {
            reports.push(self.prune_backups(tenant.id, dry_run).await?);
        }
        Ok(reports)
    }

    /// Deletes every object under the tenant's backup prefix, on the customer's request
    /// (retention and the newest verified backup do not apply: the customer asked), audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown tenant; object storage errors (objects deleted
    /// before the failure stay deleted, and calling again finishes the job); storage errors
    /// writing the audit entry.
    pub async fn delete_tenant_backups(
        &self,
        actor: Actor,
        tenant: TenantId,
    ) -> Result<BackupDeletionReceipt, AppError> {
        self.tenant(tenant).await?;
        let prefix = BackupLayout::tenant_prefix(tenant);
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        let mut deleted_objects = Vec::with_capacity(objects.len());
        for object in objects {
            self.backups
                .delete(&object.key)
                .await
                .map_err(AppError::Backup)?;
            deleted_objects.push(object.key);
        }
        let at = self.clock.now();
        let event = AuditEvent::new(at, Some(tenant), actor, AuditAction::TenantBackupsDeleted)
            .with("objects", deleted_objects.len());
        self.audit(event).await?;
        Ok(BackupDeletionReceipt {
            tenant,
            at,
            deleted_objects,
        })
    }

    /// Decides which of a tenant's backups are past retention and, unless `dry_run`, deletes
    /// every object of each. The newest verified backup is never deleted.
    ///
    /// # Errors
    /// Object storage errors (objects deleted before the failure stay deleted; the next pass
    /// finishes the job); storage errors writing the audit entry.
    pub async fn prune_backups(
        &self,
        tenant: TenantId,
        dry_run: bool,
    ) -> Result<PruneReport, AppError> {
        let prefix = BackupLayout::tenant_prefix(tenant);
        let objects = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
        let mut by_backup: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut report = PruneReport {
            tenant: Some(tenant),
            dry_run,
            ..PruneReport::default()
        };
        for object in objects {
            let rest = &object.key[prefix.len()..];
            match rest.split_once('/') {
                Some((id, _)) if BackupLayout::created_at(id).is_some() => {
                    by_backup.entry(id.to_owned()).or_default().push(object.key);
                }
                _ => report.unrecognised.push(object.key),
            }
        }
        let summaries: Vec<BackupSummary> = by_backup
            .iter()
            .filter_map(|(id, keys)| {
                Some(BackupSummary {
                    id: id.clone(),
                    created_at: BackupLayout::created_at(id)?,
                    verified: keys
                        .iter()
                        .any(|k| k.ends_with(&format!("/{}", BackupLayout::VERIFIED))),
                })
            })
            .collect();
        let period = self.config.retention.for_tenant(tenant).backups;
        report.plan = plan_pruning(&summaries, period, self.clock.now());
        if dry_run || report.plan.delete.is_empty() {
            return Ok(report);
        }
        for id in &report.plan.delete {
            for key in by_backup.get(id).into_iter().flatten() {
                self.backups.delete(key).await.map_err(AppError::Backup)?;
                report.deleted_objects.push(key.clone());
            }
        }
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            Actor::System,
            AuditAction::BackupPruned,
        )
        .with("backups", report.plan.delete.len())
        .with("objects", report.deleted_objects.len());
        self.audit(event).await?;
        Ok(report)
    }
}
