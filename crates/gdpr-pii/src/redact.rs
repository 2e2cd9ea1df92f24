//! Rule-driven redaction of free text (log lines, error messages, exception payloads).
//!
//! Rules are data — what to find ([`PatternKind`]) and what to do with it ([`RedactionMethod`]) —
//! compiled once into a single regular expression, so a line is scanned in one pass. Candidates
//! for IP addresses are confirmed by the standard library's parser before they are touched, so a
//! clock time such as `10:58:13` survives while `2001:db8::1` does not.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

use crate::{IpAddress, PseudonymisationPolicy};

/// What a rule finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PatternKind {
    /// E-mail addresses, including internationalised ones.
    Email,
    /// Dotted-quad IPv4 addresses.
    Ipv4,
    /// IPv6 addresses, in any textual form the standard parser accepts.
    Ipv6,
    /// `Bearer <token>` credentials.
    BearerToken,
    /// API keys recognised by their prefix (`gdpr_` ...), followed by 8 or more key characters.
    ApiKey {
        /// The prefixes.
        prefixes: Vec<String>,
    },
    /// `key=value` or `key: value` where the key names a secret; only the value is redacted.
    SecretAssignment {
        /// Key names, matched case-insensitively.
        keys: Vec<String>,
    },
    /// Exact known values (a subject's name, say), matched case-insensitively.
    Exact {
        /// The values; each at least 3 characters long.
        values: Vec<String>,
    },
}

/// What a rule does with what it finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum RedactionMethod {
    /// Replace with a fixed label.
    Replace {
        /// The label, e.g. `[email]`.
        with: String,
    },
    /// Replace every character with `*`, keeping the length.
    Mask,
    /// Remove entirely.
    Remove,
    /// Truncate an IP address to its network (IP rules only).
    Pseudonymise(PseudonymisationPolicy),
}

/// One rule: a pattern and a method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionRule {
    /// What to find.
    pub pattern: PatternKind,
    /// What to do with it.
    pub method: RedactionMethod,
}

impl RedactionRule {
    /// A rule from its parts.
    #[must_use]
    pub const fn new(pattern: PatternKind, method: RedactionMethod) -> Self {
        Self { pattern, method }
    }
}

/// A rule set that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactorError {
    /// `Pseudonymise` on a rule that does not find IP addresses.
    #[error("rule #{index}: pseudonymise applies to ipv4 and ipv6 rules only")]
    PseudonymiseNonIp {
        /// The rule's position.
        index: usize,
    },
    /// A rule with an empty list, or a value or prefix too short to be safe to match.
    #[error("rule #{index}: {reason}")]
    InvalidRule {
        /// The rule's position.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The combined expression is too large.
    #[error("redaction rules do not compile: {0}")]
    Compile(String),
}

// The local part stops at `=` (so `email=ada@example.org` keeps its key: `email=[email]`).
// An address whose local part ends with `=` (valid, found by the fuzzer: `rda=@example.org`)
// is matched from that `=`, so it loses its `@domain` (`rda[email]`); an `@` at the start of a
// word is left alone (decorators, `@scope/pkg`, `curl -d @body.json`). Domain labels take what
// `Email::parse` takes (`char::is_alphanumeric`: Alphabetic, with its combining marks, and
// Numeric; the fuzzer found an address with a mark), plus what the regex crate's Unicode
// tables do not know yet (`Cn`): the standard library's can be newer, and a letter assigned
// since must not slip through (the fuzzer found U+1E6DE; a test checks every alphanumeric
// character). What the local part leaves before a `=` stays: `a+b=c@example.org` keeps `a+b=`.
const EMAIL: &str = r#"(?:[^\s@<>()\[\]\\,;:"=]+|=)@[\p{Alphabetic}\p{N}\p{Cn}-]+(?:\.[\p{Alphabetic}\p{N}\p{Cn}-]+)+"#;
// An optional `/prefix` is part of the match, so that a network already pseudonymised is
// recognised as such and not truncated twice. The boundaries are ASCII ones: a Unicode `\b`
// sees none between a combining mark and a digit, and let `\u{6eb}5.0.2.44` through (found
// by the fuzzer).
const IPV4: &str = r"(?-u:\b)(?:\d{1,3}\.){3}\d{1,3}(?-u:\b)(?:/\d{1,3}(?-u:\b))?";
const IPV6: &str = r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:/\d{1,3}\b)?";
const BEARER: &str = r"(?i:\bbearer)\s+[A-Za-z0-9\-._~+/]+=*";

