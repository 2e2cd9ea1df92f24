//! Customers leave (Art. 28(3)(g)): at the end of a contract the processor deletes or returns
//! all the personal data it processed for the customer. The operator schedules a tenant's
//! offboarding with a grace period (cancellable; the tenant's keys are refused meanwhile),
//! may hand its data over first (every subject's export, encrypted to keys the operator
//! names), and when the period ends every row, key, backup, journal entry, export and log-file
//! line of the tenant is deleted; the operator keeps a receipt (ids, counts and times) in the
//! system audit chain.
//!
//! The deletion goes outside in first and the database last, each step one that can be run
//! again: a run cut short leaves the tenant's row, and with it the schedule, so the next pass
//! of the job finishes it.

use std::collections::BTreeMap;

use bytes::Bytes;
use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_pii::TenantId;
use gdpr_ports::{
    BackupStore, ByteStream, Clock, Encryptor, Offboarding, Page, Ports, Recipients, SubjectStore,
    TenantStore,
};
use gdpr_rights::Decision;
use serde::Serialize;
use time::OffsetDateTime;

use crate::backup::BackupLayout;
use crate::backup::format::{journal_prefix, legacy_tombstone_prefix};
use crate::{App, AppError, Ctx};

/// The operator's receipt of a tenant's deletion: ids, counts and times only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffboardingReceipt {
    /// The tenant.
    pub tenant: TenantId,
    /// When its offboarding was scheduled.
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    /// When its data went.
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
    /// Rows deleted, per table.
    pub rows: BTreeMap<String, u64>,
    /// Objects deleted from backup storage, per kind (`backups`, `journal`, `exports`,
    /// `tombstones`).
    pub objects: BTreeMap<String, u64>,
    /// Lines removed from this process's log files (`None`: it writes none).
    pub log_lines: Option<u64>,
}

/// The first line of a handover bundle; one line per subject follows, each that subject's
/// access export.
#[derive(Serialize)]
struct HandoverHeader {
    format: &'static str,
    version: u32,
    tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    generated_at: OffsetDateTime,
}

/// Subjects exported per page of a handover.
const HANDOVER_PAGE: u32 = 100;

