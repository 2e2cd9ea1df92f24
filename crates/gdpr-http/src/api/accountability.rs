//! The register of processing, the audit log, erasure receipts and batch-erasure dry runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use gdpr_app::App;
use gdpr_audit::{ChainBreak, ChainHead};
use gdpr_consent::PurposeId;
use gdpr_pii::{ConsentFormId, FormId, SubjectId};
use gdpr_ports::Ports;
use gdpr_rights::BatchSelector;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::api::{Tag, reader, writer};
use crate::auth::TenantKey;
use crate::convert;
use crate::dto::{
    AttestationOut, AuditRecordOut, AuditVerifyOut, BatchErasureOut, BatchPlanOut, ReceiptOut,
    RecordDeletionOut, RecordDeletionPlanOut, RegisterOut, SelectBy, SelectorIn,
};
use crate::problem::ApiError;

/// 202: a batch erasure started.
#[derive(ApiResponse)]
pub(crate) enum BatchStarted {
    /// Started; a worker erases the subjects.
    #[oai(status = 202)]
    Accepted(Json<BatchErasureOut>),
}

/// 202: a batch deletion of records started.
#[derive(ApiResponse)]
pub(crate) enum DeletionStarted {
    /// Started; a worker deletes the records.
    #[oai(status = 202)]
    Accepted(Json<RecordDeletionOut>),
}

/// A document as Markdown (the register, a breach notification draft).
#[derive(ApiResponse)]
pub(crate) enum Markdown {
    /// The document, for humans.
    #[oai(status = 200, content_type = "text/markdown; charset=utf-8")]
    Ok(PlainText<String>),
}

pub(crate) fn selector(body: SelectorIn) -> Result<BatchSelector, ApiError> {
    let body = body.into_inner();
    // A field the kind does not use is refused, not ignored: a selection that does not say
    // what its author meant must not erase anything.
    let given = [
        ("form", !body.form.is_undefined()),
        ("from", !body.from.is_undefined()),
        ("to", !body.to.is_undefined()),
        ("field", !body.field.is_undefined()),
        ("value", !body.value.is_undefined()),
        ("subjects", !body.subjects.is_undefined()),
        ("consent_form", !body.consent_form.is_undefined()),
        ("purpose", !body.purpose.is_undefined()),
        ("state", !body.state.is_undefined()),
    ];
    let takes: &[&str] = match body.by {
        SelectBy::Form => &["form"],
        SelectBy::CreatedBetween => &["form", "from", "to"],
        SelectBy::FieldEquals => &["form", "field", "value"],
        SelectBy::Subjects => &["subjects"],
        SelectBy::ConsentForm => &["consent_form"],
        SelectBy::ConsentState => &["purpose", "state"],
    };
    if let Some((name, _)) = given
        .iter()
        .find(|(name, present)| *present && !takes.contains(name))
    {
        return Err(ApiError::invalid(
            name,
            "not used by this kind of selection",
        ));
    }
    let need_form = || {
        body.form
            .value()
            .copied()
            .map(FormId::from_uuid)
            .ok_or_else(|| ApiError::invalid("form", "required for this selection"))
    };
    Ok(match body.by {
        SelectBy::Form => BatchSelector::Form { form: need_form()? },
        SelectBy::CreatedBetween => {
            let from = body
                .from
                .value()
                .copied()
                .ok_or_else(|| ApiError::invalid("from", "required for created_between"))?;
            let to = body
                .to
                .value()
                .copied()
                .ok_or_else(|| ApiError::invalid("to", "required for created_between"))?;
            // `to <= from` is an empty range: it selects nobody (a dry run shows 0), as the
            // document's schema, which cannot compare two fields, allows it.
            BatchSelector::CreatedBetween {
                from,
                to,
                form: body.form.value().copied().map(FormId::from_uuid),
            }
        }
        SelectBy::FieldEquals => BatchSelector::FieldEquals {
            form: need_form()?,
            field: body
                .field
                .value()
                .map(|f| f.0.clone())
                .ok_or_else(|| ApiError::invalid("field", "required for field_equals"))?,
            value: match body.value.clone() {
                MaybeUndefined::Value(value) => value,
                MaybeUndefined::Null => serde_json::Value::Null,
                MaybeUndefined::Undefined => {
                    return Err(ApiError::invalid("value", "required for field_equals"));
                }
            },
        },
        SelectBy::ConsentForm => BatchSelector::ConsentForm {
            consent_form: body
                .consent_form
                .value()
                .copied()
                .map(ConsentFormId::from_uuid)
                .ok_or_else(|| ApiError::invalid("consent_form", "required for consent_form"))?,
        },
        SelectBy::ConsentState => BatchSelector::ConsentState {
            purpose: body
                .purpose
                .value()
                .ok_or_else(|| ApiError::invalid("purpose", "required for consent_state"))
                .and_then(|p| {
                    PurposeId::parse(&p.0).map_err(|e| ApiError::invalid("purpose", e.to_string()))
                })?,
            state: body
                .state
                .value()
                .copied()
                .ok_or_else(|| ApiError::invalid("state", "required for consent_state"))?
                .into(),
        },
        SelectBy::Subjects => {
            let ids = body
                .subjects
                .value()
                .cloned()
                .ok_or_else(|| ApiError::invalid("subjects", "required for subjects"))?;
            BatchSelector::Subjects {
                ids: ids
                    .into_iter()
                    .map(SubjectId::from_uuid)
                    .collect::<BTreeSet<_>>(),
            }
        }
    })
}

