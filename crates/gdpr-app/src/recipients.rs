//! The register of processors and recipients (Art. 28, 30(1)(d)-(e), 44–46): the
//! deployment's (from configuration) and each tenant's (through the API), which the Art. 30
//! register, access exports (Art. 15(1)(c), 15(2)) and the daily attestation draw on.

use gdpr_audit::AuditAction;
use gdpr_consent::PurposeId;
use gdpr_ports::{Clock, Document, DocumentKind, DocumentStore, Owner, Ports};
use gdpr_rights::{Recipient, RecipientError, Transfer};
use serde::Serialize;
use uuid::Uuid;

use crate::{App, AppError, Ctx};

/// A recipient as the registers list it, with the id the tenant's routes take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientEntry {
    /// Its id: the tenant's entry's, or for one of the deployment's processors an id derived
    /// from its name ([`RecipientEntry::deployment`]), the same on every replica and restart.
    pub id: Uuid,
    /// Who keeps it: the operator's configuration, or the tenant's register.
    pub kept_by: KeptBy,
    /// The recipient.
    #[serde(flatten)]
    pub recipient: Recipient,
    /// The transfer its data makes (flagged when outside the EEA without a safeguard, or
    /// nowhere stated).
    pub transfer: Transfer,
    /// Whether the register and the daily attestation flag it.
    pub flagged: bool,
}

/// Who keeps a recipient's entry, and so who may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptBy {
    /// The operator's configuration (`[rollbar]`, `[backups]`, `[[processors]]`): the
    /// deployment's processors, the same for every tenant.
    Deployment,
    /// The tenant, through its routes.
    Tenant,
}

/// The namespace of the deployment's processors' ids (UUIDv5 of their names).
const DEPLOYMENT_RECIPIENTS: Uuid = Uuid::from_u128(0x6a1f_0c3e_2b7d_4e59_9c48_d1f0_73a5_be21);

impl RecipientEntry {
    /// One of the tenant's entries, its transfer judged.
    #[must_use]
    pub fn new(id: Uuid, recipient: Recipient) -> Self {
        Self::judged(id, KeptBy::Tenant, recipient)
    }

    /// One of the deployment's processors: its id is derived from its name, so that every
    /// replica, every restart and every tenant's listing give it the same one (the
    /// configuration refuses two processors of one name).
    #[must_use]
    pub fn deployment(recipient: Recipient) -> Self {
        let id = Uuid::new_v5(&DEPLOYMENT_RECIPIENTS, recipient.name.as_bytes());
        Self::judged(id, KeptBy::Deployment, recipient)
    }

    fn judged(id: Uuid, kept_by: KeptBy, recipient: Recipient) -> Self {
        let transfer = recipient.transfer();
        Self {
            id,
            kept_by,
            transfer,
            flagged: transfer.flagged(),
            recipient,
        }
    }
}

impl From<RecipientError> for AppError {
    fn from(e: RecipientError) -> Self {
        match e {
            // The body is well-formed; the Commission's decisions are what refuse it.
            RecipientError::NoAdequacyDecision => Self::Conflict(e.to_string()),
            _ => Self::InvalidInput {
                field: e.field(),
                reason: e.to_string(),
            },
        }
    }
}

impl<P: Ports> App<P> {
    /// Every recipient of the tenant's data: the deployment's first, then the tenant's,
    /// oldest first.
    ///
    /// # Errors
    /// Storage errors (an entry that does not read back among them).
    pub async fn recipients(&self, ctx: Ctx) -> Result<Vec<RecipientEntry>, AppError> {
        let mut out: Vec<RecipientEntry> = self
            .config
            .recipients
            .iter()
            .map(|r| RecipientEntry::deployment(r.clone()))
            .collect();
        let documents = self
            .store
            .list_documents(Owner::Tenant(ctx.tenant), DocumentKind::Recipient)
            .await
            .map_err(AppError::store)?;
        for doc in documents {
            out.push(entry(doc)?);
        }
        Ok(out)
    }