impl<P: Ports> App<P> {
    /// Schedules the tenant's offboarding: its data goes `grace_days` from now (30 by
    /// default), and its API keys are refused from now on. Journaled, and audited in the
    /// tenant's chain and the system one.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::InvalidInput`] for a grace period over a year;
    /// [`AppError::Conflict`] when one is scheduled already; journal and storage errors.
    pub async fn schedule_offboarding(
        &self,
        actor: Actor,
        tenant: TenantId,
        grace_days: Option<u32>,
    ) -> Result<Offboarding, AppError> {
        if self.offboarding(tenant).await?.is_some() {
            return Err(AppError::Conflict(
                "this tenant's offboarding is scheduled already".into(),
            ));
        }
        let now = self.clock.now();
        let offboarding =
            Offboarding::schedule(now, grace_days.unwrap_or(Offboarding::DEFAULT_GRACE_DAYS))
                .map_err(|e| AppError::invalid("grace_days", e.to_string()))?;
        self.journal(
            tenant,
            vec![Decision::TenantOffboardingScheduled {
                delete_at: offboarding.delete_at,
                at: now,
            }],
        )
        .await?;
        let written = self
            .store
            .set_tenant_offboarding(tenant, Some(offboarding))
            .await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(tenant))
            .await;
        if let Err(e) = written {
            self.void_offboarding(tenant).await;
            return Err(AppError::not_found("tenant")(e));
        }
        self.audit_both(
            actor,
            tenant,
            AuditAction::TenantOffboardingScheduled,
            |e| e.with("delete_at", offboarding.delete_at),
        )
        .await?;
        Ok(offboarding)
    }

    /// After a schedule's write failed: unless it committed anyway, its journal entry is
    /// followed by a cancellation, so that no restore replays a deletion the operator was
    /// told had failed. Best effort: a failure is reported (ids only).
    async fn void_offboarding(&self, tenant: TenantId) {
        let at = self.clock.now();
        let voided = match self.store.tenant_offboarding(tenant).await {
            // Written after all (or scheduled meanwhile by another call): the journal
            // agrees with the database.
            Ok(Some(_)) => return,
            Ok(None) | Err(gdpr_ports::StoreError::NotFound) => {
                let cancelled = Decision::TenantOffboardingCancelled { at };
                self.journal(tenant, vec![cancelled]).await.map(drop)
            }
            Err(e) => Err(AppError::store(e)),
        };
        if let Err(e) = voided {
            self.report_error(gdpr_ports::ErrorReport {
                level: gdpr_ports::ReportLevel::Error,
                message: format!(
                    "an offboarding whose schedule failed could not be voided in the decision journal: {}",
                    e.for_operators()
                ),
                person: None,
                context: [("tenant".to_owned(), tenant.to_string())].into(),
                request: None,
            });
        }
    }

    /// Cancels the tenant's scheduled offboarding while its grace period runs: its keys work
    /// again. Journaled, audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant or when none is scheduled; [`AppError::Conflict`]
    /// once the grace period is over (the deletion may have begun: some of the tenant's
    /// backups and journal may be gone already, and a tenant back in service without them
    /// would be worse than one deleted); journal and storage errors.
    pub async fn cancel_offboarding(&self, actor: Actor, tenant: TenantId) -> Result<(), AppError> {
        match self.offboarding(tenant).await? {
            None => return Err(AppError::NotFound("offboarding")),
            Some(o) if o.is_due(self.clock.now()) => {
                return Err(AppError::Conflict(
                    "this tenant's grace period is over and its deletion may have begun: it \
                     can no longer be cancelled"
                        .into(),
                ));
            }
            Some(_) => {}
        }
        let at = self.clock.now();
        self.journal(tenant, vec![Decision::TenantOffboardingCancelled { at }])
            .await?;
        let written = self.store.set_tenant_offboarding(tenant, None).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(tenant))
            .await;
        written.map_err(AppError::not_found("tenant"))?;
        self.audit_both(
            actor,
            tenant,
            AuditAction::TenantOffboardingCancelled,
            |e| e,
        )
        .await
    }

    /// The tenant's scheduled offboarding, if one is.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn offboarding(&self, tenant: TenantId) -> Result<Option<Offboarding>, AppError> {
        self.store
            .tenant_offboarding(tenant)
            .await
            .map_err(AppError::not_found("tenant"))
    }

    /// Refuses a tenant being offboarded (its API keys, while the grace period runs).
    pub(crate) async fn ensure_not_offboarding(&self, tenant: TenantId) -> Result<(), AppError> {
        let offboarding = match self.cache.offboarding(tenant) {
            Some(known) => Ok(known),
            None => {
                let ticket = self.cache.ticket();
                let read = self.store.tenant_offboarding(tenant).await;
                if let (Some(ticket), Ok(known)) = (ticket, &read) {
                    self.cache.put_offboarding(ticket, tenant, *known);
                }
                read
            }
        };
        match offboarding {
            Ok(None) | Err(gdpr_ports::StoreError::NotFound) => Ok(()),
            Ok(Some(o)) => Err(AppError::TenantOffboarding {
                delete_at: o
                    .delete_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }),
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// Deletes every tenant whose offboarding grace period is over; their receipts.
    ///
    /// # Errors
    /// Storage errors listing the tenants; the first tenant's deletion that failed, once
    /// every other due tenant was deleted (one tenant's failure holds no other back; the
    /// next pass finishes it).
    pub async fn offboard_due_tenants(&self) -> Result<Vec<OffboardingReceipt>, AppError> {
        let now = self.clock.now();
        let mut receipts = Vec::new();
        let mut failed = None;
        for tenant in self.tenants().await? {
            let done = match self.offboarding(tenant.id).await {
                Ok(Some(o)) if o.is_due(now) => self.offboard(tenant.id, o).await.map(Some),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            };
            match done {
                Ok(receipt) => receipts.extend(receipt),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(receipts), Err)
    }

    /// The deletion itself: exports, backups, legacy tombstones and the decision journal in
    /// backup storage, the log lines naming the tenant, then every row in one transaction
    /// that also writes the receipt.
    async fn offboard(
        &self,
        tenant: TenantId,
        offboarding: Offboarding,
    ) -> Result<OffboardingReceipt, AppError> {
        let mut objects = BTreeMap::new();
        for (kind, prefix) in [
            ("exports", format!("exports/{tenant}/")),
            ("backups", BackupLayout::tenant_prefix(tenant)),
            ("tombstones", legacy_tombstone_prefix(tenant)),
            ("journal", journal_prefix(tenant)),
        ] {
            let listed = self.backups.list(&prefix).await.map_err(AppError::Backup)?;
            for object in &listed {
                self.backups
                    .delete(&object.key)
                    .await
                    .map_err(AppError::Backup)?;
            }
            objects.insert(kind.to_owned(), listed.len() as u64);
        }
        self.journal_heads.forget(tenant);
        let log_lines = match &self.log_scanner {
            Some(logs) => Some(logs.forget_tenant(tenant).await.map_err(|reason| {
                AppError::Backup(gdpr_ports::BackupError::Unavailable(reason.into()))
            })?),
            None => None,
        };
        let deleted_at = self.clock.now();
        let mut receipt = AuditEvent::new(
            deleted_at,
            None,
            Actor::System,
            AuditAction::TenantOffboarded,
        )
        .with("tenant", tenant)
        .with("scheduled_at", offboarding.scheduled_at);
        for (kind, n) in &objects {
            receipt = receipt.with(&format!("objects.{kind}"), n);
        }
        if let Some(n) = log_lines {
            receipt = receipt.with("log_lines", n);
        }
        let deleted = self.store.delete_tenant(tenant, receipt).await;
        self.invalidate(gdpr_ports::Invalidation::Tenant(tenant))
            .await;
        let rows = deleted.map_err(AppError::store)?;
        Ok(OffboardingReceipt {
            tenant,
            scheduled_at: offboarding.scheduled_at,
            deleted_at,
            rows,
            objects,
            log_lines,
        })
    }

    /// The tenant's data for handover (Art. 28(3)(g) "return"): a header line, then every
    /// subject's access export, one JSON line each, encrypted to `recipients` as it streams.
    /// Audited (how many subjects) once the last line is made.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Encryption`] (no or bad recipient). A failure
    /// while streaming ends the stream with an error.
    pub async fn handover(
        &self,
        actor: Actor,
        tenant: TenantId,
        recipients: Recipients,
    ) -> Result<ByteStream, AppError> {
        self.tenant(tenant).await?;
        let ctx = Ctx::new(tenant, actor);
        let header = serde_json::to_vec(&HandoverHeader {
            format: "gdpr-handover",
            version: 1,
            tenant,
            generated_at: self.clock.now(),
        })
        .unwrap_or_else(|_| unreachable!("plain data serialises"));
        // Assembled in memory before it is encrypted (the size of the tenant's exports, once,
        // at the end of a contract): the stream the encryptor reads cannot borrow `self`.
        let mut lines = vec![Ok(line(header))];
        let mut page = Page::first(HANDOVER_PAGE);
        let mut count = 0_u64;
        loop {
            let subjects = self
                .store
                .list_subjects(tenant, page)
                .await
                .map_err(AppError::store)?;
            for subject in &subjects {
                let bundle = self.build_export(ctx, subject.id).await?;
                lines.push(Ok(line(
                    serde_json::to_vec(&bundle)
                        .unwrap_or_else(|_| unreachable!("an export serialises")),
                )));
                count += 1;
            }
            if subjects.len() < HANDOVER_PAGE as usize {
                break;
            }
            page.offset += u64::from(HANDOVER_PAGE);
        }
        let ciphertext = self
            .encryptor
            .encrypt(recipients, Box::pin(futures_util::stream::iter(lines)))
            .await?;
        // In the system chain too: the record that the data was returned outlives the
        // tenant's own chain, which its deletion takes.
        self.audit_both(actor, tenant, AuditAction::TenantHandedOver, |e| {
            e.with("subjects", count)
        })
        .await?;
        Ok(ciphertext)
    }

    /// An event in the tenant's chain and the same in the system one (the operator's record
    /// outlives the tenant's).
    async fn audit_both(
        &self,
        actor: Actor,
        tenant: TenantId,
        action: AuditAction,
        details: impl Fn(AuditEvent) -> AuditEvent,
    ) -> Result<(), AppError> {
        let at = self.clock.now();
        self.audit(details(AuditEvent::new(at, Some(tenant), actor, action)))
            .await?;
        self.audit(details(AuditEvent::new(at, None, actor, action)).with("tenant", tenant))
            .await
    }
}

fn line(mut json: Vec<u8>) -> Bytes {
    json.push(b'\n');
    Bytes::from(json)
}
