//! Small registers kept as documents: a tenant's (or the deployment's) processors and
//! recipients, breaches and webhook endpoints. Few per tenant, read whole, written one at a
//! time; each is a JSON body the use case owns, filed under a kind and an id.

use async_trait::async_trait;
use gdpr_pii::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// What a document is: one register each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentKind {
    /// A processor or recipient (Art. 28, 30(1)(d)).
    Recipient,
    /// A personal data breach (Art. 33).
    Breach,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A request from someone known only by an e-mail address, until it is answered.
    Inquiry,
    /// That a request's coming or passed deadline was announced (ids only).
    RequestReminder,
    /// That a portal inquiry's code was given back right: written once, by whichever replica
    /// took it (ids only).
    InquiryClaim,
    /// A person who may sign in to the tenant's console: address, role, password hash.
    ConsoleUser,
    /// A console sign-in, found by its token's hash (the token itself is never stored).
    ConsoleSession,
    /// That an address signs in to a console: written create-only under an id derived from
    /// the address, so that two users never share one.
    ConsoleAddress,
    /// That a recipient confirmed, by its signed call back, that it erased a subject (Art. 19):
    /// one per recipient and subject, under an id derived from both (ids and a time only).
    ErasureConfirmation,
}

impl DocumentKind {
    /// Its name in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recipient => "recipient",
            Self::Breach => "breach",
            Self::WebhookEndpoint => "webhook_endpoint",
            Self::Inquiry => "inquiry",
            Self::RequestReminder => "request_reminder",
            Self::InquiryClaim => "inquiry_claim",
            Self::ConsoleUser => "console_user",
            Self::ConsoleSession => "console_session",
            Self::ConsoleAddress => "console_address",
            Self::ErasureConfirmation => "erasure_confirmation",
        }
    }

    /// Every kind.
    pub const ALL: [Self; 10] = [
        Self::Recipient,
        Self::Breach,
        Self::WebhookEndpoint,
        Self::Inquiry,
        Self::RequestReminder,
        Self::InquiryClaim,
        Self::ConsoleUser,
        Self::ConsoleSession,
        Self::ConsoleAddress,
        Self::ErasureConfirmation,
    ];

    /// The kind a stored name stands for.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether a restore keeps the tenant's documents of this kind rather than replacing them
    /// with the backup's (which are added where missing): evidence of what happened since,
    /// like the erasure receipts. A recipient's erasure confirmation (Art. 19) is: its
    /// delivery outlives a restore, and the recipient will not call back twice.
    #[must_use]
    pub const fn kept_through_restore(self) -> bool {
        matches!(self, Self::ErasureConfirmation)
    }

    /// Whether a restore adds the backup's document of this kind only where its id is free
    /// (any other document whose id is taken fails the restore): the kinds kept through a
    /// restore, and address claims, whose id comes from the address (it may have moved to
    /// another tenant since the backup; one address is one user, and the restored user
    /// without its claim signs no one in).
    #[must_use]
    pub const fn restored_where_free(self) -> bool {
        self.kept_through_restore() || matches!(self, Self::ConsoleAddress)
    }
}

/// Whose register a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// The deployment's (the operator's): in no tenant's backup.
    Deployment,
    /// A tenant's: in its backups, deleted with it.
    Tenant(TenantId),
}

/// One document as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its id.
    pub id: Uuid,
    /// Its register.
    pub kind: DocumentKind,
    /// Whose it is.
    pub owner: Owner,
    /// When it was first written (the order of a list).
    pub created_at: OffsetDateTime,
    /// Its JSON body.
    pub body: String,
}

/// The registers kept as documents.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Writes a document: inserted, or its body replaced if the id exists in the same
    /// register of the same owner (its creation time kept).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists in another register or owner;
    /// [`StoreError::Unavailable`].
    async fn put_document(&self, document: &Document) -> Result<(), StoreError>;

    /// Writes a document that must not exist yet: of two replicas writing the same id, one
    /// succeeds and the other is told (a claim that holds across replicas).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists (in any register);
    /// [`StoreError::Unavailable`].
    async fn insert_document(&self, document: &Document) -> Result<(), StoreError>;

    /// Replaces the body of a document that still exists (same owner and register); never
    /// creates one. A write that follows a read must not bring back what was deleted in
    /// between (a console session ended while one of its requests was under way).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when it is gone (or another owner's): nothing is written;
    /// [`StoreError::Unavailable`].
    async fn replace_document(&self, document: &Document) -> Result<(), StoreError>;

    /// One document.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (also for another owner's); [`StoreError::Unavailable`].
    async fn get_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<Document, StoreError>;

    /// One document by its id alone, whoever owns it: for a caller that knows no owner yet
    /// (an endpoint's signed call back names the endpoint only). One step down the primary
    /// key, however many documents of the kind there are.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (also for a document of another kind);
    /// [`StoreError::Unavailable`].
    async fn document_by_id(&self, kind: DocumentKind, id: Uuid) -> Result<Document, StoreError>;

    /// An owner's register, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_documents(
        &self,
        owner: Owner,
        kind: DocumentKind,
    ) -> Result<Vec<Document>, StoreError>;

    /// Every document of a kind, whoever owns it (the webhook worker feeds every endpoint).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn all_documents(&self, kind: DocumentKind) -> Result<Vec<Document>, StoreError>;

    /// Deletes a document; whether it existed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<bool, StoreError>;
}
