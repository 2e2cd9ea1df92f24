//! The operations, one `#[OpenApi]` struct per resource family, each generic over the ports
//! so that this crate never names an adapter.

pub(crate) mod accountability;
pub(crate) mod admin;
pub(crate) mod auditor;
pub(crate) mod breaches;
pub(crate) mod consent;
pub(crate) mod forms;
pub(crate) mod recipients;
pub(crate) mod requests;
pub(crate) mod retention;
pub(crate) mod subjects;
pub(crate) mod webhooks;

use gdpr_app::Ctx;
use gdpr_audit::Actor;
use gdpr_ports::{Cursor, Page};
use poem_openapi::Tags;
use uuid::Uuid;

use crate::auth::TenantKey;
use crate::problem::ApiError;

/// Groups in the documentation.
#[derive(Tags)]
pub(crate) enum Tag {
    /// Operator routes: tenants and their API keys (admin token).
    Admin,
    /// Data subjects: profiles, look-up, import, rectification, erasure, legal holds.
    Subjects,
    /// Consent: consent forms, giving and withdrawing, state and receipts.
    Consent,
    /// Purposes, forms and their records.
    Forms,
    /// Data-subject requests and their deadlines.
    Requests,
    /// The register of processing, its processors and recipients, the audit log, erasure
    /// receipts and batch plans.
    Accountability,
    /// Storage limitation: retention periods and the plan of the daily expiry.
    Retention,
    /// Webhooks: endpoints, signed deliveries, retries and replays, erasure confirmations.
    Webhooks,
    /// Personal data breaches: the register, the 72-hour clock, the people affected.
    Breaches,
}

/// The context of a read.
pub(crate) fn reader(key: &TenantKey) -> Ctx {
    Ctx::new(key.0.tenant, Actor::ApiKey(key.0.key))
}

/// The context of a write: refused for read-only keys.
pub(crate) fn writer(key: &TenantKey) -> Result<Ctx, ApiError> {
    if key.0.read_only {
        Err(ApiError::read_only())
    } else {
        Ok(reader(key))
    }
}

/// The default and largest page sizes.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// The page asked for: the items after the cursor `after` (a previous page's `next`), which
/// costs the same however deep the page, then `offset` of them skipped (which reads every
/// item it skips).
pub(crate) fn page(
    offset: Option<u64>,
    limit: Option<u32>,
    after: Option<&str>,
) -> Result<Page, ApiError> {
    let after = match after {
        None => None,
        Some(text) => Some(parse_cursor(text).ok_or_else(|| {
            ApiError::bad_parameter(
                "after",
                "not a cursor this API gave: pass a page's `next` as it came",
            )
        })?),
    };
    Ok(Page {
        offset: offset.unwrap_or(0),
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        after,
    })
}

/// A cursor as the API gives it: opaque to callers, `<unix nanoseconds>.<id>` inside.
pub(crate) fn cursor_text(cursor: Cursor) -> String {
    format!(
        "{}.{}",
        cursor.at.unix_timestamp_nanos(),
        cursor.id.simple()
    )
}

/// A cursor [`cursor_text`] made; `None` for anything else.
pub(crate) fn parse_cursor(text: &str) -> Option<Cursor> {
    let (at, id) = text.split_once('.')?;
    Some(Cursor {
        at: time::OffsetDateTime::from_unix_timestamp_nanos(at.parse().ok()?).ok()?,
        id: Uuid::try_parse(id).ok()?,
    })
}

/// The cursor of the page after one that held `count` items and ended at `last`: none when
/// the page was not full (nothing comes after it).
pub(crate) fn next_page(page: Page, count: usize, last: Option<Cursor>) -> Option<String> {
    (count >= page.limit as usize)
        .then_some(last)
        .flatten()
        .map(cursor_text)
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let cursor = Cursor {
            at: time::OffsetDateTime::from_unix_timestamp_nanos(1_780_000_000_123_456_789).unwrap(),
            id: Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001),
        };
        let page = page(None, Some(10), Some(&cursor_text(cursor))).unwrap();
        assert_eq!(page.after, Some(cursor));
        for bad in [
            "",
            "1780000000",
            "x.0192",
            "1.not-a-uuid",
            "99999999999999999999999999.0192000000007000800000000000001",
        ] {
            assert!(super::page(None, None, Some(bad)).is_err(), "{bad:?}");
        }
        let both = super::page(Some(5), None, Some(&cursor_text(cursor))).unwrap();
        assert_eq!((both.offset, both.after), (5, Some(cursor)));
        assert_eq!(
            next_page(page, 9, Some(cursor)),
            None,
            "a short page is the last"
        );
        assert_eq!(next_page(page, 10, Some(cursor)), Some(cursor_text(cursor)));
    }
}
