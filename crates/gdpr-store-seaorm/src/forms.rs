//! Forms and their records. A record's personal fields (as the form's schema classifies them)
//! are sealed together, as one ciphertext under the subject's data key bound to the record;
//! its non-personal fields stay readable. Rows sealed field by field (version 1) still open.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gdpr_audit::AuditEvent;
use gdpr_consent::Form;
use gdpr_pii::{FormId, Record, RecordId, SubjectId, TenantId};
use gdpr_ports::{FormStore, Page, RecordCount, RecordRef, RecordStore, StoreError};
use gdpr_rights::RecordScope;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Map, Value};

use crate::audit::append_many_in;
use crate::crypto::DataKey;
use crate::entity::{form, record, subject};
use crate::{
    SeaOrmStore, after_cursor, corrupt, db_err, from_json, from_nanos, is_unique_violation, limit,
    missing_parent, nanos, to_json, unavailable,
};

fn place(record: RecordId) -> String {
    // Not `format!`: made for every record read back (see `crypto::ad`).
    let mut id = [0; uuid::fmt::Hyphenated::LENGTH];
    [
        "records/",
        record.as_uuid().hyphenated().encode_lower(&mut id),
    ]
    .concat()
}

/// How the `sealed` column of a record starts since sealing version 2: then the base64 of one
/// ciphertext holding all personal fields as a JSON object. Before it (version 1, still read),
/// the column was a JSON object of field names to one ciphertext each.
const SEALED_V2: &str = "v2:";

/// The field name in a version-2 ciphertext's associated data: not a valid form field name,
/// so it can never be mistaken for a version-1 ciphertext of one field.
const ALL_FIELDS: &str = "*";

/// A record without personal fields: nothing is sealed.
const EMPTY_V1: &str = "{}";

impl SeaOrmStore {
    pub(crate) async fn load_form<C: ConnectionTrait>(
        &self,
        c: &C,
        tenant: TenantId,
        id: FormId,
    ) -> Result<Form, StoreError> {
        let row = form::Entity::find_by_id(*id.as_uuid())
            .filter(form::Column::TenantId.eq(*tenant.as_uuid()))
            .one(c)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        from_json(&row.body, "a stored form")
    }

    fn seal_record(r: &Record, form: &Form, key: &DataKey) -> (String, String) {
        let mut plain = Map::new();
        let mut personal = Map::new();
        for (field, value) in r.values.iter() {
            let json = value.expose_pii_json();
            let is_personal = form
                .schema
                .category_of(field)
                .is_none_or(|c| c.is_personal());
            if is_personal {
                personal.insert(field.to_owned(), json);
            } else {
                plain.insert(field.to_owned(), json);
            }
        }
        let sealed = if personal.is_empty() {
            EMPTY_V1.to_owned()
        } else {
            // One ciphertext for all of the record's personal fields: the record is its unit
            // (written and erased whole), and one open per record halves the cost of reading
            // them back. The field names are inside what is authenticated.
            let json = Value::Object(personal).to_string();
            let ct = key.seal(&place(r.id), ALL_FIELDS, json.as_bytes());
            format!("{SEALED_V2}{}", B64.encode(ct))
        };
        (Value::Object(plain).to_string(), sealed)
    }

    /// The row of a record, its personal fields sealed.
    fn record_row(r: &Record, form: &Form, key: &DataKey) -> record::ActiveModel {
        let (plain, sealed) = Self::seal_record(r, form, key);
        record::ActiveModel {
            id: Set(*r.id.as_uuid()),
            tenant_id: Set(*r.tenant.as_uuid()),
            form_id: Set(*r.form.as_uuid()),
            subject_id: Set(*r.subject.as_uuid()),
            plain: Set(plain),
            sealed: Set(sealed),
            created_at: Set(nanos(r.created_at)),
        }
    }

