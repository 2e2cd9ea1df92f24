//! Dumps and restores of the in-memory store, with the real adapter's contract: keys first,
//! rows parents first, each row tagged with its subject; restore replaces the tenant's rows in
//! one step and keeps the accountability records.

use async_trait::async_trait;
use futures_util::StreamExt;
use gdpr_audit::AuditRecord;
use gdpr_consent::{ConsentEvent, ConsentForm, Form, Purpose};
use gdpr_pii::{
    ApiKeyId, Email, FormId, FullName, IpAddress, Record, RecordId, Subject, SubjectId, Tenant,
    TenantId,
};
use gdpr_ports::{
    ApiKeyRecord, Document, DocumentKind, DumpItem, DumpRow, DumpStream, Owner, RestoredCounts,
    RowStream, StoreError, TenantDumps, WrappedKey,
};
use gdpr_rights::{ErasureReceipt, LegalHold, ProcessingLimit, SubjectRequest, Tombstone};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{InMemoryStore, State};

/// The schema version of the fake's rows.
pub const FAKE_SCHEMA_VERSION: &str = "testkit-1";

/// The fake's stand-in for a wrapped data key: recognisable, and tied to its subject.
fn fake_key(tenant: TenantId, subject: SubjectId) -> Vec<u8> {
    format!("fake-key:{tenant}:{subject}").into_bytes()
}

