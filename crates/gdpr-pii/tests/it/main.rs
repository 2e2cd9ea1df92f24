//! Property tests of the personal-data parsers and of the redactor.

use gdpr_pii::{Email, IpAddress, PseudonymisationPolicy, Redactor};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn redactor() -> Redactor {
    Redactor::new(Redactor::default_rules(
        PseudonymisationPolicy::default(),
        &["gdpr_"],
    ))
    .unwrap()
}

/// Text around the PII: words, punctuation and spaces that real log lines hold.
fn filler() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.;:()=\\[\\]/-]{0,30}".prop_map(|s| s)
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9][a-z0-9_%+-]{0,15}(\\.[a-z0-9_%+-]{1,8}){0,2}",
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        "[a-z]{2,6}",
    )
        .prop_map(|(local, host, tld)| format!("{local}@{host}.{tld}"))
}

proptest! {
    #[test]
    fn email_parsing_never_panics_and_is_idempotent(input in "\\PC{0,300}") {
        if let Ok(email) = Email::parse(&input) {
            prop_assert!(email.expose_pii().len() <= 254);
            let again = Email::parse(email.expose_pii()).unwrap();
            prop_assert_eq!(again.expose_pii(), email.expose_pii());
        }
    }

    #[test]
    fn generated_addresses_parse_to_their_lowercase_form(addr in email(), upper in any::<bool>()) {
        let input = if upper { addr.to_uppercase() } else { addr.clone() };
        let email = Email::parse(&format!("  {input} ")).unwrap();
        prop_assert_eq!(email.expose_pii(), addr.as_str());
    }

    #[test]
    fn ip_parsing_never_panics(input in "\\PC{0,60}") {
        let _ = IpAddress::parse(&input);
    }

    #[test]
    fn pseudonymised_ipv4_keeps_exactly_the_prefix(raw in any::<u32>(), prefix in 0u8..=32) {
        let policy = PseudonymisationPolicy::new(prefix, 48).unwrap();
        let p = IpAddress::from_ip(IpAddr::V4(Ipv4Addr::from(raw))).pseudonymise(policy);
        let IpAddr::V4(net) = p.network() else { panic!("family changed") };
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        prop_assert_eq!(u32::from(net), raw & mask);
        prop_assert_eq!(p.prefix(), prefix);
    }

    #[test]
    fn pseudonymised_ipv6_keeps_exactly_the_prefix(raw in any::<u128>(), prefix in 0u8..=128) {
        prop_assume!(Ipv6Addr::from(raw).to_ipv4_mapped().is_none());
        let policy = PseudonymisationPolicy::new(24, prefix).unwrap();
        let p = IpAddress::from_ip(IpAddr::V6(Ipv6Addr::from(raw))).pseudonymise(policy);
        let IpAddr::V6(net) = p.network() else { panic!("family changed") };
        let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
        prop_assert_eq!(u128::from(net), raw & mask);
    }

    #[test]
    fn no_email_survives_redaction(before in filler(), addr in email(), after in filler()) {
        let line = format!("{before} {addr} {after}");
        let out = redactor().redact(&line);
        prop_assert!(!out.contains(&addr), "{} -> {}", line, out);
        prop_assert!(!out.contains('@'), "{} -> {}", line, out);
    }

    #[test]
    fn no_host_ipv4_survives_redaction(
        before in filler(), octets in any::<[u8; 3]>(), host in 1u8..=255, after in filler()
    ) {
        let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], host).to_string();
        let line = format!("{before} {ip} {after}");
        let out = redactor().redact(&line);
        prop_assert!(!out.contains(&format!("{ip} ")), "{} -> {}", line, out);
        let net = format!("{}.{}.{}.0/24", octets[0], octets[1], octets[2]);
        prop_assert!(out.contains(&net), "{} -> {}", line, out);
    }

    #[test]
    fn no_host_ipv6_survives_redaction(
        before in filler(), network in any::<u64>(), host in 1u64.., after in filler()
    ) {
        let raw = (u128::from(network) << 64) | u128::from(host);
        let addr = Ipv6Addr::from(raw);
        prop_assume!(addr.to_ipv4_mapped().is_none() && addr.to_ipv4().is_none());
        let ip = addr.to_string();
        let line = format!("{before} {ip} {after}");
        let out = redactor().redact(&line);
        prop_assert!(!out.contains(&ip), "{} -> {}", line, out);
        let expected = IpAddress::from_ip(IpAddr::V6(addr))
            .pseudonymise(PseudonymisationPolicy::default())
            .to_string();
        prop_assert!(out.contains(&expected), "{} -> {}", line, out);
    }

    #[test]
    fn redaction_never_panics(input in "\\PC{0,200}") {
        let _ = redactor().redact(&input);
    }
}
