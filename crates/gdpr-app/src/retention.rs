//! Storage limitation (Art. 5(1)(e)): retention periods as data (the deployment's defaults,
//! a tenant's departures, a form's own period), the dry run that says what would expire and
//! when, and the expiry itself: records past their period deleted, and subjects left with
//! nothing for too long erased, each decision journaled first like any other.
//!
//! The decisions are `gdpr_retention`'s; this module reads the facts and carries them out.
//! A subject under an active legal hold keeps everything (counted, never deleted).

use std::collections::BTreeMap;

use gdpr_audit::{Actor, AuditAction};
use gdpr_consent::{Form, current_status};
use gdpr_pii::{FormId, RecordId, SubjectId, TenantId};
use gdpr_ports::{
    Clock, ConsentStore, FormStore, LegalHoldStore, Page, PolicyOverride, Ports, RecordRef,
    RecordStore, RequestStore, StoreError, SubjectStore, TenantStore,
};
use gdpr_retention::{
    Inactivity, RetentionPeriod, RetentionPolicy, SubjectActivity, subject_inactivity,
};
use gdpr_rights::{Decision, RequestStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{App, AppError, Ctx};

/// Records read per step of a plan (ids, subjects and times only).
const PAGE: u32 = 5_000;

/// Records an expiry deletes per transaction (each audited), at most: a run cut short loses
/// at most one transaction's work, and the next run goes on. The first is
/// [`EXPIRY_FIRST_CHUNK`], each next one twice the last: a few records go in one small
/// transaction, a million in a dozen.
pub(crate) const EXPIRY_CHUNK: u32 = 100_000;

/// The first transaction of an expiry.
const EXPIRY_FIRST_CHUNK: u32 = 10_000;

/// Further than any period (100 years and a bit): "whenever submitted".
const FOREVER: time::Duration = time::Duration::days(36_600);

/// A tenant's retention periods: the deployment's, the tenant's own, and what is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionView {
    /// The deployment's defaults (configuration).
    pub defaults: RetentionPolicy,
    /// What the tenant set (`None`: the default applies).
    pub overrides: PolicyOverride,
    /// What applies.
    pub in_force: RetentionPolicy,
    /// Each form's records.
    pub forms: Vec<FormRetention>,
}

/// How long one form's records are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormRetention {
    /// The form.
    pub form: FormId,
    /// Its name.
    pub name: String,
    /// Its own period, if it sets one.
    pub own: Option<RetentionPeriod>,
    /// What applies (`None`: kept until erased).
    pub in_force: Option<RetentionPeriod>,
}

/// What an expiry would do (the plan, a dry run) or did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryReport {
    /// The tenant.
    pub tenant: Option<TenantId>,
    /// When it looked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// Per form with a period.
    pub forms: Vec<FormExpiry>,
    /// Records past their period (deleted, in a report of a run).
    pub records_expired: u64,
    /// Records past their period kept because their subject is under a legal hold.
    pub records_held: u64,
    /// Subjects left with nothing past the inactivity period (erased, in a run).
    pub subjects_expired: u64,
    /// Subjects left with nothing, kept as proof of consent until its own period ends.
    pub subjects_kept_as_consent_proof: u64,
    /// Subjects erased by an expiry run that a hold placed meanwhile kept (a run only).
    pub subjects_held: u64,
}

/// One form's part of an [`ExpiryReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormExpiry {
    /// The form.
    pub form: FormId,
    /// Its period.
    pub period: RetentionPeriod,
    /// Records past it (deleted, in a run).
    pub expired: u64,
    /// Records past it kept by a legal hold.
    pub held: u64,
    /// When the next record still within its period expires, if one is.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_expiry: Option<OffsetDateTime>,
}

