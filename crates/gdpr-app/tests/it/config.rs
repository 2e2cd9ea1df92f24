//! The shipped `config/default.toml` states the policy's promises; the domain defaults must
//! be the same numbers.

use gdpr_app::AppConfig;
use gdpr_pii::PseudonymisationPolicy;
use gdpr_retention::RetentionPolicy;
use serde::Deserialize;

#[derive(Deserialize)]
struct Defaults {
    retention: RetentionPolicy,
    pseudonymisation: PseudonymisationPolicy,
}

#[test]
fn the_shipped_defaults_are_the_domain_defaults() {
    let text = include_str!("../../../../config/default.toml");
    let defaults: Defaults = toml::from_str(text).unwrap();
    let app = AppConfig::default();
    assert_eq!(defaults.retention, app.retention);
    assert_eq!(
        defaults.retention.backups.as_days(),
        30,
        "the policy promises 30 days"
    );
    assert_eq!(defaults.pseudonymisation, app.pseudonymisation);
}

#[test]
fn invalid_settings_are_refused_when_read() {
    let bad = "[retention]\nbackups = 0\nlogs = 180\n[pseudonymisation]\nipv4_prefix = 24\nipv6_prefix = 48\n";
    let err = toml::from_str::<Defaults>(bad).err().unwrap().to_string();
    assert!(
        err.contains("retention period must be between 1 and 36500 days"),
        "{err}"
    );
    let bad = "[retention]\nbackups = 30\nlogs = 180\n[pseudonymisation]\nipv4_prefix = 40\nipv6_prefix = 48\n";
    let err = toml::from_str::<Defaults>(bad).err().unwrap().to_string();
    assert!(
        err.contains("IPv4 prefix length 40 is out of range"),
        "{err}"
    );
}
