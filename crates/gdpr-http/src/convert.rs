//! Domain values to wire values. The only place the API exposes personal data is here, for
//! successful reads by the tenant that owns it.

use gdpr_app::RequestView;
use gdpr_consent::{ConsentForm, ConsentStatus, Form, Purpose};
use gdpr_pii::{Record, Subject, Tenant};
use gdpr_ports::ApiKeyRecord;
use gdpr_rights::{ErasureReceipt, LegalHold, Outcome};

use crate::dto::{
    ConsentFormOut, ConsentStateOut, ConsentStatusDto, ExtensionOut, FieldOut, FormOut, HoldOut,
    KeyOut, PlaceOut, PurposeOut, ReceiptOut, RecordOut, RequestOut, SubjectOut, TenantOut,
    VersionOut,
};

pub(crate) fn tenant(t: Tenant) -> TenantOut {
    TenantOut {
        id: *t.id.as_uuid(),
        name: t.name,
        privacy_contact: t.privacy_contact,
        created_at: t.created_at,
    }
}

pub(crate) fn key(k: ApiKeyRecord) -> KeyOut {
    KeyOut {
        id: *k.id.as_uuid(),
        read_only: k.read_only,
        created_at: k.created_at,
        revoked_at: k.revoked_at,
    }
}

pub(crate) fn subject(s: Subject) -> SubjectOut {
    SubjectOut {
        id: *s.id.as_uuid(),
        email: s.email.map(|e| e.expose_pii().to_owned()),
        full_name: s.full_name.map(|n| n.expose_pii().to_owned()),
        ip_address: s.ip_address.map(|ip| ip.expose_pii().to_string()),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

pub(crate) fn purpose(p: Purpose) -> PurposeOut {
    PurposeOut {
        id: p.id.to_string(),
        description: p.description,
        lawful_basis: p.basis.into(),
        article: p.basis.article().to_owned(),
    }
}

pub(crate) fn form(f: Form) -> FormOut {
    FormOut {
        id: *f.id.as_uuid(),
        name: f.name,
        purpose: f.purpose.to_string(),
        consent_form: f.consent_form.map(|c| *c.as_uuid()),
        fields: f
            .schema
            .specs()
            .into_iter()
            .map(|s| FieldOut {
                name: s.name,
                kind: s.kind.into(),
                category: s.category.unwrap_or(gdpr_pii::PiiCategory::FreeText).into(),
                required: s.required,
            })
            .collect(),
        created_at: f.created_at,
    }
}

pub(crate) fn record(r: Record) -> RecordOut {
    RecordOut {
        id: *r.id.as_uuid(),
        form: *r.form.as_uuid(),
        subject: *r.subject.as_uuid(),
        values: r.values.expose_pii_json(),
        created_at: r.created_at,
    }
}

pub(crate) fn consent_form(f: ConsentForm) -> ConsentFormOut {
    ConsentFormOut {
        id: *f.id.as_uuid(),
        purpose: f.purpose.to_string(),
        title: f.title.clone(),
        versions: f
            .versions()
            .iter()
            .map(|v| VersionOut {
                number: v.number,
                hash: v.hash.to_string(),
                text: v.text.clone(),
                published_at: v.published_at,
                requires_reconsent: v.requires_reconsent,
            })
            .collect(),
    }
}

pub(crate) fn consent_state(v: gdpr_app::ConsentView) -> ConsentStateOut {
    let (status, at, version) = match v.status {
        ConsentStatus::Given { at, version } => {
            (ConsentStatusDto::Given, Some(at), Some(version.to_string()))
        }
        ConsentStatus::Withdrawn { at } => (ConsentStatusDto::Withdrawn, Some(at), None),
        ConsentStatus::ReconsentRequired { given_for } => (
            ConsentStatusDto::ReconsentRequired,
            None,
            Some(given_for.to_string()),
        ),
        ConsentStatus::NeverGiven => (ConsentStatusDto::NeverGiven, None, None),
    };
    ConsentStateOut {
        consent_form: *v.consent_form.as_uuid(),
        purpose: v.purpose.to_string(),
        status,
        at,
        version,
    }
}

pub(crate) fn request(v: RequestView) -> RequestOut {
    let r = v.request;
    RequestOut {
        id: *r.id.as_uuid(),
        subject: *r.subject.as_uuid(),
        kind: r.kind.into(),
        status: r.status.into(),
        received_at: r.received_at,
        due_date: v.due_date,
        overdue: v.overdue,
        extension: r.extension.map(|e| ExtensionOut {
            months: e.months,
            reason: e.reason,
            at: e.at,
        }),
        closed_at: r.closed_at,
        refusal_reason: r.refusal_reason,
    }
}

pub(crate) fn hold(h: LegalHold) -> HoldOut {
    HoldOut {
        id: h.id,
        subject: *h.subject.as_uuid(),
        ground: h.ground.into(),
        reason: h.reason,
        placed_at: h.placed_at,
        released_at: h.released_at,
    }
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn receipt(r: ErasureReceipt) -> ReceiptOut {
    ReceiptOut {
        id: r.id,
        subject: *r.subject.as_uuid(),
        request: r.request.map(|q| *q.as_uuid()),
        started_at: r.started_at,
        status: snake(&r.status()),
        places: r
            .places
            .iter()
            .map(|p| {
                let mut out = PlaceOut {
                    place: snake(&p.place),
                    outcome: String::new(),
                    at: None,
                    count: None,
                    attempts: None,
                    reason: None,
                };
                match &p.outcome {
                    Outcome::Planned => out.outcome = "planned".into(),
                    Outcome::Done { at, count } => {
                        out.outcome = "done".into();
                        out.at = Some(*at);
                        out.count = *count;
                    }
                    Outcome::Pending {
                        attempts,
                        last_error,
                        last_attempt,
                    } => {
                        out.outcome = "pending".into();
                        out.at = Some(*last_attempt);
                        out.attempts = Some(*attempts);
                        out.reason = Some(last_error.clone());
                    }
                    Outcome::Blocked { reason } => {
                        out.outcome = "blocked".into();
                        out.reason = Some(reason.clone());
                    }
                }
                out
            })
            .collect(),
    }
}

pub(crate) fn export(t: &gdpr_app::ExportTicket) -> crate::dto::ExportOut {
    let (format, form) = match t.format {
        gdpr_app::ExportFormat::Json => (crate::dto::ExportFormatIn::Json, None),
        gdpr_app::ExportFormat::Csv { form } => {
            (crate::dto::ExportFormatIn::Csv, Some(*form.as_uuid()))
        }
    };
    crate::dto::ExportOut {
        id: t.id,
        subject: *t.subject.as_uuid(),
        format,
        form,
        created_at: t.created_at,
        expires_at: t.expires_at,
        size: t.size,
        download: format!("/v1/exports/{}", t.id),
    }
}

pub(crate) fn limit(l: &gdpr_rights::ProcessingLimit) -> crate::dto::LimitOut {
    crate::dto::LimitOut {
        id: l.id,
        subject: *l.subject.as_uuid(),
        kind: l.kind.into(),
        article: l.kind.article().to_owned(),
        purpose: l.purpose.clone(),
        reason: l.reason.clone(),
        placed_at: l.placed_at,
        lifted_at: l.lifted_at,
        active: l.is_active(),
    }
}

fn progress<S>(b: &gdpr_app::BatchJob<S>, path: &str) -> crate::dto::JobProgressOut {
    crate::dto::JobProgressOut {
        id: b.id,
        state: b.state.to_owned(),
        done: b.done,
        total: b.total,
        attempts: b.attempts,
        last_error: b.last_error.clone(),
        status: format!("/v1/{path}/{}", b.id),
    }
}

pub(crate) fn batch(b: gdpr_app::BatchErasure) -> crate::dto::BatchErasureOut {
    crate::dto::BatchErasureOut {
        job: progress(&b, "erasures"),
        summary: b.summary.map(|s| crate::dto::BatchSummaryOut {
            erased: s.erased,
            records: s.records,
            blocked: s.blocked,
        }),
    }
}

pub(crate) const fn deletion_plan(
    p: gdpr_app::RecordDeletionPlan,
) -> crate::dto::RecordDeletionPlanOut {
    crate::dto::RecordDeletionPlanOut {
        records: p.records,
        subjects: p.subjects,
        blocked: p.blocked,
    }
}

pub(crate) fn record_deletion(d: gdpr_app::RecordDeletion) -> crate::dto::RecordDeletionOut {
    crate::dto::RecordDeletionOut {
        job: progress(&d, "records/deletions"),
        summary: d.summary.map(deletion_plan),
    }
}
