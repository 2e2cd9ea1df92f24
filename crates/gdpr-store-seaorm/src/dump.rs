//! One tenant's rows out (a consistent snapshot, streamed) and back in (one transaction): the
//! storage side of backups.
//!
//! Rows are the entities' JSON (personal fields stay ciphertext, bytes as base64), tagged with
//! their table and, where they hold personal data, their subject. Data keys leave apart from
//! the rows, ordered by subject id, for the backup's keyring.

use std::collections::BTreeSet;

use async_trait::async_trait;
use futures_util::StreamExt;
use gdpr_migrations::{Migrator, MigratorTrait};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::{
    DumpItem, DumpRow, DumpStream, RestoredCounts, RowStream, StoreError, TenantDumps, WrappedKey,
};
use gdpr_rights::Tombstone;
use sea_orm::sea_query::Query;
use sea_orm::{
    AccessMode, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, IntoActiveModel, IsolationLevel, ModelTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Select, Statement, StreamTrait, TransactionTrait, TryInsert,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::entity::{
    api_key, audit_entry, consent_event, consent_form, consent_form_version, erasure_receipt, form,
    legal_hold, processing_limit, purpose, record, request, subject, subject_key, tenant,
    tombstone,
};
use crate::{SeaOrmStore, audit::chain_key, corrupt, nanos, unavailable};

/// Items buffered between the reading task and the consumer: enough to keep both busy, few
/// enough that memory stays flat whatever the tenant's size.
const IN_FLIGHT: usize = 256;

/// Rows per multi-row insert: at most 8 columns × 2,000 = 16,000 bound parameters, below
/// SQLite's 32,766 and PostgreSQL's 65,535; larger batches stopped paying off.
const BATCH: usize = 2_000;

/// Tables whose indexes and constraints a restore into an empty table builds after the rows
/// (PostgreSQL): those that grow with a tenant's activity. No other table's foreign key refers
/// to them.
const DEFERRED_INDEXES: [&str; 3] = ["records", "consent_events", "audit_log"];

/// The tables of a tenant in dump order, parents before children.
const TABLES: [&str; 15] = [
    "tenants",
    "api_keys",
    "purposes",
    "consent_forms",
    "consent_form_versions",
    "forms",
    "subjects",
    "records",
    "consent_events",
    "requests",
    "legal_holds",
    "processing_limits",
    "tombstones",
    "erasure_receipts",
    "audit_log",
];

type Sender = mpsc::Sender<Result<DumpItem, StoreError>>;

/// The receiver went away: the consumer stopped reading, so stop quietly.
struct Gone;

enum DumpFailure {
    Gone,
    Db(DbErr),
}

impl From<DbErr> for DumpFailure {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

impl From<Gone> for DumpFailure {
    fn from(_: Gone) -> Self {
        Self::Gone
    }
}

async fn send(tx: &Sender, item: DumpItem) -> Result<(), Gone> {
    tx.send(Ok(item)).await.map_err(|_| Gone)
}

/// Streams every row `select` finds as `table` rows.
async fn rows_of<E, C>(
    c: &C,
    tx: &Sender,
    table: &str,
    select: Select<E>,
    subject: fn(&E::Model) -> Option<Uuid>,
) -> Result<(), DumpFailure>
where
    E: EntityTrait,
    E::Model: Serialize + Send + Sync,
    C: ConnectionTrait + StreamTrait + Send,
{
    let mut rows = Box::pin(select.stream(c).await?);
    while let Some(row) = rows.next().await {
        let row = row?;
        let json = serde_json::to_string(&row)
            .unwrap_or_else(|_| unreachable!("rows of plain columns serialise"));
        let item = DumpRow {
            table: table.to_owned(),
            subject: subject(&row).map(SubjectId::from_uuid),
            json,
        };
        send(tx, DumpItem::Row(item)).await?;
    }
    Ok(())
}

async fn dump_into(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    tx: &Sender,
) -> Result<(), DumpFailure> {
    let mut keys = Box::pin(
        subject_key::Entity::find()
            .filter(subject_key::Column::TenantId.eq(tenant))
            .order_by_asc(subject_key::Column::SubjectId)
            .stream(txn)
            .await?,
    );
    while let Some(key) = keys.next().await {
        let key = key?;
        let item = WrappedKey {
            subject: SubjectId::from_uuid(key.subject_id),
            wrapped: key.wrapped,
        };
        send(tx, DumpItem::Key(item)).await?;
    }
    drop(keys);
    rows_of(
        txn,
        tx,
        TABLES[0],
        tenant::Entity::find_by_id(tenant),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[1],
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant))
            .order_by_asc(api_key::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[2],
        purpose::Entity::find()
            .filter(purpose::Column::TenantId.eq(tenant))
            .order_by_asc(purpose::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[3],
        consent_form::Entity::find()
            .filter(consent_form::Column::TenantId.eq(tenant))
            .order_by_asc(consent_form::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[4],
        consent_form_version::Entity::find()
            .filter(consent_form_version::Column::FormId.in_subquery(tenant_consent_forms(tenant)))
            .order_by_asc(consent_form_version::Column::FormId)
            .order_by_asc(consent_form_version::Column::Number),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[5],
        form::Entity::find()
            .filter(form::Column::TenantId.eq(tenant))
            .order_by_asc(form::Column::CreatedAt)
            .order_by_asc(form::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[6],
        subject::Entity::find()
            .filter(subject::Column::TenantId.eq(tenant))
            .order_by_asc(subject::Column::CreatedAt)
            .order_by_asc(subject::Column::Id),
        |s| Some(s.id),
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[7],
        record::Entity::find()
            .filter(record::Column::TenantId.eq(tenant))
            .order_by_asc(record::Column::CreatedAt)
            .order_by_asc(record::Column::Id),
        |r| Some(r.subject_id),
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[8],
        consent_event::Entity::find()
            .filter(consent_event::Column::TenantId.eq(tenant))
            .order_by_asc(consent_event::Column::Seq),
        |e| Some(e.subject_id),
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[9],
        request::Entity::find()
            .filter(request::Column::TenantId.eq(tenant))
            .order_by_asc(request::Column::ReceivedAt)
            .order_by_asc(request::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[10],
        legal_hold::Entity::find()
            .filter(legal_hold::Column::TenantId.eq(tenant))
            .order_by_asc(legal_hold::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[11],
        processing_limit::Entity::find()
            .filter(processing_limit::Column::TenantId.eq(tenant))
            .order_by_asc(processing_limit::Column::Id),
        |l| Some(l.subject_id),
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[12],
        tombstone::Entity::find()
            .filter(tombstone::Column::TenantId.eq(tenant))
            .order_by_asc(tombstone::Column::ErasedAt)
            .order_by_asc(tombstone::Column::ReceiptId),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[13],
        erasure_receipt::Entity::find()
            .filter(erasure_receipt::Column::TenantId.eq(tenant))
            .order_by_asc(erasure_receipt::Column::Id),
        no_subject,
    )
    .await?;
    rows_of(
        txn,
        tx,
        TABLES[14],
        audit_entry::Entity::find()
            .filter(audit_entry::Column::Chain.eq(chain_key(Some(TenantId::from_uuid(tenant)))))
            .order_by_asc(audit_entry::Column::Seq),
        no_subject,
    )
    .await?;
    Ok(())
}

/// For rows that hold no personal data of a subject.
const fn no_subject<M>(_: &M) -> Option<Uuid> {
    None
}

fn tenant_consent_forms(tenant: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(consent_form::Column::Id)
        .from(consent_form::Entity)
        .and_where(consent_form::Column::TenantId.eq(tenant))
        .to_owned()
}

/// Rows parsed and waiting for their multi-row insert.
#[derive(Default)]
struct Pending {
    table: Option<String>,
    rows: Vec<String>,
}

fn parse<M: DeserializeOwned>(json: &str, table: &str) -> Result<M, StoreError> {
    serde_json::from_str(json).map_err(|_| corrupt(&format!("a {table} row does not parse")))
}

/// Parses `rows` of `table`, each of which must be `tenant`'s (by `owner`).
fn tenant_models<M: DeserializeOwned>(
    rows: &[String],
    table: &str,
    tenant: Uuid,
    owner: fn(&M) -> Uuid,
) -> Result<Vec<M>, StoreError> {
    let models = rows
        .iter()
        .map(|json| parse::<M>(json, table))
        .collect::<Result<Vec<_>, _>>()?;
    if models.iter().any(|m| owner(m) != tenant) {
        return Err(corrupt(&format!("a {table} row belongs to another tenant")));
    }
    Ok(models)
}

/// A batch of one table's rows, made ready off the writing task.
enum Prepared {
    /// Parsed, checked and built into one insert (PostgreSQL), with its row count.
    Insert {
        table: String,
        count: u64,
        statement: Statement,
    },
    /// Rows the writing task parses and checks itself: their checks need what was restored
    /// before them, or the backend has no single-statement insert for them.
    Rows(Pending),
}

/// Batches the preparing task may be ahead of the writing one.
const READ_AHEAD: usize = 2;

/// Does the CPU work of a batch that needs no restore state (parsing, the tenant check,
/// building the insert), so that it runs while the previous batch is being written.
fn prepare(pending: Pending, tenant: Uuid, backend: DbBackend) -> Result<Prepared, StoreError> {
    let Some(table) = pending.table.clone() else {
        return Ok(Prepared::Rows(pending));
    };
    if backend != DbBackend::Postgres {
        return Ok(Prepared::Rows(pending));
    }
    macro_rules! built {
        ($module:ident, $keep:expr) => {{
            let models =
                tenant_models::<$module::Model>(&pending.rows, &table, tenant, |m| m.tenant_id)?;
            match crate::bulk::unnest_insert::<$module::Entity>(&models, $keep) {
                Some(statement) => Prepared::Insert {
                    count: models.len() as u64,
                    table,
                    statement,
                },
                None => Prepared::Rows(pending),
            }
        }};
    }
    Ok(match table.as_str() {
        "records" => built!(record, false),
        "api_keys" => built!(api_key, false),
        "purposes" => built!(purpose, false),
        "forms" => built!(form, false),
        "requests" => built!(request, false),
        "legal_holds" => built!(legal_hold, false),
        "processing_limits" => built!(processing_limit, false),
        "tombstones" => built!(tombstone, true),
        "erasure_receipts" => built!(erasure_receipt, true),
        _ => Prepared::Rows(pending),
    })
}

/// Reads `rows` on its own task, in batches of one table, each [`prepare`]d, into a channel:
/// decompressing, checking and parsing run while the writing task waits on the database. An
/// error is the last item; the task stops when the receiver goes away.
fn read_ahead(
    mut rows: RowStream,
    tenant: Uuid,
    backend: DbBackend,
) -> mpsc::Receiver<Result<Prepared, StoreError>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let mut pending = Pending::default();
        while let Some(row) = rows.next().await {
            let row = match row {
                Ok(row) if TABLES.contains(&row.table.as_str()) => row,
                Ok(row) => {
                    let unknown = corrupt(&format!("unknown table {} in a dump", row.table));
                    let _ = tx.send(Err(unknown)).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if pending.table.as_deref() != Some(row.table.as_str()) || pending.rows.len() >= BATCH {
                let next = Pending {
                    table: Some(row.table),
                    rows: Vec::new(),
                };
                let full = std::mem::replace(&mut pending, next);
                if full.table.is_some() && tx.send(prepare(full, tenant, backend)).await.is_err() {
                    return;
                }
            }
            pending.rows.push(row.json);
        }
        if pending.table.is_some() {
            let _ = tx.send(prepare(pending, tenant, backend)).await;
        }
    });
    rx
}

/// Inserts rows of `E`; `keep_existing` skips rows whose primary key is already there. On
/// PostgreSQL a batch goes in as one `UNNEST` insert where its values allow it.
async fn insert_rows<E>(
    txn: &DatabaseTransaction,
    models: Vec<E::Model>,
    keep_existing: bool,
) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E> + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: Send,
{
    if ConnectionTrait::get_database_backend(txn) == DbBackend::Postgres
        && let Some(insert) = crate::bulk::unnest_insert::<E>(&models, keep_existing)
    {
        txn.execute_raw(insert).await?;
        return Ok(());
    }
    insert_all::<E::ActiveModel, _>(txn, models, keep_existing).await
}

/// Inserts `models`; `keep_existing` skips rows whose primary key is already there.
async fn insert_all<A, M>(
    txn: &DatabaseTransaction,
    models: Vec<M>,
    keep_existing: bool,
) -> Result<(), DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
    M: IntoActiveModel<A>,
{
    if models.is_empty() {
        return Ok(());
    }
    let models = models.into_iter().map(IntoActiveModel::into_active_model);
    if keep_existing {
        TryInsert::many(models)
            .on_conflict_do_nothing()
            .exec_without_returning(txn)
            .await?;
    } else {
        A::Entity::insert_many(models)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

impl SeaOrmStore {
    /// Deletes every row of the tenant but the accountability records (audit log, tombstones,
    /// erasure receipts), children first. Returns how many.
    async fn clear_tenant(&self, txn: &DatabaseTransaction, t: Uuid) -> Result<u64, DbErr> {
        let mut n = 0;
        n += record::Entity::delete_many()
            .filter(record::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += consent_event::Entity::delete_many()
            .filter(consent_event::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += subject_key::Entity::delete_many()
            .filter(subject_key::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += legal_hold::Entity::delete_many()
            .filter(legal_hold::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += processing_limit::Entity::delete_many()
            .filter(processing_limit::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += request::Entity::delete_many()
            .filter(request::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += subject::Entity::delete_many()
            .filter(subject::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += form::Entity::delete_many()
            .filter(form::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += consent_form_version::Entity::delete_many()
            .filter(consent_form_version::Column::FormId.in_subquery(tenant_consent_forms(t)))
            .exec(txn)
            .await?
            .rows_affected;
        n += consent_form::Entity::delete_many()
            .filter(consent_form::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += purpose::Entity::delete_many()
            .filter(purpose::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += api_key::Entity::delete_many()
            .filter(api_key::Column::TenantId.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        n += tenant::Entity::delete_many()
            .filter(tenant::Column::Id.eq(t))
            .exec(txn)
            .await?
            .rows_affected;
        Ok(n)
    }

    /// Inserts one table's pending rows, checking that each is the tenant's.
    async fn flush(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        pending: &mut Pending,
        state: &mut RestoreState,
    ) -> Result<(), StoreError> {
        let Some(table) = pending.table.clone() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut pending.rows);
        let count = rows.len() as u64;
        let db = |e: DbErr| unavailable(e);
        let foreign = || corrupt(&format!("a {table} row belongs to another tenant"));
        macro_rules! tenant_rows {
            ($module:ident, $keep:expr) => {{
                let models =
                    tenant_models::<$module::Model>(&rows, &table, tenant, |m| m.tenant_id)?;
                insert_rows::<$module::Entity>(txn, models, $keep)
                    .await
                    .map_err(db)?;
            }};
        }
        match table.as_str() {
            "tenants" => {
                let models = rows
                    .iter()
                    .map(|json| parse::<tenant::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models.iter().any(|m| m.id != tenant) {
                    return Err(foreign());
                }
                insert_rows::<tenant::Entity>(txn, models, false)
                    .await
                    .map_err(db)?;
            }
            "api_keys" => tenant_rows!(api_key, false),
            "purposes" => tenant_rows!(purpose, false),
            "consent_forms" => {
                let models = rows
                    .iter()
                    .map(|json| parse::<consent_form::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models.iter().any(|m| m.tenant_id != tenant) {
                    return Err(foreign());
                }
                state.consent_forms.extend(models.iter().map(|m| m.id));
                insert_rows::<consent_form::Entity>(txn, models, false)
                    .await
                    .map_err(db)?;
            }
            "consent_form_versions" => {
                let models = rows
                    .iter()
                    .map(|json| parse::<consent_form_version::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models
                    .iter()
                    .any(|m| !state.consent_forms.contains(&m.form_id))
                {
                    return Err(foreign());
                }
                insert_rows::<consent_form_version::Entity>(txn, models, false)
                    .await
                    .map_err(db)?;
            }
            "forms" => tenant_rows!(form, false),
            "subjects" => {
                let models = rows
                    .iter()
                    .map(|json| parse::<subject::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models.iter().any(|m| m.tenant_id != tenant) {
                    return Err(foreign());
                }
                state.subjects.extend(models.iter().map(|m| m.id));
                insert_rows::<subject::Entity>(txn, models, false)
                    .await
                    .map_err(db)?;
            }
            "records" => tenant_rows!(record, false),
            "consent_events" => {
                let models = rows
                    .iter()
                    .map(|json| parse::<consent_event::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models.iter().any(|m| m.tenant_id != tenant) {
                    return Err(foreign());
                }
                // The sequence is global: new numbers, in the dumped order, so that a restore
                // never collides with another tenant's events.
                let models: Vec<consent_event::ActiveModel> = models
                    .into_iter()
                    .map(|m| {
                        let mut active = m.into_active_model();
                        active.seq = ActiveValue::NotSet;
                        active
                    })
                    .collect();
                insert_all(txn, models, false).await.map_err(db)?;
            }
            "requests" => tenant_rows!(request, false),
            "legal_holds" => tenant_rows!(legal_hold, false),
            "processing_limits" => tenant_rows!(processing_limit, false),
            "tombstones" => tenant_rows!(tombstone, true),
            "erasure_receipts" => tenant_rows!(erasure_receipt, true),
            "audit_log" => {
                let chain = chain_key(Some(TenantId::from_uuid(tenant)));
                let models = rows
                    .iter()
                    .map(|json| parse::<audit_entry::Model>(json, &table))
                    .collect::<Result<Vec<_>, _>>()?;
                if models.iter().any(|m| m.chain != chain) {
                    return Err(foreign());
                }
                // An existing chain is the truth about what happened since: it is kept whole.
                if !state.keep_audit {
                    insert_rows::<audit_entry::Entity>(txn, models, false)
                        .await
                        .map_err(db)?;
                }
            }
            other => return Err(corrupt(&format!("unknown table {other} in a dump"))),
        }
        *state.counts.rows.entry(table).or_default() += count;
        Ok(())
    }

    async fn restore_in(
        &self,
        txn: &DatabaseTransaction,
        tenant: Uuid,
        keys: Vec<WrappedKey>,
        tombstones: Vec<Tombstone>,
        rows: RowStream,
    ) -> Result<RestoredCounts, StoreError> {
        // The tenant's chain is counted, then written below: no append may slip in between
        // (it would make the restore fail on the chain's key, after all that work).
        crate::audit::lock_chains(txn, [chain_key(Some(TenantId::from_uuid(tenant)))])
            .await
            .map_err(unavailable)?;
        let mut state = RestoreState {
            keep_audit: audit_entry::Entity::find()
                .filter(audit_entry::Column::Chain.eq(chain_key(Some(TenantId::from_uuid(tenant)))))
                .count(txn)
                .await
                .map_err(unavailable)?
                > 0,
            ..RestoreState::default()
        };
        state.counts.replaced = self.clear_tenant(txn, tenant).await.map_err(unavailable)?;
        // Into a new database (disaster recovery), the tables that grow with a tenant's activity
        // are empty: their indexes and constraints are built once at the end, as pg_restore does.
        let mut deferred = Vec::new();
        if self.backend() == DbBackend::Postgres {
            for table in DEFERRED_INDEXES {
                deferred.extend(
                    crate::bulk::defer_structure(txn, table)
                        .await
                        .map_err(unavailable)?,
                );
            }
        }
        let mut batches = read_ahead(rows, tenant, self.backend());
        while let Some(batch) = batches.recv().await {
            match batch? {
                Prepared::Insert {
                    table,
                    count,
                    statement,
                } => {
                    txn.execute_raw(statement).await.map_err(unavailable)?;
                    *state.counts.rows.entry(table).or_default() += count;
                }
                Prepared::Rows(mut pending) => {
                    self.flush(txn, tenant, &mut pending, &mut state).await?;
                }
            }
        }
        let keys: Vec<subject_key::Model> = keys
            .into_iter()
            .filter(|k| state.subjects.contains(k.subject.as_uuid()))
            .map(|k| subject_key::Model {
                subject_id: *k.subject.as_uuid(),
                tenant_id: tenant,
                wrapped: k.wrapped,
            })
            .collect();
        state.counts.keys = keys.len() as u64;
        for chunk in keys.chunks(BATCH) {
            insert_rows::<subject_key::Entity>(txn, chunk.to_vec(), false)
                .await
                .map_err(unavailable)?;
        }
        let journal: Vec<tombstone::Model> = tombstones
            .iter()
            .filter(|t| t.tenant.as_uuid() == &tenant)
            .map(|t| tombstone::Model {
                receipt_id: t.receipt,
                tenant_id: tenant,
                subject_id: *t.subject.as_uuid(),
                erased_at: nanos(t.erased_at),
            })
            .collect();
        for chunk in journal.chunks(BATCH) {
            insert_rows::<tombstone::Entity>(txn, chunk.to_vec(), true)
                .await
                .map_err(unavailable)?;
        }
        crate::bulk::rebuild(txn, deferred)
            .await
            .map_err(unavailable)?;
        Ok(state.counts)
    }
}

#[derive(Default)]
struct RestoreState {
    keep_audit: bool,
    consent_forms: BTreeSet<Uuid>,
    subjects: BTreeSet<Uuid>,
    counts: RestoredCounts,
}

#[async_trait]
impl TenantDumps for SeaOrmStore {
    fn schema_version(&self) -> String {
        Migrator::migrations()
            .last()
            .map(|m| m.name().to_owned())
            .unwrap_or_default()
    }

    fn reads_schema(&self, version: &str) -> bool {
        // Migrations only add, so rows of any earlier schema fit the current one.
        Migrator::migrations().iter().any(|m| m.name() == version)
    }

    async fn dump_tenant(&self, tenant: TenantId) -> Result<DumpStream, StoreError> {
        let t = *tenant.as_uuid();
        // One snapshot for keys and rows: REPEATABLE READ on PostgreSQL; on SQLite (WAL) a
        // read transaction sees one snapshot from its first read on.
        let txn = match self.backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
            _ => self.db.begin().await,
        }
        .map_err(unavailable)?;
        if tenant::Entity::find_by_id(t)
            .one(&txn)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        tokio::spawn(async move {
            match dump_into(&txn, t, &tx).await {
                Ok(()) | Err(DumpFailure::Gone) => {}
                Err(DumpFailure::Db(e)) => {
                    let _ = tx.send(Err(unavailable(e))).await;
                }
            }
            // Read-only: nothing to commit; dropping rolls back.
            let _ = txn.rollback().await;
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    async fn restore_tenant(
        &self,
        tenant: TenantId,
        keys: Vec<WrappedKey>,
        tombstones: Vec<Tombstone>,
        rows: RowStream,
    ) -> Result<RestoredCounts, StoreError> {
        let txn = self.write_txn().await.map_err(unavailable)?;
        let counts = self
            .restore_in(&txn, *tenant.as_uuid(), keys, tombstones, rows)
            .await?;
        // On any error above, dropping the transaction rolls everything back.
        txn.commit().await.map_err(unavailable)?;
        Ok(counts)
    }
}
