//! The error-reporting port on Rollbar's HTTP API.
//!
//! Reports are scrubbed before they are queued — only a few harmless request headers are kept,
//! sensitive keys and every personal field name of the inventory are replaced at any depth
//! (gdpr-pii's `StructuredRedactor`, shared with the log writer), strings pass through the text
//! rules, the person is a pseudonymous subject id, the client address is pseudonymised and the
//! query string dropped — then sent by a background
//! task from a bounded queue, so that reporting never blocks a request. A retry reuses the
//! item's `uuid`, so Rollbar never counts it twice; 429 waits for the rate-limit reset, 5xx and
//! network errors back off, 413 shrinks the payload; a full queue drops and counts.
//! Forgetting a person starts a Rollbar deletion job and polls it.
//!
//! This crate knows Rollbar's wire format and nothing of the domain's rules.

mod payload;
mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gdpr_pii::{PseudonymisationPolicy, StructuredRedactor, SubjectId};
use gdpr_ports::{ErrorReport, ErrorReporter, ForgetOutcome, ReportError};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

pub use payload::ALLOWED_HEADERS;

/// How the adapter talks to Rollbar.
pub struct RollbarConfig {
    /// `https://api.rollbar.com` (a local server in tests).
    pub endpoint: String,
    /// A project token with `post_server_item` scope.
    pub access_token: SecretString,
    /// An account token with write scope, to delete a person's data; `None` makes forgetting
    /// fail (and stay pending on the erasure receipt) rather than pretend.
    pub account_token: Option<SecretString>,
    /// `production`, `staging`...
    pub environment: String,
    /// The deployed version.
    pub code_version: String,
    /// This server's name.
    pub host: String,
    /// Reports waiting to be sent at most; more are dropped and counted.
    pub queue: usize,
    /// The largest payload sent, in bytes (Rollbar's limit is 512 KiB).
    pub max_payload: usize,
    /// Attempts per report on 5xx or network errors.
    pub attempts: u32,
    /// The first back-off; doubled each attempt.
    pub backoff: Duration,
    /// The longest wait honoured for a rate-limit reset.
    pub max_rate_limit_wait: Duration,
    /// How often, and how many times, a deletion job is polled.
    pub poll_every: Duration,
    /// Polls before a still-running deletion job is reported as accepted.
    pub polls: u32,
    /// IP truncation for `user_ip`.
    pub pseudonymisation: PseudonymisationPolicy,
    /// The structured redactor (shared with the log writer, so both learn the inventory's
    /// personal fields): sensitive and personal keys scrubbed at any depth, strings redacted.
    pub redaction: Arc<StructuredRedactor>,
}

impl RollbarConfig {
    /// Defaults for everything but the endpoint, token and environment.
    #[must_use]
    pub fn new(endpoint: &str, access_token: SecretString, environment: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_token,
            account_token: None,
            environment: environment.to_owned(),
            code_version: env!("CARGO_PKG_VERSION").to_owned(),
            host: "gdpr".to_owned(),
            queue: 1_024,
            max_payload: 512 * 1024,
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_rate_limit_wait: Duration::from_secs(60),
            // Forgetting runs inside an erasure request: a few seconds at most, then the job
            // is left to the erasure-retry job.
            poll_every: Duration::from_secs(1),
            polls: 3,
            pseudonymisation: PseudonymisationPolicy::default(),
            redaction: Arc::new(StructuredRedactor::new(
                gdpr_pii::Redactor::new(gdpr_pii::Redactor::default_rules(
                    PseudonymisationPolicy::default(),
                    &[],
                ))
                .unwrap_or_else(|e| panic!("the default rules compile: {e}")),
            )),
        }
    }
}

/// How long an erasure waits for the tracker to take a deletion request before recording the
/// place as pending (the retry job asks again).
const FORGET_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a deletion request failed; a timeout names the deadline it ran into.
fn forget_failed(e: reqwest::Error) -> ReportError {
    ReportError::Unavailable(if e.is_timeout() {
        format!(
            "the error tracker did not answer within {} s",
            FORGET_TIMEOUT.as_secs()
        )
    } else {
        sender::describe(&e)
    })
}

/// Counters for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct RollbarMetrics {
    /// Items Rollbar accepted.
    pub sent: AtomicU64,
    /// Items dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Items given up on after every attempt failed.
    pub failed: AtomicU64,
}

/// The Rollbar adapter. Cheap to clone; clones share the queue.
#[derive(Clone)]
pub struct RollbarReporter {
    queue: mpsc::Sender<serde_json::Value>,
    shared: Arc<sender::Shared>,
}

impl std::fmt::Debug for RollbarReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbarReporter")
            .field("endpoint", &self.shared.config.endpoint)
            .finish_non_exhaustive()
    }
}

impl RollbarReporter {
    /// Starts the background sender (on the current tokio runtime).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn start(config: RollbarConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let shared = Arc::new(sender::Shared {
            config,
            client,
            metrics: RollbarMetrics::default(),
        });
        tokio::spawn(sender::run(shared.clone(), rx));
        Ok(Self { queue, shared })
    }

    /// Reports queued and not yet taken by the sender.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// What came of the reports queued so far.
    #[must_use]
    pub fn metrics(&self) -> &RollbarMetrics {
        &self.shared.metrics
    }
}

#[async_trait]
impl ErrorReporter for RollbarReporter {
    fn report(&self, report: ErrorReport) {
        let item = payload::item(&self.shared.config, &report);
        match self.queue.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.shared.metrics.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn forget_person(&self, person: SubjectId) -> Result<ForgetOutcome, ReportError> {
        let config = &self.shared.config;
        let token = config
            .account_token
            .as_ref()
            .ok_or(ReportError::Unauthorized)?;
        let started = self
            .shared
            .client
            .post(format!("{}/api/1/people/delete_jobs/", config.endpoint))
            .header("X-Rollbar-Access-Token", token.expose_secret())
            .json(&serde_json::json!({"person_id": person.to_string()}))
            // An erasure waits for this answer: a tracker that hangs must not hold it long.
            .timeout(FORGET_TIMEOUT)
            .send()
            .await
            .map_err(forget_failed)?;
        let job = sender::job_of(started).await?;
        for _ in 0..config.polls {
            tokio::time::sleep(config.poll_every).await;
            let status = self
                .shared
                .client
                .get(format!(
                    "{}/api/1/people/delete_jobs/{job}",
                    config.endpoint
                ))
                .header("X-Rollbar-Access-Token", token.expose_secret())
                .timeout(FORGET_TIMEOUT)
                .send()
                .await
                .map_err(forget_failed)?;
            match sender::job_status(status).await?.as_str() {
                "success" | "completed" | "done" => return Ok(ForgetOutcome::Forgotten),
                "failed" | "error" => {
                    return Err(ReportError::Unavailable(format!(
                        "the error tracker's deletion job {job} failed"
                    )));
                }
                _ => {}
            }
        }
        Ok(ForgetOutcome::Accepted { job })
    }
}
