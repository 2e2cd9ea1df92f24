//! Fake personal data: deterministic from a seed, recognisably fake, and canaries that a leak
//! scan can look for.

use gdpr_consent::{LawfulBasis, Purpose, PurposeId};
use gdpr_pii::{Email, FieldKind, FieldSpec, FormSchema, FullName, IpAddress, PiiCategory};

const FIRST: [&str; 8] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Niklaus",
];
const LAST: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Wirth",
];

/// A fake e-mail address, unique per seed, on the reserved `example.org` domain.
#[must_use]
pub fn email(seed: u64) -> Email {
    let (f, l) = pick(seed);
    Email::parse(&format!(
        "{}.{}{seed}@example.org",
        f.to_lowercase(),
        l.to_lowercase()
    ))
    .unwrap_or_else(|_| unreachable!("generated addresses are valid"))
}

/// A fake full name.
#[must_use]
pub fn full_name(seed: u64) -> FullName {
    let (f, l) = pick(seed);
    FullName::parse(&format!("{f} {l}"))
        .unwrap_or_else(|_| unreachable!("generated names are valid"))
}

/// A fake IP address from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
/// 203.0.113.0/24), never with a zero host part.
#[must_use]
pub fn ip(seed: u64) -> IpAddress {
    let nets = ["192.0.2", "198.51.100", "203.0.113"];
    let net = nets[(seed % 3) as usize];
    let host = 1 + (seed / 3) % 254;
    IpAddress::parse(&format!("{net}.{host}")).unwrap_or_else(|_| unreachable!("valid ip"))
}

/// Canary values for leak scans: unique strings that must never appear in a log line, an
/// error report or an error body. Returns (e-mail, full name, IP), raw.
#[must_use]
pub fn canaries(tag: &str) -> (String, String, String) {
    (
        format!("canary.{tag}@canary-mail.example"),
        format!("Canaryname {tag} Zzyzx"),
        "198.51.100.213".to_owned(),
    )
}

fn pick(seed: u64) -> (&'static str, &'static str) {
    (FIRST[(seed % 8) as usize], LAST[((seed / 8) % 8) as usize])
}

/// The policy's example form: contractors, with personal and non-personal fields.
#[must_use]
pub fn contractors_schema() -> FormSchema {
    FormSchema::new(vec![
        FieldSpec::new("email", FieldKind::Email, PiiCategory::Email, true),
        FieldSpec::new("full_name", FieldKind::Text, PiiCategory::FullName, true),
        FieldSpec::new("phone", FieldKind::Text, PiiCategory::Phone, false),
        FieldSpec::new(
            "day_rate",
            FieldKind::Number,
            PiiCategory::NotPersonal,
            false,
        ),
    ])
    .unwrap_or_else(|_| unreachable!("the schema is valid"))
}

/// A purpose with the given id and basis.
#[must_use]
pub fn purpose(id: &str, basis: LawfulBasis) -> Purpose {
    Purpose::new(
        PurposeId::parse(id).unwrap_or_else(|_| unreachable!("test purpose ids are valid")),
        &format!("{id} (test purpose)"),
        basis,
    )
    .unwrap_or_else(|_| unreachable!("valid purpose"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fakes_are_deterministic_and_distinct() {
        assert_eq!(email(7), email(7));
        assert_ne!(email(7), email(8));
        assert_eq!(full_name(9).expose_pii(), "Grace Hopper");
        assert_ne!(ip(1).expose_pii(), ip(4).expose_pii());
    }
}
