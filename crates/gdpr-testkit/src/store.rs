//! Storage and the audit log in memory, behind one lock so that erasure is atomic.

mod dump;
mod webhooks;

pub use dump::FAKE_SCHEMA_VERSION;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use gdpr_audit::{Attestation, AuditEvent, AuditMark, AuditRecord, Check};
use gdpr_consent::{ConsentEvent, ConsentForm, Form, Purpose, PurposeId};
use gdpr_pii::{
    ApiKeyId, ConsentFormId, Email, FormId, Record, RecordId, RequestId, Subject, SubjectId,
    Tenant, TenantId,
};
use gdpr_ports::{
    ApiKeyRecord, ApiKeyStore, AttestationLog, AuditLog, CacheBus, ConsentStore, Cursor, Document,
    DocumentKind, DocumentStore, Erased, ErasedCounts, Erasure, ErasureStore, FormStore,
    Invalidation, Job, JobQueue, JobState, JobStatus, LegalHoldStore, Offboarding, Owner, Page,
    PolicyOverride, ProcessingLimitStore, QueueDepth, RecordCount, RecordRef, RecordStore,
    RequestStore, StoreError, SubjectStore, TenantStore,
};
use gdpr_rights::{
    ErasureReceipt, LegalHold, ProcessingLimit, RecordScope, RequestStatus, SubjectRequest,
    Tombstone,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug, Default)]
struct State {
    unavailable: bool,
    panic_next: bool,
    profiles_unreadable: bool,
    offboarding_unwritable: bool,
    tenants: Vec<Tenant>,
    subjects: Vec<Subject>,
    keys: BTreeSet<(TenantId, SubjectId)>,
    forms: Vec<Form>,
    records: Vec<Record>,
    purposes: Vec<(TenantId, Purpose)>,
    consent_forms: Vec<ConsentForm>,
    consent_events: Vec<ConsentEvent>,
    requests: Vec<SubjectRequest>,
    holds: Vec<LegalHold>,
    limits: Vec<ProcessingLimit>,
    tombstones: Vec<Tombstone>,
    receipts: Vec<ErasureReceipt>,
    audit: BTreeMap<Option<TenantId>, Vec<AuditRecord>>,
    attestations: BTreeMap<TenantId, Vec<Attestation>>,
    api_keys: Vec<ApiKeyRecord>,
    jobs: Vec<JobRow>,
    retention: BTreeMap<TenantId, PolicyOverride>,
    offboarding: BTreeMap<TenantId, Offboarding>,
    records_deleted_at: BTreeMap<SubjectId, OffsetDateTime>,
    published: Vec<Invalidation>,
    documents: Vec<Document>,
    cursors: BTreeMap<(TenantId, Uuid), u64>,
    deliveries: Vec<webhooks::Held>,
}

#[derive(Debug, Clone)]
struct JobRow {
    job: Job,
    worker: Option<String>,
    state: JobState,
    run_at: OffsetDateTime,
    claimed_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    result: Option<String>,
}

impl State {
    fn append_audit(&mut self, event: AuditEvent) -> AuditRecord {
        let chain = self.audit.entry(event.tenant).or_default();
        let record = AuditRecord::chain(chain.last(), event);
        chain.push(record.clone());
        record
    }

    fn subject_exists(&self, tenant: TenantId, id: SubjectId) -> bool {
        self.subjects
            .iter()
            .any(|s| s.tenant == tenant && s.id == id)
    }
}

/// Every storage port and the audit log, in memory. Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore(Arc<Mutex<State>>);

/// A page of `items` in the order of `key` (time, then id), as the real store gives it.
fn paged<T: Clone>(
    items: impl Iterator<Item = T>,
    page: Page,
    key: impl Fn(&T) -> Cursor,
) -> Vec<T> {
    let mut items: Vec<T> = items.filter(|item| page.starts_before(key(item))).collect();
    items.sort_by_key(&key);
    items
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .collect()
}

