//! The request portal (Art. 12(2), 12(6), 15–21): a person asks for one of their rights by
//! giving an e-mail address; a one-time code goes to that address; giving it back is the
//! identity verification (`email_code`) of the inquiry it opened, which then becomes a
//! request of the subject found, or "nothing held" (see `inquiries`).
//!
//! What the person sees before the code is the same whether or not the vault knows the
//! address: the inquiry is opened and the code sent either way, and no look-up is made until
//! the code comes back. Codes are [`CODE_DIGITS`] digits from the operating system's
//! generator, kept only as a salted hash in the sealed inquiry, valid for
//! [`PortalConfig::code_ttl`], for [`PortalConfig::code_tries`] tries, once: each code given
//! takes a try with a create-only write before it is compared, so that codes posted at once
//! take a try each, and the right code is claimed the same way, so that of two replicas
//! given it at once one answers.
//! An inquiry whose code expired or ran out of tries is deleted, address and all (at once,
//! or by the hourly `prune-portal` job). Codes sent are limited per address (an hour and a
//! day), per source (an IPv4 address, an IPv6 /64) and per tenant, in each replica's memory
//! (the address keyed by its hash, never kept in clear).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use gdpr_audit::Actor;
use gdpr_pii::{Email, RequestId, TenantId};
use gdpr_ports::{Clock as _, Mail, Ports};
use gdpr_rights::RequestKind;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use crate::inquiries::Challenge;
use crate::{App, AppError, Ctx, InquiryOutcome};

/// The portal's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalConfig {
    /// How long a code is valid.
    pub code_ttl: Duration,
    /// How many wrong codes end a challenge (the person starts again).
    pub code_tries: u8,
    /// Codes sent to one address per [`PortalConfig::window`].
    pub codes_per_address: u32,
    /// Codes sent to one address per day.
    pub codes_per_address_per_day: u32,
    /// Codes asked for from one source (an IPv4 address, an IPv6 /64) per
    /// [`PortalConfig::window`].
    pub codes_per_source: u32,
    /// Codes sent for one tenant per [`PortalConfig::window`] (a flood from many sources).
    pub codes_per_tenant: u32,
    /// The window the hourly limits count in.
    pub window: Duration,
}

/// How many digits a code has: a guess has one chance in 10^8.
pub const CODE_DIGITS: usize = 8;

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            code_ttl: Duration::minutes(15),
            code_tries: 5,
            codes_per_address: 3,
            codes_per_address_per_day: 10,
            codes_per_source: 10,
            codes_per_tenant: 500,
            window: Duration::hours(1),
        }
    }
}

/// The language a person reads the portal and its e-mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// French (the seed policy's own).
    Fr,
}

impl Lang {
    /// The language an `Accept-Language` header (or a `lang` choice) asks for first, among
    /// those the portal speaks; English otherwise.
    #[must_use]
    pub fn negotiate(header: &str) -> Self {
        let mut best = (Self::En, -1.0_f32);
        for (i, part) in header.split(',').enumerate() {
            let mut pieces = part.split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0_f32);
            let lang = match tag.split('-').next() {
                Some("fr") => Self::Fr,
                Some("en") => Self::En,
                _ => continue,
            };
            // Earlier wins a tie.
            #[allow(clippy::cast_precision_loss, reason = "a header has few parts")]
            let score = q - (i as f32) * 1e-4;
            if score > best.1 {
                best = (lang, score);
            }
        }
        best.0
    }

    /// Its tag (`en`, `fr`).
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }
}

/// A code sent: the inquiry to give it back to, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalTicket {
    /// The inquiry the code confirms.
    pub inquiry: Uuid,
    /// When the code stops working.
    pub expires_at: OffsetDateTime,
}

/// What the person is told once the code came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalAnswer {
    /// Their request is open.
    RequestOpened {
        /// Its reference.
        request: RequestId,
        /// When it is due (one month from receipt, Art. 12(3)).
        due: Date,
    },
    /// Nothing is held about the address.
    NothingHeld,
}

/// Codes sent per key (an address, a source, a tenant), in this replica's memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct PortalLimits {
    sent: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    times: HashMap<String, VecDeque<OffsetDateTime>>,
    takes: u32,
}

impl PortalLimits {
    /// Counts one more under `key` unless `max` were counted within `window` of `now`.
    fn take(&self, key: &str, max: u32, window: Duration, now: OffsetDateTime) -> bool {
        let mut counts = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        // Now and then, forget the keys whose last count is a day old, so the map does not
        // grow without end (a day: the longest window).
        counts.takes = counts.takes.wrapping_add(1);
        if counts.takes.is_multiple_of(1024) {
            counts
                .times
                .retain(|_, times| times.back().is_some_and(|t| *t > now - Duration::DAY));
        }
        let times = counts.times.entry(key.to_owned()).or_default();
        let recent = times.iter().filter(|t| **t > now - window).count();
        if recent >= max as usize {
            return false;
        }
        while times.front().is_some_and(|t| *t <= now - Duration::DAY) {
            times.pop_front();
        }
        times.push_back(now);
        true
    }

