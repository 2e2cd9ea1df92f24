//! Line-by-line redaction of formatted log output.

use std::io::{self, Write};
use std::sync::Arc;

use gdpr_pii::{PseudonymisationPolicy, Redactor, StructuredRedactor};
use regex::Regex;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// What to redact from log lines: the shared structured redactor (text rules and the names of
/// sensitive and personal keys), applied to JSON lines key by key and to other lines as text,
/// `key=value` pairs included.
#[derive(Debug)]
pub struct LogRedaction {
    inner: Arc<StructuredRedactor>,
    pairs: Regex,
}

impl LogRedaction {
    /// The product's default text rules (IPs pseudonymised by `policy`, API keys recognised by
    /// `api_key_prefixes`) and the profile's personal fields.
    #[must_use]
    pub fn new(policy: PseudonymisationPolicy, api_key_prefixes: &[&str]) -> Self {
        let text = Redactor::new(Redactor::default_rules(policy, api_key_prefixes))
            .unwrap_or_else(|e| panic!("the default rules compile: {e}"));
        Self::with(Arc::new(StructuredRedactor::new(text)))
    }

    /// Log redaction over a structured redactor shared with other consumers (the error
    /// tracker), so that both learn the same personal fields.
    #[must_use]
    pub fn with(inner: Arc<StructuredRedactor>) -> Self {
        let pairs = Regex::new(r#"([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^\s,]+)"#)
            .unwrap_or_else(|e| panic!("the key=value pattern compiles: {e}"));
        Self { inner, pairs }
    }

    /// The structured redactor underneath.
    #[must_use]
    pub fn shared(&self) -> Arc<StructuredRedactor> {
        self.inner.clone()
    }

    /// Sets the names of the personal fields of every form in the inventory.
    pub fn set_personal_fields(&self, names: impl IntoIterator<Item = String>) {
        self.inner.set_personal_fields(names);
    }

    /// One line, redacted. A JSON object has the values of personal and secret keys replaced
    /// at any depth and every other string passed through the text rules; any other line goes
    /// through the text rules, and its `key=value` pairs lose the values of such keys.
    #[must_use]
    pub fn redact_line(&self, line: &str) -> String {
        match serde_json::from_str::<Value>(line) {
            Ok(mut value @ Value::Object(_)) => {
                self.inner.value(&mut value, "[redacted]");
                value.to_string()
            }
            _ => {
                let text = self.inner.text(line);
                self.pairs
                    .replace_all(&text, |caps: &regex::Captures<'_>| {
                        if self.inner.is_sensitive(&caps[1]) {
                            format!("{}=[redacted]", &caps[1])
                        } else {
                            caps[0].to_owned()
                        }
                    })
                    .into_owned()
            }
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
    fn pretty_lines_lose_the_values_of_personal_keys() {
        let r = redaction();
        assert_eq!(
            r.redact_line(
                r#"INFO created full_name="Ada Lovelace" subject=42 access_token=abc phone=0612"#
            ),
            "INFO created full_name=[redacted] subject=42 access_token=[redacted] phone=[redacted]"
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
