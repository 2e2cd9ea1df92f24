//! Posts webhook deliveries over HTTP(S) (`reqwest`, rustls).
//!
//! Owns the network rules of a delivery: every address a name resolves to is checked against
//! the deployment's [`AddressPolicy`] (an IP literal before anything is sent), so a tenant
//! cannot make the vault call its own network, nor reach it through a name that resolves
//! inward; no redirect is followed (a 3xx is a failed attempt); the whole attempt has a
//! timeout; at most [`READ_CAP`] bytes of the answer are read (then the connection is
//! dropped). It never logs or returns an answer's body. It knows nothing of events or
//! signatures: `gdpr-app` hands it signed requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use gdpr_ports::WebhookSender;
use gdpr_webhooks::AddressPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// How much of an answer is read before the connection is dropped.
pub const READ_CAP: usize = 4096;

/// Resolves names, then keeps only the addresses the policy permits.
struct Guarded(AddressPolicy);

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err("the name resolves only to addresses this deployment forbids".into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP sender.
#[derive(Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl std::fmt::Debug for HttpWebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWebhookSender")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl HttpWebhookSender {
    /// A sender under `policy`, giving up on an attempt after `timeout`.
    ///
    /// # Errors
    /// The TLS backend could not start.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A proxy from the environment would decide the address instead of the policy.
            .no_proxy()
            .dns_resolver(Arc::new(Guarded(policy)))
            .user_agent(concat!("gdpr-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("the webhook client could not start: {e}"))?;
        Ok(Self { client, policy })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<u16, String> {
        let parsed = url::Url::parse(url).map_err(|_| "not a URL".to_owned())?;
        // An IP literal is never resolved: checked here.
        let literal = match parsed.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.policy.permits(ip)) {
            return Err("the address is one this deployment forbids".into());
        }
        let mut request = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(describe)?;
        let status = response.status().as_u16();
        // Read a little (so a small answer frees the connection for the next delivery),
        // never more than the cap.
        let mut read = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    read += bytes.len();
                    if read > READ_CAP {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Ok(status)
    }
}

/// What went wrong, as a rule: reqwest's own message may quote the URL, which may carry a
/// token in its path or query.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the timeout".into()
    } else if e.is_connect() {
        if format!("{e:?}").contains("forbids") {
            "the name resolves only to addresses this deployment forbids".into()
        } else {
            "the connection failed".into()
        }
    } else if e.is_redirect() {
        "a redirect, which is not followed".into()
    } else {
        "the request failed".into()
    }
}
