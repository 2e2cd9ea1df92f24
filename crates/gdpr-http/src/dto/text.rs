//! Text on the wire: [`Text`] takes JSON strings only, and the checked text types
//! (`EmailText`, `IpText`, `NameText`, `Prose`) are documented with exactly the syntax their
//! `gdpr-pii` parser or validator accepts.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

/// Text in a request body: a JSON string and nothing else. poem-openapi's `String` also takes a
/// number or a boolean and turns it into text (`false` becomes `"false"`), which the schema
/// (`type: string`) does not allow: a client's mistake would be stored instead of refused.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    // Validators (pattern, lengths) see the text itself.
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            // Not `ParseError::expected_type`: its message quotes the value, which may be
            // personal data (a phone number sent as a number).
            _ => Err(ParseError::custom("expected a JSON string")),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A string on the wire whose schema says more than `string` (`$schema`); holds a [`Text`].
macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Text);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                String::name()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A text with a rule: parsed as [`Text`], then checked by a validator or its `gdpr-pii` parser
/// (whose errors name the rule broken, never the value); documented with exactly the syntax
/// that check accepts, so that the document promises nothing the server refuses.
macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        string_type!($(#[$doc])* $name => $schema);

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                Text::parse_from_json(value)
                    .map(Self)
                    .map_err(ParseError::propagate)
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                self.0.to_json()
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> Self {
                text.0.0
            }
        }
    };
}

/// A character that is not whitespace (Unicode `White_Space`, what `str::trim` removes),
/// spelled out so that the pattern means the same in ECMA-262, Python and Rust regexes.
pub(crate) const NOT_WHITESPACE: &str =
    r"[^\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// The rule of [`Prose`]: not all whitespace.
pub(crate) struct NotBlank;

impl poem_openapi::validation::Validator<String> for NotBlank {
    fn check(&self, value: &String) -> bool {
        !value.trim().is_empty()
    }
}

impl std::fmt::Display for NotBlank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expected a character that is not whitespace")
    }
}

/// A query parameter with a pattern, checked by a regular expression compiled once and
/// documented with that same pattern. Why not poem-openapi's `validator(pattern = ...)`: it
/// compiles its expression on every request (8% of the CPU of a consent check answered from
/// memory, in a profile). The refusal names the pattern, never the value.
macro_rules! param_type {
    ($(#[$doc:meta])* $name:ident => $pattern:literal) => {
        string_type!($(#[$doc])* $name => MetaSchema {
            pattern: Some($pattern.to_owned()),
            ..MetaSchema::new("string")
        });

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                static RULE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                    regex::Regex::new($pattern).unwrap_or_else(|e| panic!("{e}"))
                });
                if RULE.is_match(value) {
                    Ok(Self(Text(value.to_owned())))
                } else {
                    Err(ParseError::custom(concat!("expected the pattern ", $pattern)))
                }
            }
        }
    };
}

param_type!(
    /// A purpose's id, as the domain's `PurposeId` accepts it.
    PurposeParam => r"^[a-z][a-z0-9_-]{0,63}$"
);

param_type!(
    /// A page cursor (`after`), as the previous page's `next` gave it.
    CursorParam => r"^-?[0-9]{1,20}\.[0-9a-f]{32}$"
);

/// The characters `gdpr_pii::FullName` refuses anywhere: control characters other than the
/// whitespace ones it folds (tab, vertical tab, form feed, next line); line breaks included.
pub(crate) const NAME_FORBIDDEN: &str = r"\x00-\x08\x0a\x0d-\x1f\x7f-\x84\x86-\x9f";

/// What a full name needs at least one of: a character neither whitespace (Unicode
/// `White_Space`, which the parser folds away) nor a control character.
pub(crate) const NAME_VISIBLE: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The documented syntax of a full name (see [`NameText`]).
pub(crate) fn name_pattern() -> String {
    format!("^[^{NAME_FORBIDDEN}]*[^{NAME_VISIBLE}][^{NAME_FORBIDDEN}]*$")
}