#[derive(Serialize, Deserialize)]
struct SubjectRow {
    id: SubjectId,
    tenant: TenantId,
    email: Option<String>,
    full_name: Option<String>,
    ip_address: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
struct RecordRow {
    id: RecordId,
    tenant: TenantId,
    form: FormId,
    subject: SubjectId,
    values: Value,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
struct ApiKeyRow {
    id: ApiKeyId,
    tenant: TenantId,
    secret_hash: [u8; 32],
    read_only: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

#[derive(Serialize, Deserialize)]
struct DocumentRow {
    id: uuid::Uuid,
    kind: String,
    tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    body: String,
}

#[derive(Serialize, Deserialize)]
struct PurposeRow {
    tenant: TenantId,
    purpose: Purpose,
}

fn row(table: &str, subject: Option<SubjectId>, value: &impl Serialize) -> DumpItem {
    DumpItem::Row(DumpRow {
        table: table.to_owned(),
        subject,
        json: serde_json::to_string(value)
            .unwrap_or_else(|_| unreachable!("the fake's rows serialise")),
    })
}

fn dump(s: &State, t: TenantId) -> Vec<DumpItem> {
    let mut items: Vec<DumpItem> = s
        .keys
        .iter()
        .filter(|(tenant, _)| *tenant == t)
        .map(|(_, subject)| {
            DumpItem::Key(WrappedKey {
                subject: *subject,
                wrapped: fake_key(t, *subject),
            })
        })
        .collect();
    items.extend(
        s.tenants
            .iter()
            .filter(|x| x.id == t)
            .map(|x| row("tenants", None, x)),
    );
    items.extend(s.api_keys.iter().filter(|k| k.tenant == t).map(|k| {
        let r = ApiKeyRow {
            id: k.id,
            tenant: k.tenant,
            secret_hash: k.secret_hash,
            read_only: k.read_only,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        };
        row("api_keys", None, &r)
    }));
    items.extend(
        s.purposes
            .iter()
            .filter(|(x, _)| *x == t)
            .map(|(tenant, purpose)| {
                let r = PurposeRow {
                    tenant: *tenant,
                    purpose: purpose.clone(),
                };
                row("purposes", None, &r)
            }),
    );
    items.extend(
        s.consent_forms
            .iter()
            .filter(|f| f.tenant == t)
            .map(|f| row("consent_forms", None, f)),
    );
    items.extend(
        s.forms
            .iter()
            .filter(|f| f.tenant == t)
            .map(|f| row("forms", None, f)),
    );
    items.extend(s.subjects.iter().filter(|x| x.tenant == t).map(|x| {
        let r = SubjectRow {
            id: x.id,
            tenant: x.tenant,
            email: x.email.as_ref().map(|e| e.expose_pii().to_owned()),
            full_name: x.full_name.as_ref().map(|n| n.expose_pii().to_owned()),
            ip_address: x.ip_address.map(|ip| ip.expose_pii().to_string()),
            created_at: x.created_at,
            updated_at: x.updated_at,
        };
        row("subjects", Some(x.id), &r)
    }));
    items.extend(s.records.iter().filter(|r| r.tenant == t).map(|r| {
        let line = RecordRow {
            id: r.id,
            tenant: r.tenant,
            form: r.form,
            subject: r.subject,
            values: r.values.expose_pii_json(),
            created_at: r.created_at,
        };
        row("records", Some(r.subject), &line)
    }));
    items.extend(
        s.consent_events
            .iter()
            .filter(|e| e.tenant == t)
            .map(|e| row("consent_events", Some(e.subject), e)),
    );
    items.extend(
        s.requests
            .iter()
            .filter(|r| r.tenant == t)
            .map(|r| row("requests", None, r)),
    );
    items.extend(
        s.holds
            .iter()
            .filter(|h| h.tenant == t)
            .map(|h| row("legal_holds", None, h)),
    );
    items.extend(
        s.limits
            .iter()
            .filter(|l| l.tenant == t)
            .map(|l| row("processing_limits", Some(l.subject), l)),
    );
    items.extend(
        s.documents
            .iter()
            .filter(|d| d.owner == Owner::Tenant(t))
            .map(|d| {
                let doc = DocumentRow {
                    id: d.id,
                    kind: d.kind.as_str().to_owned(),
                    tenant: t,
                    created_at: d.created_at,
                    body: d.body.clone(),
                };
                row("documents", None, &doc)
            }),
    );
    items.extend(
        s.tombstones
            .iter()
            .filter(|x| x.tenant == t)
            .map(|x| row("tombstones", None, x)),
    );
    items.extend(
        s.receipts
            .iter()
            .filter(|r| r.tenant == t)
            .map(|r| row("erasure_receipts", None, r)),
    );
    items.extend(
        s.audit
            .get(&Some(t))
            .into_iter()
            .flatten()
            .map(|a| row("audit_log", None, a)),
    );
    items
}

fn parse<T: DeserializeOwned>(r: &DumpRow) -> Result<T, StoreError> {
    serde_json::from_str(&r.json)
        .map_err(|_| StoreError::Corrupt(format!("a {} row does not parse", r.table)))
}

fn foreign(r: &DumpRow) -> StoreError {
    StoreError::Corrupt(format!("a {} row belongs to another tenant", r.table))
}

/// The tenant's rows as a restore leaves them, built apart from the state so that a bad row
/// changes nothing.
#[derive(Default)]
struct Restored {
    tenants: Vec<Tenant>,
    api_keys: Vec<ApiKeyRecord>,
    purposes: Vec<(TenantId, Purpose)>,
    consent_forms: Vec<ConsentForm>,
    forms: Vec<Form>,
    subjects: Vec<Subject>,
    records: Vec<Record>,
    consent_events: Vec<ConsentEvent>,
    requests: Vec<SubjectRequest>,
    holds: Vec<LegalHold>,
    limits: Vec<ProcessingLimit>,
    documents: Vec<Document>,
    tombstones: Vec<Tombstone>,
    receipts: Vec<ErasureReceipt>,
    audit: Vec<AuditRecord>,
}

fn subject_from(r: &DumpRow, t: TenantId) -> Result<Subject, StoreError> {
    let row: SubjectRow = parse(r)?;
    if row.tenant != t {
        return Err(foreign(r));
    }
    let bad = || StoreError::Corrupt("a subjects row holds an invalid value".into());
    Ok(Subject {
        id: row.id,
        tenant: row.tenant,
        email: row
            .email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|_| bad())?,
        full_name: row
            .full_name
            .map(|n| FullName::parse(&n))
            .transpose()
            .map_err(|_| bad())?,
        ip_address: row
            .ip_address
            .map(|ip| IpAddress::parse(&ip))
            .transpose()
            .map_err(|_| bad())?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl Restored {
    fn add(&mut self, r: &DumpRow, t: TenantId) -> Result<(), StoreError> {
        macro_rules! owned {
            ($vec:ident, $ty:ty) => {{
                let value: $ty = parse(r)?;
                if value.tenant != t {
                    return Err(foreign(r));
                }
                self.$vec.push(value);
            }};
        }
        match r.table.as_str() {
            "tenants" => {
                let value: Tenant = parse(r)?;
                if value.id != t {
                    return Err(foreign(r));
                }
                self.tenants.push(value);
            }
            "api_keys" => {
                let row: ApiKeyRow = parse(r)?;
                if row.tenant != t {
                    return Err(foreign(r));
                }
                self.api_keys.push(ApiKeyRecord {
                    id: row.id,
                    tenant: row.tenant,
                    secret_hash: row.secret_hash,
                    read_only: row.read_only,
                    created_at: row.created_at,
                    revoked_at: row.revoked_at,
                });
            }
            "purposes" => {
                let row: PurposeRow = parse(r)?;
                if row.tenant != t {
                    return Err(foreign(r));
                }
                self.purposes.push((row.tenant, row.purpose));
            }
            "consent_forms" => owned!(consent_forms, ConsentForm),
            "forms" => owned!(forms, Form),
            "subjects" => self.subjects.push(subject_from(r, t)?),
            "records" => {
                let row: RecordRow = parse(r)?;
                if row.tenant != t {
                    return Err(foreign(r));
                }
                let form = self
                    .forms
                    .iter()
                    .find(|f| f.id == row.form)
                    .ok_or_else(|| StoreError::Corrupt("a records row names no form".into()))?;
                let values = form.schema.validate(&row.values).map_err(|_| {
                    StoreError::Corrupt("a records row no longer fits its form".into())
                })?;
                self.records.push(Record {
                    id: row.id,
                    tenant: row.tenant,
                    form: row.form,
                    subject: row.subject,
                    values,
                    created_at: row.created_at,
                });
            }
            "consent_events" => owned!(consent_events, ConsentEvent),
            "requests" => owned!(requests, SubjectRequest),
            "legal_holds" => owned!(holds, LegalHold),
            "processing_limits" => owned!(limits, ProcessingLimit),
            "documents" => {
                let row: DocumentRow = parse(r)?;
                if row.tenant != t {
                    return Err(foreign(r));
                }
                let kind = DocumentKind::parse(&row.kind).ok_or_else(|| {
                    StoreError::Corrupt("a documents row names an unknown kind".into())
                })?;
                self.documents.push(Document {
                    id: row.id,
                    kind,
                    owner: Owner::Tenant(t),
                    created_at: row.created_at,
                    body: row.body,
                });
            }
            "tombstones" => owned!(tombstones, Tombstone),
            "erasure_receipts" => owned!(receipts, ErasureReceipt),
            "audit_log" => {
                let value: AuditRecord = parse(r)?;
                if value.event.tenant != Some(t) {
                    return Err(foreign(r));
                }
                self.audit.push(value);
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown table {other} in a dump"
                )));
            }
        }
        Ok(())
    }
}

/// Whether a restored document whose kind is not restored where free has an id that a
/// document the restore keeps holds (another owner's, or a kept one): SeaORM's insert fails
/// on it, and so does this.
fn taken_document(s: &State, t: TenantId, new: &Restored) -> bool {
    new.documents.iter().any(|doc| {
        !doc.kind.restored_where_free()
            && s.documents.iter().any(|x| {
                x.id == doc.id && (x.owner != Owner::Tenant(t) || x.kind.kept_through_restore())
            })
    })
}

fn replace(s: &mut State, t: TenantId, new: Restored, keys: &[WrappedKey]) -> u64 {
    let mut replaced = 0;
    macro_rules! clear {
        ($vec:ident, $keep:expr) => {{
            let before = s.$vec.len();
            s.$vec.retain($keep);
            replaced += (before - s.$vec.len()) as u64;
        }};
    }
    clear!(tenants, |x| x.id != t);
    clear!(api_keys, |x| x.tenant != t);
    clear!(purposes, |(x, _)| *x != t);
    clear!(consent_forms, |x| x.tenant != t);
    clear!(forms, |x| x.tenant != t);
    clear!(subjects, |x| x.tenant != t);
    clear!(records, |x| x.tenant != t);
    clear!(consent_events, |x| x.tenant != t);
    clear!(requests, |x| x.tenant != t);
    clear!(holds, |x| x.tenant != t);
    clear!(limits, |x| x.tenant != t);
    clear!(documents, |x| x.owner != Owner::Tenant(t)
        || x.kind.kept_through_restore());
    let before = s.keys.len();
    s.keys.retain(|(x, _)| *x != t);
    replaced += (before - s.keys.len()) as u64;
    for key in keys {
        if new.subjects.iter().any(|x| x.id == key.subject) {
            s.keys.insert((t, key.subject));
        }
    }
    s.tenants.extend(new.tenants);
    s.api_keys.extend(new.api_keys);
    s.purposes.extend(new.purposes);
    s.consent_forms.extend(new.consent_forms);
    s.forms.extend(new.forms);
    s.subjects.extend(new.subjects);
    s.records.extend(new.records);
    s.consent_events.extend(new.consent_events);
    s.requests.extend(new.requests);
    s.holds.extend(new.holds);
    s.limits.extend(new.limits);
    // Taken ids were refused before (`taken_document`) but for kinds restored where free.
    for doc in new.documents {
        if !s.documents.iter().any(|x| x.id == doc.id) {
            s.documents.push(doc);
        }
    }
    for tombstone in new.tombstones {
        if !s.tombstones.iter().any(|x| x.receipt == tombstone.receipt) {
            s.tombstones.push(tombstone);
        }
    }
    for receipt in new.receipts {
        if !s.receipts.iter().any(|x| x.id == receipt.id) {
            s.receipts.push(receipt);
        }
    }
    let chain = s.audit.entry(Some(t)).or_default();
    if chain.is_empty() {
        chain.extend(new.audit);
    }
    replaced
}

#[async_trait]
impl TenantDumps for InMemoryStore {
    fn schema_version(&self) -> String {
        FAKE_SCHEMA_VERSION.to_owned()
    }