impl<P: Ports> App<P> {
    /// The retention policy in force for a tenant: the deployment's defaults, overridden by
    /// the tenant's own periods (a tenant no longer in the database, whose backups are still
    /// pruned, has the defaults).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn retention_policy(&self, tenant: TenantId) -> Result<RetentionPolicy, AppError> {
        match self.store.tenant_retention(tenant).await {
            Ok(overrides) => Ok(self.config.retention.overridden_by(&overrides)),
            Err(StoreError::NotFound) => Ok(self.config.retention),
            Err(e) => Err(AppError::store(e)),
        }
    }

    /// The tenant's retention periods, and each form's.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn retention(&self, ctx: Ctx) -> Result<RetentionView, AppError> {
        let overrides = self
            .store
            .tenant_retention(ctx.tenant)
            .await
            .map_err(AppError::not_found("tenant"))?;
        let in_force = self.config.retention.overridden_by(&overrides);
        let forms = self
            .forms(ctx)
            .await?
            .into_iter()
            .map(|f| FormRetention {
                form: f.id,
                in_force: in_force.for_form(f.retention),
                own: f.retention,
                name: f.name,
            })
            .collect();
        Ok(RetentionView {
            defaults: self.config.retention,
            overrides,
            in_force,
            forms,
        })
    }

    /// Replaces the tenant's own retention periods (`None` in a field: the deployment's
    /// default applies). Audited with the new periods. The next expiry applies them.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn set_retention(
        &self,
        ctx: Ctx,
        overrides: PolicyOverride,
    ) -> Result<RetentionView, AppError> {
        self.store
            .set_tenant_retention(ctx.tenant, &overrides)
            .await
            .map_err(AppError::not_found("tenant"))?;
        let days = |p: Option<RetentionPeriod>| {
            p.map_or("default".to_owned(), |p| p.as_days().to_string())
        };
        let event = self
            .event(ctx, AuditAction::RetentionChanged)
            .with("backups_days", days(overrides.backups))
            .with("records_days", days(overrides.records))
            .with("inactive_subjects_days", days(overrides.inactive_subjects))
            .with("consent_proofs_days", days(overrides.consent_proofs));
        self.audit(event).await?;
        self.retention(ctx).await
    }

    /// Sets how long a form's records are kept (`None`: the tenant's period applies). Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the form; storage errors.
    pub async fn set_form_retention(
        &self,
        ctx: Ctx,
        form: FormId,
        period: Option<RetentionPeriod>,
    ) -> Result<Form, AppError> {
        let mut form = self.form(ctx, form).await?;
        form.retention = period;
        let written = self.store.update_form(&form).await;
        // Submissions read forms from memory: every change to one forgets the tenant's (whatever
        // came of the write: it may have committed before failing).
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        written.map_err(AppError::not_found("form"))?;
        let event = self
            .event(ctx, AuditAction::RetentionChanged)
            .with("form", form.id)
            .with(
                "records_days",
                period.map_or("tenant".to_owned(), |p| p.as_days().to_string()),
            );
        self.audit(event).await?;
        Ok(form)
    }

    /// What an expiry would do now: the records past their period (and those a hold keeps),
    /// when each form's next record expires, and the subjects left with nothing who would be
    /// erased. Changes nothing.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn retention_plan(&self, ctx: Ctx) -> Result<ExpiryReport, AppError> {
        self.expiry(ctx, true).await
    }

    /// Expires the tenant's records and subjects now: each chunk journaled before it is
    /// deleted, each subject erased with its receipt; audited, chunk by chunk and as a whole
    /// (`retention_enforced`, with the report's counts). Running it again does nothing more
    /// than what has expired since.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors and [`AppError::Backup`]
    /// from the journal (what was done before stays done; the next run goes on).
    pub async fn expire(&self, tenant: TenantId) -> Result<ExpiryReport, AppError> {
        // A tenant deleted since it was listed (offboarded): nothing to expire, and no record
        // to write under its name.
        self.tenant(tenant).await?;
        let ctx = Ctx::new(tenant, Actor::System);
        let report = self.expiry(ctx, false).await?;
        let event = self
            .event(ctx, AuditAction::RetentionEnforced)
            .with("records_expired", report.records_expired)
            .with("records_held", report.records_held)
            .with("subjects_expired", report.subjects_expired)
            .with(
                "subjects_kept_as_consent_proof",
                report.subjects_kept_as_consent_proof,
            )
            .with("subjects_held", report.subjects_held);
        self.audit(event).await?;
        Ok(report)
    }

    async fn expiry(&self, ctx: Ctx, dry_run: bool) -> Result<ExpiryReport, AppError> {
        let policy = self.retention_policy(ctx.tenant).await?;
        let now = self.clock.now();
        let mut report = ExpiryReport {
            tenant: Some(ctx.tenant),
            at: Some(now),
            ..ExpiryReport::default()
        };
        for form in self.forms(ctx).await? {
            if let Some(period) = policy.for_form(form.retention) {
                let expiry = self.expire_form(ctx, form.id, period, now, dry_run).await?;
                report.records_expired += expiry.expired;
                report.records_held += expiry.held;
                report.forms.push(expiry);
            }
        }
        let (expired, proofs) = self.inactive_subjects(ctx, &policy, now).await?;
        report.subjects_kept_as_consent_proof = proofs;
        report.subjects_expired = expired.len() as u64;
        if !dry_run && !expired.is_empty() {
            for chunk in expired.chunks(crate::batch_erasure::CHUNK) {
                let left = self.erase_in_bulk(ctx, chunk).await?;
                report.subjects_held += self.finish_bulk(ctx, left).await?;
            }
            report.subjects_expired -= report.subjects_held;
        }
        Ok(report)
    }

    /// One form's records submitted a `period` or more before `now`: deleted (journaled
    /// first, as a rule) but for those of held subjects; then what is left past the period
    /// (all of it, for a plan) is counted, and when the next record expires said.
    async fn expire_form(
        &self,
        ctx: Ctx,
        form: FormId,
        period: RetentionPeriod,
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<FormExpiry, AppError> {
        let before = now - period.duration();
        let mut expiry = FormExpiry {
            form,
            period,
            expired: 0,
            held: 0,
            next_expiry: None,
        };
        let held: Vec<SubjectId> = self
            .store
            .held_subjects(ctx.tenant)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .collect();
        if dry_run {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .records_submitted_before(ctx.tenant, form, before, after, PAGE)
                    .await
                    .map_err(AppError::store)?;
                let Some(last) = page.last().copied() else {
                    break;
                };
                after = Some(last);
                let kept = page.iter().filter(|r| held.contains(&r.subject)).count();
                expiry.held += kept as u64;
                expiry.expired += (page.len() - kept) as u64;
                if page.len() < PAGE as usize {
                    break;
                }
            }
        } else {
            expiry.expired = self.delete_expired(ctx, form, before, held.clone()).await?;
            // Counted through the subjects (few): the rows just deleted are not walked again.
            expiry.held = self
                .store
                .count_records_of(ctx.tenant, form, &held, before)
                .await
                .map_err(AppError::store)?;
        }
        // The first record still within its period: the first submitted after the cutoff.
        let past = RecordRef {
            id: RecordId::from_uuid(uuid::Uuid::max()),
            subject: SubjectId::from_uuid(uuid::Uuid::max()),
            created_at: before,
        };
        let next = self
            .store
            .records_submitted_before(ctx.tenant, form, now + FOREVER, Some(past), 1)
            .await
            .map_err(AppError::store)?;
        expiry.next_expiry = next.first().map(|r| r.created_at + period.duration());
        Ok(expiry)
    }

    /// Deletes the form's records submitted at or before `before` but the `spared`
    /// subjects', journaled first (the rule, not the list), a chunk per transaction, each
    /// audited; how many went.
    async fn delete_expired(
        &self,
        ctx: Ctx,
        form: FormId,
        before: OffsetDateTime,
        spared: Vec<SubjectId>,
    ) -> Result<u64, AppError> {
        let at = self.clock.now();
        self.journal(
            ctx.tenant,
            vec![Decision::RecordsExpired {
                form,
                submitted_before: before,
                spared: spared.clone(),
                at,
            }],
        )
        .await?;
        let mut total = 0;
        let mut chunk = EXPIRY_FIRST_CHUNK;
        let mut after = None;
        loop {
            let (deleted, through) = self
                .store
                .expire_records(ctx.tenant, form, before, after, &spared, at, chunk)
                .await
                .map_err(AppError::store)?;
            after = through;
            if deleted > 0 {
                let event = self
                    .event(ctx, AuditAction::RecordsExpired)
                    .with("form", form)
                    .with("count", deleted);
                self.audit(event).await?;
            }
            total += deleted;
            if deleted < u64::from(chunk) || after.is_none() {
                return Ok(total);
            }
            chunk = (chunk * 2).min(EXPIRY_CHUNK);
        }
    }

    /// The tenant's subjects left with nothing past the inactivity period, and how many of
    /// the others left with nothing are kept as proof of consent.
    async fn inactive_subjects(
        &self,
        ctx: Ctx,
        policy: &RetentionPolicy,
        now: OffsetDateTime,
    ) -> Result<(Vec<SubjectId>, u64), AppError> {
        let Some(period) = policy.inactive_subjects else {
            return Ok((Vec::new(), 0));
        };
        let idle = self
            .store
            .idle_subjects(ctx.tenant, now - period.duration())
            .await
            .map_err(AppError::store)?;
        if idle.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let held = self
            .store
            .held_subjects(ctx.tenant)
            .await
            .map_err(AppError::store)?;
        // Requests count as activity: received, or closed.
        let mut requests: BTreeMap<SubjectId, (bool, OffsetDateTime)> = BTreeMap::new();
        for r in self
            .store
            .list_requests(Some(ctx.tenant), Page::ALL)
            .await
            .map_err(AppError::store)?
        {
            let entry = requests.entry(r.subject).or_insert((false, r.received_at));
            entry.0 |= r.status == RequestStatus::Open;
            entry.1 = entry
                .1
                .max(r.received_at)
                .max(r.closed_at.unwrap_or(r.received_at));
        }
        let consent_forms = self.consent_forms(ctx).await?;
        let mut expired = Vec::new();
        let mut proofs = 0;
        for (subject, last_active) in idle {
            let history = match self.store.consent_history(ctx.tenant, subject).await {
                Ok(history) => history,
                // Erased meanwhile: nothing left to decide.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(AppError::store(e)),
            };
            let request = requests.get(&subject).copied();
            let activity = SubjectActivity {
                last_active: request.map_or(last_active, |(_, at)| at.max(last_active)),
                last_consent_event: history.iter().map(|e| e.at).max(),
                has_records: false,
                consents: consent_forms
                    .iter()
                    .any(|f| current_status(f, &history).is_valid()),
                open_request: request.is_some_and(|(open, _)| open),
                held: held.contains(&subject),
            };
            match subject_inactivity(&activity, policy, now) {
                Inactivity::Expired => expired.push(subject),
                Inactivity::ConsentProof { .. } => proofs += 1,
                Inactivity::InUse | Inactivity::Recent { .. } => {}
            }
        }
        Ok((expired, proofs))
    }
}