text_type!(
    /// Prose (a reason, a title, a description): text with at least one character that is
    /// not whitespace (the domain trims it). The document states it as a pattern;
    /// [`NotBlank`], the validator every `Prose` field carries (beside its `max_length`),
    /// enforces it with an error that names the field.
    Prose => MetaSchema {
        pattern: Some(NOT_WHITESPACE.to_owned()),
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// An e-mail address: at most 254 characters, one `@`, a dotted domain (`gdpr_pii::Email`).
    EmailText => MetaSchema {
        format: Some("email"),
        max_length: Some(254),
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// An IPv4 or IPv6 address (`gdpr_pii::IpAddress`).
    IpText => MetaSchema {
        any_of: vec![
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("ipv4"),
                ..MetaSchema::new("string")
            })),
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("ipv6"),
                ..MetaSchema::new("string")
            })),
        ],
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// A full name: at most 256 characters, at least one visible, no line break or other
    /// control character (`gdpr_pii::FullName`).
    NameText => MetaSchema {
        max_length: Some(256),
        pattern: Some(name_pattern()),
        ..MetaSchema::new("string")
    }
);

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdpr_pii::FullName;
    use proptest::prelude::*;

    /// What the document says of a full name: the pattern and `maxLength`.
    fn documented_name(text: &str) -> bool {
        let pattern = regex::Regex::new(&name_pattern()).unwrap();
        pattern.is_match(text) && text.chars().count() <= 256
    }

    #[test]
    fn a_parameter_with_a_pattern_takes_what_its_pattern_matches_and_names_it_when_not() {
        assert_eq!(
            PurposeParam::parse_from_parameter("news_2")
                .ok()
                .map(|p| p.0.0)
                .unwrap(),
            "news_2"
        );
        let refused = PurposeParam::parse_from_parameter("News")
            .err()
            .unwrap()
            .into_message();
        assert!(
            refused.ends_with(r"expected the pattern ^[a-z][a-z0-9_-]{0,63}$")
                && !refused.contains("News"),
            "{refused}"
        );
        assert!(PurposeParam::parse_from_parameter(&"a".repeat(65)).is_err());
        let cursor = "-12.0123456789abcdef0123456789abcdef";
        assert_eq!(
            CursorParam::parse_from_parameter(cursor)
                .ok()
                .map(|c| c.0.0)
                .unwrap(),
            cursor
        );
        for bad in ["12x0123456789abcdef0123456789abcdef", "12.0123", ""] {
            assert!(CursorParam::parse_from_parameter(bad).is_err(), "{bad}");
        }
        // The document states the pattern the server checks.
        let MetaSchemaRef::Inline(schema) = CursorParam::schema_ref() else {
            panic!("inline")
        };
        assert_eq!(
            schema.pattern.as_deref(),
            Some(r"^-?[0-9]{1,20}\.[0-9a-f]{32}$")
        );
    }

    #[test]
    fn the_documented_name_syntax_is_the_parsers() {
        for text in [
            "Ada",
            "  Ada \t Lovelace ",
            "\u{85}Ada",
            "Zoë",
            "",
            " \t\u{a0}\u{3000}",
            "a\nb",
            "a\rb",
            "a\u{0}b",
            "a\u{7}b",
            "a\u{1c}b",
            "a\u{9f}b",
            "\u{feff}",
        ] {
            assert_eq!(
                documented_name(text),
                FullName::parse(text).is_ok(),
                "{text:?}"
            );
        }
        let long = "é".repeat(257);
        assert!(!documented_name(&long) && FullName::parse(&long).is_err());
    }

    proptest! {
        #[test]
        fn documented_and_parsed_names_agree(
            text in proptest::collection::vec(
                prop_oneof![
                    Just(' '), Just('\t'), Just('\n'), Just('\r'), Just('\u{0}'),
                    Just('\u{b}'), Just('\u{1f}'), Just('\u{7f}'), Just('\u{85}'),
                    Just('\u{a0}'), Just('\u{2003}'), Just('\u{3000}'), Just('\u{feff}'),
                    proptest::char::range('a', 'e'), proptest::char::any(),
                ],
                0..300,
            ).prop_map(String::from_iter)
        ) {
            prop_assert_eq!(documented_name(&text), FullName::parse(&text).is_ok());
        }
    }
}