    fn reads_schema(&self, version: &str) -> bool {
        version == FAKE_SCHEMA_VERSION
    }

    async fn dump_tenant(&self, tenant: TenantId) -> Result<DumpStream, StoreError> {
        let items = {
            let s = self.state()?;
            if !s.tenants.iter().any(|x| x.id == tenant) {
                return Err(StoreError::NotFound);
            }
            dump(&s, tenant)
        };
        Ok(Box::pin(futures_util::stream::iter(
            items.into_iter().map(Ok),
        )))
    }

    async fn restore_tenant(
        &self,
        tenant: TenantId,
        keys: Vec<WrappedKey>,
        tombstones: Vec<Tombstone>,
        mut rows: RowStream,
    ) -> Result<RestoredCounts, StoreError> {
        let mut new = Restored::default();
        let mut counts = RestoredCounts::default();
        while let Some(r) = rows.next().await {
            let r = r?;
            new.add(&r, tenant)?;
            *counts.rows.entry(r.table).or_default() += 1;
        }
        new.tombstones
            .extend(tombstones.into_iter().filter(|x| x.tenant == tenant));
        counts.keys = keys
            .iter()
            .filter(|k| new.subjects.iter().any(|x| x.id == k.subject))
            .count() as u64;
        // One lock for the whole replacement: the in-memory equivalent of one transaction.
        let mut s = self.state()?;
        if taken_document(&s, tenant, &new) {
            return Err(StoreError::Corrupt(
                "a restored document's id is another's".into(),
            ));
        }
        counts.replaced = replace(&mut s, tenant, new, &keys);
        Ok(counts)
    }
}
