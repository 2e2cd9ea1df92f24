//! E-mail addresses: parsed once at the edge, normalised, never printed.

use std::fmt;

/// Why a string is not an acceptable e-mail address. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("e-mail address is empty")]
    Empty,
    /// Longer than the 254 octets SMTP can carry.
    #[error("e-mail address is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// No `@` at all.
    #[error("e-mail address has no '@' between a local part and a domain")]
    MissingAt,
    /// More than one `@` (quoted local parts are not accepted).
    #[error("e-mail address has more than one '@'")]
    MultipleAt,
    /// The part before `@` is empty, too long, or holds a forbidden character.
    #[error("e-mail local part is invalid: {reason}")]
    InvalidLocalPart {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The part after `@` is not a domain name.
    #[error("e-mail domain is invalid: {reason}")]
    InvalidDomain {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A syntactically valid, normalised e-mail address.
///
/// Normalisation trims surrounding whitespace and lower-cases the whole address (local parts are
/// case-insensitive at every mainstream provider, and one canonical form is what makes look-ups
/// by blind index work). Sub-addresses (`user+tag@`) are kept: they are distinct mailboxes to
/// the sender. Internationalised addresses (RFC 6531) are accepted; quoted local parts and IP
/// literal domains are not.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;
const FORBIDDEN: &[char] = &['"', '(', ')', ',', ':', ';', '<', '>', '[', '\\', ']'];

impl Email {
    /// Parses and normalises an address.
    ///
    /// # Errors
    /// An [`EmailError`] that says which rule the input breaks, without repeating it.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong { max: MAX_LEN });
        }
        let normalised = trimmed.to_lowercase();
        let mut parts = normalised.split('@');
        let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
            return Err(EmailError::MissingAt);
        };
        if parts.next().is_some() {
            return Err(EmailError::MultipleAt);
        }
        check_local(local)?;
        check_domain(domain)?;
        // Lower-casing can lengthen some characters; check the final form too.
        if normalised.len() > MAX_LEN {
            return Err(EmailError::TooLong { max: MAX_LEN });
        }
        Ok(Self(normalised))
    }

    /// The raw address. Every call site is a place personal data flows: keep them few.
    #[must_use]
    pub fn expose_pii(&self) -> &str {
        &self.0
    }

    /// The address itself, consuming it; as with [`Self::expose_pii`], only for where it
    /// must be used.
    #[must_use]
    pub fn into_pii(self) -> String {
        self.0
    }
}

fn check_local(local: &str) -> Result<(), EmailError> {
    let bad = |reason| Err(EmailError::InvalidLocalPart { reason });
    if local.is_empty() {
        return bad("it is empty");
    }
    if local.len() > MAX_LOCAL {
        return bad("it is longer than 64 bytes");
    }
    if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or a control character");
    }
    if local.chars().any(|c| FORBIDDEN.contains(&c)) {
        return bad("it contains a character that needs quoting");
    }
    if local.starts_with('.') || local.ends_with('.') {
        return bad("it starts or ends with a dot");
    }
    if local.contains("..") {
        return bad("it contains two dots in a row");
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    let bad = |reason| Err(EmailError::InvalidDomain { reason });
    if domain.is_empty() {
        return bad("it is empty");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return bad("it needs at least one dot, as in example.com");
    }
    for label in &labels {
        if label.is_empty() {
            return bad("it has an empty label (two dots in a row, or a leading or trailing dot)");
        }
        if label.len() > MAX_LABEL {
            return bad("a label is longer than 63 bytes");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return bad("a label holds a character other than letters, digits and hyphens");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with a hyphen");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return bad("the top-level label is all digits");
    }
    Ok(())
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted e-mail>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_edge_cases() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("{}@{}.com", "a".repeat(60), "b.".repeat(100));
        let cases: &[(&str, Result<&str, EmailError>)] = &[
            ("alice@example.com", Ok("alice@example.com")),
            ("  Alice@Example.COM \t", Ok("alice@example.com")),
            (
                "alice+newsletter@example.com",
                Ok("alice+newsletter@example.com"),
            ),
            (
                "o'brien.j@sub.example.co.uk",
                Ok("o'brien.j@sub.example.co.uk"),
            ),
            ("JOSÉ@exämple.fr", Ok("josé@exämple.fr")),
            ("用户@例子.广告", Ok("用户@例子.广告")),
            ("", Err(EmailError::Empty)),
            ("   ", Err(EmailError::Empty)),
            ("alice.example.com", Err(EmailError::MissingAt)),
            ("a@b@example.com", Err(EmailError::MultipleAt)),
            (
                "@example.com",
                Err(EmailError::InvalidLocalPart {
                    reason: "it is empty",
                }),
            ),
            (
                "al ice@example.com",
                Err(EmailError::InvalidLocalPart {
                    reason: "it contains whitespace or a control character",
                }),
            ),
            (
                "\"al\"@example.com",
                Err(EmailError::InvalidLocalPart {
                    reason: "it contains a character that needs quoting",
                }),
            ),
            (
                ".alice@example.com",
                Err(EmailError::InvalidLocalPart {
                    reason: "it starts or ends with a dot",
                }),
            ),
            (
                "al..ice@example.com",
                Err(EmailError::InvalidLocalPart {
                    reason: "it contains two dots in a row",
                }),
            ),
            (
                &long_local,
                Err(EmailError::InvalidLocalPart {
                    reason: "it is longer than 64 bytes",
                }),
            ),
            (&long_total, Err(EmailError::TooLong { max: 254 })),
            (
                "alice@localhost",
                Err(EmailError::InvalidDomain {
                    reason: "it needs at least one dot, as in example.com",
                }),
            ),
            (
                "alice@example..com",
                Err(EmailError::InvalidDomain {
                    reason: "it has an empty label (two dots in a row, or a leading or trailing dot)",
                }),
            ),
            (
                "alice@-example.com",
                Err(EmailError::InvalidDomain {
                    reason: "a label starts or ends with a hyphen",
                }),
            ),
            (
                "alice@exa_mple.com",
                Err(EmailError::InvalidDomain {
                    reason: "a label holds a character other than letters, digits and hyphens",
                }),
            ),
            (
                "alice@10.0.0.1",
                Err(EmailError::InvalidDomain {
                    reason: "the top-level label is all digits",
                }),
            ),
            (
                "alice@",
                Err(EmailError::InvalidDomain {
                    reason: "it is empty",
                }),
            ),
        ];
        for (input, expected) in cases {
            let got = Email::parse(input);
            let got = got.as_ref().map(Email::expose_pii).map_err(Clone::clone);
            assert_eq!(&got, &expected.clone(), "input {input:?}");
        }
    }

    #[test]
    fn neither_debug_nor_display_nor_errors_show_the_address() {
        let email = Email::parse("canary.person@example.org").unwrap();
        for shown in [format!("{email:?}"), email.to_string()] {
            assert!(!shown.contains("canary"), "{shown}");
            assert!(!shown.contains("example.org"), "{shown}");
        }
        let err = Email::parse("canary person@example.org").unwrap_err();
        assert!(!err.to_string().contains("canary"));
    }
}