    fn open_record(row: &record::Model, form: &Form, key: &DataKey) -> Result<Record, StoreError> {
        let id = RecordId::from_uuid(row.id);
        let place = place(id);
        let mut values: Map<String, Value> = from_json(&row.plain, "a record's plain fields")?;
        // The readable part is not authenticated: a personal field found there was not written
        // by us (it is only ever sealed), so the row is refused rather than believed.
        if values.keys().any(|field| {
            form.schema
                .category_of(field)
                .is_some_and(|c| c.is_personal())
        }) {
            return Err(corrupt("a record's readable fields hold a personal one"));
        }
        if let Some(b64) = row.sealed.strip_prefix(SEALED_V2) {
            let mut ct = B64
                .decode(b64)
                .map_err(|_| corrupt("a record's sealed fields are not base64"))?;
            let json = key
                .open_in_place(&place, ALL_FIELDS, &mut ct)
                .map_err(|_| corrupt("a record's fields do not decrypt under its key"))?;
            let personal: Map<String, Value> = serde_json::from_slice(json)
                .map_err(|_| corrupt("a record's decrypted fields are not a JSON object"))?;
            values.extend(personal);
        } else {
            // Records written before sealing version 2: one ciphertext per field.
            let sealed: Map<String, Value> = from_json(&row.sealed, "a record's sealed fields")?;
            for (field, ct) in sealed {
                let ct = ct
                    .as_str()
                    .and_then(|s| B64.decode(s).ok())
                    .ok_or_else(|| corrupt("a sealed field is not base64"))?;
                let json = key
                    .open(&place, &field, &ct)
                    .map_err(|_| corrupt("a record field does not decrypt under its key"))?;
                let value: Value = serde_json::from_slice(&json)
                    .map_err(|_| corrupt("a decrypted field is not JSON"))?;
                values.insert(field, value);
            }
        }
        let values = form
            .schema
            .validate_owned(values)
            .map_err(|_| corrupt("a stored record no longer fits its form"))?;
        Ok(Record {
            id,
            tenant: TenantId::from_uuid(row.tenant_id),
            form: FormId::from_uuid(row.form_id),
            subject: SubjectId::from_uuid(row.subject_id),
            values,
            created_at: from_nanos(row.created_at),
        })
    }

    async fn open_records(
        &self,
        tenant: TenantId,
        rows: Vec<record::Model>,
    ) -> Result<Vec<Record>, StoreError> {
        let subjects: Vec<SubjectId> = rows
            .iter()
            .map(|r| SubjectId::from_uuid(r.subject_id))
            .collect();
        let keys = self.data_keys(&self.db, tenant, &subjects).await?;
        let mut forms: HashMap<uuid::Uuid, Form> = HashMap::new();
        for row in &rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = forms.entry(row.form_id) {
                slot.insert(
                    self.load_form(&self.db, tenant, FormId::from_uuid(row.form_id))
                        .await?,
                );
            }
        }
        if rows.len() < PARALLEL_FROM {
            return open_all(&rows, &keys, &forms);
        }
        // Decrypting and validating is CPU work: large reads (an access export, a batch plan
        // by field value) are spread over the cores, off the async workers.
        let (keys, forms) = (Arc::new(keys), Arc::new(forms));
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let per_worker = rows.len().div_ceil(workers.clamp(1, 8));
        let mut rest = rows;
        let mut tasks = Vec::new();
        while !rest.is_empty() {
            let tail = rest.split_off(per_worker.min(rest.len()));
            let chunk = std::mem::replace(&mut rest, tail);
            let (keys, forms) = (Arc::clone(&keys), Arc::clone(&forms));
            tasks.push(tokio::task::spawn_blocking(move || {
                open_all(&chunk, &keys, &forms)
            }));
        }
        let mut out = Vec::with_capacity(subjects.len());
        for task in tasks {
            let opened = task
                .await
                .map_err(|_| corrupt("a worker decrypting records stopped"))??;
            out.extend(opened);
        }
        Ok(out)
    }
}

/// Rows from which records are opened on several cores.
const PARALLEL_FROM: usize = 1_000;

