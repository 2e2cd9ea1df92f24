//! Restriction (Art. 18) and objection (Art. 21): placing and lifting them, and refusing the
//! processing they forbid. The rule itself is `gdpr_rights::may_process`.

use gdpr_audit::AuditAction;
use gdpr_consent::{LawfulBasis, Purpose, PurposeId};
use gdpr_pii::SubjectId;
use gdpr_ports::{Clock, Ports, ProcessingLimitStore};
use gdpr_rights::{
    Decision, LimitError, LimitKind, ProcessingBlocked, ProcessingLimit, may_process,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// Whether a subject's data may be processed for a purpose now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcessingCheck {
    /// For a consent-based purpose, whether the subject currently consents.
    pub consented: bool,
    /// The restriction or objection that forbids it, if any.
    pub blocked: Option<ProcessingBlocked>,
    /// The answer: the purpose's basis holds and nothing forbids it.
    pub may_process: bool,
}

impl<P: Ports> App<P> {
    /// Places a restriction (all of the subject's data) or an objection (every
    /// legitimate-interest purpose, or the one named). Audited (kind and id, not the reason).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject or purpose; [`AppError::InvalidInput`] for a
    /// missing reason, a restriction naming a purpose, or an objection naming a purpose that
    /// does not rest on legitimate interests; storage errors.
    pub async fn place_limit(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        kind: LimitKind,
        purpose: Option<&str>,
        reason: &str,
    ) -> Result<ProcessingLimit, AppError> {
        self.ensure_subject(ctx, subject).await?;
        if let Some(id) = purpose {
            let purpose = self.purpose(ctx, &PurposeId::parse(id)?).await?;
            if kind == LimitKind::Objection && purpose.basis != LawfulBasis::LegitimateInterests {
                return Err(AppError::invalid(
                    "purpose",
                    "an objection (Art. 21(1)) concerns a purpose based on legitimate interests",
                ));
            }
        }
        let limit = ProcessingLimit::place(
            ctx.tenant,
            subject,
            kind,
            purpose.map(str::to_owned),
            reason,
            self.clock.now(),
        )
        .map_err(|e| match e {
            LimitError::Reason => AppError::invalid("reason", e),
            LimitError::RestrictionWithPurpose => AppError::invalid("purpose", e),
        })?;
        let placed = Decision::LimitPlaced {
            subject,
            limit: limit.id,
            limit_kind: kind,
            purpose: limit.purpose.clone(),
            at: limit.placed_at,
        };
        self.journal(ctx.tenant, vec![placed]).await?;
        let written = self.store.insert_limit(&limit).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate_subject(ctx.tenant, subject).await;
        written.map_err(AppError::not_found("subject"))?;
        self.audit_about(
            ctx,
            AuditAction::ProcessingLimited,
            subject,
            &[("limit", &limit.id), ("article", &kind.article())],
        )
        .await?;
        Ok(limit)
    }

    /// Lifts a limit. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`] (not this subject's); [`AppError::Conflict`] when already
    /// lifted; storage errors.
    pub async fn lift_limit(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        id: Uuid,
    ) -> Result<ProcessingLimit, AppError> {
        let mut limit = self
            .limits(ctx, subject)
            .await?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or(AppError::NotFound("processing limit"))?;
        if !limit.is_active() {
            return Err(AppError::Conflict("the limit is already lifted".into()));
        }
        let now = self.clock.now();
        limit.lifted_at = Some(now);
        let lifted = Decision::LimitLifted {
            subject,
            limit: limit.id,
            at: now,
        };
        self.journal(ctx.tenant, vec![lifted]).await?;
        let written = self.store.update_limit(&limit).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate_subject(ctx.tenant, subject).await;
        written.map_err(AppError::not_found("processing limit"))?;
        self.audit_about(
            ctx,
            AuditAction::ProcessingLimitLifted,
            subject,
            &[("limit", &limit.id), ("article", &limit.kind.article())],
        )
        .await?;
        Ok(limit)
    }

    /// A subject's limits, active and lifted, oldest first.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn limits(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<ProcessingLimit>, AppError> {
        self.ensure_subject(ctx, subject).await?;
        self.store
            .limits_of(ctx.tenant, subject)
            .await
            .map_err(AppError::store)
    }

    /// Refuses processing for `purpose` that the subject's limits forbid.
    pub(crate) async fn ensure_may_process(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        purpose: &Purpose,
    ) -> Result<(), AppError> {
        let limits = self
            .store
            .limits_of(ctx.tenant, subject)
            .await
            .map_err(AppError::store)?;
        let li = purpose.basis == LawfulBasis::LegitimateInterests;
        may_process(&limits, purpose.id.as_str(), li).map_err(AppError::ProcessingBlocked)
    }

    /// Whether the subject's data may be processed for `purpose` now: consent where the
    /// purpose needs it, and no restriction or objection against it.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject or purpose; storage errors.
    pub async fn processing_check(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        purpose: &str,
    ) -> Result<ProcessingCheck, AppError> {
        let purpose = PurposeId::parse(purpose)?;
        if let Some(check) = self.cache.check(ctx.tenant, subject, &purpose) {
            return Ok(check);
        }
        // Taken before the reads: a change landing meanwhile keeps their answer out.
        let ticket = self.cache.ticket();
        let check = self.read_processing_check(ctx, subject, &purpose).await?;
        if let Some(ticket) = ticket {
            self.cache
                .put_check(ticket, ctx.tenant, subject, purpose, check);
        }
        Ok(check)
    }

    /// [`App::processing_check`] from the database.
    async fn read_processing_check(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        purpose: &PurposeId,
    ) -> Result<ProcessingCheck, AppError> {
        let purpose = self.purpose(ctx, purpose).await?;
        let consented = self.consents_to(ctx, subject, &purpose).await?;
        let blocked = match self.ensure_may_process(ctx, subject, &purpose).await {
            Ok(()) => None,
            Err(AppError::ProcessingBlocked(b)) => Some(b),
            Err(e) => return Err(e),
        };
        let basis_holds = purpose.basis != LawfulBasis::Consent || consented;
        Ok(ProcessingCheck {
            consented,
            blocked,
            may_process: basis_holds && blocked.is_none(),
        })
    }
}
