//! Purposes, forms and records: a record is accepted only if it fits its form's classified
//! schema and, for a consent-based purpose, the subject currently consents.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use gdpr_audit::{AuditAction, AuditEvent};
use gdpr_consent::{Form, LawfulBasis, Purpose, PurposeId, current_status};
use gdpr_pii::{ConsentFormId, FieldSpec, FormId, FormSchema, Record, RecordId, SubjectId};
use gdpr_ports::{Clock, ConsentStore, Cursor, FormStore, Page, Ports, RecordStore};
use gdpr_rights::Decision;
use serde_json::Value;

use crate::{App, AppError, Ctx};

/// Why records are read: what decides whether a subject whose processing is stopped may have
/// theirs read. The subject's own access export is a third use, always allowed (Art. 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadUse {
    /// To process them for the form's purpose: refused while a restriction, an objection to
    /// the purpose, or a withdrawn (or missing) consent stops processing.
    Processing,
    /// To establish, exercise or defend legal claims (Art. 18(2)): allowed, and audited so.
    LegalClaims,
}

impl ReadUse {
    /// The name audit records carry.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::LegalClaims => "legal_claims",
        }
    }
}

/// A page of records and how many of its records were withheld (their subjects'
/// processing is stopped).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordList {
    /// The records shown.
    pub items: Vec<Record>,
    /// Records of the page withheld.
    pub withheld: u64,
    /// Where the next page starts, when this one was full: after its last record, shown or
    /// withheld.
    pub next: Option<Cursor>,
}

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
        let written = self.store.update_form(&form).await;
        // Submissions read forms, and were admitted against the consent form before; forgotten
        // whatever came of the write: it may have committed before failing.
        self.invalidate(gdpr_ports::Invalidation::Tenant(ctx.tenant))
            .await;
        written.map_err(AppError::store)?;
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

    /// A form as a submission reads it: from memory when the cache holds it (every change to
    /// a form forgets the tenant's).
    async fn submission_form(
        &self,
        ctx: Ctx,
        ticket: Option<crate::cache::Ticket>,
        id: FormId,
    ) -> Result<Form, AppError> {
        if let Some(form) = self.cache.form(ctx.tenant, id) {
            return Ok(form);
        }
        let form = self.form(ctx, id).await?;
        if let Some(ticket) = ticket {
            self.cache.put_form(ticket, form.clone());
        }
        Ok(form)
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
        // Taken before the reads: a change landing meanwhile keeps their answers out of the
        // cache.
        let ticket = self.cache.ticket();
        let form = self.submission_form(ctx, ticket, form).await?;
        let values = if self.cache.admitted(ctx.tenant, subject, form.id) {
            // Admitted since the last change to the subject, the tenant's forms or consent
            // forms: the subject existed then (an erasure since is a change, and the insert
            // below refuses a subject gone).
            form.schema.validate(values)?
        } else {
            self.ensure_subject(ctx, subject).await?;
            let values = form.schema.validate(values)?;
            let purpose = self.purpose(ctx, &form.purpose).await?;
            self.ensure_may_process_record(ctx, &form, &purpose, subject)
                .await?;
            if let Some(ticket) = ticket {
                self.cache
                    .put_admission(ticket, ctx.tenant, subject, form.id);
            }
            values
        };
        let record = self.new_record(ctx, &form, subject, values);
        // The record and its audit entry in one transaction (shared with the submissions
        // that arrive meanwhile: see the store's group commit).
        let event = self.record_submitted(ctx, &record);
        self.store
            .insert_records(std::slice::from_ref(&record), vec![event])
            .await
            .map_err(AppError::not_found("subject"))?;
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
                    self.ensure_may_process_record(ctx, &form, &purpose, subject)
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
            .map(|r| self.record_submitted(ctx, r).with("import", true))
            .collect();
        self.store
            .insert_records(&records, audit)
            .await
            .map_err(AppError::not_found("subject"))?;
        Ok(out)
    }

    fn record_submitted(&self, ctx: Ctx, record: &Record) -> AuditEvent {
        self.event(ctx, AuditAction::RecordSubmitted)
            .about(record.subject)
            .with("record", record.id)
            .with("form", record.form)
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
    async fn ensure_may_process_record(
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

    /// A record, read to process it (an access to personal data: audited). A subject whose
    /// processing is stopped — a restriction (Art. 18), an objection to the form's purpose
    /// (Art. 21), consent withdrawn or missing for a consent-based purpose (Art. 7(3)) — has
    /// their records kept (storage) but not read: see [`App::record_for`] for legal claims.
    ///
    /// # Errors
    /// [`AppError::NotFound`]; [`AppError::ProcessingBlocked`] or
    /// [`AppError::ConsentRequired`] when processing is stopped; storage errors.
    pub async fn record(&self, ctx: Ctx, id: RecordId) -> Result<Record, AppError> {
        self.record_for(ctx, id, ReadUse::Processing).await
    }

    /// A record, read for `use_`: for processing (refused when the subject's processing is
    /// stopped), or to establish, exercise or defend legal claims (Art. 18(2): allowed, and
    /// audited as such).
    ///
    /// # Errors
    /// As [`App::record`] (only processing can be refused).
    pub async fn record_for(
        &self,
        ctx: Ctx,
        id: RecordId,
        use_: ReadUse,
    ) -> Result<Record, AppError> {
        let record = self
            .store
            .get_record(ctx.tenant, id)
            .await
            .map_err(AppError::not_found("record"))?;
        if use_ == ReadUse::Processing {
            let form = self.form(ctx, record.form).await?;
            let purpose = self.purpose(ctx, &form.purpose).await?;
            self.ensure_may_process_record(ctx, &form, &purpose, record.subject)
                .await?;
        }
        self.audit_about(
            ctx,
            AuditAction::RecordViewed,
            record.subject,
            &[("record", &id), ("use", &use_.as_str())],
        )
        .await?;
        Ok(record)
    }

    /// Records to process, optionally of one form and/or one subject, a page at a time
    /// ([`App::record_page`] for processing, without the count of those withheld).
    ///
    /// # Errors
    /// As [`App::record_page`].
    pub async fn records(
        &self,
        ctx: Ctx,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
    ) -> Result<Vec<Record>, AppError> {
        Ok(self
            .record_page(ctx, form, subject, page, ReadUse::Processing)
            .await?
            .items)
    }

    /// Records, optionally of one form and/or one subject, a page at a time, read for `use_`.
    /// For processing, the records of subjects whose processing is stopped are withheld
    /// (counted, never shown); asking for one such subject's records is refused outright.
    ///
    /// # Errors
    /// [`AppError::ProcessingBlocked`] or [`AppError::ConsentRequired`] for the records of a
    /// subject whose processing is stopped; storage errors.
    pub async fn record_page(
        &self,
        ctx: Ctx,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
        use_: ReadUse,
    ) -> Result<RecordList, AppError> {
        let list = self
            .store
            .list_records(ctx.tenant, form, subject, page)
            .await
            .map_err(AppError::store)?;
        let next = list
            .last()
            .filter(|_| list.len() >= page.limit as usize)
            .map(|r| Cursor {
                at: r.created_at,
                id: *r.id.as_uuid(),
            });
        let mut items = Vec::with_capacity(list.len());
        let mut withheld = 0;
        if use_ == ReadUse::Processing {
            // Checked once per (subject, form) of the page.
            let mut verdicts: BTreeMap<(SubjectId, FormId), bool> = BTreeMap::new();
            let mut forms: BTreeMap<FormId, (Form, Purpose)> = BTreeMap::new();
            for record in list {
                let key = (record.subject, record.form);
                let allowed = if let Some(allowed) = verdicts.get(&key) {
                    *allowed
                } else {
                    let (form, purpose) = match forms.entry(record.form) {
                        Entry::Occupied(known) => known.into_mut(),
                        Entry::Vacant(slot) => {
                            let form = self.form(ctx, record.form).await?;
                            let purpose = self.purpose(ctx, &form.purpose).await?;
                            slot.insert((form, purpose))
                        }
                    };
                    let verdict = self
                        .ensure_may_process_record(ctx, form, purpose, record.subject)
                        .await;
                    match verdict {
                        Ok(()) => {}
                        // One subject asked for: say why, rather than an empty page.
                        Err(
                            e @ (AppError::ProcessingBlocked(_) | AppError::ConsentRequired { .. }),
                        ) if subject.is_some() => {
                            return Err(e);
                        }
                        Err(AppError::ProcessingBlocked(_) | AppError::ConsentRequired { .. }) => {}
                        Err(e) => return Err(e),
                    }
                    let allowed = verdict.is_ok();
                    verdicts.insert(key, allowed);
                    allowed
                };
                if allowed {
                    items.push(record);
                } else {
                    withheld += 1;
                }
            }
        } else {
            items = list;
        }
        let event = self
            .event(ctx, AuditAction::RecordsListed)
            .with("count", items.len())
            .with("withheld", withheld)
            .with("offset", page.offset)
            .with("use", use_.as_str());
        self.audit(event).await?;
        Ok(RecordList {
            items,
            withheld,
            next,
        })
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
