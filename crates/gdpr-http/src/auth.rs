//! Authentication: the operator's admin token and tenants' API keys, as OpenAPI bearer
//! schemes; failed attempts are rate-limited per source and logged as security events,
//! never with the credential. Valid credentials always pass: the limiter slows whoever keeps
//! failing from one source, it never locks out the clients that share that source (a load
//! balancer's address); guessing is defeated by the credentials' entropy, not by it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gdpr_app::{AppError, Authenticated};
use gdpr_pii::{IpAddress, PseudonymisationPolicy};
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::problem::{ApiError, Problem};

/// Checks API keys; implemented by the application so that this layer stays free of its
/// type parameters.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Who the token speaks for.
    async fn authenticate(&self, token: &SecretString) -> Result<Authenticated, AppError>;
}

/// Counts failed authentications per source in fixed one-minute windows. A source is an IPv4
/// address or an IPv6 /64 (one subscriber's block, which one client can rotate within).
pub struct FailedAuthLimiter {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Sources tracked at most; past this, the oldest windows are forgotten first.
const MAX_SOURCES: usize = 10_000;

impl std::fmt::Debug for FailedAuthLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the addresses themselves.
        let sources = self.seen.lock().map_or(0, |s| s.len());
        f.debug_struct("FailedAuthLimiter")
            .field("per_minute", &self.per_minute)
            .field("sources", &sources)
            .finish()
    }
}

fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !u128::from(u64::MAX),
        )),
    }
}

impl FailedAuthLimiter {
    /// Allows `per_minute` failures per source before refusing it for the rest of the minute.
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn blocked(&self, ip: IpAddr) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&source_key(ip)).is_some_and(|(since, n)| {
            since.elapsed() < Duration::from_secs(60) && *n >= self.per_minute
        })
    }

    pub(crate) fn fail(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_SOURCES && !seen.contains_key(&source_key(ip)) {
            // Keep the table bounded: forget finished windows, then the oldest ones.
            seen.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
            if seen.len() >= MAX_SOURCES {
                let mut by_age: Vec<(Instant, IpAddr)> =
                    seen.iter().map(|(k, (t, _))| (*t, *k)).collect();
                by_age.sort_unstable();
                for (_, key) in by_age.into_iter().take(MAX_SOURCES / 10) {
                    seen.remove(&key);
                }
            }
        }
        let entry = seen.entry(source_key(ip)).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// What authentication needs from the server.
pub struct AuthContext {
    /// Checks API keys.
    pub authenticator: Arc<dyn Authenticator>,
    /// The operator's token; `None` disables the admin routes.
    pub admin_token: Option<SecretString>,
    /// Failed attempts per source.
    pub limiter: FailedAuthLimiter,
    /// How sources are pseudonymised in security events.
    pub pseudonymisation: PseudonymisationPolicy,
    /// Counted by `/metrics`.
    pub metrics: Arc<crate::Metrics>,
}

impl AuthContext {
    /// The admin token's fingerprint: what an operator session of the console keeps, so
    /// that it ends when the token changes or the admin routes are turned off. `None`
    /// without an admin token. Whether a token is the admin token, by
    /// [`AuthContext::is_admin_token`]: never when there is none; hashes are compared, so
    /// that the comparison takes the same time whatever the lengths.
    pub(crate) fn admin_key(&self) -> Option<String> {
        // Domain-separated, so that it is no hash of the token found anywhere else.
        self.admin_token.as_ref().map(|token| {
            let mut hash = Sha256::new();
            hash.update(b"gdpr operator session\0");
            hash.update(token.expose_secret().as_bytes());
            hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
        })
    }

    /// Whether `token` is the admin token (see [`AuthContext::admin_key`] for sessions).
    pub(crate) fn is_admin_token(&self, token: &str) -> bool {
        self.admin_token.as_ref().is_some_and(|expected| {
            let given = Sha256::digest(token.as_bytes());
            let wanted = Sha256::digest(expected.expose_secret().as_bytes());
            bool::from(given.ct_eq(&wanted))
        })
    }
}

fn source(req: &Request) -> Option<IpAddr> {
    crate::client::client_ip(req)
}

fn context(req: &Request) -> poem::Result<&Arc<AuthContext>> {
    req.data::<Arc<AuthContext>>()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
}

fn refuse(ctx: &AuthContext, req: &Request, reason: &str) -> poem::Error {
    let ip = source(req);
    if let Some(ip) = ip {
        ctx.limiter.fail(ip);
    }
    ctx.metrics.auth_failures.inc();
    let pseudonymous = ip.map(|ip| {
        IpAddress::from_ip(ip)
            .pseudonymise(ctx.pseudonymisation)
            .to_string()
    });
    tracing::warn!(
        target: "security",
        event = "authentication_failed",
        reason,
        source = pseudonymous.as_deref().unwrap_or("unknown"),
        path = req.uri().path(),
        "authentication failed"
    );
    ApiError::from_problem(Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        "invalid or revoked credentials",
    ))
    .into()
}

