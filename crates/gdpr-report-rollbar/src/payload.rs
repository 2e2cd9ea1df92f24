//! Building and scrubbing Rollbar items.

use std::collections::BTreeSet;

use gdpr_pii::Redactor;
use gdpr_ports::{ErrorReport, ReportLevel};
use serde_json::{Map, Value, json};

use crate::RollbarConfig;

/// Keys whose values never leave, at any depth (compared case-insensitively).
pub const SENSITIVE_KEYS: [&str; 14] = [
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "authorization",
    "cookie",
    "set-cookie",
    "x-rollbar-access-token",
    "api_key",
    "apikey",
    "x-api-key",
    "session",
    "master_key",
];

fn redactor(config: &RollbarConfig) -> Redactor {
    Redactor::new(Redactor::default_rules(config.pseudonymisation, &["gdpr_"]))
        .unwrap_or_else(|e| panic!("the default rules compile: {e}"))
}

/// Replaces the value of every sensitive or personal key, at any depth, and passes every other
/// string through `redactor`. The structure is kept.
pub fn scrub(value: &mut Value, personal: &BTreeSet<String>, redactor: &Redactor) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let k = key.to_ascii_lowercase();
                if SENSITIVE_KEYS.contains(&k.as_str()) || personal.contains(&k) {
                    if !v.is_null() {
                        *v = Value::String("[scrubbed]".into());
                    }
                } else {
                    scrub(v, personal, redactor);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, personal, redactor)),
        Value::String(s) => {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

fn level(level: ReportLevel) -> &'static str {
    match level {
        ReportLevel::Critical => "critical",
        ReportLevel::Error => "error",
        ReportLevel::Warning => "warning",
    }
}

/// The whole item for one report, scrubbed.
pub(crate) fn item(config: &RollbarConfig, report: &ErrorReport) -> Value {
    let mut personal = config.personal_fields.clone();
    personal.extend(
        gdpr_pii::PROFILE_FIELDS
            .iter()
            .map(|(n, _)| (*n).to_owned()),
    );
    let redactor = redactor(config);
    let mut custom: Map<String, Value> = report
        .context
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut data = json!({
        "environment": config.environment,
        "level": level(report.level),
        "body": {"message": {"body": report.message}},
        "uuid": uuid::Uuid::new_v4().to_string(),
        "code_version": config.code_version,
        "platform": "linux",
        "language": "rust",
        "server": {"host": config.host},
    });
    if let Some(request) = &report.request {
        let path = request.path.split('?').next().unwrap_or_default();
        let headers: Map<String, Value> = request
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        data["request"] = json!({
            "method": request.method,
            "url": path,
            "headers": headers,
            "user_ip": request.client_ip.map(|ip| ip.pseudonymise(config.pseudonymisation).to_string()),
        });
    }
    scrub(&mut data, &personal, &redactor);
    scrub_custom(&mut custom, &personal, &redactor);
    data["custom"] = Value::Object(custom);
    // The person is a pseudonymous id: set after scrubbing, it is never personal data.
    if let Some(person) = report.person {
        data["person"] = json!({"id": person.to_string()});
    }
    json!({"data": data})
}

fn scrub_custom(custom: &mut Map<String, Value>, personal: &BTreeSet<String>, redactor: &Redactor) {
    let mut value = Value::Object(std::mem::take(custom));
    scrub(&mut value, personal, redactor);
    if let Value::Object(map) = value {
        *custom = map;
    }
}

/// The item cut down to at most `max` bytes: the message is truncated, then the custom data
/// and request dropped, before giving up on the size.
pub(crate) fn fit(mut item: Value, max: usize) -> Value {
    let size = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    if size(&item) <= max {
        return item;
    }
    item["data"]["custom"] = json!({"truncated": true});
    if let Some(body) = item["data"]["body"]["message"]["body"]
        .as_str()
        .map(str::to_owned)
    {
        let over = size(&item).saturating_sub(max);
        let keep = body.len().saturating_sub(over + 64);
        let cut = (0..=keep)
            .rev()
            .find(|i| body.is_char_boundary(*i))
            .unwrap_or(0);
        item["data"]["body"]["message"]["body"] =
            Value::String(format!("{}…[truncated]", &body[..cut]));
    }
    if size(&item) > max {
        item["data"]["request"] = Value::Null;
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_keeps_the_structure_and_replaces_values_at_any_depth() {
        let redactor = redactor(&RollbarConfig::new(
            "http://x",
            "t".to_owned().into(),
            "test",
        ));
        let personal: BTreeSet<String> = ["contractor_phone".to_owned(), "email".to_owned()].into();
        let mut v = json!({
            "Authorization": "Bearer abc",
            "nested": {"password": "hunter2", "list": [{"contractor_phone": "+33 6"}], "n": 3},
            "email": "ada@example.org",
            "note": "mail ada@example.org from 203.0.113.9",
            "empty": null,
        });
        scrub(&mut v, &personal, &redactor);
        assert_eq!(
            v,
            json!({
                "Authorization": "[scrubbed]",
                "nested": {"password": "[scrubbed]", "list": [{"contractor_phone": "[scrubbed]"}], "n": 3},
                "email": "[scrubbed]",
                "note": "mail [email] from 203.0.113.0/24",
                "empty": null,
            })
        );
    }

    #[test]
    fn an_oversized_item_is_cut_to_fit() {
        let item = json!({"data": {"body": {"message": {"body": "x".repeat(10_000)}}, "custom": {"a": "b"}}});
        let fitted = fit(item, 2_000);
        assert!(serde_json::to_vec(&fitted).unwrap().len() <= 2_000);
        assert!(
            fitted["data"]["body"]["message"]["body"]
                .as_str()
                .unwrap()
                .ends_with("[truncated]")
        );
    }
}
