//! Access and portability (Art. 15, 20): everything held about a subject, with the context of
//! its processing, as one JSON bundle that leaves only encrypted.

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use gdpr_audit::AuditAction;
use gdpr_consent::{ConsentEvent, ConsentReceipt};
use gdpr_pii::{FormId, PROFILE_FIELDS, RecordId, SubjectId};
use gdpr_ports::{ConsentStore, Encryptor, Page, Ports, Recipients, RecordStore, RequestStore};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{App, AppError, Ctx, RecipientEntry, RequestView};

/// The version of the bundle's JSON format (`docs/export.schema.json` describes it).
pub const EXPORT_SCHEMA_VERSION: u32 = 2;

/// Everything held about one subject, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ExportBundle {
    /// The bundle format's version.
    pub schema_version: u32,
    /// When it was assembled.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Who holds the data.
    pub controller: ExportController,
    /// The profile.
    pub subject: ExportSubject,
    /// Every form record.
    pub records: Vec<ExportRecord>,
    /// The consent history, each event with its receipt.
    pub consents: Vec<ExportConsent>,
    /// The subject's requests.
    pub requests: Vec<RequestView>,
    /// Art. 15(1) context.
    pub context: ExportContext,
}

/// The controller.
#[derive(Debug, Clone, Serialize)]
pub struct ExportController {
    /// Legal name.
    pub name: String,
    /// Privacy contact.
    pub privacy_contact: String,
}

/// The profile, in clear: this bundle is for the subject.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSubject {
    /// Id.
    pub id: SubjectId,
    /// E-mail.
    pub email: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One record.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRecord {
    /// Id.
    pub id: RecordId,
    /// Form id.
    pub form: FormId,
    /// Form name.
    pub form_name: String,
    /// Submitted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Values by field name.
    pub values: Value,
}

/// One consent event with its receipt.
#[derive(Debug, Clone, Serialize)]
pub struct ExportConsent {
    /// The event.
    pub event: ConsentEvent,
    /// Its receipt.
    pub receipt: ConsentReceipt,
}

/// A purpose as the subject is told of it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportPurpose {
    /// Id.
    pub id: String,
    /// In words.
    pub description: String,
    /// Lawful basis.
    pub lawful_basis: String,
    /// Its article.
    pub article: String,
}

/// How long things are kept.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRetention {
    /// Backups, in days.
    pub backups_days: u32,
    /// Logs, in days.
    pub logs_days: u32,
    /// Per form: days, or `null` for "until erased".
    pub records: Vec<(String, Option<u32>)>,
    /// A subject left with nothing is erased this many days after anything was last written
    /// about them; `null`: never for that.
    pub inactive_subjects_days: Option<u32>,
    /// Consent history, once nothing else keeps the subject: days after its last event.
    pub consent_proofs_days: u32,
}

/// The context Art. 15(1) requires alongside the data.
#[derive(Debug, Clone, Serialize)]
pub struct ExportContext {
    /// Purposes of the processing.
    pub purposes: Vec<ExportPurpose>,
    /// Categories of personal data held.
    pub categories: Vec<String>,
    /// Recipients (Art. 15(1)(c)), each with the transfer its data makes and the safeguard
    /// it rests on (Art. 15(2)).
    pub recipients: Vec<RecipientEntry>,
    /// Retention periods.
    pub retention: ExportRetention,
    /// Where the data came from.
    pub source: String,
    /// The subject's rights.
    pub rights: Vec<String>,
}

const RIGHTS: [&str; 7] = [
    "access to your data (Art. 15)",
    "rectification (Art. 16)",
    "erasure (Art. 17)",
    "restriction of processing (Art. 18)",
    "data portability (Art. 20)",
    "objection to processing based on legitimate interests (Art. 21)",
    "withdrawal of consent at any time, as easily as it was given (Art. 7(3)); complaint to a supervisory authority (Art. 77)",
];