/// What verifying a hash chain (audit records, attestations) found, for the wire.
fn chain_verdict(result: Result<ChainHead, ChainBreak>) -> AuditVerifyOut {
    match result {
        Ok(head) => AuditVerifyOut {
            valid: true,
            records: head.records,
            head: Some(head.head.to_string()),
            problem: None,
            broken_at: None,
            checked_from: 1,
        },
        Err(broken) => {
            let at = match broken {
                ChainBreak::Altered { seq }
                | ChainBreak::BrokenLink { seq }
                | ChainBreak::ForeignRecord { seq } => seq,
                ChainBreak::OutOfSequence { expected, .. } => expected,
            };
            AuditVerifyOut {
                valid: false,
                records: at.saturating_sub(1),
                head: None,
                problem: Some(broken.to_string()),
                broken_at: Some(at),
                checked_from: 1,
            }
        }
    }
}

pub(crate) struct AccountabilityApi<P: Ports>(pub(crate) Arc<App<P>>);

#[OpenApi(tag = "Tag::Accountability")]
impl<P: Ports> AccountabilityApi<P> {
    /// The record of processing activities (Art. 30), generated from the inventory.
    #[oai(path = "/register", method = "get")]
    async fn register(&self, auth: TenantKey) -> Result<Json<RegisterOut>, ApiError> {
        let register = self.0.processing_register(reader(&auth)).await?;
        Ok(Json(convert::register(register)))
    }

    /// The same register as Markdown.
    #[oai(path = "/register.md", method = "get")]
    async fn register_markdown(&self, auth: TenantKey) -> Result<Markdown, ApiError> {
        let register = self.0.processing_register(reader(&auth)).await?;
        Ok(Markdown::Ok(PlainText(register.to_markdown())))
    }

