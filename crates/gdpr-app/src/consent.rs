//! Consent forms, giving and withdrawing consent, current state and receipts.
//!
//! Withdrawing is one call taking the same inputs as giving, and takes effect at once: the next
//! record submission already sees it.

use gdpr_audit::AuditAction;
use gdpr_consent::{
    ConsentAction, ConsentError, ConsentEvent, ConsentForm, ConsentMethod, ConsentReceipt,
    ConsentStatus, ContentHash, Controller, Purpose, PurposeId, current_status,
};
use gdpr_pii::{ConsentFormId, IpAddress, PiiCategory, SubjectId};
use gdpr_ports::{Clock, ConsentStore, FormStore, Ports};
use gdpr_rights::Decision;
use serde::Serialize;

use crate::{App, AppError, Ctx};

/// How a subject gave or withdrew consent.
#[derive(Debug, Clone)]
pub struct GiveConsent {
    /// The channel.
    pub method: ConsentMethod,
    /// The address the request came from; only its pseudonymised network is kept.
    pub source_ip: Option<IpAddress>,
    /// The version shown, by hash; `None` means the latest.
    pub version: Option<ContentHash>,
}

/// A subject's standing with one consent form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    /// The consent form.
    pub consent_form: ConsentFormId,
    /// Its purpose.
    pub purpose: PurposeId,
    /// The subject's status.
    pub status: ConsentStatus,
}

impl<P: Ports> App<P> {
    /// Publishes a new consent form (its first version) for a consent-based purpose.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the purpose; [`AppError::Consent`] when the purpose is not
    /// consent-based or a text is empty; storage errors.
    pub async fn publish_consent_form(
        &self,
        ctx: Ctx,
        purpose: &str,
        title: &str,
        text: &str,
    ) -> Result<ConsentForm, AppError> {
        let purpose = self.purpose(ctx, &PurposeId::parse(purpose)?).await?;
        let form = ConsentForm::publish(ctx.tenant, &purpose, title, text, self.clock.now())?;
        let written = self.store.save_consent_form(&form).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        written.map_err(AppError::store)?;
        self.audit_published(ctx, &form).await?;
        Ok(form)
    }

    /// Publishes a new version of a consent form; earlier versions stay as they were.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Consent`] (`Unchanged`, empty text); storage errors.
    pub async fn publish_consent_version(
        &self,
        ctx: Ctx,
        id: ConsentFormId,
        text: &str,
        requires_reconsent: bool,
    ) -> Result<ConsentForm, AppError> {
        let mut form = self.consent_form(ctx, id).await?;
        form.publish_version(text, requires_reconsent, self.clock.now())?;
        let written = self.store.save_consent_form(&form).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        written.map_err(AppError::store)?;
        self.audit_published(ctx, &form).await?;
        Ok(form)
    }

    /// Retires a consent form: no consent is given under it from now on (nor a version
    /// published, nor the form attached to another), while the consents given before stay as
    /// they were, as proof, and can still be withdrawn. Journaled first, so that a restore
    /// never reopens it; audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Consent`] ([`ConsentError::Retired`]) when it is
    /// retired already; journal and storage errors (then it is not retired).
    pub async fn retire_consent_form(
        &self,
        ctx: Ctx,
        id: ConsentFormId,
    ) -> Result<ConsentForm, AppError> {
        let mut form = self.consent_form(ctx, id).await?;
        let at = self.clock.now();
        form.retire(at)?;
        self.journal(
            ctx.tenant,
            vec![Decision::ConsentFormRetired {
                consent_form: id,
                at,
            }],
        )
        .await?;
        let written = self.store.retire_consent_form(ctx.tenant, id, at).await;
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        written.map_err(AppError::not_found("consent form"))?;
        self.audit(
            self.event(ctx, AuditAction::ConsentFormRetired)
                .with("consent_form", id),
        )
        .await?;
        Ok(form)
    }

    async fn audit_published(&self, ctx: Ctx, form: &ConsentForm) -> Result<(), AppError> {
        let event = self
            .event(ctx, AuditAction::ConsentFormPublished)
            .with("consent_form", form.id)
            .with("version", form.latest().number)
            .with("hash", form.latest().hash);
        self.audit(event).await
    }