/// Opens rows in order, with their subjects' keys and their forms.
fn open_all(
    rows: &[record::Model],
    keys: &HashMap<SubjectId, DataKey>,
    forms: &HashMap<uuid::Uuid, Form>,
) -> Result<Vec<Record>, StoreError> {
    rows.iter()
        .map(|row| {
            let key = keys
                .get(&SubjectId::from_uuid(row.subject_id))
                .ok_or_else(|| corrupt("a record's subject has no data key"))?;
            let form = forms
                .get(&row.form_id)
                .ok_or_else(|| corrupt("a record's form is missing"))?;
            SeaOrmStore::open_record(row, form, key)
        })
        .collect()
}

#[async_trait]
impl FormStore for SeaOrmStore {
    async fn insert_form(&self, f: &Form) -> Result<(), StoreError> {
        form::ActiveModel {
            id: Set(*f.id.as_uuid()),
            tenant_id: Set(*f.tenant.as_uuid()),
            name: Set(f.name.clone()),
            body: Set(to_json(f)),
            created_at: Set(nanos(f.created_at)),
        }
        .insert(&self.db)
        .await
        .map(drop)
        .map_err(db_err("a form with this name already exists"))
    }

    async fn get_form(&self, tenant: TenantId, id: FormId) -> Result<Form, StoreError> {
        self.load_form(&self.db, tenant, id).await
    }

    async fn update_form(&self, f: &Form) -> Result<(), StoreError> {
        use form::Column as C;
        crate::replace_body::<form::Entity>(
            &self.db,
            [C::Body, C::Id, C::TenantId],
            *f.id.as_uuid(),
            *f.tenant.as_uuid(),
            to_json(f),
        )
        .await
    }

