//! Exports for auditors: a tenant's requests and consent events over a period, paginated JSON
//! or one CSV file.

use std::sync::Arc;

use gdpr_app::{App, Period, consent_events_csv, requests_csv};
use gdpr_ports::{Cursor, Ports};
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::{Tag, next_page, page, reader};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{CursorParam, RequestOut};
use crate::problem::ApiError;

/// Rows one CSV file holds at most: a longer period is asked for in parts.
const CSV_ROWS: usize = 100_000;

/// A CSV file.
#[derive(ApiResponse)]
pub(crate) enum Csv {
    /// The rows, a header first (RFC 4180, every field quoted).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(PlainText<String>),
}

/// Requests received in a period.
#[derive(Object)]
pub(crate) struct AuditorRequestPage {
    /// The requests, oldest first.
    pub(crate) items: Vec<RequestOut>,
    /// Where the next page starts: pass it as `after`. Absent on the last page.
    pub(crate) next: Option<String>,
}

/// One consent event, as an auditor reads it.
#[derive(Object)]
pub(crate) struct ConsentEventOut {
    /// Its position in the tenant's consent history.
    pub(crate) position: u64,
    /// Its id (the receipt's).
    pub(crate) id: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// The consent form.
    pub(crate) consent_form: Uuid,
    /// The purpose.
    pub(crate) purpose: String,
    /// The hash of the version shown.
    pub(crate) form_version: String,
    /// `given` or `withdrawn`.
    pub(crate) action: String,
    /// When.
    pub(crate) at: OffsetDateTime,
    /// How it was collected or withdrawn.
    pub(crate) method: String,
    /// From where, pseudonymised (a /24 or /48).
    pub(crate) source: Option<String>,
}

/// Consent events recorded in a period.
#[derive(Object)]
pub(crate) struct ConsentEventPageOut {
    /// The events, in the order recorded.
    pub(crate) items: Vec<ConsentEventOut>,
    /// Where the next page starts: pass it as `after`. Absent on the last page.
    pub(crate) next: Option<u64>,
}

/// The period asked for; one that ends before it starts holds nothing (an empty answer, not
/// an error: the query is well-formed).
/// Every page `fetch` gives from `after` on (it answers a page and the cursor of the next,
/// if any), refused past [`CSV_ROWS`] rows with a problem naming `what`.
async fn all_pages<T, C, F>(
    what: &str,
    mut after: C,
    mut fetch: impl FnMut(C) -> F,
) -> Result<Vec<T>, ApiError>
where
    F: Future<Output = Result<(Vec<T>, Option<C>), ApiError>>,
{
    let mut all = Vec::new();
    loop {
        let (items, next) = fetch(after).await?;
        all.extend(items);
        if all.len() > CSV_ROWS {
            return Err(ApiError::bad_parameter(
                "to",
                &format!("more than 100,000 {what} in the period: ask for it in parts"),
            ));
        }
        match next {
            Some(next) => after = next,
            None => return Ok(all),
        }
    }
}

fn period(from: OffsetDateTime, to: OffsetDateTime) -> Option<Period> {
    Period::new(from, to).ok()
}

