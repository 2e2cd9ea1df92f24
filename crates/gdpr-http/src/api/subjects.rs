//! Subjects: register, read, look up, import, rectify, erase; their consents and legal holds.

use std::sync::Arc;

use gdpr_app::{App, AppError, ExportFormat, GiveConsent, NewSubject, Rectification};
use gdpr_consent::ContentHash;
use gdpr_pii::{ConsentFormId, FormId, IpAddress, RequestId, SubjectId};
use gdpr_ports::{Cursor, Ports};
use gdpr_rights::ErasureStatus;
use poem::Body;
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use uuid::Uuid;

use crate::api::{Tag, next_page, page, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{
    ConsentCheckOut, ConsentIn, ConsentReceiptOut, ConsentStateOut, CursorParam, ExportFormatIn,
    ExportIn, ExportOut, HoldIn, HoldOut, ImportError, ImportOut, LimitIn, LimitKindIo, LimitOut,
    LookupIn, PurposeParam, ReceiptOut, RectifyIn, SubjectIn, SubjectOut, SubjectPage,
};
use crate::ndjson::Ndjson;
use crate::problem::{ApiError, Problem};
use crate::spool::{Spool, SpooledJson};

/// The longest line an import accepts.
const MAX_LINE: u64 = 64 * 1024;
/// Lines stored per transaction. Each subject's blind index lands on a random page of the
/// e-mail index, so a transaction rewrites most of that index's pages whatever its size: five
/// thousand lines share those writes five times better than a thousand (bulk import went from
/// about 21,000 to 26,000 subjects/s in `cargo xtask bench storage`). A parsed line is well under
/// a kilobyte, so a batch stays a few megabytes.
const IMPORT_BATCH: usize = 5_000;
/// The most lines one import request may hold.
const MAX_LINES: u64 = 1_000_000;
/// The most refused lines reported one by one (the count covers them all).
const MAX_REPORTED: usize = 1_000;
/// Bytes of accepted lines held before they are stored: a batch is stored when it reaches
/// [`IMPORT_BATCH`] lines or this many bytes, whichever comes first.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The most bytes one import request may hold.
const MAX_IMPORT_BYTES: u64 = 512 * 1024 * 1024;
/// The longest value each field of an import line may have, in characters: the parsers'
/// own limits (an e-mail 254, a name 256, an IP address's text 45). A longer value is refused
/// when its line is read, so that an import never holds more than these per line.
const FIELD_LIMITS: [(&str, usize); 3] = [("email", 254), ("full_name", 256), ("ip_address", 45)];

impl ImportOut {
    fn refuse(&mut self, line: u64, field: String, reason: String) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(ImportError {
                line,
                field,
                reason,
            });
        }
    }
}

/// A problem that stops an import, saying how far it got: lines before it that were
/// imported stay imported.
fn import_problem(status: StatusCode, kind: &str, why: &str, out: &ImportOut) -> ApiError {
    ApiError::from_problem(Problem::new(
        status,
        kind,
        "Import stopped",
        format!(
            "{why}; before stopping, {} lines were imported and {} refused",
            out.imported, out.failed
        ),
    ))
}

/// 201 with the created subject.
#[derive(ApiResponse)]
pub(crate) enum SubjectCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<SubjectOut>),
}

/// 201 with a restriction or objection.
#[derive(ApiResponse)]
pub(crate) enum LimitCreated {
    /// Placed.
    #[oai(status = 201)]
    Created(Json<LimitOut>),
}

/// 201 with an export's ticket.
#[derive(ApiResponse)]
pub(crate) enum ExportCreated {
    /// Made; download it before it expires.
    #[oai(status = 201)]
    Created(Json<ExportOut>),
}