    async fn list_forms(&self, tenant: TenantId) -> Result<Vec<Form>, StoreError> {
        form::Entity::find()
            .filter(form::Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(form::Column::CreatedAt)
            .order_by_asc(form::Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| from_json(&row.body, "a stored form"))
            .collect()
    }
}

#[async_trait]
impl RecordStore for SeaOrmStore {
    async fn insert_record(&self, r: &Record) -> Result<(), StoreError> {
        let form = self.load_form(&self.db, r.tenant, r.form).await?;
        let key = self.data_key(&self.db, r.tenant, r.subject).await?;
        Self::record_row(r, &form, &key)
            .insert(&self.db)
            .await
            .map(drop)
            // The subject may have been erased between the key read and this insert.
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                    StoreError::Conflict("record id already exists")
                }
                _ => missing_parent(e),
            })
    }

    async fn insert_records(
        &self,
        records: &[Record],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        self.insert_grouped(records, audit).await
    }

    async fn get_record(&self, tenant: TenantId, id: RecordId) -> Result<Record, StoreError> {
        let row = record::Entity::find_by_id(*id.as_uuid())
            .filter(record::Column::TenantId.eq(*tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::NotFound)?;
        self.open_records(tenant, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    async fn list_records(
        &self,
        tenant: TenantId,
        form: Option<FormId>,
        subject: Option<SubjectId>,
        page: Page,
    ) -> Result<Vec<Record>, StoreError> {
        let (offset, limit) = limit(page);
        let mut query = record::Entity::find()
            .filter(record::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(after_cursor(
                page,
                record::Column::CreatedAt,
                record::Column::Id,
            ));
        if let Some(form) = form {
            query = query.filter(record::Column::FormId.eq(*form.as_uuid()));
        }
        if let Some(subject) = subject {
            query = query.filter(record::Column::SubjectId.eq(*subject.as_uuid()));
        }
        let rows = if page == Page::ALL {
            let mut rows = query.all(&self.db).await.map_err(unavailable)?;
            rows.sort_unstable_by_key(|r| (r.created_at, r.id));
            rows
        } else {
            query
                .order_by_asc(record::Column::CreatedAt)
                .order_by_asc(record::Column::Id)
                .offset(offset)
                .limit(limit)
                .all(&self.db)
                .await
                .map_err(unavailable)?
        };
        self.open_records(tenant, rows).await
    }

    async fn count_records_by_subject(
        &self,
        tenant: TenantId,
        scope: RecordScope,
    ) -> Result<BTreeMap<SubjectId, RecordCount>, StoreError> {
        use record::Column as C;
        let mut in_scope = Condition::all();
        if let Some(form) = scope.form {
            in_scope = in_scope.add(C::FormId.eq(*form.as_uuid()));
        }
        if let Some(from) = scope.from {
            in_scope = in_scope.add(C::CreatedAt.gte(nanos(from)));
        }
        if let Some(to) = scope.to {
            in_scope = in_scope.add(C::CreatedAt.lt(nanos(to)));
        }
        // One pass: every record of the tenant counted, those in scope counted apart.
        let in_scope = if in_scope.is_empty() {
            Expr::val(1)
        } else {
            Expr::expr(CaseStatement::new().case(in_scope, 1).finally(0))
        };
        let rows: Vec<(uuid::Uuid, i64, i64)> = record::Entity::find()
            .select_only()
            .column(C::SubjectId)
            .column_as(C::Id.count(), "total")
            .column_as(in_scope.sum(), "in_scope")
            .filter(C::TenantId.eq(*tenant.as_uuid()))
            .group_by(C::SubjectId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, in_scope)| *in_scope > 0)
            .map(|(s, total, in_scope)| {
                let count = RecordCount {
                    in_scope: u64::try_from(in_scope).unwrap_or(0),
                    total: u64::try_from(total).unwrap_or(0),
                };
                (SubjectId::from_uuid(s), count)
            })
            .collect())
    }

    async fn records_submitted_before(
        &self,
        tenant: TenantId,
        form: FormId,
        before: time::OffsetDateTime,
        after: Option<RecordRef>,
        limit: u32,
    ) -> Result<Vec<RecordRef>, StoreError> {
        use record::Column as C;
        let mut query = record::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::SubjectId)
            .column(C::CreatedAt)
            .filter(C::TenantId.eq(*tenant.as_uuid()))
            .filter(C::FormId.eq(*form.as_uuid()))
            .filter(C::CreatedAt.lte(nanos(before)));
        if let Some(after) = after {
            let at = nanos(after.created_at);
            query = query.filter(
                Condition::any().add(C::CreatedAt.gt(at)).add(
                    Condition::all()
                        .add(C::CreatedAt.eq(at))
                        .add(C::Id.gt(*after.id.as_uuid())),
                ),
            );
        }
        let rows: Vec<(uuid::Uuid, uuid::Uuid, i64)> = query
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|(id, subject, created_at)| RecordRef {
                id: RecordId::from_uuid(id),
                subject: SubjectId::from_uuid(subject),
                created_at: from_nanos(created_at),
            })
            .collect())
    }

    async fn count_records_of(
        &self,
        tenant: TenantId,
        form: FormId,
        subjects: &[SubjectId],
        submitted_before: time::OffsetDateTime,
    ) -> Result<u64, StoreError> {
        use record::Column as C;
        let mut total = 0;
        for chunk in subjects.chunks(1_000) {
            let ids: Vec<uuid::Uuid> = chunk.iter().map(|s| *s.as_uuid()).collect();
            total += record::Entity::find()
                .filter(C::SubjectId.is_in(ids))
                .filter(C::TenantId.eq(*tenant.as_uuid()))
                .filter(C::FormId.eq(*form.as_uuid()))
                .filter(C::CreatedAt.lte(nanos(submitted_before)))
                .count(&self.db)
                .await
                .map_err(unavailable)?;
        }
        Ok(total)
    }

    async fn expire_records(
        &self,
        tenant: TenantId,
        form: FormId,
        submitted_before: time::OffsetDateTime,
        after: Option<time::OffsetDateTime>,
        spared: &[SubjectId],
        at: time::OffsetDateTime,
        limit: u32,
    ) -> Result<(u64, Option<time::OffsetDateTime>), StoreError> {
        use record::Column as C;
        let spared: Vec<uuid::Uuid> = spared.iter().map(|s| *s.as_uuid()).collect();
        // Past the chunks before: the index is walked from where they stopped, not over the
        // entries of the rows they deleted (still in the index until a vacuum).
        let expired = || {
            let mut c = Condition::all()
                .add(C::TenantId.eq(*tenant.as_uuid()))
                .add(C::FormId.eq(*form.as_uuid()))
                .add(C::CreatedAt.lte(nanos(submitted_before)))
                .add(C::SubjectId.is_not_in(spared.clone()));
            if let Some(after) = after {
                c = c.add(C::CreatedAt.gt(nanos(after)));
            }
            c
        };
        let txn = self.write_txn().await.map_err(unavailable)?;
        // The submission time of the `limit`-th oldest: the page ends there (none: everything
        // left is in it). A range on the index's own column, so that the delete walks the
        // index like a plain `DELETE` would; records submitted at that same instant go too.
        let last: Option<i64> = record::Entity::find()
            .select_only()
            .column(C::CreatedAt)
            .filter(expired())
            .order_by_asc(C::CreatedAt)
            .offset(u64::from(std::cmp::max(limit, 1) - 1))
            .limit(1)
            .into_tuple()
            .one(&txn)
            .await
            .map_err(unavailable)?;
        let mut page = expired();
        if let Some(last) = last {
            page = page.add(C::CreatedAt.lte(last));
        }
        // Fewer than `limit` left: this chunk takes them all, up to the cutoff.
        let through = last.map_or(submitted_before, from_nanos);
        // Whose records go is said inside the database (nothing comes back to be sent again):
        // the same range, read then deleted, in one transaction.
        let whose = sea_orm::sea_query::Query::select()
            .distinct()
            .column(C::SubjectId)
            .from(record::Entity)
            .cond_where(page.clone())
            .take();
        subject::Entity::update_many()
            .col_expr(subject::Column::RecordsDeletedAt, Expr::value(nanos(at)))
            .filter(subject::Column::TenantId.eq(*tenant.as_uuid()))
            .filter(subject::Column::Id.in_subquery(whose))
            .filter(noted_before(at))
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        let deleted = record::Entity::delete_many()
            .filter(page)
            .exec(&txn)
            .await
            .map_err(unavailable)?
            .rows_affected;
        txn.commit().await.map_err(unavailable)?;
        Ok((deleted, (deleted > 0).then_some(through)))
    }

    async fn delete_records(
        &self,
        tenant: TenantId,
        ids: &[RecordId],
        at: time::OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let tenant = *tenant.as_uuid();
        let txn = self.write_txn().await.map_err(unavailable)?;
        let mut deleted = 0;
        // Bounded IN lists: far below SQLite's and PostgreSQL's bound-parameter limits.
        for chunk in ids.chunks(500) {
            let chunk: Vec<uuid::Uuid> = chunk.iter().map(|r| *r.as_uuid()).collect();
            let subjects: Vec<uuid::Uuid> = record::Entity::find()
                .select_only()
                .column(record::Column::SubjectId)
                .distinct()
                .filter(record::Column::TenantId.eq(tenant))
                .filter(record::Column::Id.is_in(chunk.clone()))
                .into_tuple()
                .all(&txn)
                .await
                .map_err(unavailable)?;
            deleted += record::Entity::delete_many()
                .filter(record::Column::TenantId.eq(tenant))
                .filter(record::Column::Id.is_in(chunk))
                .exec(&txn)
                .await
                .map_err(unavailable)?
                .rows_affected;
            subject::Entity::update_many()
                .col_expr(subject::Column::RecordsDeletedAt, Expr::value(nanos(at)))
                .filter(subject::Column::TenantId.eq(tenant))
                .filter(subject::Column::Id.is_in(subjects))
                .filter(noted_before(at))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(deleted)
    }
}