/// A compiled rule set. Cheap to clone; build it once and share it.
#[derive(Debug, Clone)]
pub struct Redactor {
    regex: Regex,
    rules: Vec<RedactionRule>,
}

impl Redactor {
    /// The rules the product uses by default: e-mails, IPs (pseudonymised by `policy`), bearer
    /// tokens, API keys with the given prefixes, and secret-looking assignments.
    #[must_use]
    pub fn default_rules(
        policy: PseudonymisationPolicy,
        api_key_prefixes: &[&str],
    ) -> Vec<RedactionRule> {
        let replace = |with: &str| RedactionMethod::Replace { with: with.into() };
        let mut rules = vec![
            RedactionRule::new(PatternKind::BearerToken, replace("Bearer [redacted]")),
            RedactionRule::new(PatternKind::Email, replace("[email]")),
            RedactionRule::new(PatternKind::Ipv6, RedactionMethod::Pseudonymise(policy)),
            RedactionRule::new(PatternKind::Ipv4, RedactionMethod::Pseudonymise(policy)),
            RedactionRule::new(
                PatternKind::SecretAssignment {
                    keys: [
                        "password",
                        "passwd",
                        "secret",
                        "token",
                        "api_key",
                        "apikey",
                        "authorization",
                    ]
                    .map(String::from)
                    .to_vec(),
                },
                replace("[redacted]"),
            ),
        ];
        if !api_key_prefixes.is_empty() {
            rules.insert(
                0,
                RedactionRule::new(
                    PatternKind::ApiKey {
                        prefixes: api_key_prefixes.iter().map(|p| (*p).to_owned()).collect(),
                    },
                    replace("[api-key]"),
                ),
            );
        }
        rules
    }

    /// Compiles the rules. At one position the first listed rule that matches wins.
    ///
    /// # Errors
    /// A [`RedactorError`] naming the first rule that cannot be used.
    pub fn new(rules: Vec<RedactionRule>) -> Result<Self, RedactorError> {
        let mut alternatives = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let is_ip = matches!(rule.pattern, PatternKind::Ipv4 | PatternKind::Ipv6);
            if matches!(rule.method, RedactionMethod::Pseudonymise(_)) && !is_ip {
                return Err(RedactorError::PseudonymiseNonIp { index });
            }
            let pattern = pattern_of(&rule.pattern)
                .map_err(|reason| RedactorError::InvalidRule { index, reason })?;
            alternatives.push(format!("(?P<r{index}>{pattern})"));
        }
        let regex = Regex::new(&alternatives.join("|"))
            .map_err(|e| RedactorError::Compile(e.to_string()))?;
        Ok(Self { regex, rules })
    }

    /// The text with every match redacted; borrowed unchanged when nothing matched.
    #[must_use]
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.rules.is_empty() {
            return Cow::Borrowed(text);
        }
        self.regex
            .replace_all(text, |caps: &Captures<'_>| self.replacement(text, caps))
    }

    fn replacement(&self, text: &str, caps: &Captures<'_>) -> String {
        let (index, found) = (0..self.rules.len())
            .find_map(|i| caps.get(i + 1).map(|m| (i, m)))
            .map_or((0, ""), |(i, m)| (i, m.as_str()));
        let rule = &self.rules[index];
        match &rule.pattern {
            PatternKind::Ipv6 => {
                let m = caps.get(index + 1).expect("the rule that matched");
                redact_ipv6(text, m.start(), m.end(), &rule.method)
            }
            PatternKind::Ipv4 => redact_ip(found, &rule.method),
            PatternKind::SecretAssignment { .. } => {
                // Keep `key=` (and its spacing), redact what follows.
                let split = found.find(['=', ':']).map_or(0, |i| {
                    let rest = &found[i + 1..];
                    i + 1 + (rest.len() - rest.trim_start_matches([' ', '\t', '"']).len())
                });
                let (key, value) = found.split_at(split);
                format!("{key}{}", apply(&rule.method, value))
            }
            _ => apply(&rule.method, found),
        }
    }
}

