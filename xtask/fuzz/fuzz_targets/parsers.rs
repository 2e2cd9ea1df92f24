//! E-mail and IP parsing on any text: never a panic; an accepted address parses again to
//! itself (what is stored is what a look-up computes).
#![no_main]

use gdpr_pii::{Email, IpAddress};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(email) = Email::parse(text) {
        let again = Email::parse(email.expose_pii()).expect("a parsed address parses again");
        assert_eq!(again.expose_pii(), email.expose_pii());
    }
    if let Ok(ip) = IpAddress::parse(text) {
        let again =
            IpAddress::parse(&ip.expose_pii().to_string()).expect("a parsed IP parses again");
        assert_eq!(again.expose_pii(), ip.expose_pii());
    }
});