/// Subjects whose last record deletion is not yet noted at `at` or later: the time only moves
/// forward (a replay of an older decision leaves a later one in place).
fn noted_before(at: time::OffsetDateTime) -> Condition {
    Condition::any()
        .add(subject::Column::RecordsDeletedAt.is_null())
        .add(subject::Column::RecordsDeletedAt.lt(nanos(at)))
}

impl SeaOrmStore {
    /// [`RecordStore::insert_records`], written now, in one transaction.
    pub(crate) async fn insert_records_now(
        &self,
        records: &[Record],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        // Seal once, outside the transaction: one form load and one key look-up per batch.
        let mut forms: HashMap<(TenantId, FormId), Form> = HashMap::new();
        let mut keys: HashMap<TenantId, HashMap<SubjectId, DataKey>> = HashMap::new();
        for r in records {
            if let std::collections::hash_map::Entry::Vacant(slot) = forms.entry((r.tenant, r.form))
            {
                slot.insert(self.load_form(&self.db, r.tenant, r.form).await?);
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(r.tenant) {
                let subjects: Vec<SubjectId> = records
                    .iter()
                    .filter(|x| x.tenant == r.tenant)
                    .map(|x| x.subject)
                    .collect();
                slot.insert(self.data_keys(&self.db, r.tenant, &subjects).await?);
            }
        }
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            let key = keys
                .get(&r.tenant)
                .and_then(|k| k.get(&r.subject))
                .ok_or(StoreError::NotFound)?;
            rows.push(Self::record_row(r, &forms[&(r.tenant, r.form)], key));
        }
        let write = || async {
            let txn = self.write_txn().await?;
            // 7 columns × 1,000 rows: far below both backends' bound-parameter limits.
            for chunk in rows.chunks(1_000) {
                record::Entity::insert_many(chunk.to_vec())
                    .exec_without_returning(&txn)
                    .await?;
            }
            append_many_in(&txn, &self.audit_heads, &audit).await?;
            txn.commit().await
        };
        // A race for the audit chain's next position rolled everything back: run it again.
        self.retrying(write, is_unique_violation)
            .await
            .map_err(missing_parent)
    }
}

