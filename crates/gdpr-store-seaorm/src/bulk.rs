//! Loading many rows into PostgreSQL inside a restore's transaction, the way `pg_restore`
//! does: rows go in as one `INSERT ... SELECT * FROM UNNEST(arrays)` per batch, and a table
//! that was empty gets its indexes and constraints built once, after its rows, instead of
//! maintained row by row.
//!
//! Only the restore uses this; it changes no schema for good (what it drops it makes again, from
//! the catalog's own definitions, in the same transaction: a failure rolls both back).

use sea_orm::sea_query::{ArrayType, Value};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, Iterable, ModelTrait, Statement,
};

/// A PostgreSQL array type for a column, from the value's own variant; `None` for a null value
/// or a type this loader does not bind (the batch then goes through a multi-row `INSERT`).
fn array_type(v: &Value) -> Option<(ArrayType, &'static str)> {
    Some(match v {
        Value::Uuid(Some(_)) => (ArrayType::Uuid, "uuid[]"),
        Value::String(Some(_)) => (ArrayType::String, "text[]"),
        Value::BigInt(Some(_)) => (ArrayType::BigInt, "int8[]"),
        Value::Int(Some(_)) => (ArrayType::Int, "int4[]"),
        Value::Bool(Some(_)) => (ArrayType::Bool, "bool[]"),
        Value::Bytes(Some(_)) => (ArrayType::Bytes, "bytea[]"),
        _ => return None,
    })
}

/// `INSERT INTO table (columns) SELECT * FROM UNNEST($1::type[], ...)` for `models`, one
/// array per column: a statement of a handful of parameters whatever the batch's size, which
/// PostgreSQL parses and plans once. `None` when a value is null or of another type
/// (`sea-query` binds arrays without null elements only).
pub(crate) fn unnest_insert<E>(models: &[E::Model], keep_existing: bool) -> Option<Statement>
where
    E: EntityTrait,
    E::Model: ModelTrait<Entity = E>,
{
    let first = models.first()?;
    let mut names = Vec::new();
    let mut casts = Vec::new();
    let mut arrays = Vec::new();
    for (i, column) in E::Column::iter().enumerate() {
        let (kind, cast) = array_type(&first.get(column))?;
        let mut values = Vec::with_capacity(models.len());
        for m in models {
            let v = m.get(column);
            if array_type(&v)?.0 != kind {
                return None;
            }
            values.push(v);
        }
        names.push(format!("\"{}\"", sea_orm::IdenStatic::as_str(&column)));
        casts.push(format!("${}::{cast}", i + 1));
        arrays.push(Value::Array(kind, Some(Box::new(values))));
    }
    let conflict = if keep_existing {
        " ON CONFLICT DO NOTHING"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO \"{}\" ({}) SELECT * FROM UNNEST({}){conflict}",
        E::default().table_name(),
        names.join(", "),
        casts.join(", "),
    );
    Some(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        sql,
        arrays,
    ))
}

/// When `table` is empty, locks it for the rest of the transaction, drops its indexes, primary
/// key, unique and foreign-key constraints (unless another table's foreign key needs them), and
/// returns the statements that make each again, in order; an empty list (nothing touched) when
/// the table has rows.
///
/// The lock (`ACCESS EXCLUSIVE`, taken anyway by dropping an index) keeps every other session
/// off the table until the restore commits: acceptable on a table with no rows, which is what
/// a restore into a new database (disaster recovery) meets; a table with rows keeps its
/// indexes and this is a no-op.
pub(crate) async fn defer_structure(
    txn: &DatabaseTransaction,
    table: &str,
) -> Result<Vec<String>, DbErr> {
    let pg = ConnectionTrait::get_database_backend(txn);
    let empty = format!("SELECT NOT EXISTS (SELECT 1 FROM \"{table}\") AS empty");
    let is_empty = |sql: String| async move {
        let row = txn.query_one_raw(Statement::from_string(pg, sql)).await?;
        row.map_or(Ok(false), |r| r.try_get::<bool>("", "empty"))
    };
    if !is_empty(empty.clone()).await? {
        return Ok(Vec::new());
    }
    txn.execute_unprepared(&format!("LOCK TABLE \"{table}\" IN ACCESS EXCLUSIVE MODE"))
        .await?;
    // Rows may have come between the look and the lock.
    if !is_empty(empty).await? {
        return Ok(Vec::new());
    }
    // Constraints first (their indexes go with them), then the indexes left; made again in
    // the opposite order: plain indexes, keys, then foreign keys, which may use the keys.
    let constraints = txn
        .query_all_raw(Statement::from_sql_and_values(
            pg,
            "SELECT quote_ident(c.conname) AS name, pg_get_constraintdef(c.oid) AS def,
                    c.contype = 'f' AS foreign_key
             FROM pg_constraint c
             WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u', 'f')
               AND (c.contype = 'f' OR NOT EXISTS (
                   SELECT 1 FROM pg_constraint r WHERE r.confrelid = c.conrelid))
             ORDER BY c.contype = 'f', c.conname",
            [format!("\"{table}\"").into()],
        ))
        .await?;
    let indexes = txn
        .query_all_raw(Statement::from_sql_and_values(
            pg,
            "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i
             WHERE i.indrelid = $1::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                               AND c.conrelid = i.indrelid)
             ORDER BY 1",
            [format!("\"{table}\"").into()],
        ))
        .await?;
    let mut keys = Vec::new();
    let mut foreign = Vec::new();
    let mut drops = Vec::new();
    for row in &constraints {
        let name: String = row.try_get("", "name")?;
        let def: String = row.try_get("", "def")?;
        let create = format!("ALTER TABLE \"{table}\" ADD CONSTRAINT {name} {def}");
        // Foreign keys go first, so that no key is dropped while one depends on it.
        if row.try_get::<bool>("", "foreign_key")? {
            drops.insert(0, format!("ALTER TABLE \"{table}\" DROP CONSTRAINT {name}"));
            foreign.push(create);
        } else {
            drops.push(format!("ALTER TABLE \"{table}\" DROP CONSTRAINT {name}"));
            keys.push(create);
        }
    }
    let mut plain = Vec::new();
    for row in &indexes {
        let name: String = row.try_get("", "name")?;
        drops.push(format!("DROP INDEX {name}"));
        plain.push(row.try_get("", "def")?);
    }
    for sql in &drops {
        txn.execute_unprepared(sql).await?;
    }
    Ok(plain.into_iter().chain(keys).chain(foreign).collect())
}

/// Makes again what [`defer_structure`] dropped, in its order; a foreign key is checked against
/// every row here, in one pass.
pub(crate) async fn rebuild(txn: &DatabaseTransaction, deferred: Vec<String>) -> Result<(), DbErr> {
    for create in deferred {
        txn.execute_unprepared(&create).await?;
    }
    Ok(())
}