impl InMemoryStore {
    /// The state, or `Unavailable` while the store is switched off.
    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if std::mem::take(&mut state.panic_next) {
            drop(state);
            panic!("injected panic: a bug in a storage adapter");
        }
        if state.unavailable {
            return Err(StoreError::Unavailable(
                "in-memory store switched off".into(),
            ));
        }
        Ok(state)
    }

    /// Makes the next call panic, as a bug would (to test that a panic is contained and
    /// reported).
    pub fn panic_on_next_call(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .panic_next = true;
    }

    /// Makes every call fail with [`StoreError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unavailable = unavailable;
    }

    /// Makes every subject's profile unreadable ([`StoreError::Corrupt`] from `get_subject`),
    /// as a data key that no longer decrypts would: what still works did not need to open it.
    pub fn set_profiles_unreadable(&self, unreadable: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .profiles_unreadable = unreadable;
    }

    /// Makes writing a tenant's offboarding schedule fail with [`StoreError::Unavailable`]
    /// (or work again), every other call working: a database lost between two writes.
    pub fn set_offboarding_unwritable(&self, unwritable: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .offboarding_unwritable = unwritable;
    }

    /// Whether the subject's data key exists (erasure destroys it).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] while the store is switched off.
    pub fn has_subject_key(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<bool, StoreError> {
        Ok(self.state()?.keys.contains(&(tenant, subject)))
    }

    /// Every invalidation published so far, oldest first, and forgets them: what another
    /// replica would have been told.
    pub fn take_published(&self) -> Vec<Invalidation> {
        std::mem::take(
            &mut self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .published,
        )
    }

    /// Lets a test rewrite a chain of the audit log behind the application's back.
    pub fn tamper_with_audit(
        &self,
        tenant: Option<TenantId>,
        edit: impl FnOnce(&mut Vec<AuditRecord>),
    ) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        edit(state.audit.entry(tenant).or_default());
    }

    /// Puts a subject back behind the application's back, as a restore that skipped the
    /// tombstone journal would (to test that an attestation sees it).
    pub fn smuggle_subject(&self, subject: Subject) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.subjects.push(subject);
    }

    /// How many rows the tenant has (its tenant row, subjects, data keys, records, consent
    /// events, API keys): 0 after a restore that restored nothing.
    #[must_use]
    pub fn tenant_rows(&self, tenant: TenantId) -> usize {
        let s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.tenants.iter().filter(|t| t.id == tenant).count()
            + s.subjects.iter().filter(|x| x.tenant == tenant).count()
            + s.keys.iter().filter(|(t, _)| *t == tenant).count()
            + s.records.iter().filter(|r| r.tenant == tenant).count()
            + s.consent_events
                .iter()
                .filter(|e| e.tenant == tenant)
                .count()
            + s.api_keys.iter().filter(|k| k.tenant == tenant).count()
    }

    /// How many rows of any kind mention this subject (0 once erased, tombstones and receipts
    /// aside). For tests that check erasure left nothing behind.
    #[must_use]
    pub fn rows_about(&self, tenant: TenantId, subject: SubjectId) -> usize {
        let s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.subjects
            .iter()
            .filter(|x| x.tenant == tenant && x.id == subject)
            .count()
            + s.keys.iter().filter(|k| **k == (tenant, subject)).count()
            + s.records
                .iter()
                .filter(|r| r.tenant == tenant && r.subject == subject)
                .count()
            + s.consent_events
                .iter()
                .filter(|e| e.tenant == tenant && e.subject == subject)
                .count()
    }
}

#[async_trait]
impl CacheBus for InMemoryStore {
    async fn publish(&self, what: Invalidation) -> Result<(), StoreError> {
        self.state()?.published.push(what);
        Ok(())
    }
}

#[async_trait]
impl DocumentStore for InMemoryStore {
    async fn put_document(&self, document: &Document) -> Result<(), StoreError> {
        let mut s = self.state()?;
        match s.documents.iter_mut().find(|d| d.id == document.id) {
            Some(d) if d.owner == document.owner && d.kind == document.kind => {
                d.body.clone_from(&document.body);
            }
            Some(_) => return Err(StoreError::Conflict("document id")),
            None => s.documents.push(document.clone()),
        }
        Ok(())
    }

