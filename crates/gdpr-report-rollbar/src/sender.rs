//! The background sender: one item at a time, with retries that never count an item twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gdpr_ports::ReportError;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::payload::fit;
use crate::{RollbarConfig, RollbarMetrics};

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(crate) struct Shared {
    pub(crate) config: RollbarConfig,
    pub(crate) client: reqwest::Client,
    pub(crate) metrics: RollbarMetrics,
}

pub(crate) async fn run(shared: Arc<Shared>, mut queue: mpsc::Receiver<Value>) {
    while let Some(item) = queue.recv().await {
        deliver(&shared, item).await;
    }
}

/// A network error, without the URL's query (there is none) and without secrets (the token
/// travels in a header).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused".into()
    } else {
        "request failed".into()
    }
}

/// How long Rollbar asks to wait: `X-Rate-Limit-Reset` (Unix seconds) or `Retry-After`.
fn rate_limit_wait(response: &reqwest::Response, max: Duration) -> Duration {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let seconds = header("x-rate-limit-reset")
        .map(|reset| reset - now)
        .or_else(|| header("retry-after"))
        .unwrap_or(1)
        .max(0);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).min(max)
}

async fn deliver(shared: &Shared, item: Value) {
    let config = &shared.config;
    let mut max = config.max_payload;
    let mut item = fit(item, max);
    let mut shrunk = false;
    let mut backoff = config.backoff;
    let attempts = config.attempts.max(1);
    for attempt in 1..=attempts {
        let last = attempt == attempts;
        let response = shared
            .client
            .post(format!("{}/api/1/item/", config.endpoint))
            .header(
                "X-Rollbar-Access-Token",
                config.access_token.expose_secret(),
            )
            .json(&item)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                shared.metrics.sent.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE && !shrunk => {
                // Rollbar measures differently from us: send a much smaller item, once.
                max /= 4;
                item = fit(item, max);
                shrunk = true;
                continue;
            }
            Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                if !last {
                    tokio::time::sleep(rate_limit_wait(&r, config.max_rate_limit_wait)).await;
                }
            }
            Ok(r) if r.status().is_server_error() => {
                if !last {
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
            }
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "the error tracker refused a report"
                );
                break;
            }
            Err(e) => {
                tracing::debug!(error = describe(&e), "the error tracker is unreachable");
                if !last {
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
            }
        }
    }
    shared.metrics.failed.fetch_add(1, Ordering::Relaxed);
}

async fn result_of(response: reqwest::Response) -> Result<Value, ReportError> {
    match response.status() {
        s if s.is_success() => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(ReportError::Unauthorized),
        s => {
            return Err(ReportError::Unavailable(format!(
                "the error tracker answered {}",
                s.as_u16()
            )));
        }
    }
    let body: Value = response
        .json()
        .await
        .map_err(|_| ReportError::Unavailable("the error tracker's answer is not JSON".into()))?;
    Ok(body["result"].clone())
}

/// The id of a deletion job just started.
pub(crate) async fn job_of(response: reqwest::Response) -> Result<String, ReportError> {
    let result = result_of(response).await?;
    match &result["id"] {
        Value::String(id) => Ok(id.clone()),
        Value::Number(id) => Ok(id.to_string()),
        _ => Err(ReportError::Unavailable(
            "the error tracker returned no job id".into(),
        )),
    }
}

/// A deletion job's status.
pub(crate) async fn job_status(response: reqwest::Response) -> Result<String, ReportError> {
    let result = result_of(response).await?;
    Ok(result["status"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase())
}
