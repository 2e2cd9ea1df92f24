//! The errors of the use cases: each variant is something a caller can act on, and no message
//! repeats personal data.

use gdpr_consent::{ConsentError, FormError};
use gdpr_pii::ValidationErrors;
use gdpr_ports::{BackupError, EncryptError, StoreError};
use gdpr_rights::RequestError;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The credentials are missing, malformed, unknown or revoked. Says nothing more, so as not
    /// to help a guesser.
    #[error("invalid or revoked API key")]
    Unauthorized,
    /// A signed message (a recipient's call back) whose signature does not verify, or whose
    /// time is too far from now. Says which rule failed, never what was received.
    #[error("signature refused: {0}")]
    Signature(gdpr_webhooks::VerifyError),
    /// Nothing with this id in the caller's tenant (other tenants' ids included).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An input that breaks a rule; names the field and the rule.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The input field.
        field: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
    /// A record that does not fit its form's schema.
    #[error(transparent)]
    InvalidRecord(#[from] ValidationErrors),
    /// The change would break a uniqueness rule or an immutable history.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A record of a consent-based form for a subject without current consent.
    #[error(
        "no current consent for purpose '{purpose}': the subject must consent to the latest version of the consent form first"
    )]
    ConsentRequired {
        /// The purpose.
        purpose: String,
    },
    /// A consent-based form with no consent form attached accepts no record.
    #[error("form processes data under consent but has no consent form attached")]
    ConsentFormMissing,
    /// A consent rule.
    #[error(transparent)]
    Consent(#[from] ConsentError),
    /// A form rule.
    #[error(transparent)]
    Form(#[from] FormError),
    /// A request lifecycle rule.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Encryption refused (no recipient: nothing leaves in clear).
    #[error(transparent)]
    Encryption(#[from] EncryptError),
    /// Storage failed; nothing was changed by the failed step.
    #[error("storage failed")]
    Store(#[source] StoreError),
    /// Object storage failed (its own message says how: unavailable, full, ...).
    #[error(transparent)]
    Backup(BackupError),
    /// A restriction or objection of the subject forbids this processing.
    #[error(transparent)]
    ProcessingBlocked(gdpr_rights::ProcessingBlocked),
    /// It existed but is no more (an export past its expiry).
    #[error("{0} has expired")]
    Gone(&'static str),
    /// A backup could not be decrypted.
    #[error(transparent)]
    Decryption(#[from] gdpr_ports::DecryptError),
    /// A backup is damaged or not one this version can read; the message says which check
    /// failed (ids and counts only).
    #[error("backup {backup} is unusable: {reason}")]
    BackupUnusable {
        /// The backup's id.
        backup: String,
        /// What is wrong.
        reason: String,
    },
    /// An object read back from object storage is not signed by a trusted key, or not where
    /// its signed content says it belongs: it is not believed, and nothing is done with it.
    #[error("object {object} is not trusted: {reason}")]
    Untrusted {
        /// The object's key.
        object: String,
        /// What failed.
        reason: String,
    },
    /// Signing what is written outside the database failed (no signing key configured here).
    #[error(transparent)]
    Signing(#[from] gdpr_ports::SignError),
    /// What this deployment does not allow (a webhook endpoint on an internal address, plain
    /// `http`): the input is well-formed, the operator's policy refuses it.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts of one kind (the portal's codes): refused for a while.
    #[error("{0}")]
    TooManyRequests(&'static str),
    /// An e-mail could not be sent.
    #[error(transparent)]
    Mail(gdpr_ports::MailError),
    /// The tenant is being offboarded: its keys are refused until the operator cancels, and
    /// its data goes at the end of the grace period.
    #[error("this tenant is being offboarded: its data is deleted at {delete_at}")]
    TenantOffboarding {
        /// When its data goes (RFC 3339).
        delete_at: String,
    },
}

impl AppError {
    /// Maps a storage error for an entity named `what`.
    pub(crate) fn not_found(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |e| match e {
            StoreError::NotFound => Self::NotFound(what),
            other => Self::store(other),
        }
    }

    /// Maps a storage error where "not found" is not expected.
    pub(crate) fn store(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(rule) => Self::Conflict(rule.to_owned()),
            StoreError::NotFound => Self::NotFound("entity"),
            other => Self::Store(other),
        }
    }

    /// The message for operators (command output, job outcomes, error reports): an object
    /// store that is unavailable or full with its root cause ("Connection refused", "No space
    /// left on device"), and a database that failed with its root cause cut at its first
    /// quotation mark ("error returned from database: (code: 5) database is locked"), and
    /// stored data that does not read back with which (cut the same way), so that "why" is in
    /// front of them; any other error its message only. A database's own message can quote
    /// the values it refused.
    #[must_use]
    pub fn for_operators(&self) -> String {
        let mut out = self.to_string();
        // Only the stores' own failures: `Source` wraps the data being written, whose chain
        // could reach a database error.
        let (source, trusted): (Option<&(dyn std::error::Error + 'static)>, bool) = match self {
            Self::Backup(e @ (BackupError::Unavailable(_) | BackupError::Full(_))) => {
                (std::error::Error::source(e), true)
            }
            Self::Store(StoreError::Unavailable(source)) => (Some(source.as_ref()), false),
            // Which stored data does not read back: the adapter's words, cut like a
            // database's (a parser's message quotes what it read).
            Self::Store(StoreError::Corrupt(what)) => {
                return format!("{out}: {}", before_any_quote(what));
            }
            _ => (None, true),
        };
        let mut root = source;
        while let Some(next) = root.and_then(std::error::Error::source) {
            root = Some(next);
        }
        if let Some(root) = root {
            out.push_str(": ");
            let cause = root.to_string();
            out.push_str(&if trusted {
                cause
            } else {
                before_any_quote(&cause)
            });
        }
        out
    }

    /// An invalid input: `field` and what is wrong with it (never its value).
    #[must_use]
    pub fn invalid(field: &'static str, reason: impl ToString) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.to_string(),
        }
    }
}

/// `text` up to its first quotation mark, if any: a database's message quotes the value it
/// refused after saying why (`invalid input syntax for type uuid: "…"`), in its own language's
/// marks when translated (`»…«`, `« … »`), and a value may itself hold quotes, so nothing
/// after the first mark is trusted. An apostrophe counts: a cut "couldn't" costs a word.
fn before_any_quote(text: &str) -> String {
    const MARKS: &[char] = &[
        '"', '\'', '`', '«', '»', '‹', '›', '„', '‚', '“', '”', '‘', '’', '「', '」', '『', '』',
        '＂', '＇',
    ];
    match text.find(MARKS) {
        Some(at) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_tells_operators_why_without_the_values_it_quotes() {
        let said = |cause: &str| {
            let cause: Box<dyn std::error::Error + Send + Sync> = cause.into();
            AppError::Store(StoreError::Unavailable(cause)).for_operators()
        };
        assert_eq!(
            said("error returned from database: (code: 5) database is locked"),
            "storage failed: error returned from database: (code: 5) database is locked"
        );
        // Whatever follows the first mark is dropped: a value holding quotes, an apostrophe
        // in a single-quoted value, a translated server's own marks.
        for (cause, kept) in [
            (
                r#"invalid input syntax for type uuid: "Dwayne "The Rock" Johnson""#,
                "invalid input syntax for type uuid: …",
            ),
            (
                r#"invalid type: string "ab\"cd@x.org""#,
                "invalid type: string …",
            ),
            ("value 'O'Brien' refused", "value …"),
            (
                "ungültige Eingabesyntax für Typ uuid: »ada@example.org«",
                "ungültige Eingabesyntax für Typ uuid: …",
            ),
            (
                "syntaxe invalide : « ada@example.org »",
                "syntaxe invalide : …",
            ),
            ("unterminated \"ada@example.org", "unterminated …"),
        ] {
            assert_eq!(said(cause), format!("storage failed: {kept}"));
        }
        // Stored data that does not read back says which, cut the same way.
        assert_eq!(
            AppError::Store(StoreError::Corrupt("a console document".into())).for_operators(),
            "storage failed: a console document"
        );
        assert_eq!(
            AppError::Store(StoreError::Corrupt(
                r#"row 3: invalid type: string "ada@example.org""#.into()
            ))
            .for_operators(),
            "storage failed: row 3: invalid type: string …"
        );
        // Other errors say only what they are.
        assert_eq!(
            AppError::NotFound("subject").for_operators(),
            "subject not found"
        );
    }
}
