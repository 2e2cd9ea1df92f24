//! Domain values to wire values. The only place the API exposes personal data is here, for
//! successful reads by the tenant that owns it.

use gdpr_app::RequestView;
use gdpr_consent::{ConsentForm, ConsentStatus, Form, Purpose};
use gdpr_pii::{Record, Subject, Tenant};
use gdpr_ports::{ApiKeyRecord, PolicyOverride};
use gdpr_retention::{RetentionPeriod, RetentionPolicy};
use gdpr_rights::{ErasureReceipt, LegalHold, Outcome};

use crate::dto::{
    ActivityOut, ActorKind, ActorOut, AttestationOut, AuditEventOut, AuditMarkOut, AuditRecordOut,
    CheckOut, ConsentFormOut, ConsentReceiptOut, ConsentStateOut, ConsentStatusDto, ControllerOut,
    ExpiryPlanOut, ExtensionOut, FieldOut, FormExpiryOut, FormOut, FormRetentionOut, HoldOut,
    InventoryEntryOut, InventoryOut, KeyOut, OutcomeDto, OverridesOut, PeriodsOut, PlaceOut,
    PurposeOut, ReceiptOut, ReceiptPurposeOut, ReceiptServiceOut, RecipientOut, RecordOut,
    RegisterOut, RequestOut, RetentionIn, RetentionOut, SubjectOut, TenantOut, TransferDto,
    VersionOut,
};
use crate::problem::ApiError;

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
        retention_days: f.retention.map(RetentionPeriod::as_days),
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
        retired_at: f.retired_at,
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
        verification: r.verification.map(|v| crate::dto::VerificationOut {
            method: v.method.into(),
            by: v.by,
            at: v.at,
            note: v.note,
        }),
        erasure_recipients: v
            .recipients
            .map(|list| list.into_iter().map(confirmation).collect()),
    }
}

