//! A tenant's rows out of one database and into another: what a restore leaves behind, also
//! where it loads rows before building indexes (an empty table on PostgreSQL).

use futures_util::StreamExt;
use gdpr_app::{Adapters, App, AppConfig, Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::LawfulBasis;
use gdpr_pii::TenantId;
use gdpr_ports::{DumpItem, DumpRow, StoreError, TenantDumps, WrappedKey};
use gdpr_testkit::{
    ManualClock, MemoryObjectStore, RecordingEncryptor, RecordingErrorReporter, fake,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::harness::{TestDb, postgres, postgres_url, sqlite};
use crate::scenario::OnSeaOrm;
use crate::subjects::at;

/// A tenant with `subjects` subjects and two records each, made through the app.
async fn populate(db: &TestDb, name: &str, subjects: usize) -> TenantId {
    let app = App::<OnSeaOrm>::new(
        Adapters {
            store: db.store.clone(),
            backups: MemoryObjectStore::default(),
            encryptor: RecordingEncryptor::default(),
            reporter: RecordingErrorReporter::default(),
            clock: ManualClock::at(at(0)),
            signer: gdpr_testkit::HmacSigner::default(),
        },
        AppConfig::default(),
    );
    let tenant = app
        .create_tenant(Actor::Operator, name, "dpo@example.org")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::System);
    app.define_purpose(ctx, "staff", "Contractors", LawfulBasis::Contract)
        .await
        .unwrap();
    let form = app
        .define_form(
            ctx,
            "Contractors",
            fake::contractors_schema().specs(),
            "staff",
        )
        .await
        .unwrap();
    for i in 0..subjects {
        let email = format!("{name}-{i}@example.org");
        let s = app
            .register_subject(
                ctx,
                NewSubject {
                    email: Some(email.clone()),
                    ..NewSubject::default()
                },
            )
            .await
            .unwrap();
        for rate in [400, 500] {
            let values = json!({"email": email, "full_name": "Grace Hopper", "day_rate": rate});
            app.submit_record(ctx, form.id, s.id, &values)
                .await
                .unwrap();
        }
    }
    tenant.id
}

/// The tenant's dump: its keys and its rows.
pub(crate) async fn dump(db: &TestDb, tenant: TenantId) -> (Vec<WrappedKey>, Vec<DumpRow>) {
    let mut stream = db.store.dump_tenant(tenant).await.unwrap();
    let (mut keys, mut rows) = (Vec::new(), Vec::new());
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            DumpItem::Key(k) => keys.push(k),
            DumpItem::Row(r) => rows.push(r),
        }
    }
    (keys, rows)
}

pub(crate) async fn restore(
    db: &TestDb,
    tenant: TenantId,
    keys: Vec<WrappedKey>,
    rows: Vec<DumpRow>,
) -> Result<(), StoreError> {
    let rows = Box::pin(futures_util::stream::iter(rows.into_iter().map(Ok)));
    db.store
        .restore_tenant(tenant, keys, Vec::new(), rows)
        .await
        .map(|_| ())
}

/// Every index, constraint and table definition, sorted: what the migrations made.
async fn schema(db: &TestDb) -> Vec<String> {
    let sql = match db.backend() {
        DbBackend::Postgres => {
            "SELECT 'index ' || indexname || ': ' || indexdef AS d FROM pg_indexes
             WHERE schemaname = 'public'
             UNION ALL
             SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' ||
                 pg_get_constraintdef(oid)
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace
             ORDER BY 1"
        }
        _ => {
            "SELECT type || ' ' || name || ': ' || coalesce(sql, '') AS d FROM sqlite_master ORDER BY 1"
        }
    };
    let conn = db.store.connection();
    let rows = conn
        .query_all_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .unwrap();
    let defs: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "d").unwrap())
        .collect();
    assert!(
        defs.iter().any(|d| d.contains("records_subject")),
        "{defs:?}"
    );
    defs
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    let conn = db.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// A source and a fresh target database of each backend.
async fn pairs() -> Vec<(TestDb, TestDb)> {
    let mut pairs = vec![(sqlite().await, sqlite().await)];
    if let Some(url) = postgres_url() {
        pairs.push((postgres(&url).await, postgres(&url).await));
    }
    pairs
}