    /// The tenant's audit records after sequence number `after`.
    #[oai(path = "/audit", method = "get")]
    async fn audit(
        &self,
        auth: TenantKey,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))] after: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<AuditRecordOut>>, ApiError> {
        let records = self
            .0
            .audit_log(reader(&auth), after.0.unwrap_or(0), limit.0.unwrap_or(100))
            .await?;
        Ok(Json(
            records.into_iter().map(convert::audit_record).collect(),
        ))
    }

    /// Verify the tenant's audit chain: any edited, removed or reordered record is named. By
    /// default from where this server last found the chain intact (the record there must be
    /// unchanged, and every one after it follow), so the check costs what was written since;
    /// `full=true` checks every record from the first (the daily attestation always does).
    #[oai(path = "/audit/verify", method = "get")]
    async fn verify(
        &self,
        auth: TenantKey,
        full: Query<Option<bool>>,
    ) -> Result<Json<AuditVerifyOut>, ApiError> {
        let tenant = Some(auth.0.tenant);
        let (result, from) = if full.0.unwrap_or(false) {
            (self.0.verify_audit(tenant).await?, 1)
        } else {
            self.0.verify_audit_since_last(tenant).await?
        };
        let mut verdict = chain_verdict(result);
        verdict.checked_from = from;
        Ok(Json(verdict))
    }

    /// The tenant's attestations, oldest first: each day's dated, hash-chained statement of
    /// what was checked (backups within retention, the newest verified, the audit chain, no
    /// overdue request, the tombstones holding, the log files clean) and what it found.
    #[oai(path = "/attestations", method = "get")]
    async fn attestations(
        &self,
        auth: TenantKey,
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))] after: Query<
            Option<u64>,
        >,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<AttestationOut>>, ApiError> {
        let list = self
            .0
            .attestations(reader(&auth), after.0.unwrap_or(0), limit.0.unwrap_or(100))
            .await?;
        Ok(Json(list.into_iter().map(convert::attestation).collect()))
    }

    /// Verify the tenant's attestation chain: any edited, removed or reordered attestation is
    /// named.
    #[oai(path = "/attestations/verify", method = "get")]
    async fn verify_attestations(&self, auth: TenantKey) -> Result<Json<AuditVerifyOut>, ApiError> {
        let result = self.0.verify_attestation_chain(reader(&auth)).await?;
        Ok(Json(chain_verdict(result)))
    }

    /// An erasure receipt.
    #[oai(path = "/erasure-receipts/:id", method = "get")]
    async fn receipt(&self, auth: TenantKey, id: Path<Uuid>) -> Result<Json<ReceiptOut>, ApiError> {
        Ok(Json(convert::receipt(
            self.0.erasure_receipt(reader(&auth), id.0).await?,
        )))
    }

    /// Dry run of a batch erasure: how many subjects and records a selection would erase.
    /// Changes nothing.
    #[oai(path = "/erasures/plan", method = "post")]
    async fn plan(
        &self,
        auth: TenantKey,
        body: Json<SelectorIn>,
    ) -> Result<Json<BatchPlanOut>, ApiError> {
        let selector = selector(body.0)?;
        let plan = self.0.plan_batch_erasure(reader(&auth), &selector).await?;
        Ok(Json(BatchPlanOut {
            subjects: plan.subjects.iter().map(|s| *s.as_uuid()).collect(),
            records: plan.records,
            blocked: plan.blocked.iter().map(|s| *s.as_uuid()).collect(),
            unknown: plan.unknown,
        }))
    }

    /// Start a batch erasure of what the selection picks (the same selection as the dry run):
    /// a durable job erases each subject in its own transaction, with its own receipt, records
    /// its progress, and resumes after a crash or restart. Follow it at `status`.
    #[oai(path = "/erasures", method = "post")]
    async fn start_batch(
        &self,
        auth: TenantKey,
        body: Json<SelectorIn>,
    ) -> Result<BatchStarted, ApiError> {
        let ctx = writer(&auth)?;
        let selector = selector(body.0)?;
        let (id, _) = self.0.start_batch_erasure(ctx, selector).await?;
        let batch = self.0.batch_erasure(ctx, id).await?;
        Ok(BatchStarted::Accepted(Json(convert::batch(batch))))
    }

    /// Dry run of a batch deletion of records (not subjects): how many the selection would
    /// delete, and how many a legal hold keeps. Changes nothing.
    #[oai(path = "/records/deletions/plan", method = "post")]
    async fn plan_record_deletion(
        &self,
        auth: TenantKey,
        body: Json<SelectorIn>,
    ) -> Result<Json<RecordDeletionPlanOut>, ApiError> {
        let selector = selector(body.0)?;
        let plan = self
            .0
            .plan_record_deletion(reader(&auth), &selector)
            .await?;
        Ok(Json(convert::deletion_plan(plan)))
    }

    /// Start a batch deletion of the selected records as a durable job (resumed after a crash
    /// or restart); the subjects stay. Follow it at `status`.
    #[oai(path = "/records/deletions", method = "post")]
    async fn start_record_deletion(
        &self,
        auth: TenantKey,
        body: Json<SelectorIn>,
    ) -> Result<DeletionStarted, ApiError> {
        let ctx = writer(&auth)?;
        let selector = selector(body.0)?;
        let (id, _) = self.0.start_record_deletion(ctx, selector).await?;
        let deletion = self.0.record_deletion(ctx, id).await?;
        Ok(DeletionStarted::Accepted(Json(convert::record_deletion(
            deletion,
        ))))
    }

    /// A batch deletion of records: its progress, and its summary once done.
    #[oai(path = "/records/deletions/:id", method = "get")]
    async fn record_deletion_status(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<RecordDeletionOut>, ApiError> {
        let deletion = self.0.record_deletion(reader(&auth), id.0).await?;
        Ok(Json(convert::record_deletion(deletion)))
    }

    /// A batch erasure's progress, and its summary once done.
    #[oai(path = "/erasures/:id", method = "get")]
    async fn batch_status(
        &self,
        auth: TenantKey,
        id: Path<Uuid>,
    ) -> Result<Json<BatchErasureOut>, ApiError> {
        let batch = self.0.batch_erasure(reader(&auth), id.0).await?;
        Ok(Json(convert::batch(batch)))
    }
}
