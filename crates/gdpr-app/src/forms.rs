//! Purposes, forms and records: a record is accepted only if it fits its form's classified
//! schema and, for a consent-based purpose, the subject currently consents.

use gdpr_audit::AuditAction;
use gdpr_consent::{Form, LawfulBasis, Purpose, PurposeId, current_status};
use gdpr_pii::{ConsentFormId, FieldSpec, FormId, FormSchema, Record, RecordId, SubjectId};
use gdpr_ports::{Clock, ConsentStore, FormStore, Page, Ports, RecordStore};
use gdpr_rights::Decision;
use serde_json::Value;

use crate::{App, AppError, Ctx};

impl<P: Ports> App<P> {
    /// Declares a purpose of processing with its one lawful basis.
    ///
    /// # Errors
    /// [`AppError::Consent`] for an invalid id or description; [`AppError::Conflict`] when the
    /// id exists; storage errors.
    pub async fn define_purpose(
        &self,
        ctx: Ctx,
        id: &str,
        description: &str,
        basis: LawfulBasis,
    ) -> Result<Purpose, AppError> {
        let purpose = Purpose::new(PurposeId::parse(id)?, description, basis)?;
        self.store
            .insert_purpose(ctx.tenant, &purpose)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, AuditAction::PurposeDefined)
            .with("purpose", &purpose.id);
        self.audit(event).await?;
        Ok(purpose)
    }

    /// The tenant's purposes.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn purposes(&self, ctx: Ctx) -> Result<Vec<Purpose>, AppError> {
        self.store
            .list_purposes(ctx.tenant)
            .await
            .map_err(AppError::store)
    }

    pub(crate) async fn purpose(&self, ctx: Ctx, id: &PurposeId) -> Result<Purpose, AppError> {
        self.store
            .get_purpose(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("purpose"))
    }

    /// Defines a form: every field must carry a PII category, and the purpose must exist.
    ///
    /// # Errors
    /// [`AppError::InvalidInput`] on `fields` (a field without category, a bad name...) or on
    /// `purpose` (malformed); [`AppError::NotFound`] for a purpose the tenant does not have;
    /// [`AppError::Conflict`] when the name is taken; storage errors.
    pub async fn define_form(
        &self,
        ctx: Ctx,
        name: &str,
        fields: Vec<FieldSpec>,
        purpose: &str,
    ) -> Result<Form, AppError> {
        let schema = FormSchema::new(fields).map_err(|e| AppError::invalid("fields", e))?;
        let purpose_id = PurposeId::parse(purpose).map_err(|e| AppError::invalid("purpose", e))?;
        let purpose = self.purpose(ctx, &purpose_id).await?;
        let form = Form::define(ctx.tenant, name, schema, &purpose, self.clock.now())?;
        self.store
            .insert_form(&form)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, AuditAction::FormDefined)
            .with("form", form.id);
        self.audit(event).await?;
        Ok(form)
    }

    /// Attaches the consent form that records of a consent-based form require.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the form or consent form; [`AppError::Form`] when the consent
    /// form serves another purpose or the purpose is not consent-based; storage errors.
    pub async fn attach_consent_form(
        &self,
        ctx: Ctx,
        form: FormId,
        consent_form: ConsentFormId,
    ) -> Result<Form, AppError> {
        let mut form = self.form(ctx, form).await?;
        let consent_form = self
            .store
            .get_consent_form(ctx.tenant, consent_form)
            .await
            .map_err(AppError::not_found("consent form"))?;
        let purpose = self.purpose(ctx, &form.purpose).await?;
        form.attach_consent_form(&purpose, &consent_form)?;
        self.store
            .update_form(&form)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, AuditAction::FormConsentAttached)
            .with("form", form.id)
            .with("consent_form", consent_form.id);
        self.audit(event).await?;
        Ok(form)
    }

    /// A form.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn form(&self, ctx: Ctx, id: FormId) -> Result<Form, AppError> {
        self.store
            .get_form(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("form"))
    }

    /// The tenant's forms.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn forms(&self, ctx: Ctx) -> Result<Vec<Form>, AppError> {
        self.store
            .list_forms(ctx.tenant)
            .await
            .map_err(AppError::store)
    }

    /// Submits a record about a subject through a form.
    ///
    /// Refused when the form or subject is unknown, when the values do not fit the schema, and
    /// — for a purpose based on consent — when the form has no consent form or the subject has
    /// no current consent to it (never given, withdrawn, or given to a version since replaced
    /// by one requiring re-consent).
    ///
    /// # Errors
    /// [`AppError::NotFound`], [`AppError::InvalidRecord`], [`AppError::ConsentFormMissing`],
    /// [`AppError::ConsentRequired`], storage errors.
    pub async fn submit_record(
        &self,
        ctx: Ctx,
        form: FormId,
        subject: SubjectId,
        values: &Value,
    ) -> Result<Record, AppError> {
        let form = self.form(ctx, form).await?;
        self.ensure_subject(ctx, subject).await?;
        let values = form.schema.validate(values)?;
        let purpose = self.purpose(ctx, &form.purpose).await?;
        self.ensure_may_submit(ctx, &form, &purpose, subject)
            .await?;
        let record = self.new_record(ctx, &form, subject, values);
        self.store
            .insert_record(&record)
            .await
            .map_err(AppError::not_found("subject"))?;
        self.audit_about(
            ctx,
            AuditAction::RecordSubmitted,
            subject,
            &[("record", &record.id), ("form", &form.id)],
        )
        .await?;
        Ok(record)
    }

    /// Submits many records of one form, the way a SaaS migrates its existing data in: each
    /// is checked like a single submission (its subject, the form's schema, consent,
    /// restriction and objection) and accepted or refused with its reason, in input order; the
    /// accepted ones are stored with their audit entries in one transaction.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the form; storage errors (then nothing is stored). Each
    /// line's own refusal is in its inner result.
    pub async fn import_records(
        &self,
        ctx: Ctx,
        form: FormId,
        batch: Vec<(SubjectId, Value)>,
    ) -> Result<Vec<Result<RecordId, AppError>>, AppError> {
        let form = self.form(ctx, form).await?;
        let purpose = self.purpose(ctx, &form.purpose).await?;
        let mut cleared = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(batch.len());
        let mut records = Vec::new();
        for (subject, values) in batch {
            let checked = async {
                let values = form.schema.validate(&values)?;
                if !cleared.contains(&subject) {
                    self.ensure_subject(ctx, subject).await?;
                    self.ensure_may_submit(ctx, &form, &purpose, subject)
                        .await?;
                    cleared.insert(subject);
                }
                Ok::<_, AppError>(values)
            }
            .await;
            out.push(checked.map(|values| {
                let record = self.new_record(ctx, &form, subject, values);
                let id = record.id;
                records.push(record);
                id
            }));
        }
        let audit = records
            .iter()
            .map(|r| {
                self.event(ctx, AuditAction::RecordSubmitted)
                    .about(r.subject)
                    .with("record", r.id)
                    .with("form", r.form)
                    .with("import", true)
            })
            .collect();
        self.store
            .insert_records(&records, audit)
            .await
            .map_err(AppError::not_found("subject"))?;
        Ok(out)
    }

    fn new_record(
        &self,
        ctx: Ctx,
        form: &Form,
        subject: SubjectId,
        values: gdpr_pii::RecordValues,
    ) -> Record {
        let now = self.clock.now();
        Record {
            id: RecordId::at(now),
            tenant: ctx.tenant,
            form: form.id,
            subject,
            values,
            created_at: now,
        }
    }

    /// Refuses a submission that lacks current consent (consent-based purposes) or that a
    /// restriction or objection forbids; the form's purpose is loaded once by the caller.
    async fn ensure_may_submit(
        &self,
        ctx: Ctx,
        form: &Form,
        purpose: &Purpose,
        subject: SubjectId,
    ) -> Result<(), AppError> {
        self.ensure_consent(ctx, form, purpose, subject).await?;
        self.ensure_may_process(ctx, subject, purpose).await
    }

    async fn ensure_consent(
        &self,
        ctx: Ctx,
        form: &Form,
        purpose: &Purpose,
        subject: SubjectId,
    ) -> Result<(), AppError> {
        if purpose.basis != LawfulBasis::Consent {
            return Ok(());
        }
        let consent_form = form.consent_form.ok_or(AppError::ConsentFormMissing)?;
        let consent_form = self
            .store
            .get_consent_form(ctx.tenant, consent_form)
            .await
            .map_err(AppError::not_found("consent form"))?;
        let history = self
            .store
            .consent_history(ctx.tenant, subject)
            .await
            .map_err(AppError::store)?;
        if current_status(&consent_form, &history).is_valid() {
            Ok(())
        } else {
            Err(AppError::ConsentRequired {
                purpose: purpose.id.to_string(),
            })
        }
    }

    /// A record (an access to personal data: audited).
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn record(&self, ctx: Ctx, id: RecordId) -> Result<Record, AppError> {
        let record = self
            .store
            .get_record(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("record"))?;
        self.audit_about(
            ctx,
            AuditAction::RecordViewed,
            record.subject,
            &[("record", &id)],
        )
        .await?;
        Ok(record)
    }

    /// Records, optionally of one form and/or one subject, a page at a time.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn records(
        &self,
        ctx: Ctx,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
    ) -> Result<Vec<Record>, AppError> {
        let list = self
            .store
            .list_records(ctx.tenant, form, subject, page)
            .await
            .map_err(AppError::store)?;
        let event = self
            .event(ctx, AuditAction::RecordsListed)
            .with("count", list.len())
            .with("offset", page.offset);
        self.audit(event).await?;
        Ok(list)
    }

    /// Deletes one record.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; storage errors.
    pub async fn delete_record(&self, ctx: Ctx, id: RecordId) -> Result<(), AppError> {
        let record = self
            .store
            .get_record(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("record"))?;
        let at = self.clock.now();
        let deletion = Decision::RecordsDeleted {
            records: vec![id],
            at,
        };
        self.journal(ctx.tenant, vec![deletion]).await?;
        let deleted = self
            .store
            .delete_records(ctx.tenant, &[id], at)
            .await
            .map_err(AppError::store)?;
        if deleted == 0 {
            return Err(AppError::NotFound("record"));
        }
        self.audit_about(
            ctx,
            AuditAction::RecordDeleted,
            record.subject,
            &[("record", &id)],
        )
        .await
    }
}