    async fn insert_document(&self, document: &Document) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.documents.iter().any(|d| d.id == document.id) {
            return Err(StoreError::Conflict("document id"));
        }
        s.documents.push(document.clone());
        Ok(())
    }

    async fn replace_document(&self, document: &Document) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let stored = s
            .documents
            .iter_mut()
            .find(|d| d.id == document.id && d.owner == document.owner && d.kind == document.kind)
            .ok_or(StoreError::NotFound)?;
        stored.body.clone_from(&document.body);
        Ok(())
    }

    async fn get_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<Document, StoreError> {
        self.state()?
            .documents
            .iter()
            .find(|d| d.id == id && d.owner == owner && d.kind == kind)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn list_documents(
        &self,
        owner: Owner,
        kind: DocumentKind,
    ) -> Result<Vec<Document>, StoreError> {
        let mut list: Vec<Document> = self
            .state()?
            .documents
            .iter()
            .filter(|d| d.owner == owner && d.kind == kind)
            .cloned()
            .collect();
        list.sort_by_key(|d| (d.created_at, d.id));
        Ok(list)
    }

    async fn document_by_id(&self, kind: DocumentKind, id: Uuid) -> Result<Document, StoreError> {
        self.state()?
            .documents
            .iter()
            .find(|d| d.kind == kind && d.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn all_documents(&self, kind: DocumentKind) -> Result<Vec<Document>, StoreError> {
        let mut list: Vec<Document> = self
            .state()?
            .documents
            .iter()
            .filter(|d| d.kind == kind)
            .cloned()
            .collect();
        list.sort_by_key(|d| (d.created_at, d.id));
        Ok(list)
    }

    async fn delete_document(
        &self,
        owner: Owner,
        kind: DocumentKind,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let mut s = self.state()?;
        let before = s.documents.len();
        s.documents
            .retain(|d| !(d.id == id && d.owner == owner && d.kind == kind));
        Ok(s.documents.len() < before)
    }
}

#[async_trait]
impl TenantStore for InMemoryStore {
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.tenants.iter().any(|t| t.id == tenant.id) {
            return Err(StoreError::Conflict("tenant id already exists"));
        }
        s.tenants.push(tenant.clone());
        Ok(())
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant, StoreError> {
        let s = self.state()?;
        s.tenants
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(self.state()?.tenants.clone())
    }

    async fn tenant_retention(&self, id: TenantId) -> Result<PolicyOverride, StoreError> {
        let s = self.state()?;
        if !s.tenants.iter().any(|t| t.id == id) {
            return Err(StoreError::NotFound);
        }
        Ok(s.retention.get(&id).copied().unwrap_or_default())
    }

    async fn set_tenant_retention(
        &self,
        id: TenantId,
        retention: &PolicyOverride,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if !s.tenants.iter().any(|t| t.id == id) {
            return Err(StoreError::NotFound);
        }
        s.retention.insert(id, *retention);
        Ok(())
    }

    async fn tenant_offboarding(&self, id: TenantId) -> Result<Option<Offboarding>, StoreError> {
        let s = self.state()?;
        if !s.tenants.iter().any(|t| t.id == id) {
            return Err(StoreError::NotFound);
        }
        Ok(s.offboarding.get(&id).copied())
    }

    async fn set_tenant_offboarding(
        &self,
        id: TenantId,
        offboarding: Option<Offboarding>,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.offboarding_unwritable {
            return Err(StoreError::Unavailable(
                "the offboarding could not be written".into(),
            ));
        }
        if !s.tenants.iter().any(|t| t.id == id) {
            return Err(StoreError::NotFound);
        }
        match offboarding {
            Some(o) => s.offboarding.insert(id, o),
            None => s.offboarding.remove(&id),
        };
        Ok(())
    }

    async fn delete_tenant(
        &self,
        id: TenantId,
        mut receipt: AuditEvent,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut s = self.state()?;
        let mut counts = BTreeMap::new();
        let mut count = |table: &str, n: usize| {
            if n > 0 {
                counts.insert(table.to_owned(), n as u64);
            }
        };
        macro_rules! clear {
            ($table:literal, $field:ident, $owner:expr) => {{
                let before = s.$field.len();
                s.$field.retain(|x| $owner(x) != id);
                count($table, before - s.$field.len());
            }};
        }
        let gone: BTreeSet<SubjectId> = s
            .subjects
            .iter()
            .filter(|x| x.tenant == id)
            .map(|x| x.id)
            .collect();
        clear!("records", records, |r: &Record| r.tenant);
        clear!("consent_events", consent_events, |e: &ConsentEvent| e
            .tenant);
        clear!("requests", requests, |r: &SubjectRequest| r.tenant);
        clear!("legal_holds", holds, |h: &LegalHold| h.tenant);
        clear!("processing_limits", limits, |l: &ProcessingLimit| l.tenant);
        clear!("tombstones", tombstones, |t: &Tombstone| t.tenant);
        clear!("erasure_receipts", receipts, |r: &ErasureReceipt| r.tenant);
        clear!("subjects", subjects, |x: &Subject| x.tenant);
        clear!("forms", forms, |f: &Form| f.tenant);
        clear!("consent_forms", consent_forms, |f: &ConsentForm| f.tenant);
        clear!("purposes", purposes, |p: &(TenantId, Purpose)| p.0);
        clear!("api_keys", api_keys, |k: &ApiKeyRecord| k.tenant);
        clear!("documents", documents, |d: &Document| match d.owner {
            Owner::Tenant(t) => t,
            Owner::Deployment => TenantId::from_uuid(Uuid::nil()),
        });
        clear!("tenants", tenants, |t: &Tenant| t.id);
        let keys = s.keys.len();
        s.keys.retain(|(t, _)| *t != id);
        count("subject_keys", keys - s.keys.len());
        if let Some(chain) = s.audit.remove(&Some(id)) {
            count("audit_log", chain.len());
        }
        if let Some(chain) = s.attestations.remove(&id) {
            count("attestations", chain.len());
        }
        s.retention.remove(&id);
        s.offboarding.remove(&id);
        let deliveries = s.deliveries.len();
        // The tenant's, and the deployment's endpoints' deliveries of its events (kept under
        // the nil id; an event's id names its tenant).
        let theirs = gdpr_webhooks::event_id_prefix(id);
        s.deliveries.retain(|h| {
            h.delivery.tenant != id
                && !(h.delivery.tenant.as_uuid().is_nil()
                    && h.delivery.event_id.starts_with(&theirs))
        });
        count("webhook_deliveries", deliveries - s.deliveries.len());
        let cursors = s.cursors.len();
        s.cursors.retain(|(t, _), _| *t != id);
        count("webhook_cursors", cursors - s.cursors.len());
        s.records_deleted_at
            .retain(|subject, _| !gone.contains(subject));
        if !counts.is_empty() {
            for (table, n) in &counts {
                receipt = receipt.with(&format!("rows.{table}"), n);
            }
            s.append_audit(receipt);
        }
        Ok(counts)
    }
}

#[async_trait]
impl SubjectStore for InMemoryStore {
    async fn insert_subjects(
        &self,
        subjects: &[Subject],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let mut seen = BTreeSet::new();
        for subject in subjects {
            let taken = subject.email.as_ref().is_some_and(|email| {
                !seen.insert((subject.tenant, email.clone()))
                    || s.subjects
                        .iter()
                        .any(|x| x.tenant == subject.tenant && x.email.as_ref() == Some(email))
            });
            if taken {
                return Err(StoreError::Conflict(
                    "a subject with this e-mail already exists",
                ));
            }
        }
        for subject in subjects {
            s.keys.insert((subject.tenant, subject.id));
            s.subjects.push(subject.clone());
        }
        for event in audit {
            s.append_audit(event);
        }
        Ok(())
    }

    async fn get_subject(&self, tenant: TenantId, id: SubjectId) -> Result<Subject, StoreError> {
        let s = self.state()?;
        if s.profiles_unreadable {
            return Err(StoreError::Corrupt("a profile does not decrypt".into()));
        }
        s.subjects
            .iter()
            .find(|x| x.tenant == tenant && x.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn subject_exists(&self, tenant: TenantId, id: SubjectId) -> Result<bool, StoreError> {
        Ok(self.state()?.subject_exists(tenant, id))
    }

    async fn find_subject_by_email(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<Subject>, StoreError> {
        let s = self.state()?;
        Ok(s.subjects
            .iter()
            .find(|x| x.tenant == tenant && x.email.as_ref() == Some(email))
            .cloned())
    }

    async fn update_subject(&self, subject: &Subject) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let taken = subject.email.as_ref().is_some_and(|email| {
            s.subjects.iter().any(|x| {
                x.tenant == subject.tenant && x.id != subject.id && x.email.as_ref() == Some(email)
            })
        });
        if taken {
            return Err(StoreError::Conflict(
                "a subject with this e-mail already exists",
            ));
        }
        let slot = s
            .subjects
            .iter_mut()
            .find(|x| x.tenant == subject.tenant && x.id == subject.id)
            .ok_or(StoreError::NotFound)?;
        *slot = subject.clone();
        Ok(())
    }

    async fn list_subjects(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<Subject>, StoreError> {
        let s = self.state()?;
        Ok(paged(
            s.subjects.iter().filter(|x| x.tenant == tenant).cloned(),
            page,
            |x| Cursor {
                at: x.created_at,
                id: *x.id.as_uuid(),
            },
        ))
    }

    async fn idle_subjects(
        &self,
        tenant: TenantId,
        before: OffsetDateTime,
    ) -> Result<Vec<(SubjectId, OffsetDateTime)>, StoreError> {
        let s = self.state()?;
        let mut idle: Vec<(SubjectId, OffsetDateTime)> = s
            .subjects
            .iter()
            .filter(|x| x.tenant == tenant)
            .filter(|x| !s.records.iter().any(|r| r.subject == x.id))
            .map(|x| {
                let deleted = s.records_deleted_at.get(&x.id).copied();
                (x.id, deleted.map_or(x.updated_at, |d| d.max(x.updated_at)))
            })
            .filter(|(_, last)| *last <= before)
            .collect();
        idle.sort_by_key(|(id, _)| *id);
        Ok(idle)
    }
}

#[async_trait]
impl FormStore for InMemoryStore {
    async fn insert_form(&self, form: &Form) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.forms
            .iter()
            .any(|f| f.tenant == form.tenant && f.name == form.name)
        {
            return Err(StoreError::Conflict("a form with this name already exists"));
        }
        s.forms.push(form.clone());
        Ok(())
    }

    async fn get_form(&self, tenant: TenantId, id: FormId) -> Result<Form, StoreError> {
        let s = self.state()?;
        s.forms
            .iter()
            .find(|f| f.tenant == tenant && f.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn update_form(&self, form: &Form) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let slot = s
            .forms
            .iter_mut()
            .find(|f| f.tenant == form.tenant && f.id == form.id)
            .ok_or(StoreError::NotFound)?;
        *slot = form.clone();
        Ok(())
    }

    async fn list_forms(&self, tenant: TenantId) -> Result<Vec<Form>, StoreError> {
        Ok(self
            .state()?
            .forms
            .iter()
            .filter(|f| f.tenant == tenant)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl RecordStore for InMemoryStore {
    async fn insert_record(&self, record: &Record) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let form_exists = s
            .forms
            .iter()
            .any(|f| f.tenant == record.tenant && f.id == record.form);
        if !s.subject_exists(record.tenant, record.subject) || !form_exists {
            return Err(StoreError::NotFound);
        }
        s.records.push(record.clone());
        Ok(())
    }

    async fn insert_records(
        &self,
        records: &[Record],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        // One lock: all or nothing.
        let mut s = self.state()?;
        for r in records {
            let form_exists = s
                .forms
                .iter()
                .any(|f| f.tenant == r.tenant && f.id == r.form);
            if !s.subject_exists(r.tenant, r.subject) || !form_exists {
                return Err(StoreError::NotFound);
            }
        }
        s.records.extend(records.iter().cloned());
        for event in audit {
            s.append_audit(event);
        }
        Ok(())
    }

    async fn get_record(&self, tenant: TenantId, id: RecordId) -> Result<Record, StoreError> {
        let s = self.state()?;
        s.records
            .iter()
            .find(|r| r.tenant == tenant && r.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn list_records(
        &self,
        tenant: TenantId,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
    ) -> Result<Vec<Record>, StoreError> {
        let s = self.state()?;
        let matching = s.records.iter().filter(|r| {
            r.tenant == tenant
                && form.is_none_or(|f| f == r.form)
                && subject.is_none_or(|x| x == r.subject)
        });
        Ok(paged(matching.cloned(), page, |r| Cursor {
            at: r.created_at,
            id: *r.id.as_uuid(),
        }))
    }

    async fn count_records_by_subject(
        &self,
        tenant: TenantId,
        scope: RecordScope,
    ) -> Result<BTreeMap<SubjectId, RecordCount>, StoreError> {
        let mut counts: BTreeMap<SubjectId, RecordCount> = BTreeMap::new();
        for r in self.state()?.records.iter().filter(|r| r.tenant == tenant) {
            let count = counts.entry(r.subject).or_default();
            count.total += 1;
            count.in_scope += u64::from(scope.contains(r.form, r.created_at));
        }
        counts.retain(|_, c| c.in_scope > 0);
        Ok(counts)
    }

    async fn records_submitted_before(
        &self,
        tenant: TenantId,
        form: FormId,
        before: OffsetDateTime,
        after: Option<RecordRef>,
        limit: u32,
    ) -> Result<Vec<RecordRef>, StoreError> {
        let s = self.state()?;
        let mut found: Vec<RecordRef> = s
            .records
            .iter()
            .filter(|r| r.tenant == tenant && r.form == form && r.created_at <= before)
            .map(|r| RecordRef {
                id: r.id,
                subject: r.subject,
                created_at: r.created_at,
            })
            .filter(|r| after.is_none_or(|a| (r.created_at, r.id) > (a.created_at, a.id)))
            .collect();
        found.sort_by_key(|r| (r.created_at, r.id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn count_records_of(
        &self,
        tenant: TenantId,
        form: FormId,
        subjects: &[SubjectId],
        submitted_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .records
            .iter()
            .filter(|r| {
                r.tenant == tenant
                    && r.form == form
                    && subjects.contains(&r.subject)
                    && r.created_at <= submitted_before
            })
            .count() as u64)
    }

    async fn expire_records(
        &self,
        tenant: TenantId,
        form: FormId,
        submitted_before: OffsetDateTime,
        after: Option<OffsetDateTime>,
        spared: &[SubjectId],
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<(u64, Option<OffsetDateTime>), StoreError> {
        let mut expired: Vec<(OffsetDateTime, RecordId)> = self
            .state()?
            .records
            .iter()
            .filter(|r| {
                r.tenant == tenant
                    && r.form == form
                    && r.created_at <= submitted_before
                    && after.is_none_or(|a| r.created_at > a)
                    && !spared.contains(&r.subject)
            })
            .map(|r| (r.created_at, r.id))
            .collect();
        expired.sort();
        // As the database does: up to the `limit`-th, and whatever shares its instant.
        let last = expired
            .get((limit.max(1) - 1) as usize)
            .or(expired.last())
            .map(|(t, _)| *t);
        let ids: Vec<RecordId> = expired
            .into_iter()
            .filter(|(t, _)| last.is_some_and(|l| *t <= l))
            .map(|(_, id)| id)
            .collect();
        let deleted = self.delete_records(tenant, &ids, at).await?;
        Ok((deleted, last.filter(|_| deleted > 0)))
    }

    async fn delete_records(
        &self,
        tenant: TenantId,
        ids: &[RecordId],
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut s = self.state()?;
        let ids: BTreeSet<RecordId> = ids.iter().copied().collect();
        let (gone, kept): (Vec<Record>, Vec<Record>) = std::mem::take(&mut s.records)
            .into_iter()
            .partition(|r| r.tenant == tenant && ids.contains(&r.id));
        s.records = kept;
        for r in &gone {
            let last = s.records_deleted_at.entry(r.subject).or_insert(at);
            *last = (*last).max(at);
        }
        Ok(gone.len() as u64)
    }
}

#[async_trait]
impl ConsentStore for InMemoryStore {
    async fn insert_purpose(&self, tenant: TenantId, purpose: &Purpose) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if s.purposes
            .iter()
            .any(|(t, p)| *t == tenant && p.id == purpose.id)
        {
            return Err(StoreError::Conflict(
                "a purpose with this id already exists",
            ));
        }
        s.purposes.push((tenant, purpose.clone()));
        Ok(())
    }

    async fn get_purpose(&self, tenant: TenantId, id: &PurposeId) -> Result<Purpose, StoreError> {
        let s = self.state()?;
        s.purposes
            .iter()
            .find(|(t, p)| *t == tenant && &p.id == id)
            .map(|(_, p)| p.clone())
            .ok_or(StoreError::NotFound)
    }

    async fn list_purposes(&self, tenant: TenantId) -> Result<Vec<Purpose>, StoreError> {
        let s = self.state()?;
        let mut list: Vec<Purpose> = s
            .purposes
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, p)| p.clone())
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    async fn save_consent_form(&self, form: &ConsentForm) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if let Some(stored) = s.consent_forms.iter_mut().find(|f| f.id == form.id) {
            if stored.tenant != form.tenant {
                return Err(StoreError::NotFound);
            }
            let unchanged = stored
                .versions()
                .iter()
                .zip(form.versions())
                .all(|(old, new)| old == new);
            if !unchanged || form.versions().len() < stored.versions().len() {
                return Err(StoreError::Conflict(
                    "published consent-form versions are immutable",
                ));
            }
            *stored = form.clone();
        } else {
            s.consent_forms.push(form.clone());
        }
        Ok(())
    }

    async fn get_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
    ) -> Result<ConsentForm, StoreError> {
        let s = self.state()?;
        s.consent_forms
            .iter()
            .find(|f| f.tenant == tenant && f.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn list_consent_forms(&self, tenant: TenantId) -> Result<Vec<ConsentForm>, StoreError> {
        Ok(self
            .state()?
            .consent_forms
            .iter()
            .filter(|f| f.tenant == tenant)
            .cloned()
            .collect())
    }

    async fn append_consent_event(&self, event: &ConsentEvent) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if !s.subject_exists(event.tenant, event.subject) {
            return Err(StoreError::NotFound);
        }
        s.consent_events.push(event.clone());
        Ok(())
    }

    async fn consent_history(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ConsentEvent>, StoreError> {
        let s = self.state()?;
        Ok(s.consent_events
            .iter()
            .filter(|e| e.tenant == tenant && e.subject == subject)
            .cloned()
            .collect())
    }

    async fn retire_consent_form(
        &self,
        tenant: TenantId,
        id: ConsentFormId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let form = s
            .consent_forms
            .iter_mut()
            .find(|f| f.tenant == tenant && f.id == id)
            .ok_or(StoreError::NotFound)?;
        form.retired_at.get_or_insert(at);
        Ok(())
    }

    async fn consent_events_page(
        &self,
        tenant: TenantId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, ConsentEvent)>, StoreError> {
        let s = self.state()?;
        Ok(s.consent_events
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e))
            .filter(|(seq, e)| e.tenant == tenant && *seq > after)
            .take(limit as usize)
            .map(|(seq, e)| (seq, e.clone()))
            .collect())
    }

    async fn tenant_consent_events(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<ConsentEvent>, StoreError> {
        let s = self.state()?;
        Ok(s.consent_events
            .iter()
            .filter(|e| e.tenant == tenant)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl RequestStore for InMemoryStore {
    async fn insert_request(&self, request: &SubjectRequest) -> Result<(), StoreError> {
        self.state()?.requests.push(request.clone());
        Ok(())
    }

    async fn get_request(
        &self,
        tenant: TenantId,
        id: RequestId,
    ) -> Result<SubjectRequest, StoreError> {
        let s = self.state()?;
        s.requests
            .iter()
            .find(|r| r.tenant == tenant && r.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn update_request(
        &self,
        before: &SubjectRequest,
        after: &SubjectRequest,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let slot = s
            .requests
            .iter_mut()
            .find(|r| r.tenant == after.tenant && r.id == after.id)
            .ok_or(StoreError::NotFound)?;
        if slot != before {
            return Err(StoreError::Conflict(gdpr_ports::REQUEST_CHANGED));
        }
        *slot = after.clone();
        Ok(())
    }

    async fn list_requests(
        &self,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let s = self.state()?;
        let matching = s
            .requests
            .iter()
            .filter(|r| tenant.is_none_or(|t| t == r.tenant));
        Ok(paged(matching.cloned(), page, |r| Cursor {
            at: r.received_at,
            id: *r.id.as_uuid(),
        }))
    }

    async fn open_requests(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let s = self.state()?;
        let mut open: Vec<SubjectRequest> = s
            .requests
            .iter()
            .filter(|r| tenant.is_none_or(|t| t == r.tenant) && r.status == RequestStatus::Open)
            .cloned()
            .collect();
        open.sort_by_key(|r| (r.received_at, r.id));
        Ok(open)
    }

    async fn list_subject_requests(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let s = self.state()?;
        let mut theirs: Vec<SubjectRequest> = s
            .requests
            .iter()
            .filter(|r| r.tenant == tenant && r.subject == subject)
            .cloned()
            .collect();
        theirs.sort_by_key(|r| (r.received_at, r.id));
        Ok(theirs)
    }
}

#[async_trait]
impl LegalHoldStore for InMemoryStore {
    async fn insert_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if !s.subject_exists(hold.tenant, hold.subject) {
            return Err(StoreError::NotFound);
        }
        s.holds.push(hold.clone());
        Ok(())
    }

    async fn update_hold(&self, hold: &LegalHold) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let slot = s
            .holds
            .iter_mut()
            .find(|h| h.tenant == hold.tenant && h.id == hold.id)
            .ok_or(StoreError::NotFound)?;
        *slot = hold.clone();
        Ok(())
    }

    async fn held_subjects(&self, tenant: TenantId) -> Result<BTreeSet<SubjectId>, StoreError> {
        Ok(self
            .state()?
            .holds
            .iter()
            .filter(|h| h.tenant == tenant && h.is_active())
            .map(|h| h.subject)
            .collect())
    }

    async fn holds_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<LegalHold>, StoreError> {
        let s = self.state()?;
        Ok(s.holds
            .iter()
            .filter(|h| h.tenant == tenant && h.subject == subject)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ProcessingLimitStore for InMemoryStore {
    async fn insert_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if !s.subject_exists(limit.tenant, limit.subject) {
            return Err(StoreError::NotFound);
        }
        s.limits.push(limit.clone());
        Ok(())
    }

    async fn update_limit(&self, limit: &ProcessingLimit) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let slot = s
            .limits
            .iter_mut()
            .find(|l| l.tenant == limit.tenant && l.id == limit.id)
            .ok_or(StoreError::NotFound)?;
        *slot = limit.clone();
        Ok(())
    }

    async fn limits_of(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<ProcessingLimit>, StoreError> {
        Ok(self
            .state()?
            .limits
            .iter()
            .filter(|l| l.tenant == tenant && l.subject == subject)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ErasureStore for InMemoryStore {
    async fn erase_subjects(&self, erasures: Vec<Erasure>) -> Result<Vec<Erased>, StoreError> {
        // One lock held for the whole batch: the in-memory equivalent of one transaction.
        let mut s = self.state()?;
        let mut outcomes = Vec::with_capacity(erasures.len());
        for e in erasures {
            let (tenant, subject) = (e.tombstone.tenant, e.tombstone.subject);
            let Some(index) = s
                .subjects
                .iter()
                .position(|x| x.tenant == tenant && x.id == subject)
            else {
                outcomes.push(Erased::NotFound);
                continue;
            };
            if s.holds
                .iter()
                .any(|h| h.tenant == tenant && h.subject == subject && h.is_active())
            {
                outcomes.push(Erased::Held);
                continue;
            }
            let profile = s.subjects.remove(index);
            let personal_fields = u64::from(profile.email.is_some())
                + u64::from(profile.full_name.is_some())
                + u64::from(profile.ip_address.is_some());
            let before = s.records.len();
            s.records
                .retain(|r| !(r.tenant == tenant && r.subject == subject));
            let records = (before - s.records.len()) as u64;
            let before = s.consent_events.len();
            s.consent_events
                .retain(|c| !(c.tenant == tenant && c.subject == subject));
            let consents = (before - s.consent_events.len()) as u64;
            let keys = u64::from(s.keys.remove(&(tenant, subject)));
            s.limits
                .retain(|l| !(l.tenant == tenant && l.subject == subject));
            s.tombstones.push(e.tombstone);
            s.append_audit(e.audit);
            let mut receipt = e.receipt;
            receipt.record_erased(
                ErasedCounts {
                    records,
                    personal_fields,
                    keys,
                    consents,
                },
                e.tombstone.erased_at,
            );
            s.receipts.push(receipt.clone());
            outcomes.push(Erased::Done(receipt));
        }
        Ok(outcomes)
    }

    async fn tombstones(&self, tenant: TenantId) -> Result<Vec<Tombstone>, StoreError> {
        Ok(self
            .state()?
            .tombstones
            .iter()
            .filter(|t| t.tenant == tenant)
            .copied()
            .collect())
    }

    async fn save_erasure_receipts(&self, receipts: &[ErasureReceipt]) -> Result<(), StoreError> {
        let mut s = self.state()?;
        if receipts.iter().any(|r| {
            s.receipts
                .iter()
                .any(|x| x.id == r.id && x.tenant != r.tenant)
        }) {
            return Err(StoreError::Conflict(
                "an erasure receipt with this id belongs to another tenant",
            ));
        }
        for receipt in receipts {
            match s.receipts.iter_mut().find(|r| r.id == receipt.id) {
                Some(slot) => *slot = receipt.clone(),
                None => s.receipts.push(receipt.clone()),
            }
        }
        Ok(())
    }

    async fn get_erasure_receipt(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<ErasureReceipt, StoreError> {
        let s = self.state()?;
        s.receipts
            .iter()
            .find(|r| r.tenant == tenant && r.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn unfinished_erasure_receipts(&self) -> Result<Vec<ErasureReceipt>, StoreError> {
        let s = self.state()?;
        Ok(s.receipts
            .iter()
            .filter(|r| !r.unfinished().is_empty())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        Ok(self.state()?.append_audit(event))
    }

    async fn audit_records(
        &self,
        tenant: Option<TenantId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let s = self.state()?;
        Ok(s.audit
            .get(&tenant)
            .map(|chain| {
                chain
                    .iter()
                    .filter(|r| r.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl AttestationLog for InMemoryStore {
    async fn append_attestation(
        &self,
        tenant: TenantId,
        at: OffsetDateTime,
        checks: Vec<Check>,
        audit: Option<AuditMark>,
    ) -> Result<Attestation, StoreError> {
        let mut s = self.state()?;
        let chain = s.attestations.entry(tenant).or_default();
        let attestation = Attestation::chain(chain.last(), tenant, at, checks, audit);
        chain.push(attestation.clone());
        Ok(attestation)
    }

    async fn attestations(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Attestation>, StoreError> {
        let s = self.state()?;
        Ok(s.attestations
            .get(&tenant)
            .map(|chain| {
                chain
                    .iter()
                    .filter(|a| a.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn last_attestation(&self, tenant: TenantId) -> Result<Option<Attestation>, StoreError> {
        let s = self.state()?;
        Ok(s.attestations
            .get(&tenant)
            .and_then(|chain| chain.last().cloned()))
    }
}

#[async_trait]
impl ApiKeyStore for InMemoryStore {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.state()?.api_keys.push(key.clone());
        Ok(())
    }

    async fn get_api_key(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError> {
        let s = self.state()?;
        s.api_keys
            .iter()
            .find(|k| k.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let key = s
            .api_keys
            .iter_mut()
            .find(|k| k.tenant == tenant && k.id == id)
            .ok_or(StoreError::NotFound)?;
        key.revoked_at.get_or_insert(at);
        Ok(())
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self
            .state()?
            .api_keys
            .iter()
            .filter(|k| k.tenant == tenant)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl JobQueue for InMemoryStore {
    async fn enqueue(
        &self,
        id: Uuid,
        kind: &str,
        payload: &str,
        run_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state()?;
        if s.jobs.iter().any(|j| j.job.id == id) {
            return Ok(false);
        }
        s.jobs.push(JobRow {
            job: Job {
                id,
                kind: kind.to_owned(),
                payload: payload.to_owned(),
                attempts: 0,
                progress: (0, 0),
            },
            worker: None,
            state: JobState::Queued,
            run_at,
            claimed_at: None,
            last_error: None,
            result: None,
        });
        Ok(true)
    }

    async fn claim(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        let mut s = self.state()?;
        let due = s
            .jobs
            .iter_mut()
            .filter(|j| match j.state {
                JobState::Queued => j.run_at <= now,
                JobState::Running => {
                    j.claimed_at.is_some_and(|c| c + lease < now)
                        && j.job.attempts < gdpr_ports::MAX_ATTEMPTS
                }
                JobState::Done | JobState::Failed => false,
            })
            .min_by_key(|j| j.run_at);
        Ok(due.map(|row| {
            row.state = JobState::Running;
            row.worker = Some(worker.to_owned());
            row.claimed_at = Some(now);
            row.job.attempts += 1;
            row.job.clone()
        }))
    }

    async fn record_progress(
        &self,
        id: Uuid,
        worker: &str,
        done: u64,
        total: u64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.with_job(id, worker, |row| {
            row.job.progress = (done, total);
            row.claimed_at = Some(now);
        })
    }

    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        result: &str,
        settled: Option<String>,
    ) -> Result<(), StoreError> {
        self.with_job(id, worker, |row| {
            row.state = JobState::Done;
            row.result = Some(result.to_owned());
            if let Some(payload) = settled {
                row.job.payload = payload;
            }
        })
    }

    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        settled: Option<String>,
    ) -> Result<(), StoreError> {
        self.with_job(id, worker, |row| {
            row.last_error = Some(error.to_owned());
            match retry_at {
                Some(at) => {
                    row.state = JobState::Queued;
                    row.run_at = at;
                }
                None => {
                    row.state = JobState::Failed;
                    if let Some(payload) = settled {
                        row.job.payload = payload;
                    }
                }
            }
        })
    }

    async fn depth(&self, now: OffsetDateTime, lease: Duration) -> Result<QueueDepth, StoreError> {
        let s = self.state()?;
        let mut depth = QueueDepth::default();
        for row in &s.jobs {
            let due_since = match (row.state, row.claimed_at) {
                (JobState::Queued, _) if row.run_at <= now => Some(row.run_at),
                (JobState::Running, Some(at))
                    if at < now - lease && row.job.attempts < gdpr_ports::MAX_ATTEMPTS =>
                {
                    Some(at + lease)
                }
                (JobState::Running, Some(at)) if at < now - lease => {
                    // Every attempt used: abandoned, counted with the failed.
                    depth.failed += 1;
                    None
                }
                (JobState::Running, _) => {
                    depth.running += 1;
                    None
                }
                (JobState::Failed, _) => {
                    depth.failed += 1;
                    None
                }
                _ => None,
            };
            if let Some(since) = due_since {
                depth.due += 1;
                depth.oldest_due = Some(depth.oldest_due.map_or(since, |o| o.min(since)));
            }
        }
        Ok(depth)
    }

    async fn job(&self, id: Uuid) -> Result<JobStatus, StoreError> {
        let s = self.state()?;
        let row = s
            .jobs
            .iter()
            .find(|j| j.job.id == id)
            .ok_or(StoreError::NotFound)?;
        Ok(JobStatus {
            id,
            kind: row.job.kind.clone(),
            state: row.state,
            attempts: row.job.attempts,
            progress: row.job.progress,
            last_error: row.last_error.clone(),
            result: row.result.clone(),
            payload: row.job.payload.clone(),
        })
    }
}

impl InMemoryStore {
    /// Changes a job that `worker` still holds.
    fn with_job(
        &self,
        id: Uuid,
        worker: &str,
        change: impl FnOnce(&mut JobRow),
    ) -> Result<(), StoreError> {
        let mut s = self.state()?;
        let row = s
            .jobs
            .iter_mut()
            .find(|j| j.job.id == id)
            .ok_or(StoreError::NotFound)?;
        if row.state != JobState::Running || row.worker.as_deref() != Some(worker) {
            return Err(StoreError::Conflict(
                "the job's lease was lost to another worker",
            ));
        }
        change(row);
        Ok(())
    }
}
