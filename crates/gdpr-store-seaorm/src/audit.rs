//! The audit log's storage: one chain per tenant (and `system`), appended with the domain's own
//! chaining function, so any adapter computes the same hashes. The attestation chains live in
//! the same table, under the key `attestation:<tenant>`: a hash chain of JSON bodies is what the
//! table holds, and a tenant's audit chain (keyed by its bare id) never sees them.

use async_trait::async_trait;
use gdpr_audit::{Attestation, AuditEvent, AuditMark, AuditRecord, Check};
use gdpr_pii::TenantId;
use gdpr_ports::{AttestationLog, AuditLog, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, Query, QueryStatementBuilder as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use time::OffsetDateTime;

use crate::entity::audit_entry;
use crate::{SeaOrmStore, from_json, is_unique_violation, to_json, unavailable};

pub(crate) fn chain_key(tenant: Option<TenantId>) -> String {
    tenant.map_or_else(|| "system".to_owned(), |t| t.to_string())
}

/// On PostgreSQL, takes each chain's transaction-scoped advisory lock, in one order so that
/// two transactions never wait on each other: appenders to a chain, in any replica, queue for
/// its head instead of racing for its next position (a lost race rolls back the whole
/// transaction; under load some writes lost twenty in a row). SQLite's write transactions are
/// serialised already.
pub(crate) async fn lock_chains<C: ConnectionTrait>(
    c: &C,
    chains: impl IntoIterator<Item = String>,
) -> Result<(), DbErr> {
    if c.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let chains: std::collections::BTreeSet<String> = chains.into_iter().collect();
    for chain in chains {
        c.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [chain.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The head of each chain this process last wrote or read, with its body exactly as stored:
/// a hint that saves reading the head before appending. It is never trusted: the first append
/// to a chain inserts only if the database still holds that row as the head (see
/// [`append_after`]), so another replica's appends, a rolled-back transaction or a restore cost
/// one read of the head, never a wrong link. One entry per chain (per tenant).
#[derive(Debug, Default)]
pub(crate) struct AuditHeads(std::sync::Mutex<std::collections::HashMap<String, Head>>);

/// A chain's head record and its stored body.
type Head = (AuditRecord, String);

impl AuditHeads {
    fn get(&self, chain: &str) -> Option<Head> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(chain)
            .cloned()
    }

    fn set(&self, chain: String, head: Head) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(chain, head);
    }
}

/// A position in a chain as stored (a `u64` that does not fit saturates: never reached).
fn stored_seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts `record` (stored as `body`) only if `previous` is the chain's head as stored: its
/// row holds exactly that body and no row comes after it, at any later position (a row deleted
/// in between is never filled in, so verification still sees it gone: no row after it means
/// its position is the chain's greatest). One statement, where reading the head and then
/// inserting is two. Whether it was inserted.
async fn append_after<C: ConnectionTrait>(
    c: &C,
    chain: &str,
    previous: &Head,
    record: &AuditRecord,
    body: &str,
) -> Result<bool, DbErr> {
    use audit_entry::Column;
    let in_chain = || {
        Query::select()
            .expr(Expr::value(1))
            .from(audit_entry::Entity)
            .and_where(Column::Chain.eq(chain))
            .to_owned()
    };
    let mut is_head = in_chain();
    is_head
        .and_where(Column::Seq.eq(stored_seq(previous.0.seq)))
        .and_where(Column::Body.eq(previous.1.as_str()));
    // "Nothing after it" as "the chain's greatest position is its": `NOT EXISTS (... seq >
    // $n)` is the same test, but PostgreSQL's generic plan for a prepared statement (used
    // after five runs on a connection) reads it with a sequential scan of the whole log,
    // 190 ms at a million entries, while `max` is one step down the primary key's index.
    let newest = Query::select()
        .expr(Func::max(Expr::col(Column::Seq)))
        .from(audit_entry::Entity)
        .and_where(Column::Chain.eq(chain))
        .to_owned();
    let select = Query::select()
        .exprs([
            Expr::value(chain),
            Expr::value(stored_seq(record.seq)),
            Expr::value(body),
        ])
        .and_where(Expr::exists(is_head))
        .and_where(
            Expr::SubQuery(None, Box::new(newest.into_sub_query_statement()))
                .eq(stored_seq(previous.0.seq)),
        )
        .to_owned();
    let insert = Query::insert()
        .into_table(audit_entry::Entity)
        .columns([Column::Chain, Column::Seq, Column::Body])
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    Ok(c.execute(&insert).await?.rows_affected() == 1)
}

/// The chain's head as stored, read.
async fn stored_head<C: ConnectionTrait>(c: &C, chain: &str) -> Result<Option<Head>, DbErr> {
    let last = audit_entry::Entity::find()
        .filter(audit_entry::Column::Chain.eq(chain))
        .order_by_desc(audit_entry::Column::Seq)
        .limit(1)
        .one(c)
        .await?;
    last.map(|row| {
        let record =
            record_of(&row).map_err(|_| DbErr::Custom("stored audit record unreadable".into()))?;
        Ok((record, row.body))
    })
    .transpose()
}

/// Appends many events in order, batched. Each chain's first event is linked to the head
/// `heads` remembers, if the database confirms it (one statement); otherwise the head is read.
/// `heads` learns the new heads; if the transaction then rolls back, the next append finds the
/// hint stale and reads the head.
pub(crate) async fn append_many_in<C: ConnectionTrait>(
    c: &C,
    heads: &AuditHeads,
    events: &[AuditEvent],
) -> Result<Vec<AuditRecord>, DbErr> {
    lock_chains(c, events.iter().map(|e| chain_key(e.tenant))).await?;
    let mut known: std::collections::HashMap<String, Option<Head>> =
        std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        let chain = chain_key(event.tenant);
        if !known.contains_key(&chain) {
            if let Some(hint) = heads.get(&chain) {
                let record = AuditRecord::chain(Some(&hint.0), event.clone());
                let body = to_json(&record);
                if append_after(c, &chain, &hint, &record, &body).await? {
                    records.push(record.clone());
                    known.insert(chain, Some((record, body)));
                    continue;
                }
            }
            let head = stored_head(c, &chain).await?;
            known.insert(chain.clone(), head);
        }
        let head = known.entry(chain.clone()).or_default();
        let record = AuditRecord::chain(head.as_ref().map(|h| &h.0), event.clone());
        let body = to_json(&record);
        rows.push(audit_entry::ActiveModel {
            chain: Set(chain),
            seq: Set(stored_seq(record.seq)),
            body: Set(body.clone()),
        });
        records.push(record.clone());
        *head = Some((record, body));
    }
    for chunk in rows.chunks(500) {
        audit_entry::Entity::insert_many(chunk.to_vec())
            .exec(c)
            .await?;
    }
    for (chain, head) in known {
        if let Some(head) = head {
            heads.set(chain, head);
        }
    }
    Ok(records)
}

/// A stored record; its position is the row's, so that moving a row is seen as tampering.
fn record_of(row: &audit_entry::Model) -> Result<AuditRecord, StoreError> {
    let mut record: AuditRecord = from_json(&row.body, "an audit record")?;
    record.seq = u64::try_from(row.seq).unwrap_or_default();
    Ok(record)
}

impl SeaOrmStore {
    /// A chain's rows in sequence order, after `after_seq`, at most `limit`.
    async fn chain_rows(
        &self,
        chain: String,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<audit_entry::Model>, StoreError> {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::Chain.eq(chain))
            .filter(audit_entry::Column::Seq.gt(stored_seq(after_seq)))
            .order_by_asc(audit_entry::Column::Seq)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let events = [event];
        let append = || async {
            // A write transaction: on SQLite, reading the chain's head and appending must not
            // be split by another writer's commit.
            let txn = self.write_txn().await?;
            let records = append_many_in(&txn, &self.audit_heads, &events).await?;
            txn.commit().await?;
            Ok(records)
        };
        let mut records = self
            .retrying(append, is_unique_violation)
            .await
            .map_err(unavailable)?;
        records
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an append returned no record".into()))
    }

    async fn audit_records(
        &self,
        tenant: Option<TenantId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.chain_rows(chain_key(tenant), after_seq, limit)
            .await?
            .iter()
            .map(record_of)
            .collect()
    }
}

pub(crate) fn attestation_chain(tenant: TenantId) -> String {
    format!("attestation:{tenant}")
}

/// A stored attestation; as for audit records, its position is the row's.
fn attestation_of(row: &audit_entry::Model) -> Result<Attestation, StoreError> {
    let mut attestation: Attestation = from_json(&row.body, "an attestation")?;
    attestation.seq = u64::try_from(row.seq).unwrap_or_default();
    Ok(attestation)
}

async fn last_attestation_in<C: ConnectionTrait>(
    c: &C,
    tenant: TenantId,
) -> Result<Option<audit_entry::Model>, DbErr> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Chain.eq(attestation_chain(tenant)))
        .order_by_desc(audit_entry::Column::Seq)
        .limit(1)
        .one(c)
        .await
}