    /// A consent form with its versions.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn consent_form(&self, ctx: Ctx, id: ConsentFormId) -> Result<ConsentForm, AppError> {
        self.store
            .get_consent_form(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("consent form"))
    }

    /// The tenant's consent forms.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn consent_forms(&self, ctx: Ctx) -> Result<Vec<ConsentForm>, AppError> {
        self.store
            .list_consent_forms(ctx.tenant)
            .await
            .map_err(AppError::store)
    }

    /// Records that a subject gives consent, and returns the receipt.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject or consent form; [`AppError::Consent`] for a
    /// version the form never published; storage errors.
    pub async fn give_consent(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        form: ConsentFormId,
        how: GiveConsent,
    ) -> Result<ConsentReceipt, AppError> {
        self.record_consent(ctx, subject, form, ConsentAction::Given, how)
            .await
    }

    /// Records that a subject withdraws consent, effective at once, and returns the receipt.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::Consent`] (`NotGiven`) when there is no consent to
    /// withdraw; storage errors.
    pub async fn withdraw_consent(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        form: ConsentFormId,
        how: GiveConsent,
    ) -> Result<ConsentReceipt, AppError> {
        self.record_consent(ctx, subject, form, ConsentAction::Withdrawn, how)
            .await
    }

    async fn record_consent(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        form: ConsentFormId,
        action: ConsentAction,
        how: GiveConsent,
    ) -> Result<ConsentReceipt, AppError> {
        let history = self.history_of(ctx, subject).await?;
        let form = self.consent_form(ctx, form).await?;
        let mut version = how.version;
        if action == ConsentAction::Withdrawn {
            // Withdrawal applies to whatever version was last consented to.
            let last = history.iter().rev().find(|e| e.form == form.id);
            match last {
                Some(e) if e.action == ConsentAction::Given => version = Some(e.form_version),
                _ => return Err(ConsentError::NotGiven.into()),
            }
        }
        let source = how
            .source_ip
            .map(|ip| ip.pseudonymise(self.config.pseudonymisation));
        let event = ConsentEvent::new(
            &form,
            subject,
            action,
            version,
            self.clock.now(),
            how.method,
            source,
        )?;
        if action == ConsentAction::Withdrawn {
            // Journaled first: a restore never brings back a consent the subject withdrew.
            let withdrawn = Decision::ConsentWithdrawn {
                subject,
                consent_form: form.id,
                event: event.id,
                version: event.form_version,
                method: event.method,
                at: event.at,
            };
            self.journal(ctx.tenant, vec![withdrawn]).await?;
        }
        let written = self.store.append_consent_event(&event).await;
        // Given or withdrawn: either changes the subject's checks.
        // Forgotten whatever came of the write: it may have committed before failing.
        self.invalidate_subject(ctx.tenant, subject).await;
        written.map_err(AppError::not_found("subject"))?;
        let audit_action = match action {
            ConsentAction::Given => AuditAction::ConsentGiven,
            ConsentAction::Withdrawn => AuditAction::ConsentWithdrawn,
        };
        self.audit_about(
            ctx,
            audit_action,
            subject,
            &[("consent_form", &form.id), ("version", &event.form_version)],
        )
        .await?;
        self.receipt(ctx, &event, &form).await
    }

    async fn receipt(
        &self,
        ctx: Ctx,
        event: &ConsentEvent,
        form: &ConsentForm,
    ) -> Result<ConsentReceipt, AppError> {
        let tenant = self.tenant(ctx.tenant).await?;
        let purpose = self.purpose(ctx, &form.purpose).await?;
        let mut categories: Vec<PiiCategory> = self
            .store
            .list_forms(ctx.tenant)
            .await
            .map_err(AppError::store)?
            .iter()
            .filter(|f| f.consent_form == Some(form.id))
            .flat_map(|f| {
                f.schema
                    .classification()
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
            })
            .collect();
        categories.sort();
        categories.dedup();
        let controller = Controller {
            name: tenant.name,
            contact: "privacy contact".into(),
            email: tenant.privacy_contact,
            policy_url: String::new(),
        };
        let disclosed = self.disclosed(ctx, &purpose.id).await?;
        Ok(ConsentReceipt::for_event(
            event,
            form,
            &purpose,
            &controller,
            &categories,
            disclosed,
        ))
    }

    /// A subject's consent history, in append order.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject; storage errors.
    pub(crate) async fn history_of(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<ConsentEvent>, AppError> {
        self.ensure_subject(ctx, subject).await?;
        self.store
            .consent_history(ctx.tenant, subject)
            .await
            .map_err(AppError::store)
    }

    /// Where a subject stands with each of the tenant's consent forms.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn consent_state(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<ConsentView>, AppError> {
        let history = self.history_of(ctx, subject).await?;
        Ok(self
            .consent_forms(ctx)
            .await?
            .iter()
            .map(|form| ConsentView {
                consent_form: form.id,
                purpose: form.purpose.clone(),
                status: current_status(form, &history),
            })
            .collect())
    }

    /// Whether a subject currently consents to a purpose (through any of its consent forms).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the subject or purpose; storage errors.
    pub async fn has_consent(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        purpose: &str,
    ) -> Result<bool, AppError> {
        let purpose = self.purpose(ctx, &PurposeId::parse(purpose)?).await?;
        self.consents_to(ctx, subject, &purpose).await
    }

    /// [`App::has_consent`] for a purpose already read.
    pub(crate) async fn consents_to(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        purpose: &Purpose,
    ) -> Result<bool, AppError> {
        Ok(self
            .consent_state(ctx, subject)
            .await?
            .iter()
            .any(|v| v.purpose == purpose.id && v.status.is_valid()))
    }

    /// A receipt for every consent event of a subject, oldest first.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn consent_receipts(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<Vec<ConsentReceipt>, AppError> {
        let history = self.history_of(ctx, subject).await?;
        let forms = self.consent_forms(ctx).await?;
        let mut receipts = Vec::with_capacity(history.len());
        for event in &history {
            if let Some(form) = forms.iter().find(|f| f.id == event.form) {
                receipts.push(self.receipt(ctx, event, form).await?);
            }
        }
        Ok(receipts)
    }
}
