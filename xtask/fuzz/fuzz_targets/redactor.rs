//! The redactor every log line and error report passes through, on any text: never a panic,
//! nothing it leaves is an e-mail address the parser would accept on its own line, and no IP
//! address that stood as a whole token in the input stands whole in the output.
#![no_main]

use std::sync::LazyLock;

use gdpr_pii::{Email, PseudonymisationPolicy, Redactor};
use libfuzzer_sys::fuzz_target;

static REDACTOR: LazyLock<Redactor> = LazyLock::new(|| {
    Redactor::new(Redactor::default_rules(
        PseudonymisationPolicy::default(),
        &["gdpr_"],
    ))
    .expect("the default rules compile")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = REDACTOR.redact(text);
    for word in out.split(|c: char| c.is_whitespace() || "<>()[]{},;\"'".contains(c)) {
        assert!(
            !word.contains('@') || Email::parse(word).is_err(),
            "an address survived redaction"
        );
    }
    // An address token of the input found whole in the output survived, unless the same
    // text was also part of a longer token of the input (`b8::6` is no address; what its
    // `::6` sits next to may be replaced, leaving `[email]::6`).
    let kept: std::collections::HashSet<&str> = tokens(&out).collect();
    let all: Vec<&str> = tokens(text).collect();
    for token in all.iter().filter(|t| as_address(t).is_some()) {
        let inside_another = all.iter().any(|o| o.len() > token.len() && o.contains(token));
        if kept.contains(token) && !inside_another {
            panic!("an IP address survived redaction");
        }
    }
});

/// Whole tokens: runs of word characters, dots, colons and slashes (a network such as
/// `2001:db8::/48` is one token, and not an address).
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || "_.:/".contains(c)))
        .filter(|t| !t.is_empty())
}

/// The address a token is, as the redactor reads one: a single leading colon is a
/// separator, trailing dots and colons punctuation.
fn as_address(token: &str) -> Option<std::net::IpAddr> {
    let token = match token.strip_prefix(':') {
        Some(rest) if !rest.starts_with(':') => rest,
        _ => token,
    };
    token.trim_end_matches(['.', ':']).parse().ok()
}
