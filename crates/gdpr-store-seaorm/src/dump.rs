//! One tenant's rows out (a consistent snapshot, streamed) and back in (one transaction): the
//! storage side of backups.
//!
//! Rows are the entities' JSON (personal fields stay ciphertext, bytes as base64), tagged with
//! their table and, where they hold personal data, their subject. Data keys leave apart from
//! the rows, ordered by subject id, for the backup's keyring.

use async_trait::async_trait;
use futures_util::StreamExt;
use gdpr_migrations::{Migrator, MigratorTrait};
use gdpr_pii::TenantId;
use gdpr_ports::{
    DumpItem, DumpStream, RestoredCounts, RowStream, StoreError, TenantDumps, WrappedKey,
};
use gdpr_rights::Tombstone;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, ModelTrait, PaginatorTrait, QueryFilter, Statement, TryInsert,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::entity::{audit_entry, subject_key, tenant, tombstone};
use crate::tables::{REGISTRY, RestoreState, Role, Table, key_rows, table};
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

pub(crate) type Sender = mpsc::Sender<Result<DumpItem, StoreError>>;

/// The receiver went away: the consumer stopped reading, so stop quietly.
pub(crate) struct Gone;

pub(crate) enum DumpFailure {
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

pub(crate) async fn send(tx: &Sender, item: DumpItem) -> Result<(), Gone> {
    tx.send(Ok(item)).await.map_err(|_| Gone)
}

/// The tenant's keys, then its rows, table by table in the registry's order.
async fn dump_into(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    tx: &Sender,
) -> Result<(), DumpFailure> {
    let keys = REGISTRY.iter().filter(|t| t.role() == Role::Keys);
    let rows = REGISTRY.iter().filter(|t| t.role() != Role::Keys);
    for table in keys.chain(rows) {
        table.dump(txn, tenant, tx).await?;
    }
    Ok(())
}

/// One table's rows, waiting to be written together.
struct Pending {
    table: &'static dyn Table,
    rows: Vec<String>,
}

/// A batch of one table's rows, made ready off the writing task.
pub(crate) enum Prepared {
    /// Parsed, checked and built into one insert (PostgreSQL), with its row count.
    Insert {
        table: &'static str,
        count: u64,
        statement: Statement,
    },
    /// Rows the writing task parses, checks and inserts itself: their checks need what was
    /// restored before them, or the backend has no single-statement insert for them.
    Rows {
        table: &'static dyn Table,
        rows: Vec<String>,
    },
}

/// Batches the preparing task may be ahead of the writing one.
const READ_AHEAD: usize = 2;

/// Does the CPU work of a batch that needs no restore state (parsing, the tenant check,
/// building the insert), so that it runs while the previous batch is being written.
fn prepare(pending: Pending, tenant: Uuid, backend: DbBackend) -> Result<Prepared, StoreError> {
    Ok(pending
        .table
        .prepare(&pending.rows, tenant, backend)?
        .unwrap_or(Prepared::Rows {
            table: pending.table,
            rows: pending.rows,
        }))
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
        let mut pending: Option<Pending> = None;
        while let Some(row) = rows.next().await {
            let (row, entry) = match row.map(|row| (table(&row.table), row)) {
                Ok((Some(entry), row)) if entry.role() != Role::Keys => (row, entry),
                Ok((_, row)) => {
                    let unknown = corrupt(&format!("unknown table {} in a dump", row.table));
                    let _ = tx.send(Err(unknown)).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let same = pending
                .as_ref()
                .is_some_and(|p| p.table.name() == entry.name() && p.rows.len() < BATCH);
            if !same {
                let next = Pending {
                    table: entry,
                    rows: Vec::new(),
                };
                if let Some(full) = pending.replace(next)
                    && tx.send(prepare(full, tenant, backend)).await.is_err()
                {
                    return;
                }
            }
            if let Some(p) = pending.as_mut() {
                p.rows.push(row.json);
            }
        }
        if let Some(last) = pending {
            let _ = tx.send(prepare(last, tenant, backend)).await;
        }
    });
    rx
}

/// Inserts rows of `E`; `keep_existing` skips rows whose primary key is already there. On
/// PostgreSQL a batch goes in as one `UNNEST` insert where its values allow it.
pub(crate) async fn insert_rows<E>(
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
pub(crate) async fn insert_all<A, M>(
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
    /// erasure receipts, recipients' erasure confirmations), children first. Returns how many.
    async fn clear_tenant(&self, txn: &DatabaseTransaction, t: Uuid) -> Result<u64, DbErr> {
        let mut n = 0;
        for table in REGISTRY.iter().rev() {
            if matches!(table.role(), Role::Replaced | Role::Keys) {
                n += table.clear_replaced(txn, t).await?;
            }
        }
        Ok(n)
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
                    *state.counts.rows.entry(table.to_owned()).or_default() += count;
                }
                Prepared::Rows { table, rows } => {
                    table.restore(txn, tenant, &rows, &mut state).await?;
                }
            }
        }
        let keys = key_rows(keys, tenant, &state);
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
        // One snapshot for keys and rows.
        let txn = self.snapshot().await?;
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