    /// Counts one more under every key, or under none if one is at its limit.
    fn take_all(&self, limits: &[(&str, u32, Duration)], now: OffsetDateTime) -> bool {
        let free = {
            let counts = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            limits.iter().all(|(key, max, window)| {
                counts.times.get(*key).is_none_or(|times| {
                    times.iter().filter(|t| **t > now - *window).count() < *max as usize
                })
            })
        };
        free && limits
            .iter()
            .all(|(key, max, window)| self.take(key, *max, *window, now))
    }
}

/// The key a source is limited under: an IPv4 address, an IPv6 address's /64 (one
/// subscriber's whole network), or the string as given.
fn source_key(source: &str) -> String {
    match source.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => {
            let bits = u128::from(ip) & !((1_u128 << 64) - 1);
            format!("source:{}/64", std::net::Ipv6Addr::from(bits))
        }
        _ => format!("source:{source}"),
    }
}

/// The salted hash of a code a challenge keeps.
pub(crate) fn code_hash(inquiry: Uuid, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(inquiry.as_bytes());
    h.update(code.trim().as_bytes());
    hex::encode(h.finalize())
}

fn mail_text(lang: Lang, tenant: &str, code: &str, minutes: i64) -> (String, String) {
    match lang {
        Lang::En => (
            format!("Your code to confirm your request to {tenant}: {code}"),
            format!(
                "Someone, probably you, asked {tenant} to act on personal data about this \
                 address.\n\nYour code: {code}\n\nEnter it on the page you came from within \
                 {minutes} minutes. If you did not ask, ignore this message: nothing happens \
                 without the code.\n"
            ),
        ),
        Lang::Fr => (
            format!("Votre code pour confirmer votre demande à {tenant} : {code}"),
            format!(
                "Quelqu'un, sans doute vous, a demandé à {tenant} d'agir sur des données \
                 personnelles liées à cette adresse.\n\nVotre code : {code}\n\nSaisissez-le \
                 sur la page d'où vous venez dans les {minutes} minutes. Si vous n'avez rien \
                 demandé, ignorez ce message : rien ne se passe sans le code.\n"
            ),
        ),
    }
}

impl<P: Ports> App<P> {
    /// The tenant whose portal this is, if its portal is open (it is closed while the
    /// tenant is being offboarded).
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an unknown tenant or one being offboarded; storage errors.
    pub async fn portal_tenant(&self, tenant: TenantId) -> Result<gdpr_pii::Tenant, AppError> {
        let found = self.tenant(tenant).await?;
        match self.ensure_not_offboarding(tenant).await {
            Err(AppError::TenantOffboarding { .. }) => Err(AppError::NotFound("tenant")),
            other => other.map(|()| found),
        }
    }

    /// A person asks for `kind` about `email` on the tenant's portal, from `source` (their
    /// IP address, for the per-source limit): opens an inquiry and sends its code to the
    /// address. The same whether or not the address is known. Audited (without the address).
    ///
    /// # Errors
    /// [`AppError::NotFound`] (see [`App::portal_tenant`]); [`AppError::InvalidInput`] on
    /// `email`; [`AppError::TooManyRequests`] past a limit; [`AppError::Mail`] when the code
    /// could not be sent (the inquiry, unconfirmable, goes when its code would have expired;
    /// the person asks again); storage errors.
    pub async fn portal_open(
        &self,
        tenant: TenantId,
        email: &str,
        kind: RequestKind,
        source: &str,
        lang: Lang,
    ) -> Result<PortalTicket, AppError> {
        let name = self.portal_tenant(tenant).await?.name;
        let address = Email::parse(email).map_err(|e| AppError::invalid("email", e))?;
        let mailer = self
            .mailer
            .as_ref()
            .ok_or(AppError::Mail(gdpr_ports::MailError::Unavailable))?;
        let limits = &self.config.portal;
        let now = self.clock.now();
        let address_key = format!(
            "address:{tenant}:{}",
            hex::encode(Sha256::digest(address.expose_pii().as_bytes()))
        );
        let (source_key, tenant_key) = (source_key(source), format!("tenant:{tenant}"));
        // Each limit counts under its own key (a key holds one count per code).
        let address_day = format!("{address_key}:day");
        let counted = [
            (source_key.as_str(), limits.codes_per_source, limits.window),
            (
                address_key.as_str(),
                limits.codes_per_address,
                limits.window,
            ),
            (
                address_day.as_str(),
                limits.codes_per_address_per_day,
                Duration::DAY,
            ),
            (tenant_key.as_str(), limits.codes_per_tenant, limits.window),
        ];
        if !self.portal_limits.take_all(&counted, now) {
            return Err(AppError::TooManyRequests(
                "too many codes asked for: try again later",
            ));
        }
        let code = format!("{:08}", rand::rngs::OsRng.gen_range(0..100_000_000_u32));
        let expires_at = now + limits.code_ttl;
        let ctx = Ctx::new(tenant, Actor::Portal);
        let id = Uuid::now_v7();
        let challenge = Challenge {
            hash: code_hash(id, &code),
            expires_at,
            tries: limits.code_tries,
        };
        self.open_inquiry_with(ctx, id, address.clone(), kind, Some(challenge))
            .await?;
        let (subject, body) = mail_text(lang, &name, &code, limits.code_ttl.whole_minutes());
        mailer
            .send(Mail {
                to: address,
                subject,
                body,
            })
            .await
            .map_err(AppError::Mail)?;
        Ok(PortalTicket {
            inquiry: id,
            expires_at,
        })
    }