fn name(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn event_out((position, e): (u64, gdpr_consent::ConsentEvent)) -> ConsentEventOut {
    ConsentEventOut {
        position,
        id: e.id.0,
        subject: *e.subject.as_uuid(),
        consent_form: *e.form.as_uuid(),
        purpose: e.purpose.to_string(),
        form_version: e.form_version.to_string(),
        action: name(e.action),
        at: e.at,
        method: name(e.method),
        source: e.source.map(|s| s.to_string()),
    }
}

pub(crate) struct AuditorApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Accountability")]
impl<P: Ports> AuditorApi<P> {
    /// Requests received in `[from, to)`, oldest first, with their deadlines, extensions,
    /// identity verification and answers; page with `after`. Audited.
    #[oai(path = "/auditor/requests", method = "get")]
    async fn requests(
        &self,
        auth: TenantKey,
        from: Query<OffsetDateTime>,
        to: Query<OffsetDateTime>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<AuditorRequestPage>, ApiError> {
        let page = page(None, limit.0, after.0.as_deref())?;
        let Some(period) = period(from.0, to.0) else {
            return Ok(Json(AuditorRequestPage {
                items: Vec::new(),
                next: None,
            }));
        };
        let items = self
            .0
            .auditor_requests(reader(&auth), period, page.after, page.limit)
            .await?;
        let last = items.last().map(|v| Cursor {
            at: v.request.received_at,
            id: *v.request.id.as_uuid(),
        });
        let next = next_page(page, items.len(), last);
        Ok(Json(AuditorRequestPage {
            items: items.into_iter().map(convert::request).collect(),
            next,
        }))
    }

    /// The same requests as one CSV file (at most 100,000 rows: ask for a longer period in
    /// parts). Audited.
    #[oai(path = "/auditor/requests.csv", method = "get")]
    async fn requests_csv(
        &self,
        auth: TenantKey,
        from: Query<OffsetDateTime>,
        to: Query<OffsetDateTime>,
    ) -> Result<Csv, ApiError> {
        let Some(period) = period(from.0, to.0) else {
            return Ok(Csv::Ok(PlainText(requests_csv(&[]))));
        };
        let ctx = reader(&auth);
        let all = all_pages("requests", None, |after| {
            let app = Arc::clone(&self.0);
            async move {
                let items = app.auditor_requests(ctx, period, after, 1_000).await?;
                let next = (items.len() == 1_000)
                    .then(|| {
                        items.last().map(|v| Cursor {
                            at: v.request.received_at,
                            id: *v.request.id.as_uuid(),
                        })
                    })
                    .flatten();
                Ok((items, next.map(Some)))
            }
        })
        .await?;
        Ok(Csv::Ok(PlainText(requests_csv(&all))))
    }

    /// Consent events recorded in `[from, to)`, in the order recorded: given or withdrawn,
    /// the version shown, how, from where (pseudonymised); page with `after`. Audited.
    #[oai(path = "/auditor/consent-events", method = "get")]
    async fn consent_events(
        &self,
        auth: TenantKey,
        from: Query<OffsetDateTime>,
        to: Query<OffsetDateTime>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        #[oai(validator(minimum(value = "0"), maximum(value = "9000000000000000000")))]
        after: Query<Option<u64>>,
    ) -> Result<Json<ConsentEventPageOut>, ApiError> {
        let Some(period) = period(from.0, to.0) else {
            return Ok(Json(ConsentEventPageOut {
                items: Vec::new(),
                next: None,
            }));
        };
        let page = self
            .0
            .auditor_consent_events(
                reader(&auth),
                period,
                after.0.unwrap_or(0),
                limit.0.unwrap_or(crate::api::DEFAULT_LIMIT),
            )
            .await?;
        Ok(Json(ConsentEventPageOut {
            items: page.items.into_iter().map(event_out).collect(),
            next: page.next,
        }))
    }

    /// The same consent events as one CSV file (at most 100,000 rows). Audited.
    #[oai(path = "/auditor/consent-events.csv", method = "get")]
    async fn consent_events_csv(
        &self,
        auth: TenantKey,
        from: Query<OffsetDateTime>,
        to: Query<OffsetDateTime>,
    ) -> Result<Csv, ApiError> {
        let Some(period) = period(from.0, to.0) else {
            return Ok(Csv::Ok(PlainText(consent_events_csv(&[]))));
        };
        let ctx = reader(&auth);
        let all = all_pages("consent events", 0, |after| {
            let app = Arc::clone(&self.0);
            async move {
                let page = app
                    .auditor_consent_events(ctx, period, after, 1_000)
                    .await?;
                Ok((page.items, page.next))
            }
        })
        .await?;
        Ok(Csv::Ok(PlainText(consent_events_csv(&all))))
    }
}