impl<P: Ports> App<P> {
    pub(crate) async fn build_export(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<ExportBundle, AppError> {
        let profile = self.load_subject(ctx, subject).await?;
        let tenant = self.tenant(ctx.tenant).await?;
        let forms = self.forms(ctx).await?;
        let store_err = AppError::store;
        let records = self
            .store
            .list_records(ctx.tenant, None, Some(subject), Page::ALL)
            .await
            .map_err(store_err)?;
        let history = self
            .store
            .consent_history(ctx.tenant, subject)
            .await
            .map_err(store_err)?;
        let receipts = self.consent_receipts(ctx, subject).await?;
        let now = gdpr_ports::Clock::now(&self.clock);
        let requests: Vec<RequestView> = self
            .store
            .list_subject_requests(ctx.tenant, subject)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|request| RequestView {
                due_date: request.due_date(),
                overdue: request.is_overdue(now),
                request,
                recipients: None,
            })
            .collect();
        let purposes = self.purposes(ctx).await?;
        let policy = self.retention_policy(ctx.tenant).await?;
        let recipients = self.recipients(ctx).await?;
        let mut categories: Vec<String> = PROFILE_FIELDS
            .iter()
            .map(|(_, c)| *c)
            .chain(forms.iter().flat_map(|f| {
                f.schema
                    .classification()
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
            }))
            .filter(|c| c.is_personal())
            .map(|c| c.description().to_owned())
            .collect();
        categories.sort();
        categories.dedup();
        Ok(ExportBundle {
            schema_version: EXPORT_SCHEMA_VERSION,
            generated_at: now,
            controller: ExportController {
                name: tenant.name,
                privacy_contact: tenant.privacy_contact,
            },
            subject: ExportSubject {
                id: profile.id,
                email: profile.email.map(|e| e.expose_pii().to_owned()),
                full_name: profile.full_name.map(|n| n.expose_pii().to_owned()),
                ip_address: profile.ip_address.map(|ip| ip.expose_pii().to_string()),
                created_at: profile.created_at,
                updated_at: profile.updated_at,
            },
            records: records
                .into_iter()
                .map(|r| ExportRecord {
                    id: r.id,
                    form: r.form,
                    form_name: forms
                        .iter()
                        .find(|f| f.id == r.form)
                        .map_or_else(String::new, |f| f.name.clone()),
                    created_at: r.created_at,
                    values: r.values.into_pii_json(),
                })
                .collect(),
            consents: history
                .into_iter()
                .zip(receipts)
                .map(|(event, receipt)| ExportConsent { event, receipt })
                .collect(),
            requests,
            context: ExportContext {
                purposes: purposes
                    .iter()
                    .map(|p| ExportPurpose {
                        id: p.id.to_string(),
                        description: p.description.clone(),
                        lawful_basis: p.basis.to_string(),
                        article: p.basis.article().to_owned(),
                    })
                    .collect(),
                categories,
                recipients,
                retention: ExportRetention {
                    backups_days: policy.backups.as_days(),
                    logs_days: policy.logs.as_days(),
                    inactive_subjects_days: policy.inactive_subjects.map(|d| d.as_days()),
                    consent_proofs_days: policy.consent_proofs.as_days(),
                    records: forms
                        .iter()
                        .map(|f| {
                            let days = policy.for_form(f.retention);
                            (f.name.clone(), days.map(|d| d.as_days()))
                        })
                        .collect(),
                },
                source: "provided by the controller, who collected it from you or about you \
                         through its forms"
                    .into(),
                rights: RIGHTS.iter().map(|r| (*r).to_owned()).collect(),
            },
        })
    }
}

impl<P: Ports> App<P> {
    /// The bundle in clear, for an embedder that hands it to the subject through its own
    /// secure channel. Audited.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn export_subject(
        &self,
        ctx: Ctx,
        subject: SubjectId,
    ) -> Result<ExportBundle, AppError> {
        let bundle = self.build_export(ctx, subject).await?;
        self.audit_about(
            ctx,
            AuditAction::ExportAssembled,
            subject,
            &[("encrypted", &false)],
        )
        .await?;
        Ok(bundle)
    }

    /// The bundle as JSON, encrypted to `recipients`: the only form in which it leaves.
    /// With no recipient, nothing is produced (fail closed).
    ///
    /// # Errors
    /// [`AppError::Encryption`] (no or bad recipient); [`AppError::NotFound`]; storage errors.
    pub async fn export_subject_encrypted(
        &self,
        ctx: Ctx,
        subject: SubjectId,
        recipients: Recipients,
    ) -> Result<Vec<u8>, AppError> {
        let bundle = self.build_export(ctx, subject).await?;
        let json = serde_json::to_vec(&bundle).map_err(|e| AppError::invalid("bundle", e))?;
        let plaintext = Box::pin(stream::iter([Ok(Bytes::from(json))]));
        let mut ciphertext = self.encryptor.encrypt(recipients, plaintext).await?;
        let mut out = Vec::new();
        while let Some(chunk) = ciphertext.next().await {
            out.extend_from_slice(&chunk.map_err(gdpr_ports::EncryptError::Source)?);
        }
        self.audit_about(
            ctx,
            AuditAction::ExportAssembled,
            subject,
            &[("encrypted", &true)],
        )
        .await?;
        Ok(out)
    }
}
