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

/// A recipient as the registers list it: the deployment's carry no id (configuration owns
/// them), a tenant's the id its routes take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientEntry {
    /// The tenant's entry's id; `None` for the deployment's.
    pub id: Option<Uuid>,
    /// The recipient.
    #[serde(flatten)]
    pub recipient: Recipient,
    /// The transfer its data makes (flagged when outside the EEA without a safeguard, or
    /// nowhere stated).
    pub transfer: Transfer,
    /// Whether the register and the daily attestation flag it.
    pub flagged: bool,
}

impl RecipientEntry {
    /// An entry, its transfer judged.
    #[must_use]
    pub fn new(id: Option<Uuid>, recipient: Recipient) -> Self {
        let transfer = recipient.transfer();
        Self {
            id,
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
            .map(|r| RecipientEntry::new(None, r.clone()))
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

    /// One of the tenant's recipients.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn recipient(&self, ctx: Ctx, id: Uuid) -> Result<RecipientEntry, AppError> {
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
    /// errors.
    pub async fn put_recipient(
        &self,
        ctx: Ctx,
        id: Option<Uuid>,
        recipient: Recipient,
    ) -> Result<RecipientEntry, AppError> {
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
        Ok(RecipientEntry::new(Some(id), recipient))
    }

    /// Removes a recipient from the tenant's register; audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn remove_recipient(&self, ctx: Ctx, id: Uuid) -> Result<(), AppError> {
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
    Ok(RecipientEntry::new(Some(doc.id), recipient))
}