fn pattern_of(kind: &PatternKind) -> Result<String, &'static str> {
    let words = |items: &[String], min: usize, what: &'static str| {
        if items.is_empty() {
            return Err(what);
        }
        if items.iter().any(|v| v.chars().count() < min) {
            return Err(what);
        }
        let mut sorted: Vec<&String> = items.iter().collect();
        // Longest first, so that a value containing another wins.
        sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Ok(sorted
            .iter()
            .map(|v| regex::escape(v))
            .collect::<Vec<_>>()
            .join("|"))
    };
    Ok(match kind {
        PatternKind::Email => EMAIL.to_owned(),
        PatternKind::Ipv4 => IPV4.to_owned(),
        PatternKind::Ipv6 => IPV6.to_owned(),
        PatternKind::BearerToken => BEARER.to_owned(),
        PatternKind::ApiKey { prefixes } => format!(
            r"\b(?:{})[A-Za-z0-9_\-]{{8,}}",
            words(
                prefixes,
                2,
                "api key prefixes must be non-empty and at least 2 characters"
            )?
        ),
        PatternKind::SecretAssignment { keys } => format!(
            // Any identifier ending in a secret word: `token=`, `access_token=`, `x-api-key:`.
            r#"(?i:\b[A-Za-z0-9_-]*(?:{}))\s*[=:]\s*"?(?:(?i:bearer|basic|token)\s+)?[^\s",;&]+"#,
            words(
                keys,
                2,
                "secret keys must be non-empty and at least 2 characters"
            )?
        ),
        PatternKind::Exact { values } => format!(
            "(?i:{})",
            words(
                values,
                3,
                "exact values must be non-empty and at least 3 characters"
            )?
        ),
    })
}

fn apply(method: &RedactionMethod, found: &str) -> String {
    match method {
        RedactionMethod::Replace { with } => with.clone(),
        RedactionMethod::Mask => "*".repeat(found.chars().count()),
        RedactionMethod::Remove => String::new(),
        // Only reachable for IP rules, handled by `redact_ip`.
        RedactionMethod::Pseudonymise(_) => "[redacted]".into(),
    }
}

/// Whether `c` continues an identifier (`migrator::exec`, `std::io`, `x2001`).
fn continues_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// An IPv6 candidate, `text[start..end]`, is an address only as a whole token: the pattern is
/// loose (hex digits and colons), and inside a Rust path `::e` or `::c` parse as addresses.
/// A single leading colon is a separator (`ip:2001:db8::1`), not part of the address.
fn redact_ipv6(text: &str, start: usize, end: usize, method: &RedactionMethod) -> String {
    let found = &text[start..end];
    let skip = usize::from(found.starts_with(':') && !found.starts_with("::"));
    let before = text[..start + skip].chars().next_back();
    let after = text[end..].chars().next();
    if continues_word(before) || continues_word(after) {
        return found.to_owned();
    }
    format!("{}{}", &found[..skip], redact_ip(&found[skip..], method))
}