    /// One recipient of the tenant's data: one of the deployment's processors, or one of the
    /// tenant's own.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn recipient(&self, ctx: Ctx, id: Uuid) -> Result<RecipientEntry, AppError> {
        if let Some(entry) = self.deployment_recipient(id) {
            return Ok(entry);
        }
        let doc = self
            .store
            .get_document(Owner::Tenant(ctx.tenant), DocumentKind::Recipient, id)
            .await
            .map_err(AppError::not_found("recipient"))?;
        entry(doc)
    }

    /// Adds a recipient to the tenant's register (or replaces the one with `id`); audited.
    /// Every purpose it names must be the tenant's.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] naming the field at fault; [`AppError::NotFound`] for a
    /// purpose the tenant does not have, or an `id` it has no recipient under; storage
    /// errors; [`AppError::Forbidden`] for one of the deployment's processors, which the
    /// operator's configuration keeps.
    pub async fn put_recipient(
        &self,
        ctx: Ctx,
        id: Option<Uuid>,
        recipient: Recipient,
    ) -> Result<RecipientEntry, AppError> {
        if let Some(id) = id {
            self.refuse_deployment_recipient(id)?;
        }
        let recipient = recipient.checked()?;
        self.check_purposes(ctx, &recipient.purposes).await?;
        let owner = Owner::Tenant(ctx.tenant);
        let (id, action, created_at) = match id {
            Some(id) => {
                let old = self
                    .store
                    .get_document(owner, DocumentKind::Recipient, id)
                    .await
                    .map_err(AppError::not_found("recipient"))?;
                (id, AuditAction::RecipientChanged, old.created_at)
            }
            None => (
                Uuid::now_v7(),
                AuditAction::RecipientRegistered,
                self.clock.now(),
            ),
        };
        let body = serde_json::to_string(&recipient).map_err(|_| corrupt())?;
        self.store
            .put_document(&Document {
                id,
                kind: DocumentKind::Recipient,
                owner,
                created_at,
                body,
            })
            .await
            .map_err(AppError::store)?;
        let transfer = recipient.transfer();
        let event = self
            .event(ctx, action)
            .with("recipient", id)
            .with("transfer", transfer.as_str());
        self.audit(event).await?;
        Ok(RecipientEntry::new(id, recipient))
    }

    /// Removes a recipient from the tenant's register; audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors; [`AppError::Forbidden`] for one of the
    /// deployment's processors.
    pub async fn remove_recipient(&self, ctx: Ctx, id: Uuid) -> Result<(), AppError> {
        self.refuse_deployment_recipient(id)?;
        let gone = self
            .store
            .delete_document(Owner::Tenant(ctx.tenant), DocumentKind::Recipient, id)
            .await
            .map_err(AppError::store)?;
        if !gone {
            return Err(AppError::NotFound("recipient"));
        }
        let event = self
            .event(ctx, AuditAction::RecipientRemoved)
            .with("recipient", id);
        self.audit(event).await
    }

    /// Whether a recipient of the register receives `purpose`'s data (a consent receipt's
    /// third-party disclosure). The deployment's processors settle it without reading the
    /// tenant's register: this runs on every consent given or withdrawn.
    pub(crate) async fn disclosed(&self, ctx: Ctx, purpose: &PurposeId) -> Result<bool, AppError> {
        if self.config.recipients.iter().any(|r| r.serves(purpose)) {
            return Ok(true);
        }
        Ok(self
            .recipients(ctx)
            .await?
            .iter()
            .any(|r| r.recipient.serves(purpose)))
    }

    fn deployment_recipient(&self, id: Uuid) -> Option<RecipientEntry> {
        self.config
            .recipients
            .iter()
            .map(|r| RecipientEntry::deployment(r.clone()))
            .find(|e| e.id == id)
    }

    /// The deployment's processors change only in the operator's configuration.
    fn refuse_deployment_recipient(&self, id: Uuid) -> Result<(), AppError> {
        match self.deployment_recipient(id) {
            Some(_) => Err(AppError::Forbidden(
                "this processor is the deployment's: the operator's configuration names it".into(),
            )),
            None => Ok(()),
        }
    }

    async fn check_purposes(&self, ctx: Ctx, purposes: &[PurposeId]) -> Result<(), AppError> {
        if purposes.is_empty() {
            return Ok(());
        }
        let known = self.purposes(ctx).await?;
        match purposes.iter().find(|p| !known.iter().any(|k| &k.id == *p)) {
            Some(_) => Err(AppError::NotFound("purpose")),
            None => Ok(()),
        }
    }
}

fn corrupt() -> AppError {
    AppError::store(gdpr_ports::StoreError::Corrupt(
        "a recipient entry does not read back".into(),
    ))
}

fn entry(doc: Document) -> Result<RecipientEntry, AppError> {
    let recipient: Recipient = serde_json::from_str(&doc.body).map_err(|_| corrupt())?;
    Ok(RecipientEntry::new(doc.id, recipient))
}