#[cfg(test)]
mod tests {
    use gdpr_consent::LawfulBasis;
    use gdpr_testkit::fake;
    use sea_orm::ActiveValue;

    use super::*;
    use crate::crypto::MasterKey;

    fn fixture() -> (Form, Record, DataKey) {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let purpose = fake::purpose("contractors", LawfulBasis::Contract);
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let form = Form::define(
            tenant,
            "Contractors",
            fake::contractors_schema(),
            &purpose,
            at,
        )
        .unwrap();
        let subject = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let values = form
            .schema
            .validate(&serde_json::json!({
                "email": "ada@example.org",
                "full_name": "Ada Lovelace",
                "day_rate": 512.5,
            }))
            .unwrap();
        let record = Record {
            id: RecordId::at(time::OffsetDateTime::UNIX_EPOCH),
            tenant,
            form: form.id,
            subject,
            values,
            created_at: at,
        };
        let (_, key) = MasterKey::generate().0.tenant(tenant).new_data_key(subject);
        (form, record, key)
    }

    fn model(row: record::ActiveModel) -> record::Model {
        let take = |v: ActiveValue<String>| v.unwrap();
        record::Model {
            id: row.id.unwrap(),
            tenant_id: row.tenant_id.unwrap(),
            form_id: row.form_id.unwrap(),
            subject_id: row.subject_id.unwrap(),
            plain: take(row.plain),
            sealed: take(row.sealed),
            created_at: row.created_at.unwrap(),
        }
    }