/// An export's ciphertext.
#[derive(ApiResponse)]
pub(crate) enum ExportDownload {
    /// The OpenPGP message.
    #[oai(status = 200, content_type = "application/pgp-encrypted")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

/// 201 with a consent receipt.
#[derive(ApiResponse)]
pub(crate) enum ReceiptCreated {
    /// Recorded; the body is the Kantara-style consent receipt.
    #[oai(status = 201)]
    Created(Json<ConsentReceiptOut>),
}

/// 201 with a legal hold.
#[derive(ApiResponse)]
pub(crate) enum HoldCreated {
    /// Placed.
    #[oai(status = 201)]
    Created(Json<HoldOut>),
}

fn subject_id(id: &Path<Uuid>) -> SubjectId {
    SubjectId::from_uuid(id.0)
}

fn maybe<T: Into<String>>(v: MaybeUndefined<T>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v.into())),
    }
}

fn how(body: &ConsentIn) -> Result<GiveConsent, ApiError> {
    let source_ip = body
        .source_ip
        .as_deref()
        .map(IpAddress::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("source_ip", e.to_string()))?;
    let version = body
        .version
        .as_deref()
        .map(ContentHash::parse)
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                "version",
                "expected the 64-hex-digit SHA-256 of a published version",
            )
        })?;
    Ok(GiveConsent {
        method: body.method.into(),
        source_ip,
        version,
    })
}

/// Parses one import line into a subject, or says which field is wrong.
fn import_line(line: &str) -> Result<NewSubject, (String, String)> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        (
            String::new(),
            format!(
                "not a JSON object: {}",
                crate::problem::sanitise(&e.to_string())
            ),
        )
    })?;
    let Value::Object(map) = value else {
        return Err((String::new(), "each line must be a JSON object".into()));
    };
    let mut new = NewSubject::default();
    for (key, value) in map {
        let slot = match key.as_str() {
            "email" => &mut new.email,
            "full_name" => &mut new.full_name,
            "ip_address" => &mut new.ip_address,
            _ => {
                let shown =
                    if key.len() <= 64 && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                        key
                    } else {
                        "<unknown>".into()
                    };
                return Err((
                    shown,
                    "unknown field: expected email, full_name or ip_address".into(),
                ));
            }
        };
        *slot = match value {
            Value::Null => None,
            Value::String(s) => {
                let limit = FIELD_LIMITS
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map_or(0, |(_, limit)| *limit);
                if s.trim().chars().count() > limit {
                    return Err((key, format!("longer than {limit} characters")));
                }
                Some(s)
            }
            _ => return Err((key, "expected a string or null".into())),
        };
    }
    Ok(new)
}

pub(crate) struct SubjectsApi<P: Ports>(pub(crate) Arc<App<P>>);

impl<P: Ports> SubjectsApi<P> {
    /// Imports the lines gathered so far and records each one's outcome.
    async fn flush(
        &self,
        ctx: gdpr_app::Ctx,
        pending: &mut Vec<(u64, NewSubject)>,
        out: &mut ImportOut,
        ids: &mut Spool,
    ) -> Result<(), ApiError> {
        if pending.is_empty() {
            return Ok(());
        }
        let (lines, batch): (Vec<u64>, Vec<NewSubject>) = pending.drain(..).unzip();
        let results = match self.0.import_subjects(ctx, batch).await {
            Ok(results) => results,
            Err(e) => {
                let why = ApiError::from(e);
                tracing::warn!(
                    imported = out.imported,
                    "import stopped by a storage failure"
                );
                let status = match &why {
                    ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return Err(import_problem(status, "unavailable", "storage failed", out));
            }
        };
        for (line, result) in lines.into_iter().zip(results) {
            let (field, reason) = match result {
                Ok(s) => {
                    out.imported += 1;
                    ids.push(&format!("\"{}\"", s.id)).await.map_err(|_| {
                        import_problem(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            "the answer could not be written",
                            out,
                        )
                    })?;
                    continue;
                }
                Err(AppError::InvalidInput { field, reason }) => (field.to_owned(), reason),
                Err(AppError::Conflict(rule)) => ("email".to_owned(), rule),
                Err(other) => return Err(other.into()),
            };
            out.refuse(line, field, reason);
        }
        Ok(())
    }
}

#[OpenApi(tag = "Tag::Subjects")]
impl<P: Ports> SubjectsApi<P> {
    /// Register a subject.
    #[oai(path = "/subjects", method = "post")]
    async fn create(
        &self,
        auth: TenantKey,
        body: Json<SubjectIn>,
    ) -> Result<SubjectCreated, ApiError> {
        let ctx = writer(&auth)?;
        let body = body.0;
        let new = NewSubject {
            email: body.email.map(Into::into),
            full_name: body.full_name.map(Into::into),
            ip_address: body.ip_address.map(Into::into),
        };
        let s = self.0.register_subject(ctx, new).await?;
        Ok(SubjectCreated::Created(Json(convert::subject(s))))
    }

