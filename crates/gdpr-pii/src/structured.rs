//! Redaction of structured data (a JSON log line, an error report): the values of sensitive and
//! personal keys are replaced at any depth, every other string goes through the text rules.
//!
//! One key list for every consumer — the log writer and the error-tracker adapter — so that
//! nobody keeps a second one. The personal field names grow at run time from the inventory.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{PoisonError, RwLock};

use serde_json::Value;

use crate::{PROFILE_FIELDS, PiiCategory, Redactor};

/// Keys whose values are secrets, whatever the inventory says (compared in lower case).
pub const SENSITIVE_KEYS: [&str; 18] = [
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "admin_token",
    "master_key",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "session",
    "api_key",
    "apikey",
    "x-api-key",
    "x-rollbar-access-token",
    "referer",
    "referrer",
];

/// Text rules plus the names of sensitive and personal keys.
#[derive(Debug)]
pub struct StructuredRedactor {
    text: Redactor,
    keys: RwLock<BTreeSet<String>>,
}

fn base_keys() -> BTreeSet<String> {
    PROFILE_FIELDS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .chain(
            PiiCategory::ALL
                .iter()
                .filter(|c| c.is_personal())
                .map(|c| c.as_str().to_owned()),
        )
        .chain(SENSITIVE_KEYS.iter().map(|k| (*k).to_owned()))
        .collect()
}

/// `%40`-style escapes decoded, when the result is text: an address in a URL is still an
/// address.
fn percent_decoded(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl StructuredRedactor {
    /// The text rules of `text`, and the profile's, the categories' and the secret keys.
    #[must_use]
    pub fn new(text: Redactor) -> Self {
        Self {
            text,
            keys: RwLock::new(base_keys()),
        }
    }

    /// Adds the names of every form's personal fields (the base keys are always kept).
    pub fn set_personal_fields(&self, names: impl IntoIterator<Item = String>) {
        let mut keys = base_keys();
        keys.extend(names.into_iter().map(|n| n.to_ascii_lowercase()));
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// Whether values under `key` are never shown.
    #[must_use]
    pub fn is_sensitive(&self, key: &str) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key.to_ascii_lowercase())
    }

    /// Free text through the rules, percent-escapes decoded first when there are any.
    #[must_use]
    pub fn text<'t>(&self, s: &'t str) -> Cow<'t, str> {
        match percent_decoded(s) {
            Some(decoded) => {
                let redacted = self.text.redact(&decoded).into_owned();
                if redacted == decoded {
                    Cow::Borrowed(s)
                } else {
                    Cow::Owned(redacted)
                }
            }
            None => self.text.redact(s),
        }
    }

    /// Replaces, at any depth, the value of every sensitive or personal key with `label` (null
    /// stays null) and passes every other string through [`Self::text`]. The shape is kept.
    pub fn value(&self, value: &mut Value, label: &str) {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        self.walk(value, label, &keys);
    }

    fn walk(&self, value: &mut Value, label: &str, keys: &BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if keys.contains(&key.to_ascii_lowercase()) {
                        if !v.is_null() {
                            *v = Value::String(label.to_owned());
                        }
                    } else {
                        self.walk(v, label, keys);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.walk(v, label, keys)),
            Value::String(s) => {
                if let Cow::Owned(clean) = self.text(s) {
                    *s = clean;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::PseudonymisationPolicy;

    fn redactor() -> StructuredRedactor {
        StructuredRedactor::new(
            Redactor::new(Redactor::default_rules(
                PseudonymisationPolicy::default(),
                &["gdpr_"],
            ))
            .unwrap(),
        )
    }

    #[test]
    fn keys_at_any_depth_and_strings_everywhere() {
        let r = redactor();
        r.set_personal_fields(["Contractor_Phone".to_owned()]);
        let mut v = json!({
            "Referer": "https://app.example/signup?name=Ada+Lovelace&email=ada%40example.org",
            "nested": {"access_token": "abc", "list": [{"contractor_phone": "+33 6"}], "n": 3},
            "full_name": "Ada Lovelace",
            "path": "/v1/lookup/ada%40example.org",
            "note": "admin_token=s3cr3t and ada@example.org from 203.0.113.9",
            "empty": null,
        });
        r.value(&mut v, "[redacted]");
        assert_eq!(
            v,
            json!({
                "Referer": "[redacted]",
                "nested": {"access_token": "[redacted]", "list": [{"contractor_phone": "[redacted]"}], "n": 3},
                "full_name": "[redacted]",
                "path": "[email]",
                "note": "admin_token=[redacted] and [email] from 203.0.113.0/24",
                "empty": null,
            })
        );
        assert!(
            r.is_sensitive("Cookie") && r.is_sensitive("phone") && !r.is_sensitive("user-agent")
        );
    }
}