#[async_trait]
impl AttestationLog for SeaOrmStore {
    async fn append_attestation(
        &self,
        tenant: TenantId,
        at: OffsetDateTime,
        checks: Vec<Check>,
        audit: Option<AuditMark>,
    ) -> Result<Attestation, StoreError> {
        let append = || async {
            // As for the audit log: reading the head and appending in one write transaction;
            // two appends racing for one position meet the unique key and one is retried.
            let txn = self.write_txn().await?;
            lock_chains(&txn, [attestation_chain(tenant)]).await?;
            let previous = match last_attestation_in(&txn, tenant).await? {
                Some(row) => Some(
                    attestation_of(&row)
                        .map_err(|_| DbErr::Custom("stored attestation unreadable".into()))?,
                ),
                None => None,
            };
            let attestation =
                Attestation::chain(previous.as_ref(), tenant, at, checks.clone(), audit);
            audit_entry::Entity::insert(audit_entry::ActiveModel {
                chain: Set(attestation_chain(tenant)),
                seq: Set(stored_seq(attestation.seq)),
                body: Set(to_json(&attestation)),
            })
            .exec(&txn)
            .await?;
            txn.commit().await?;
            Ok(attestation)
        };
        self.retrying(append, is_unique_violation)
            .await
            .map_err(unavailable)
    }

    async fn attestations(
        &self,
        tenant: TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<Attestation>, StoreError> {
        self.chain_rows(attestation_chain(tenant), after_seq, limit)
            .await?
            .iter()
            .map(attestation_of)
            .collect()
    }

    async fn last_attestation(&self, tenant: TenantId) -> Result<Option<Attestation>, StoreError> {
        last_attestation_in(&self.db, tenant)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(attestation_of)
            .transpose()
    }
}
