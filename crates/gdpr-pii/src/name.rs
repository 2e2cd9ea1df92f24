//! Full names: free-form, since names have no universal structure, but bounded and never printed.

use std::fmt;

/// Why a string is not an acceptable full name. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but whitespace.
    #[error("full name is empty")]
    Empty,
    /// Longer than the limit, in characters as given (before whitespace folds).
    #[error("full name is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Holds a control character (a newline, a NUL...).
    #[error("full name contains a control character")]
    ControlCharacter,
}

/// A person's full name, trimmed, with inner runs of whitespace folded to one space.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FullName(String);

const MAX_CHARS: usize = 256;

impl FullName {
    /// Parses a name.
    ///
    /// # Errors
    /// A [`NameError`] saying which rule the input breaks.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(NameError::ControlCharacter);
        }
        if input.chars().any(|c| matches!(c, '\n' | '\r' | '\0')) {
            return Err(NameError::ControlCharacter);
        }
        // The limit is on the text as given, not as folded: a rule a client can check (and
        // the API document state) without knowing how whitespace folds.
        if input.chars().count() > MAX_CHARS {
            return Err(NameError::TooLong { max: MAX_CHARS });
        }
        let folded = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if folded.is_empty() {
            return Err(NameError::Empty);
        }
        Ok(Self(folded))
    }

    /// The raw name. Every call site is a place personal data flows: keep them few.
    #[must_use]
    pub fn expose_pii(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FullName(<redacted>)")
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted name>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_folded_and_bounded() {
        assert_eq!(
            FullName::parse("  Jean-Luc \t Picard ")
                .unwrap()
                .expose_pii(),
            "Jean-Luc Picard"
        );
        assert_eq!(
            FullName::parse("Zoë Ó Súilleabháin").unwrap().expose_pii(),
            "Zoë Ó Súilleabháin"
        );
        assert_eq!(FullName::parse(" \t"), Err(NameError::Empty));
        assert_eq!(FullName::parse("a\nb"), Err(NameError::ControlCharacter));
        assert_eq!(FullName::parse("a\u{7}b"), Err(NameError::ControlCharacter));
        assert_eq!(
            FullName::parse(&"é".repeat(257)),
            Err(NameError::TooLong { max: 256 })
        );
        assert!(FullName::parse(&"é".repeat(256)).is_ok());
        // Counted as given, before whitespace folds.
        let padded = format!("{}a", " ".repeat(256));
        assert_eq!(
            FullName::parse(&padded),
            Err(NameError::TooLong { max: 256 })
        );
    }

    #[test]
    fn debug_and_display_hide_the_name() {
        let name = FullName::parse("Canary Person").unwrap();
        assert!(!format!("{name:?}{name}").contains("Canary"));
    }
}
