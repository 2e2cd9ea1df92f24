//! Authentication: the operator's admin token and tenants' API keys, as OpenAPI bearer
//! schemes; failed attempts are rate-limited per source and logged as security events,
//! never with the credential.

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

/// Counts failed authentications per source address in a sliding minute.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
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

    fn blocked(&self, ip: IpAddr) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(&ip).is_some_and(|(since, n)| {
            since.elapsed() < Duration::from_secs(60) && *n >= self.per_minute
        })
    }

    fn fail(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        // Keep the table bounded: forget sources whose window is over.
        if seen.len() > 10_000 {
            seen.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
        }
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

fn source(req: &Request) -> Option<IpAddr> {
    req.remote_addr()
        .as_socket_addr()
        .map(std::net::SocketAddr::ip)
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
    ctx.metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

fn throttle(ctx: &AuthContext, req: &Request) -> Result<(), poem::Error> {
    let Some(ip) = source(req) else { return Ok(()) };
    if !ctx.limiter.blocked(ip) {
        return Ok(());
    }
    ctx.metrics
        .rate_limited
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pseudonymous = IpAddress::from_ip(ip)
        .pseudonymise(ctx.pseudonymisation)
        .to_string();
    tracing::warn!(target: "security", event = "rate_limited", source = %pseudonymous, path = req.uri().path(), "too many failed authentications");
    Err(ApiError::from_problem(Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-failures",
        "Too many requests",
        "too many failed authentications from this source; retry in a minute",
    ))
    .into())
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
    throttle(ctx, req)?;
    let token = SecretString::from(bearer.token);
    match ctx.authenticator.authenticate(&token).await {
        Ok(who) => Ok(who),
        Err(AppError::Unauthorized) => Err(refuse(ctx, req, "invalid api key")),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

/// The operator's admin token: `Authorization: Bearer <admin token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "admin token", checker = "check_admin")]
pub(crate) struct AdminToken(pub(crate) ());

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let ctx = context(req)?;
    throttle(ctx, req)?;
    let Some(expected) = &ctx.admin_token else {
        return Err(refuse(ctx, req, "admin routes disabled"));
    };
    // Compare hashes, so that the comparison takes the same time whatever the lengths.
    let given = Sha256::digest(bearer.token.as_bytes());
    let wanted = Sha256::digest(expected.expose_secret().as_bytes());
    if bool::from(given.ct_eq(&wanted)) {
        Ok(())
    } else {
        Err(refuse(ctx, req, "invalid admin token"))
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
    }
}