    /// List subjects, oldest first. Page with `after` (the `next` of the page before): every
    /// page then costs the same, while `offset` reads every subject it skips.
    #[oai(path = "/subjects", method = "get")]
    async fn list(
        &self,
        auth: TenantKey,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))] offset: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
        after: Query<Option<CursorParam>>,
    ) -> Result<Json<SubjectPage>, ApiError> {
        let page = page(offset.0, limit.0, after.0.as_deref())?;
        let items = self.0.subjects(reader(&auth), page).await?;
        let last = items.last().map(|s| Cursor {
            at: s.created_at,
            id: *s.id.as_uuid(),
        });
        Ok(Json(SubjectPage {
            next: next_page(page, items.len(), last),
            items: items.into_iter().map(convert::subject).collect(),
            offset: page.offset,
            limit: page.limit,
        }))
    }

    /// Read a subject.
    #[oai(path = "/subjects/:id", method = "get")]
    async fn get(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<SubjectOut>, ApiError> {
        Ok(Json(convert::subject(
            self.0.subject(reader(&auth), subject_id(&id)).await?,
        )))
    }

    /// Rectify a subject (Art. 16): absent fields are kept, `null` clears a field.
    #[oai(path = "/subjects/:id", method = "patch")]
    async fn rectify(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<RectifyIn>,
    ) -> Result<Json<SubjectOut>, ApiError> {
        let ctx = writer(&auth)?;
        let body = body.0;
        let change = Rectification {
            email: maybe(body.email),
            full_name: maybe(body.full_name),
            ip_address: maybe(body.ip_address),
        };
        Ok(Json(convert::subject(
            self.0.rectify_subject(ctx, subject_id(&id), change).await?,
        )))
    }

    /// Erase a subject everywhere (Art. 17) and return the receipt. With `request`, that
    /// erasure request is closed. A legal hold blocks erasure: 409, and nothing is erased.
    #[oai(path = "/subjects/:id", method = "delete")]
    async fn erase(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        request: Query<Option<Uuid>>,
    ) -> Result<Json<ReceiptOut>, ApiError> {
        let ctx = writer(&auth)?;
        let receipt = self
            .0
            .erase_subject(ctx, subject_id(&id), request.0.map(RequestId::from_uuid))
            .await?;
        if receipt.status() == ErasureStatus::Blocked {
            // The hold's reason is free text: it is in the receipt, not in an error body.
            return Err(ApiError::from_problem(Problem::new(
                StatusCode::CONFLICT,
                "erasure-blocked",
                "Erasure blocked",
                format!(
                    "an active legal hold blocks erasure; nothing was erased; the receipt {} says why",
                    receipt.id
                ),
            )));
        }
        tracing::info!(target: "security", event = "subject_erased", subject = %receipt.subject, receipt = %receipt.id, "subject erased");
        Ok(Json(convert::receipt(receipt)))
    }

    /// Find a subject by e-mail (sent in the body so that it never appears in a URL).
    #[oai(path = "/subjects/lookup", method = "post")]
    async fn lookup(
        &self,
        auth: TenantKey,
        body: Json<LookupIn>,
    ) -> Result<Json<SubjectOut>, ApiError> {
        Ok(Json(convert::subject(
            self.0
                .find_subject_by_email(reader(&auth), &body.email)
                .await?,
        )))
    }

    /// Import subjects from NDJSON, one `{"email", "full_name", "ip_address"}` object per
    /// line, streamed. Each line is imported whole or refused whole, with its reason; a
    /// storage failure stops the import (lines before it stay imported). The answer is
    /// streamed: its `ids` are kept in a temporary file while the import runs, not in memory.
    #[oai(path = "/subjects/import", method = "post")]
    async fn import(
        &self,
        auth: TenantKey,
        body: Ndjson,
    ) -> Result<SpooledJson<ImportOut>, ApiError> {
        let ctx = writer(&auth)?;
        let unwritable = |out: &ImportOut| {
            import_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the answer could not be written",
                out,
            )
        };
        let mut reader = BufReader::new(Body::into_async_read(body.0));
        let mut out = ImportOut {
            imported: 0,
            failed: 0,
            ids: Vec::new(),
            errors: Vec::new(),
        };
        let mut ids = Spool::new().map_err(|_| unwritable(&out))?;
        let mut buf = Vec::new();
        let mut line_no = 0;
        let mut pending = Vec::with_capacity(IMPORT_BATCH);
        let (mut pending_bytes, mut total_bytes) = (0, 0u64);
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut buf)
                .await
                .map_err(|_| {
                    import_problem(
                        StatusCode::BAD_REQUEST,
                        "malformed-body",
                        "the body could not be read",
                        &out,
                    )
                })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            total_bytes += n as u64;
            if total_bytes > MAX_IMPORT_BYTES {
                return Err(import_problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "import-too-large",
                    &format!("an import holds at most {MAX_IMPORT_BYTES} bytes: split it"),
                    &out,
                ));
            }
            if line_no > MAX_LINES {
                return Err(import_problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-many-lines",
                    &format!("an import holds at most {MAX_LINES} lines: split it"),
                    &out,
                ));
            }
            if buf.len() as u64 > MAX_LINE {
                return Err(import_problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "line-too-long",
                    &format!("line {line_no} is longer than {MAX_LINE} bytes"),
                    &out,
                ));
            }
            let parsed = match std::str::from_utf8(&buf) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => import_line(text.trim()),
                Err(_) => Err((String::new(), "the line is not valid UTF-8".to_owned())),
            };
            match parsed {
                Err((field, reason)) => out.refuse(line_no, field, reason),
                Ok(new) => {
                    pending_bytes += n;
                    pending.push((line_no, new));
                    if pending.len() >= IMPORT_BATCH || pending_bytes >= BATCH_BYTES {
                        self.flush(ctx, &mut pending, &mut out, &mut ids).await?;
                        pending_bytes = 0;
                    }
                }
            }
        }
        self.flush(ctx, &mut pending, &mut out, &mut ids).await?;
        out.errors.sort_by_key(|e| e.line);
        let errors = poem_openapi::types::ToJSON::to_json(&out.errors)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "[]".to_owned());
        let head = format!(
            r#"{{"imported":{},"failed":{},"errors":{errors},"ids":["#,
            out.imported, out.failed
        );
        ids.answer(head, "]}".to_owned())
            .await
            .map_err(|_| unwritable(&out))
    }

    /// Where the subject stands with each consent form.
    #[oai(path = "/subjects/:id/consents", method = "get")]
    async fn consents(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<ConsentStateOut>>, ApiError> {
        let state = self.0.consent_state(reader(&auth), subject_id(&id)).await?;
        Ok(Json(
            state.into_iter().map(convert::consent_state).collect(),
        ))
    }

    /// Record that the subject gives consent; returns the consent receipt.
    #[oai(path = "/subjects/:id/consents", method = "post")]
    async fn give(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<ConsentIn>,
    ) -> Result<ReceiptCreated, ApiError> {
        let ctx = writer(&auth)?;
        let form = ConsentFormId::from_uuid(body.consent_form);
        let receipt = self
            .0
            .give_consent(ctx, subject_id(&id), form, how(&body)?)
            .await?;
        Ok(ReceiptCreated::Created(Json(convert::consent_receipt(
            receipt,
        ))))
    }

    /// Record that the subject withdraws consent, effective at once; returns the receipt.
    #[oai(path = "/subjects/:id/consents/withdraw", method = "post")]
    async fn withdraw(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<ConsentIn>,
    ) -> Result<ReceiptCreated, ApiError> {
        let ctx = writer(&auth)?;
        let form = ConsentFormId::from_uuid(body.consent_form);
        let receipt = self
            .0
            .withdraw_consent(ctx, subject_id(&id), form, how(&body)?)
            .await?;
        Ok(ReceiptCreated::Created(Json(convert::consent_receipt(
            receipt,
        ))))
    }

    /// Every consent receipt of the subject, oldest first.
    #[oai(path = "/subjects/:id/consents/receipts", method = "get")]
    async fn receipts(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<ConsentReceiptOut>>, ApiError> {
        let receipts = self
            .0
            .consent_receipts(reader(&auth), subject_id(&id))
            .await?;
        Ok(Json(
            receipts.into_iter().map(convert::consent_receipt).collect(),
        ))
    }

    /// Whether the subject currently consents to a purpose.
    #[oai(path = "/subjects/:id/consent-check", method = "get")]
    async fn check(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        purpose: Query<PurposeParam>,
    ) -> Result<Json<ConsentCheckOut>, ApiError> {
        let check = self
            .0
            .processing_check(reader(&auth), subject_id(&id), &purpose.0)
            .await?;
        Ok(Json(ConsentCheckOut {
            purpose: purpose.0.0.0,
            consented: check.consented,
            may_process: check.may_process,
            blocked_by: check.blocked.map(|b| b.kind.into()),
        }))
    }

    /// Restrict processing (Art. 18: all of the subject's data is only stored) or object to it
    /// (Art. 21: processing under legitimate interests stops, for one purpose or all). Records
    /// for a forbidden purpose are then refused with 409 and the consent check says so.
    #[oai(path = "/subjects/:id/limits", method = "post")]
    async fn limit(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<LimitIn>,
    ) -> Result<LimitCreated, ApiError> {
        let ctx = writer(&auth)?;
        let body = body.0.into_inner();
        if matches!(body.kind, LimitKindIo::Restriction) && body.purpose.is_null() {
            // Named even as `null`, as the documented shape of a restriction says.
            return Err(ApiError::invalid(
                "purpose",
                "a restriction covers all of the subject's data and names no purpose",
            ));
        }
        let limit = self
            .0
            .place_limit(
                ctx,
                subject_id(&id),
                body.kind.into(),
                body.purpose.value().map(|p| &**p),
                &body.reason,
            )
            .await?;
        Ok(LimitCreated::Created(Json(convert::limit(&limit))))
    }

    /// A subject's restrictions and objections, in force and lifted.
    #[oai(path = "/subjects/:id/limits", method = "get")]
    async fn limits(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<LimitOut>>, ApiError> {
        let limits = self.0.limits(reader(&auth), subject_id(&id)).await?;
        Ok(Json(limits.iter().map(convert::limit).collect()))
    }

    /// Lift a restriction or objection.
    #[oai(path = "/subjects/:id/limits/:limit_id", method = "delete")]
    async fn lift(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        limit_id: Path<Uuid>,
    ) -> Result<Json<LimitOut>, ApiError> {
        let ctx = writer(&auth)?;
        let limit = self.0.lift_limit(ctx, subject_id(&id), limit_id.0).await?;
        Ok(Json(convert::limit(&limit)))
    }

    /// Place a legal hold (Art. 17(3)): the subject cannot be erased while it is active.
    #[oai(path = "/subjects/:id/legal-holds", method = "post")]
    async fn hold(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<HoldIn>,
    ) -> Result<HoldCreated, ApiError> {
        let ctx = writer(&auth)?;
        let hold = self
            .0
            .place_legal_hold(ctx, subject_id(&id), body.ground.into(), &body.reason)
            .await?;
        Ok(HoldCreated::Created(Json(convert::hold(hold))))
    }

    /// Make an export of everything held about a subject (Art. 15), or of their records of one
    /// form as CSV (Art. 20). It is OpenPGP-encrypted to `recipient_key` (or the configured
    /// recipients; none: 409 and nothing is made), kept until `expires_at`, and downloadable
    /// once from `download`.
    #[oai(path = "/subjects/:id/exports", method = "post")]
    async fn export(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        body: Json<ExportIn>,
    ) -> Result<ExportCreated, ApiError> {
        let ctx = writer(&auth)?;
        let body = body.0.into_inner();
        let form = match body.form {
            MaybeUndefined::Undefined => None,
            // Given, even as `null`: only a csv export names a form.
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(form) => Some(Some(form)),
        };
        let format = match (body.format.unwrap_or(ExportFormatIn::Json), form) {
            (ExportFormatIn::Json, None) => ExportFormat::Json,
            (ExportFormatIn::Json, Some(_)) => {
                return Err(AppError::InvalidInput {
                    field: "form",
                    reason: "only a csv export names a form".into(),
                }
                .into());
            }
            (ExportFormatIn::Csv, Some(Some(form))) => ExportFormat::Csv {
                form: FormId::from_uuid(form),
            },
            (ExportFormatIn::Csv, None | Some(None)) => {
                return Err(AppError::InvalidInput {
                    field: "form",
                    reason: "a csv export needs the form whose records it holds".into(),
                }
                .into());
            }
        };
        let ticket = self
            .0
            .create_export(
                ctx,
                subject_id(&id),
                format,
                body.recipient_key.map(Into::into),
            )
            .await?;
        Ok(ExportCreated::Created(Json(convert::export(&ticket))))
    }

    /// Download an export, once: it is deleted as it is handed over (a second call answers
    /// 404; after `expires_at`, 410). The body is the OpenPGP message (`gpg --decrypt`).
    #[oai(path = "/exports/:id", method = "get")]
    async fn download_export(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<ExportDownload, ApiError> {
        let ctx = writer(&auth)?;
        let (ticket, sealed) = self.0.download_export(ctx, id.0).await?;
        let name = format!(
            "attachment; filename=\"export-{}.{}.pgp\"",
            ticket.id,
            match ticket.format {
                ExportFormat::Json => "json",
                ExportFormat::Csv { .. } => "csv",
            }
        );
        Ok(ExportDownload::Ok(Binary(sealed), name))
    }

    /// Release a legal hold.
    #[oai(path = "/subjects/:id/legal-holds/:hold_id", method = "delete")]
    async fn release(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
        hold_id: Path<Uuid>,
    ) -> Result<Json<HoldOut>, ApiError> {
        let ctx = writer(&auth)?;
        let hold = self
            .0
            .release_legal_hold(ctx, subject_id(&id), hold_id.0)
            .await?;
        Ok(Json(convert::hold(hold)))
    }
}

#[cfg(test)]
mod tests {
    use super::import_line;

    #[test]
    fn an_import_line_with_an_overlong_field_is_refused_before_it_is_held() {
        let long = "x".repeat(60_000);
        for field in ["email", "full_name", "ip_address"] {
            let line = serde_json::json!({ field: long }).to_string();
            let (named, reason) = import_line(&line).unwrap_err();
            assert_eq!(named, field);
            assert!(reason.starts_with("longer than"), "{reason}");
            assert!(!reason.contains("xxx"), "the value is not repeated");
        }
        // At the limit (surrounding blanks aside, which the parsers trim), a line is taken.
        let name = format!("  {}  ", "é".repeat(256));
        let taken = import_line(&serde_json::json!({ "full_name": name }).to_string()).unwrap();
        assert!(taken.full_name.is_some());
    }
}