/// Where an erasure stands with one recipient (Art. 19).
pub(crate) fn confirmation(c: gdpr_app::ErasureConfirmation) -> crate::dto::ConfirmationOut {
    crate::dto::ConfirmationOut {
        endpoint: c.endpoint,
        url: c.url,
        state: match (c.confirmed_at, c.overdue) {
            (Some(_), _) => "confirmed",
            (None, true) => "overdue",
            (None, false) => "pending",
        }
        .to_owned(),
        confirmed_by: c.by.into(),
        confirmed_at: c.confirmed_at,
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

pub(crate) fn receipt(r: ErasureReceipt) -> ReceiptOut {
    ReceiptOut {
        id: r.id,
        subject: *r.subject.as_uuid(),
        request: r.request.map(|q| *q.as_uuid()),
        started_at: r.started_at,
        status: r.status().into(),
        places: r
            .places
            .iter()
            .map(|p| {
                let mut out = PlaceOut {
                    place: p.place.into(),
                    outcome: OutcomeDto::Planned,
                    at: None,
                    count: None,
                    attempts: None,
                    reason: None,
                };
                match &p.outcome {
                    Outcome::Planned => {}
                    Outcome::Done { at, count } => {
                        out.outcome = OutcomeDto::Done;
                        out.at = Some(*at);
                        out.count = *count;
                    }
                    Outcome::Pending {
                        attempts,
                        last_error,
                        last_attempt,
                    } => {
                        out.outcome = OutcomeDto::Pending;
                        out.at = Some(*last_attempt);
                        out.attempts = Some(*attempts);
                        out.reason = Some(last_error.clone());
                    }
                    Outcome::Blocked { reason } => {
                        out.outcome = OutcomeDto::Blocked;
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

pub(crate) fn consent_receipt(r: gdpr_consent::ConsentReceipt) -> ConsentReceiptOut {
    ConsentReceiptOut {
        version: r.version,
        jurisdiction: r.jurisdiction,
        consent_timestamp: r.consent_timestamp,
        collection_method: r.collection_method,
        consent_receipt_id: r.consent_receipt_id,
        language: r.language,
        pii_principal_id: r.pii_principal_id,
        pii_controllers: r
            .pii_controllers
            .into_iter()
            .map(|c| ControllerOut {
                name: c.name,
                contact: c.contact,
                email: c.email,
            })
            .collect(),
        policy_url: r.policy_url,
        services: r
            .services
            .into_iter()
            .map(|s| ReceiptServiceOut {
                service: s.service,
                purposes: s
                    .purposes
                    .into_iter()
                    .map(|p| ReceiptPurposeOut {
                        purpose: p.purpose,
                        purpose_category: p.purpose_category,
                        consent_type: p.consent_type,
                        pii_category: p.pii_category,
                        primary_purpose: p.primary_purpose,
                        termination: p.termination,
                        third_party_disclosure: p.third_party_disclosure,
                    })
                    .collect(),
            })
            .collect(),
        sensitive: r.sensitive,
        spi_cat: r.spi_cat,
        action: r.action.into(),
        consent_form_version: r.consent_form_version,
        source: r.source,
    }
}

pub(crate) fn audit_record(r: gdpr_audit::AuditRecord) -> AuditRecordOut {
    let e = r.event;
    let (kind, id) = match e.actor {
        gdpr_audit::Actor::Operator => (ActorKind::Operator, None),
        gdpr_audit::Actor::ApiKey(key) => (ActorKind::ApiKey, Some(*key.as_uuid())),
        gdpr_audit::Actor::System => (ActorKind::System, None),
        gdpr_audit::Actor::Portal => (ActorKind::Portal, None),
        gdpr_audit::Actor::ConsoleUser(user) => (ActorKind::ConsoleUser, Some(*user.as_uuid())),
    };
    AuditRecordOut {
        seq: r.seq,
        event: AuditEventOut {
            at: e.at,
            tenant: e.tenant.map(|t| *t.as_uuid()),
            actor: ActorOut { kind, id },
            action: e.action.into(),
            subject: e.subject.map(|s| *s.as_uuid()),
            details: e.details,
        },
        prev_hash: r.prev_hash.to_string(),
        hash: r.hash.to_string(),
    }
}

pub(crate) fn attestation(a: gdpr_audit::Attestation) -> AttestationOut {
    AttestationOut {
        seq: a.seq,
        tenant: *a.tenant.as_uuid(),
        at: a.at,
        checks: a
            .checks
            .into_iter()
            .map(|c| CheckOut {
                kind: c.kind.into(),
                verdict: c.verdict.into(),
                detail: c.detail,
            })
            .collect(),
        audit: a.audit.map(|m| AuditMarkOut {
            seq: m.seq,
            hash: m.hash.to_string(),
        }),
        prev_hash: a.prev_hash.to_string(),
        hash: a.hash.to_string(),
    }
}

pub(crate) fn register(r: gdpr_app::Register) -> RegisterOut {
    RegisterOut {
        controller: r.controller,
        privacy_contact: r.privacy_contact,
        generated_at: r.generated_at,
        activities: r
            .activities
            .into_iter()
            .map(|a| ActivityOut {
                name: a.name,
                purpose: a.purpose,
                lawful_basis: a.lawful_basis.map(Into::into),
                data_categories: a.data_categories.into_iter().map(Into::into).collect(),
                data_subjects: a.data_subjects,
                recipients: a.recipients,
                retention: a.retention,
                consent_form: a.consent_form.map(|c| *c.as_uuid()),
            })
            .collect(),
        recipients: r.recipients.into_iter().map(recipient).collect(),
        security_measures: r.security_measures,
        inventory: InventoryOut {
            entries: r
                .inventory
                .entries()
                .iter()
                .map(|e| InventoryEntryOut {
                    location: e.location.clone(),
                    field: e.field.clone(),
                    category: e.category.into(),
                })
                .collect(),
        },
    }
}

fn days(p: Option<RetentionPeriod>) -> Option<u32> {
    p.map(RetentionPeriod::as_days)
}

fn periods(p: RetentionPolicy) -> PeriodsOut {
    PeriodsOut {
        backups_days: p.backups.as_days(),
        logs_days: p.logs.as_days(),
        records_days: days(p.records),
        inactive_subjects_days: days(p.inactive_subjects),
        consent_proofs_days: p.consent_proofs.as_days(),
    }
}

pub(crate) fn retention(v: gdpr_app::RetentionView) -> RetentionOut {
    let o = v.overrides;
    RetentionOut {
        defaults: periods(v.defaults),
        overrides: OverridesOut {
            backups_days: days(o.backups),
            records_days: days(o.records),
            inactive_subjects_days: days(o.inactive_subjects),
            consent_proofs_days: days(o.consent_proofs),
        },
        in_force: periods(v.in_force),
        forms: v
            .forms
            .into_iter()
            .map(|f| FormRetentionOut {
                form: *f.form.as_uuid(),
                name: f.name,
                own_days: days(f.own),
                records_days: days(f.in_force),
            })
            .collect(),
    }
}

/// A period in days as the API takes it (already bounded by the schema's validator).
pub(crate) fn period(field: &str, d: Option<u32>) -> Result<Option<RetentionPeriod>, ApiError> {
    d.map(|d| RetentionPeriod::days(d).map_err(|e| ApiError::invalid(field, e.to_string())))
        .transpose()
}

pub(crate) fn overrides(body: &RetentionIn) -> Result<PolicyOverride, ApiError> {
    Ok(PolicyOverride {
        backups: period("backups_days", body.backups_days)?,
        records: period("records_days", body.records_days)?,
        inactive_subjects: period("inactive_subjects_days", body.inactive_subjects_days)?,
        consent_proofs: period("consent_proofs_days", body.consent_proofs_days)?,
    })
}

pub(crate) fn expiry_plan(r: gdpr_app::ExpiryReport) -> ExpiryPlanOut {
    ExpiryPlanOut {
        at: r.at.unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        forms: r
            .forms
            .into_iter()
            .map(|f| FormExpiryOut {
                form: *f.form.as_uuid(),
                period_days: f.period.as_days(),
                expired: f.expired,
                held: f.held,
                next_expiry: f.next_expiry,
            })
            .collect(),
        records_expired: r.records_expired,
        records_held: r.records_held,
        subjects_expired: r.subjects_expired,
        subjects_kept_as_consent_proof: r.subjects_kept_as_consent_proof,
    }
}

/// A recipient as the API shows it.
pub(crate) fn recipient(entry: gdpr_app::RecipientEntry) -> RecipientOut {
    use gdpr_rights::Transfer;
    let x = entry.recipient;
    RecipientOut {
        id: entry.id,
        kept_by: match entry.kept_by {
            gdpr_app::KeptBy::Deployment => crate::dto::KeptByDto::Deployment,
            gdpr_app::KeptBy::Tenant => crate::dto::KeptByDto::Tenant,
        },
        name: x.name,
        role: x.role.into(),
        description: x.description,
        purposes: x.purposes.iter().map(ToString::to_string).collect(),
        categories: x.categories.into_iter().map(Into::into).collect(),
        country: x.country.map(|c| c.to_string()),
        location: x.location,
        safeguard: x.safeguard.into(),
        contract: x.contract,
        transfer: match entry.transfer {
            Transfer::WithinEea => TransferDto::WithinEea,
            Transfer::Safeguarded(_) => TransferDto::Safeguarded,
            Transfer::Unsafeguarded => TransferDto::Unsafeguarded,
            Transfer::NotStated => TransferDto::NotStated,
        },
        flagged: entry.transfer.flagged(),
    }
}

#[cfg(test)]
mod tests {
    //! The typed wire documents say exactly what the domain's own JSON says: same fields, same
    //! values, `null` where it has `null`. A field added to a domain type and not to its wire
    //! type (or the other way) fails here.

    use gdpr_audit::{Actor, AuditAction, AuditEvent, AuditMark, AuditRecord, Check, CheckKind};
    use gdpr_consent::{ConsentAction, ConsentReceipt, Controller, ReceiptPurpose, ReceiptService};
    use gdpr_pii::{ApiKeyId, ConsentFormId, Inventory, PiiCategory, SubjectId, TenantId};
    use poem_openapi::types::ToJSON;
    use time::macros::datetime;

    use super::*;

    const AT: time::OffsetDateTime = datetime!(2026-12-06 10:00:00.123456 UTC);

    fn same<T: serde::Serialize>(domain: &T, wire: &impl ToJSON) {
        assert_eq!(wire.to_json(), Some(serde_json::to_value(domain).unwrap()));
    }

    #[test]
    fn consent_receipts_keep_the_kantara_shape() {
        for source in [Some("203.0.113.0/24".to_owned()), None] {
            let receipt = ConsentReceipt {
                version: "KI-CR-v1.1.0".into(),
                jurisdiction: "EU".into(),
                consent_timestamp: 1_790_000_000,
                collection_method: "web form".into(),
                consent_receipt_id: "e1".into(),
                language: "en".into(),
                pii_principal_id: "s1".into(),
                pii_controllers: vec![Controller {
                    name: "LogAlto".into(),
                    contact: "DPO".into(),
                    email: "dpo@logalto.example".into(),
                    policy_url: "https://logalto.example/privacy".into(),
                }],
                policy_url: "https://logalto.example/privacy".into(),
                services: vec![ReceiptService {
                    service: "Contractors".into(),
                    purposes: vec![ReceiptPurpose {
                        purpose: "Managing contractors".into(),
                        purpose_category: vec!["contractors".into()],
                        consent_type: "EXPLICIT".into(),
                        pii_category: vec!["email".into()],
                        primary_purpose: true,
                        termination: "until withdrawn".into(),
                        third_party_disclosure: false,
                    }],
                }],
                sensitive: false,
                spi_cat: vec![],
                action: ConsentAction::Withdrawn,
                consent_form_version: "ab".repeat(32),
                source,
            };
            same(&receipt, &consent_receipt(receipt.clone()));
        }
    }

    #[test]
    fn audit_records_keep_the_chained_shape() {
        let tenant = TenantId::at(AT);
        let first = AuditRecord::chain(
            None,
            AuditEvent::new(
                AT,
                Some(tenant),
                Actor::ApiKey(ApiKeyId::at(AT)),
                AuditAction::SubjectErased,
            )
            .about(SubjectId::at(AT))
            .with("receipt", "r1")
            .with("records", 3),
        );
        let second = AuditRecord::chain(
            Some(&first),
            AuditEvent::new(AT, None, Actor::System, AuditAction::BackupCreated),
        );
        let third = AuditRecord::chain(
            Some(&second),
            AuditEvent::new(
                AT,
                Some(tenant),
                Actor::Operator,
                AuditAction::TenantCreated,
            ),
        );
        for record in [first, second, third] {
            same(&record, &audit_record(record.clone()));
        }
    }

    #[test]
    fn attestations_keep_the_chained_shape() {
        let tenant = TenantId::at(AT);
        let checks = vec![
            Check::pass(CheckKind::AuditChainVerified, "12 records"),
            Check::fail(CheckKind::NoOverdueRequest, "1 overdue"),
            Check::not_applicable(CheckKind::LogsClean, "no log files"),
        ];
        let first = gdpr_audit::Attestation::chain(None, tenant, AT, checks.clone(), None);
        let mark = AuditMark {
            seq: 12,
            hash: first.hash,
        };
        let second = gdpr_audit::Attestation::chain(Some(&first), tenant, AT, checks, Some(mark));
        for a in [first, second] {
            same(&a, &attestation(a.clone()));
        }
    }

    #[test]
    fn the_register_keeps_its_shape() {
        let register = gdpr_app::Register {
            controller: "LogAlto".into(),
            privacy_contact: "dpo@logalto.example".into(),
            generated_at: AT,
            activities: vec![
                gdpr_app::ProcessingActivity {
                    name: "Contractors".into(),
                    purpose: "Managing contractors".into(),
                    lawful_basis: Some(gdpr_consent::LawfulBasis::Consent),
                    data_categories: vec![PiiCategory::Email, PiiCategory::FullName],
                    data_subjects: "contractors".into(),
                    recipients: vec!["Rollbar".into()],
                    retention: "kept until erased".into(),
                    consent_form: Some(ConsentFormId::at(AT)),
                },
                gdpr_app::ProcessingActivity {
                    name: "Subject profiles".into(),
                    purpose: "Identification".into(),
                    lawful_basis: None,
                    data_categories: vec![PiiCategory::IpAddress],
                    data_subjects: "everyone".into(),
                    recipients: vec![],
                    retention: "30 days".into(),
                    consent_form: None,
                },
            ],
            recipients: vec![gdpr_app::RecipientEntry::new(
                uuid::Uuid::from_u128(7),
                gdpr_rights::Recipient {
                    name: "Mail SAS".into(),
                    role: gdpr_rights::RecipientRole::SubProcessor,
                    description: "sends e-mail".into(),
                    purposes: vec![gdpr_consent::PurposeId::parse("staff").unwrap()],
                    categories: vec![PiiCategory::Email],
                    country: gdpr_rights::Country::parse("US").ok(),
                    location: Some("Oregon".into()),
                    safeguard: gdpr_rights::Safeguard::BindingCorporateRules,
                    contract: Some("DPA".into()),
                },
            )],
            security_measures: vec!["AEAD at rest".into()],
            inventory: Inventory::profile(),
        };
        same(&register, &super::register(register.clone()));
    }
}