/// A failed authentication: 429 when its source is over its allowance (valid credentials
/// are let through whatever the source did: behind a load balancer every client can share one
/// address), 401 otherwise, counted.
fn refuse_or_throttle(ctx: &AuthContext, req: &Request, reason: &str) -> poem::Error {
    match throttle(ctx, req) {
        Err(limited) => limited.into(),
        Ok(()) => refuse(ctx, req, reason),
    }
}

/// A call authenticated by its signature (a recipient's erasure confirmation) from a source
/// over its allowance of failed authentications: 429, as for a key.
pub(crate) fn throttle_signed(req: &Request) -> Result<(), ApiError> {
    match context(req) {
        Ok(ctx) => throttle(ctx, req),
        Err(_) => Ok(()),
    }
}

/// A signed call whose signature was refused: counted against its source as a bad key is,
/// and logged on the `security` target (its answer is the use case's own problem).
pub(crate) fn signature_refused(req: &Request) {
    if let Ok(ctx) = context(req) {
        let _ = refuse(ctx, req, "signature refused");
    }
}

fn throttle(ctx: &AuthContext, req: &Request) -> Result<(), ApiError> {
    let Some(ip) = source(req) else { return Ok(()) };
    if !ctx.limiter.blocked(ip) {
        return Ok(());
    }
    ctx.metrics.rate_limited.inc();
    let pseudonymous = IpAddress::from_ip(ip)
        .pseudonymise(ctx.pseudonymisation)
        .to_string();
    tracing::warn!(target: "security", event = "rate_limited", source = %pseudonymous, path = req.uri().path(), "too many failed authentications");
    Err(ApiError::from_problem(Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-failures",
        "Too many requests",
        "too many failed authentications from this source; retry in a minute",
    )))
}

/// A tenant's API key: `Authorization: Bearer gdpr_<id>_<secret>`.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "gdpr API key",
    checker = "check_tenant_key"
)]
pub(crate) struct TenantKey(pub(crate) Authenticated);

async fn check_tenant_key(req: &Request, bearer: Bearer) -> poem::Result<Authenticated> {
    let ctx = context(req)?;
    let token = SecretString::from(bearer.token);
    match ctx.authenticator.authenticate(&token).await {
        Ok(who) => Ok(who),
        Err(AppError::Unauthorized) => Err(refuse_or_throttle(ctx, req, "invalid api key")),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

/// The operator's admin token: `Authorization: Bearer <admin token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "admin token", checker = "check_admin")]
pub(crate) struct AdminToken(pub(crate) ());

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let ctx = context(req)?;
    if ctx.admin_token.is_none() {
        return Err(refuse_or_throttle(ctx, req, "admin routes disabled"));
    }
    if ctx.is_admin_token(&bearer.token) {
        Ok(())
    } else {
        Err(refuse_or_throttle(ctx, req, "invalid admin token"))
    }
}

#[cfg(test)]
mod tests {
    use super::FailedAuthLimiter;

    #[test]
    fn a_source_is_blocked_after_its_allowance_and_others_are_not() {
        let limiter = FailedAuthLimiter::new(3);
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(!limiter.blocked(a));
            limiter.fail(a);
        }
        assert!(limiter.blocked(a));
        assert!(!limiter.blocked(b));
        assert!(
            !format!("{limiter:?}").contains("192.0.2"),
            "addresses never print"
        );
    }

    #[test]
    fn an_ipv6_client_cannot_escape_by_rotating_within_its_64() {
        let limiter = FailedAuthLimiter::new(2);
        limiter.fail("2001:db8:1:2::1".parse().unwrap());
        limiter.fail("2001:db8:1:2::ffff".parse().unwrap());
        assert!(limiter.blocked("2001:db8:1:2:abcd::9".parse().unwrap()));
        assert!(!limiter.blocked("2001:db8:1:3::1".parse().unwrap()));
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = FailedAuthLimiter::new(5);
        for n in 0..(super::MAX_SOURCES as u32 + 500) {
            limiter.fail(std::net::IpAddr::V4(std::net::Ipv4Addr::from(n)));
        }
        assert!(limiter.seen.lock().unwrap().len() <= super::MAX_SOURCES);
    }
}