fn redact_ip(found: &str, method: &RedactionMethod) -> String {
    let (address, prefix) = match found.split_once('/') {
        Some((address, prefix)) => (address, prefix.parse::<u8>().ok()),
        None => (found, None),
    };
    // The candidate pattern is loose; trailing punctuation (end of a sentence) is not part of it.
    let trimmed = address.trim_end_matches(['.', ':']);
    let Ok(ip) = trimmed.parse::<IpAddr>() else {
        return found.to_owned();
    };
    let tail = if prefix.is_some() {
        ""
    } else {
        &found[trimmed.len()..]
    };
    let redacted = match method {
        RedactionMethod::Pseudonymise(policy) => {
            // A network no finer than the policy's is already pseudonymous: keep it as it is.
            let (v4, v6) = (policy.ipv4_prefix(), policy.ipv6_prefix());
            let kept = prefix.map_or(*policy, |p| {
                PseudonymisationPolicy::new(p.min(v4), p.min(v6)).unwrap_or(*policy)
            });
            IpAddress::from_ip(ip).pseudonymise(kept).to_string()
        }
        other => apply(other, trimmed),
    };
    format!("{redacted}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Redactor {
        Redactor::new(Redactor::default_rules(
            PseudonymisationPolicy::default(),
            &["gdpr_"],
        ))
        .unwrap()
    }

    #[test]
    fn every_domain_character_the_parser_accepts_is_redacted() {
        let r = default();
        for c in (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| c.is_alphanumeric())
        {
            let address = format!("ada@ex{c}mple.org");
            if crate::Email::parse(&address).is_ok() {
                let out = r.redact(&address);
                assert_eq!(out, "[email]", "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn the_default_rules_redact_each_kind() {
        let r = default();
        let cases = [
            (
                "login ok for Alice.B+x@Example.com from 203.0.113.77",
                "login ok for [email] from 203.0.113.0/24",
            ),
            (
                "peer [2001:db8:abcd:12::1]:443 closed",
                "peer [2001:db8:abcd::/48]:443 closed",
            ),
            (
                "mapped ::ffff:198.51.100.9 seen",
                "mapped 198.51.100.0/24 seen",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.J9x-y_z== next",
                "Authorization: [redacted] next",
            ),
            (
                "sent Bearer eyJhbGciOi.J9x-y_z== next",
                "sent Bearer [redacted] next",
            ),
            ("key gdpr_AbCdEf0123456789xyz used", "key [api-key] used"),
            ("url ?password=hunter2&x=1", "url ?password=[redacted]&x=1"),
            ("api_key: \"s3cr3t\" ok", "api_key: \"[redacted]\" ok"),
            (
                "at 10:58:13 and 12:30, v1.2.3",
                "at 10:58:13 and 12:30, v1.2.3",
            ),
            ("ends with 192.0.2.44.", "ends with 192.0.2.0/24."),
            (
                "already 203.0.113.0/24 and 198.51.0.0/16",
                "already 203.0.113.0/24 and 198.51.0.0/16",
            ),
            (
                "too fine 203.0.113.5/32 or 2001:db8:1:2::9/128",
                "too fine 203.0.113.0/24 or 2001:db8:1::/48",
            ),
            ("écrire à josé@exämple.fr.", "écrire à [email]."),
            ("email=ada@example.org", "email=[email]"),
            ("from rda=@example.org", "from rda[email]"),
            (
                "@app.route and -d @body.json",
                "@app.route and -d @body.json",
            ),
            ("to ada@exa\u{65e}mple.org", "to [email]"),
            ("to ada@exa\u{1e6de}.o", "to [email]"),
            ("nothing personal here", "nothing personal here"),
            (
                r#""target":"sea_orm_migration::migrator::exec""#,
                r#""target":"sea_orm_migration::migrator::exec""#,
            ),
            ("pgp::composed::message", "pgp::composed::message"),
            ("std::io::Error and a::b::c", "std::io::Error and a::b::c"),
            ("std::vector<int>::iterator", "std::vector<int>::iterator"),
            ("ip:2001:db8:abcd:12::1 seen", "ip:2001:db8:abcd::/48 seen"),
            ("zone fe80::1%eth0", "zone fe80::/48%eth0"),
            ("at 2026-12-06T10:58:13.5Z", "at 2026-12-06T10:58:13.5Z"),
            ("mark \u{6eb}5.0.2.44 here", "mark \u{6eb}5.0.2.0/24 here"),
        ];
        for (input, expected) in cases {
            assert_eq!(r.redact(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn nothing_is_copied_when_nothing_matches() {
        assert!(matches!(default().redact("plain line"), Cow::Borrowed(_)));
    }

    #[test]
    fn exact_values_and_other_methods() {
        let r = Redactor::new(vec![
            RedactionRule::new(
                PatternKind::Exact {
                    values: vec!["Ada Lovelace".into(), "Ada".into()],
                },
                RedactionMethod::Mask,
            ),
            RedactionRule::new(PatternKind::Ipv4, RedactionMethod::Remove),
        ])
        .unwrap();
        assert_eq!(
            r.redact("ADA LOVELACE met ada at 192.0.2.1"),
            "************ met *** at "
        );
    }

    #[test]
    fn invalid_rule_sets_are_refused_with_the_rule_named() {
        let err = Redactor::new(vec![RedactionRule::new(
            PatternKind::Email,
            RedactionMethod::Pseudonymise(PseudonymisationPolicy::default()),
        )])
        .unwrap_err();
        assert_eq!(err, RedactorError::PseudonymiseNonIp { index: 0 });
        let err = Redactor::new(vec![
            RedactionRule::new(PatternKind::Email, RedactionMethod::Remove),
            RedactionRule::new(
                PatternKind::Exact {
                    values: vec!["ab".into()],
                },
                RedactionMethod::Remove,
            ),
        ])
        .unwrap_err();
        assert!(matches!(err, RedactorError::InvalidRule { index: 1, .. }));
    }

    #[test]
    fn rules_are_data_that_round_trip_through_json() {
        let rules = Redactor::default_rules(PseudonymisationPolicy::default(), &["gdpr_"]);
        let json = serde_json::to_string(&rules).unwrap();
        let back: Vec<RedactionRule> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rules);
    }
}