    /// Rows as stored by earlier versions, under a fixed master key: whatever changes in how
    /// places and associated data are built, these must keep opening (they are in databases
    /// and backups).
    #[test]
    fn stored_rows_of_both_versions_keep_opening() {
        use secrecy::SecretString;
        const WRAPPED: &str = "C2dwW8n+BMYZRt6ClnS2B/+fTXHyBV6iDp6LlBTdC3h2E2c4aDFU0nPQbzC0peYy2dYxXoBkB1pB5F7Lcb13kIyhhddA7RL5";
        const V1: &str = r#"{"email":"T9gHONMvDS4Z2o4rg6A+1buJoSF1TzYJ5nvuP1ND4Eg7zUlBoKPNzSCy7RryJTUq0bjpUuqiHRL1","full_name":"s+AuqyNEkdEeiJFtNTsUG+2U7185HETt2p81UIxbC1dUaOVy+kSkDRDilbWT5Wxpl1fchmx0"}"#;
        const V2: &str = "v2:fQra36uUgHFDFL0OZtq3rYskxZ57UVGa5Ps6/Ep3LXJ2WonPbAEyMek7WSn7ewWhaCuobkT3zBBAQy3yjpFVAl60pgiXotx2ndIIEPHBki7vDOVJK0iimvjz5XQvmg==";
        let master = MasterKey::from_base64(&SecretString::from(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
        ))
        .unwrap();
        let tenant = uuid::Uuid::from_u128(0x1111);
        let subject = uuid::Uuid::from_u128(0x2222);
        let key = master
            .tenant(TenantId::from_uuid(tenant))
            .open_data_key(SubjectId::from_uuid(subject), &B64.decode(WRAPPED).unwrap())
            .unwrap();
        let (form, _, _) = fixture();
        for sealed in [V1, V2] {
            let row = record::Model {
                id: uuid::Uuid::from_u128(0x3333),
                tenant_id: tenant,
                form_id: *form.id.as_uuid(),
                subject_id: subject,
                plain: r#"{"day_rate":512.5}"#.into(),
                sealed: sealed.into(),
                created_at: 0,
            };
            let opened = SeaOrmStore::open_record(&row, &form, &key).unwrap();
            assert_eq!(
                opened.values.expose_pii_json(),
                serde_json::json!({
                    "email": "ada@example.org",
                    "full_name": "Ada Lovelace",
                    "day_rate": 512.5,
                })
            );
        }
    }

    #[test]
    fn records_are_sealed_whole_and_version_1_rows_still_open() {
        let (form, record, key) = fixture();
        // Version 2: one ciphertext, nothing personal readable.
        let v2 = model(SeaOrmStore::record_row(&record, &form, &key));
        assert!(v2.sealed.starts_with(SEALED_V2), "{}", v2.sealed);
        assert!(!v2.sealed.contains("Lovelace") && !v2.plain.contains("Lovelace"));
        assert!(
            v2.plain.contains("day_rate"),
            "non-personal fields stay readable"
        );
        assert_eq!(SeaOrmStore::open_record(&v2, &form, &key).unwrap(), record);

        // Version 1, as rows (and backups) written before it: one ciphertext per field.
        let place = place(record.id);
        let mut sealed = Map::new();
        for field in ["email", "full_name"] {
            let json = record
                .values
                .get(field)
                .unwrap()
                .expose_pii_json()
                .to_string();
            let ct = key.seal(&place, field, json.as_bytes());
            sealed.insert(field.to_owned(), Value::String(B64.encode(ct)));
        }
        let v1 = record::Model {
            sealed: Value::Object(sealed.clone()).to_string(),
            ..v2.clone()
        };
        assert_eq!(SeaOrmStore::open_record(&v1, &form, &key).unwrap(), record);

        // A version-1 field ciphertext passed off as version 2 does not open: the associated
        // data names the field ("*" for a whole record).
        let one = sealed["email"].as_str().unwrap();
        let forged = record::Model {
            sealed: format!("{SEALED_V2}{one}"),
            ..v2
        };
        assert!(matches!(
            SeaOrmStore::open_record(&forged, &form, &key),
            Err(StoreError::Corrupt(_))
        ));

        // A personal field in the readable part (which nothing authenticates) is refused,
        // even with the sealed part emptied: never believed as the subject's data.
        let planted = record::Model {
            plain: r#"{"day_rate":512.5,"email":"eve@example.org","full_name":"Eve"}"#.into(),
            sealed: EMPTY_V1.into(),
            ..v1
        };
        assert!(matches!(
            SeaOrmStore::open_record(&planted, &form, &key),
            Err(StoreError::Corrupt(_))
        ));
    }
}