#[tokio::test]
async fn a_restore_into_an_empty_database_leaves_every_index_and_constraint_as_migrated() {
    for (source, target) in pairs().await {
        let tenant = populate(&source, "acme", 5).await;
        let (keys, rows) = dump(&source, tenant).await;
        let migrated = schema(&target).await;
        restore(&target, tenant, keys, rows).await.unwrap();
        assert_eq!(schema(&target).await, migrated, "{}", target.name);
        for table in ["subjects", "records", "subject_keys", "audit_log"] {
            let sql = format!("SELECT count(*) AS n FROM {table}");
            assert_eq!(
                count(&target, &sql).await,
                count(&source, &sql).await,
                "{}: {table}",
                target.name
            );
        }
        assert_eq!(
            count(&target, "SELECT count(*) AS n FROM records").await,
            10
        );
        source.finish().await;
        target.finish().await;
    }
}

#[tokio::test]
async fn a_record_without_its_subject_fails_the_restore_and_leaves_the_database_as_it_was() {
    for (source, target) in pairs().await {
        let tenant = populate(&source, "acme", 3).await;
        let (keys, rows) = dump(&source, tenant).await;
        // A damaged backup: the records are there, their subjects are not.
        let rows: Vec<DumpRow> = rows.into_iter().filter(|r| r.table != "subjects").collect();
        assert!(rows.iter().any(|r| r.table == "records"));
        let migrated = schema(&target).await;
        let failed = restore(&target, tenant, keys, rows).await;
        assert!(failed.is_err(), "{}", target.name);
        assert_eq!(schema(&target).await, migrated, "{}", target.name);
        for table in ["tenants", "records", "subject_keys"] {
            let sql = format!("SELECT count(*) AS n FROM {table}");
            assert_eq!(count(&target, &sql).await, 0, "{}: {table}", target.name);
        }
        source.finish().await;
        target.finish().await;
    }
}

#[tokio::test]
async fn a_restore_beside_another_tenant_leaves_its_rows_and_the_indexes_alone() {
    for (source, target) in pairs().await {
        let tenant = populate(&source, "acme", 3).await;
        let (keys, rows) = dump(&source, tenant).await;
        let other = populate(&target, "globex", 2).await;
        let others = format!(
            "SELECT count(*) AS n FROM records WHERE tenant_id = {}",
            target.uuid_literal(other.as_uuid())
        );
        assert_eq!(count(&target, &others).await, 4);
        let migrated = schema(&target).await;
        restore(&target, tenant, keys, rows).await.unwrap();
        assert_eq!(schema(&target).await, migrated, "{}", target.name);
        assert_eq!(count(&target, &others).await, 4, "{}", target.name);
        assert_eq!(
            count(&target, "SELECT count(*) AS n FROM records").await,
            10,
            "{}",
            target.name
        );
        source.finish().await;
        target.finish().await;
    }
}

/// The registry is the one list of a tenant's tables: a table a migration creates is either in
/// it (dumped, cleared and restored from it) or left out of backups on purpose, with a reason.
#[tokio::test]
async fn every_migrated_table_is_backed_up_or_left_out_on_purpose() {
    let db = sqlite().await;
    let rows = db
        .store
        .connection()
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ))
        .await
        .unwrap();
    let migrated: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    let registry: Vec<&str> = gdpr_store_seaorm::backed_up_tables().collect();
    let known: std::collections::BTreeSet<String> = registry
        .iter()
        .chain(gdpr_store_seaorm::LEFT_OUT_OF_BACKUPS.iter())
        .map(|t| (*t).to_owned())
        .collect();
    let unlisted: Vec<&String> = migrated.difference(&known).collect();
    assert!(
        unlisted.is_empty(),
        "tables created by a migration but neither backed up nor left out on purpose: {unlisted:?}"
    );
    let stale: Vec<&String> = known.difference(&migrated).collect();
    assert!(
        stale.is_empty(),
        "listed tables no migration creates: {stale:?}"
    );
    assert_eq!(registry.first(), Some(&"tenants"), "parents come first");
}