    /// The code comes back: checked, claimed (once, whichever replica), then the inquiry is
    /// verified (`email_code`) and answered in one write. A wrong code costs a try; the last
    /// try, or an expired code, ends the challenge and deletes the inquiry. Something that is
    /// not [`CODE_DIGITS`] digits costs nothing.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for an inquiry not opened on this tenant's portal (or deleted);
    /// [`AppError::InvalidInput`] on `code` for one not of the code's form, or a wrong one
    /// (saying how many tries are left); [`AppError::Gone`] for a code expired or out of
    /// tries; [`AppError::Conflict`] once confirmed (a code works once); storage errors.
    pub async fn portal_confirm(
        &self,
        tenant: TenantId,
        inquiry: Uuid,
        code: &str,
    ) -> Result<PortalAnswer, AppError> {
        self.portal_tenant(tenant).await?;
        let code = code.trim();
        if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppError::invalid(
                "code",
                format!("the code is {CODE_DIGITS} digits"),
            ));
        }
        let ctx = Ctx::new(tenant, Actor::Portal);
        let claim = self.claim_inquiry_code(ctx, inquiry, code).await?;
        let verified = self
            .answer_inquiry(
                ctx,
                inquiry,
                gdpr_rights::VerificationMethod::EmailCode,
                Some("one-time code sent to the address and given back on the request portal"),
            )
            .await;
        let view = match verified {
            Ok(view) => view,
            Err(e) => {
                // Not answered: let the person give the code again.
                self.release_inquiry_claim(ctx, claim).await;
                return Err(e);
            }
        };
        Ok(match view.outcome {
            Some(InquiryOutcome::RequestOpened { request }) => PortalAnswer::RequestOpened {
                request,
                due: self.request(ctx, request).await?.due_date,
            },
            _ => PortalAnswer::NothingHeld,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Lang, PortalLimits, code_hash};
    use time::Duration;
    use time::macros::datetime;
    use uuid::Uuid;

    #[test]
    fn the_language_asked_for_first_among_ours_wins() {
        assert_eq!(Lang::negotiate("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::negotiate("en-GB,fr;q=0.5"), Lang::En);
        assert_eq!(Lang::negotiate("de-DE,fr;q=0.7,en;q=0.3"), Lang::Fr);
        assert_eq!(Lang::negotiate("en;q=0.2,fr;q=0.9"), Lang::Fr);
        assert_eq!(Lang::negotiate("de, es"), Lang::En);
        assert_eq!(Lang::negotiate(""), Lang::En);
        assert_eq!(Lang::negotiate("fr"), Lang::Fr);
    }

    #[test]
    fn a_code_hash_depends_on_its_inquiry_and_ignores_surrounding_space() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(code_hash(a, "123456"), code_hash(a, " 123456\n"));
        assert_ne!(code_hash(a, "123456"), code_hash(b, "123456"));
        assert_ne!(code_hash(a, "123456"), code_hash(a, "123457"));
    }

    #[test]
    fn a_limit_counts_within_its_window_only() {
        let limits = PortalLimits::default();
        let t0 = datetime!(2026-12-07 10:00 UTC);
        let hour = Duration::hours(1);
        assert!(limits.take("k", 2, hour, t0));
        assert!(limits.take("k", 2, hour, t0 + Duration::minutes(30)));
        assert!(!limits.take("k", 2, hour, t0 + Duration::minutes(59)));
        assert!(limits.take("other", 2, hour, t0 + Duration::minutes(59)));
        // The first falls out of the window.
        assert!(limits.take("k", 2, hour, t0 + Duration::minutes(61)));
        assert!(!limits.take("k", 2, hour, t0 + Duration::minutes(62)));
    }
}
