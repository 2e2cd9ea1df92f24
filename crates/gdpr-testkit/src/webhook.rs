//! A webhook sender that keeps what it is asked to post and answers as told: every
//! receiver's status, or a receiver that is down.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use gdpr_ports::WebhookSender;

/// One post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Where.
    pub url: String,
    /// The headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Posted {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct State {
    posted: Vec<Posted>,
    answer: Result<u16, String>,
}

/// Keeps every post; answers 200 until told otherwise. Clones share the same record.
#[derive(Debug, Clone)]
pub struct RecordingWebhookSender(Arc<Mutex<State>>);

impl Default for RecordingWebhookSender {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(State {
            posted: Vec::new(),
            answer: Ok(200),
        })))
    }
}

impl RecordingWebhookSender {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every post so far.
    #[must_use]
    pub fn posted(&self) -> Vec<Posted> {
        self.state().posted.clone()
    }

    /// Answers this status from now on.
    pub fn answer(&self, status: u16) {
        self.state().answer = Ok(status);
    }

    /// Fails from now on, as a receiver that is down does (no status).
    pub fn go_down(&self) {
        self.state().answer = Err("connection refused".into());
    }
}

#[async_trait]
impl WebhookSender for RecordingWebhookSender {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<u16, String> {
        let mut s = self.state();
        s.posted.push(Posted {
            url: url.to_owned(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
            body,
        });
        s.answer.clone()
    }
}
