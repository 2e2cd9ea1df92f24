//! Pruning backups by retention, and deleting all of a tenant's on request.
//!
//! The decision is `gdpr_retention::plan_pruning` (a pure function of the listing, the period
//! and now); this module carries it out. A `VERIFIED` object marks a backup that a
//! verification pass decrypted and checksummed: the newest such backup is never pruned.

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{BackupStore, Clock, Ports};
use gdpr_retention::{BackupSummary, PruningPlan, plan_pruning};
use serde::Serialize;
use time::OffsetDateTime;

use super::format::MANIFEST;
use super::layout::BackupLayout;
use crate::{App, AppError};

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
    /// Folders an interrupted backup left (no manifest), old enough to be removed.
    pub abandoned: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Decision-journal entries pruned with the backups they outlived.
    pub journal_entries_pruned: u64,
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
    /// every object of each. The newest verified backup is never deleted. What an interrupted
    /// backup left (objects without a manifest) is deleted once older than
    /// [`BackupLayout::ABANDONED_AFTER`], when no backup can still be writing it.
    ///
    /// # Errors
    /// Object storage errors (objects deleted before the failure stay deleted; the next pass
    /// finishes the job); storage errors writing the audit entry.
    pub async fn prune_backups(
        &self,
        tenant: TenantId,
        dry_run: bool,
    ) -> Result<PruneReport, AppError> {
        let (folders, unrecognised) = self.backup_folders(tenant).await?;
        let now = self.clock.now();
        let mut report = PruneReport {
            tenant: Some(tenant),
            dry_run,
            unrecognised,
            ..PruneReport::default()
        };
        let summaries: Vec<BackupSummary> = folders
            .iter()
            .filter(|(_, f)| f.complete)
            .map(|(id, f)| BackupSummary {
                id: id.clone(),
                created_at: f.created_at,
                verified: f.verified,
            })
            .collect();
        let period = self.retention_policy(tenant).await?.backups;
        report.plan = plan_pruning(&summaries, period, now);
        report.abandoned = folders
            .iter()
            .filter(|(_, f)| !f.complete && f.created_at + BackupLayout::ABANDONED_AFTER < now)
            .map(|(id, _)| id.clone())
            .collect();
        if dry_run {
            return Ok(report);
        }
        for id in report.plan.delete.iter().chain(&report.abandoned) {
            // The manifest goes first: a pass cut short leaves an incomplete folder (never
            // restored, removed later), not a "complete" backup missing its keyring.
            let mut keys: Vec<&String> = folders
                .get(id)
                .map(|f| f.objects.iter().collect())
                .unwrap_or_default();
            keys.sort_by_key(|k| !k.ends_with(&format!("/{MANIFEST}")));
            for key in keys {
                self.backups.delete(key).await.map_err(AppError::Backup)?;
                report.deleted_objects.push(key.clone());
            }
        }
        // Then the journal entries the oldest backup kept holds already (after the backups:
        // a journal that fails to verify must not keep expired backups from going).
        let oldest_kept = report
            .plan
            .keep
            .iter()
            .filter_map(|(id, _)| folders.get(id).map(|f| (f.created_at, id)))
            .min();
        // A manifest that cannot be read (or trusted) prunes nothing: the journal is kept
        // whole, which is never wrong, and restoring that backup will say what is wrong.
        let oldest_kept = match oldest_kept {
            Some((taken_at, id)) => self
                .manifest(tenant, id)
                .await
                .ok()
                .and_then(|m| m.journal)
                .map(|mark| (mark, taken_at)),
            None => None,
        };
        report.journal_entries_pruned = self.prune_journal(tenant, oldest_kept).await?;
        if report.deleted_objects.is_empty() && report.journal_entries_pruned == 0 {
            return Ok(report);
        }
        let event = AuditEvent::new(
            self.clock.now(),
            Some(tenant),
            Actor::System,
            AuditAction::BackupPruned,
        )
        .with("backups", report.plan.delete.len())
        .with("abandoned", report.abandoned.len())
        .with("objects", report.deleted_objects.len())
        .with("journal_entries", report.journal_entries_pruned);
        self.audit(event).await?;
        Ok(report)
    }
}
