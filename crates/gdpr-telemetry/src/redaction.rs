//! Line-by-line redaction of formatted log output.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::{Arc, PoisonError, RwLock};

use gdpr_pii::{PROFILE_FIELDS, PiiCategory, PseudonymisationPolicy, Redactor};
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// Keys whose values are secrets, whatever the inventory says.
const SECRET_KEYS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "master_key",
];

/// What to redact from log lines: text rules, and the names of personal fields.
#[derive(Debug)]
pub struct LogRedaction {
    redactor: Redactor,
    fields: RwLock<BTreeSet<String>>,
}

fn base_fields() -> BTreeSet<String> {
    PROFILE_FIELDS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .chain(
            PiiCategory::ALL
                .iter()
                .filter(|c| c.is_personal())
                .map(|c| c.as_str().to_owned()),
        )
        .chain(SECRET_KEYS.iter().map(|k| (*k).to_owned()))
        .collect()
}

impl LogRedaction {
    /// The product's default text rules (IPs pseudonymised by `policy`, API keys recognised by
    /// `api_key_prefixes`) and the profile's personal fields.
    #[must_use]
    pub fn new(policy: PseudonymisationPolicy, api_key_prefixes: &[&str]) -> Self {
        let redactor = Redactor::new(Redactor::default_rules(policy, api_key_prefixes))
            .unwrap_or_else(|e| panic!("the default rules compile: {e}"));
        Self {
            redactor,
            fields: RwLock::new(base_fields()),
        }
    }

    /// Sets the names of the personal fields of every form in the inventory (the profile's and
    /// the secrets' names are always kept).
    pub fn set_personal_fields(&self, names: impl IntoIterator<Item = String>) {
        let mut fields = base_fields();
        fields.extend(names.into_iter().map(|n| n.to_ascii_lowercase()));
        *self.fields.write().unwrap_or_else(PoisonError::into_inner) = fields;
    }

    /// One line, redacted. A JSON object has the values of personal and secret fields replaced
    /// at any depth and every other string passed through the text rules; anything else is
    /// passed through the text rules whole.
    #[must_use]
    pub fn redact_line(&self, line: &str) -> String {
        match serde_json::from_str::<Value>(line) {
            Ok(mut value @ Value::Object(_)) => {
                let fields = self.fields.read().unwrap_or_else(PoisonError::into_inner);
                self.redact_value(&mut value, &fields);
                value.to_string()
            }
            _ => self.redactor.redact(line).into_owned(),
        }
    }

    fn redact_value(&self, value: &mut Value, fields: &BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if fields.contains(&key.to_ascii_lowercase()) && !v.is_null() {
                        *v = Value::String("[redacted]".into());
                    } else {
                        self.redact_value(v, fields);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v, fields)),
            Value::String(s) => {
                if let std::borrow::Cow::Owned(redacted) = self.redactor.redact(s) {
                    *s = redacted;
                }
            }
            _ => {}
        }
    }
}

/// A `MakeWriter` whose writers redact every line before passing it on.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    redaction: Arc<LogRedaction>,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner`.
    #[must_use]
    pub const fn new(inner: M, redaction: Arc<LogRedaction>) -> Self {
        Self { inner, redaction }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            redaction: self.redaction.clone(),
            pending: Vec::new(),
        }
    }
}

/// Buffers output until a line is complete, then writes it redacted.
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    inner: W,
    redaction: Arc<LogRedaction>,
    pending: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(line);
        let redacted = self
            .redaction
            .redact_line(text.trim_end_matches(['\n', '\r']));
        self.inner.write_all(redacted.as_bytes())?;
        self.inner.write_all(b"\n")
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let _ = self.emit(&rest);
        }
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redaction() -> LogRedaction {
        LogRedaction::new(PseudonymisationPolicy::default(), &["gdpr_"])
    }

    #[test]
    fn json_lines_lose_personal_fields_and_text_patterns_but_keep_their_shape() {
        let r = redaction();
        r.set_personal_fields(["contractor_phone".to_owned()]);
        let line = r#"{"level":"INFO","message":"login ada@example.org from 203.0.113.77","email":"ada@example.org","full_name":"Ada Lovelace","nested":{"contractor_phone":"+33 6 12 34 56 78","ok":3},"subject":"4f1c","token":"gdpr_abcdef0123456789","source":"203.0.113.0/24","list":["bob@example.org"],"empty":null}"#;
        assert_eq!(
            r.redact_line(line),
            r#"{"email":"[redacted]","empty":null,"full_name":"[redacted]","level":"INFO","list":["[email]"],"message":"login [email] from 203.0.113.0/24","nested":{"contractor_phone":"[redacted]","ok":3},"source":"203.0.113.0/24","subject":"4f1c","token":"[redacted]"}"#
        );
    }

    #[test]
    fn plain_lines_pass_through_the_text_rules() {
        let r = redaction();
        assert_eq!(
            r.redact_line("2026-11-27 WARN auth failed for ada@example.org from 2001:db8:1:2::9 with Bearer abc.def"),
            "2026-11-27 WARN auth failed for [email] from 2001:db8:1::/48 with Bearer [redacted]"
        );
    }

    #[test]
    fn the_writer_redacts_whole_lines_even_when_written_in_pieces() {
        let r = Arc::new(redaction());
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter {
                inner: &mut out,
                redaction: r,
                pending: Vec::new(),
            };
            w.write_all(b"first ada@exa").unwrap();
            w.write_all(b"mple.org\nsecond 198.51.100.23\nthird without newline bob@example.org")
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "first [email]\nsecond 198.51.100.0/24\nthird without newline [email]\n"
        );
    }
}
