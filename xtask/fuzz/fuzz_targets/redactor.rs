//! The redactor every log line and error report passes through, on any text: never a panic,
//! and nothing it leaves is an e-mail address the parser would accept on its own line.
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
});
