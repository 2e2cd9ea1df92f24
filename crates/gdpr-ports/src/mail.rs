//! Sending e-mail: the one-time codes of the request portal.

use async_trait::async_trait;
use gdpr_pii::Email;

/// A plain-text message to one address. The address is personal data: adapters never log
/// it, and their errors never carry it (nor anything the mail server said, which may).
#[derive(Debug, Clone)]
pub struct Mail {
    /// Who it goes to.
    pub to: Email,
    /// Its subject line.
    pub subject: String,
    /// Its body, plain text.
    pub body: String,
}

/// Why a message was not sent. No variant carries the address or the server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The mail server could not be reached, or refused for now (retry later).
    #[error("the mail server is unavailable")]
    Unavailable,
    /// The mail server refused the message for good.
    #[error("the mail server refused the message")]
    Refused,
    /// The message could not be written (the outbox folder, the message's encoding).
    #[error("the message could not be written: {0}")]
    Write(String),
}

/// Sends e-mail: over SMTP in production, to an outbox folder of `.eml` files on the embedded
/// default (`gdpr-mail`), to memory in tests (`gdpr-testkit`).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`.
    ///
    /// # Errors
    /// [`MailError`]: the message was not sent.
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}
