//! Building and scrubbing Rollbar items.

use gdpr_ports::{ErrorReport, ReportLevel};
use serde_json::{Map, Value, json};

use crate::RollbarConfig;

/// Request headers that may be sent (lower case); every other header is dropped, since a
/// deny-list cannot know every header that carries a value (a `Referer` with a query string, a
/// proxy's credentials...).
pub const ALLOWED_HEADERS: [&str; 6] = [
    "user-agent",
    "content-type",
    "content-length",
    "accept",
    "x-request-id",
    "host",
];

fn level(level: ReportLevel) -> &'static str {
    match level {
        ReportLevel::Critical => "critical",
        ReportLevel::Error => "error",
        ReportLevel::Warning => "warning",
    }
}

/// The whole item for one report, scrubbed.
pub(crate) fn item(config: &RollbarConfig, report: &ErrorReport) -> Value {
    let custom: Map<String, Value> = report
        .context
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut data = json!({
        "environment": config.environment,
        "level": level(report.level),
        "body": {"message": {"body": report.message}},
        "code_version": config.code_version,
        "platform": "linux",
        "language": "rust",
        "server": {"host": config.host},
        "custom": custom,
    });
    if let Some(request) = &report.request {
        let path = request.path.split('?').next().unwrap_or_default();
        let headers: Map<String, Value> = request
            .headers
            .iter()
            .filter(|(k, _)| ALLOWED_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        data["request"] = json!({
            "method": request.method,
            "url": path,
            "headers": headers,
            "user_ip": request.client_ip.map(|ip| ip.pseudonymise(config.pseudonymisation).to_string()),
        });
    }
    config.redaction.value(&mut data, "[scrubbed]");
    // Set after scrubbing: the uuid and the pseudonymous person id are never personal data.
    data["uuid"] = Value::String(uuid::Uuid::new_v4().to_string());
    // When it happened, not when a retry finally delivered it.
    data["timestamp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp());
    if let Some(person) = report.person {
        data["person"] = json!({"id": person.to_string()});
    }
    json!({"data": data})
}

/// The item cut down to at most `max` bytes: the message is truncated, then the custom data
/// and request dropped, before giving up on the size.
pub(crate) fn fit(mut item: Value, max: usize) -> Value {
    let size = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    if size(&item) <= max {
        return item;
    }
    item["data"]["custom"] = json!({"truncated": true});
    if size(&item) <= max {
        return item;
    }
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
