//! Exports for auditors (Art. 5(2), 30, 33(5)): a tenant's requests and consent events over a
//! period, a page at a time, as JSON or CSV. Ids, kinds, times and the answers' reasons;
//! nothing of a subject's profile. Every page is audited.

use gdpr_audit::AuditAction;
use gdpr_consent::ConsentEvent;
use gdpr_ports::{ConsentStore, Cursor, Page, Ports, RequestStore};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::export_delivery::csv_line;
use crate::{App, AppError, Ctx, RequestView};

/// A period, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start, inclusive.
    pub from: OffsetDateTime,
    /// End, exclusive.
    pub to: OffsetDateTime,
}

impl Period {
    /// The period, checked.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] on `to` when it is not after `from`.
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Result<Self, AppError> {
        if to <= from {
            return Err(AppError::invalid(
                "to",
                "the end of the period must come after its start",
            ));
        }
        Ok(Self { from, to })
    }

    fn holds(&self, at: OffsetDateTime) -> bool {
        self.from <= at && at < self.to
    }
}

/// A page of consent events, each with its position in the tenant's history.
#[derive(Debug, Clone)]
pub struct ConsentEventPage {
    /// The events in the period, in the order they were recorded.
    pub items: Vec<(u64, ConsentEvent)>,
    /// The position to pass as `after` for the next page; `None` on the last.
    pub next: Option<u64>,
}

/// How far one call reads the history for events of the period (a long history outside the
/// period is read over several calls, each answering with where to go on).
const SCAN: u32 = 5_000;

impl<P: Ports> App<P> {
    /// The requests received in `period`, oldest first, after `after` (a previous page's
    /// last). Audited.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn auditor_requests(
        &self,
        ctx: Ctx,
        period: Period,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<RequestView>, AppError> {
        let start = Cursor {
            at: period.from,
            id: Uuid::nil(),
        };
        let after = after
            .filter(|c| (c.at, c.id) > (start.at, start.id))
            .unwrap_or(start);
        let page = Page {
            offset: 0,
            limit,
            after: Some(after),
        };
        let items: Vec<RequestView> = self
            .store
            .list_requests(Some(ctx.tenant), page)
            .await
            .map_err(AppError::store)?
            .into_iter()
            .take_while(|r| r.received_at < period.to)
            .map(|r| self.view(r))
            .collect();
        self.audit(
            self.event(ctx, AuditAction::AuditorExport)
                .with("what", "requests")
                .with("items", items.len()),
        )
        .await?;
        Ok(items)
    }

    /// The consent events recorded in `period`, in the order recorded, after position `after`
    /// (0: from the first). Audited.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn auditor_consent_events(
        &self,
        ctx: Ctx,
        period: Period,
        after: u64,
        limit: u32,
    ) -> Result<ConsentEventPage, AppError> {
        let mut items = Vec::new();
        let mut position = after;
        let mut read = 0;
        let next = loop {
            let batch = self
                .store
                .consent_events_page(ctx.tenant, position, limit.max(100))
                .await
                .map_err(AppError::store)?;
            let Some((last, _)) = batch.last() else {
                break None;
            };
            let last = *last;
            read += batch.len() as u32;
            let mut full = false;
            for (seq, event) in batch {
                position = seq;
                if period.holds(event.at) {
                    items.push((seq, event));
                    if items.len() >= limit as usize {
                        full = true;
                        break;
                    }
                }
            }
            if full {
                break Some(position);
            }
            position = last;
            if read >= SCAN {
                break Some(position);
            }
        };
        self.audit(
            self.event(ctx, AuditAction::AuditorExport)
                .with("what", "consent_events")
                .with("items", items.len()),
        )
        .await?;
        Ok(ConsentEventPage { items, next })
    }
}

/// Requests as CSV, one line each, a header first.
#[must_use]
pub fn requests_csv(requests: &[RequestView]) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        [
            "id",
            "subject",
            "kind",
            "status",
            "received_at",
            "due_date",
            "overdue",
            "extended_months",
            "extension_reason",
            "identity_verified_by",
            "identity_method",
            "identity_verified_at",
            "closed_at",
            "refusal_reason",
        ]
        .map(str::to_owned),
    );
    let time = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    for v in requests {
        let r = &v.request;
        let verification = r.verification.as_ref();
        csv_line(
            &mut out,
            [
                r.id.to_string(),
                r.subject.to_string(),
                format!("{:?}", r.kind).to_lowercase(),
                format!("{:?}", r.status).to_lowercase(),
                time(r.received_at),
                v.due_date.to_string(),
                v.overdue.to_string(),
                r.extension
                    .as_ref()
                    .map(|e| e.months.to_string())
                    .unwrap_or_default(),
                r.extension
                    .as_ref()
                    .map(|e| e.reason.clone())
                    .unwrap_or_default(),
                verification.map(|x| x.by.clone()).unwrap_or_default(),
                verification
                    .map(|x| {
                        serde_json::to_value(x.method)
                            .ok()
                            .and_then(|m| m.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                verification.map(|x| time(x.at)).unwrap_or_default(),
                r.closed_at.map(time).unwrap_or_default(),
                r.refusal_reason.clone().unwrap_or_default(),
            ],
        );
    }
    out
}

/// Consent events as CSV, one line each, a header first.
#[must_use]
pub fn consent_events_csv(events: &[(u64, ConsentEvent)]) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        [
            "position",
            "id",
            "subject",
            "consent_form",
            "purpose",
            "form_version",
            "action",
            "at",
            "method",
            "source",
        ]
        .map(str::to_owned),
    );
    for (seq, e) in events {
        let name = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
        csv_line(
            &mut out,
            [
                seq.to_string(),
                e.id.0.to_string(),
                e.subject.to_string(),
                e.form.to_string(),
                e.purpose.to_string(),
                e.form_version.to_string(),
                name(serde_json::to_value(e.action).unwrap_or_default()),
                e.at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                name(serde_json::to_value(e.method).unwrap_or_default()),
                e.source.map(|s| s.to_string()).unwrap_or_default(),
            ],
        );
    }
    out
}
