//! Open requests, read by the column that says a request is open: kept true to the request
//! on every write, set right by `migrate` (rows of earlier schemas, rows an older replica
//! closed) and by a restore.

use gdpr_ports::RequestStore;
use gdpr_rights::{RequestKind, SubjectRequest};
use sea_orm::{ConnectionTrait, Statement};

use crate::harness::{InsertOne as _, TestDb, databases};
use crate::subjects::{at, subject, tenant};

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.store
        .connection()
        .query_one_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// Rows whose column says the request is open.
const FLAGGED_OPEN: &str = "SELECT COUNT(*) FROM requests WHERE is_open";
/// Rows whose column is empty (as rows of earlier schemas are).
const NOT_FILLED: &str = "SELECT COUNT(*) FROM requests WHERE is_open IS NULL";

/// Two tenants' requests, one of them refused: `(t, [open of t, oldest first], refused,
/// [open of every tenant, oldest first])`.
async fn requests(
    db: &TestDb,
) -> (
    gdpr_pii::TenantId,
    Vec<SubjectRequest>,
    SubjectRequest,
    Vec<SubjectRequest>,
) {
    let s = &db.store;
    let (t, u) = (tenant(s).await, tenant(s).await);
    let (ada, bob) = (subject(t, 1), subject(u, 2));
    s.insert_subject(&ada).await.unwrap();
    s.insert_subject(&bob).await.unwrap();
    let later = SubjectRequest::open(t, ada.id, RequestKind::Erasure, at(9));
    let earlier = SubjectRequest::open(t, ada.id, RequestKind::Access, at(3));
    let others = SubjectRequest::open(u, bob.id, RequestKind::Access, at(5));
    let mut refused = SubjectRequest::open(t, ada.id, RequestKind::Objection, at(1));
    for r in [&later, &earlier, &others, &refused] {
        s.insert_request(r).await.unwrap();
    }
    let before = refused.clone();
    refused.refuse("no such processing", at(10)).unwrap();
    s.update_request(&before, &refused).await.unwrap();
    (
        t,
        vec![earlier.clone(), later.clone()],
        refused,
        vec![earlier, others, later],
    )
}

#[tokio::test]
async fn open_requests_are_those_still_open_and_the_column_follows_each_close() {
    for db in databases().await {
        let s = &db.store;
        let (t, open, refused, everyone) = requests(&db).await;
        assert_eq!(s.open_requests(Some(t)).await.unwrap(), open, "{}", db.name);
        assert_eq!(
            s.open_requests(None).await.unwrap(),
            everyone,
            "{}",
            db.name
        );
        // The refusal reached the column, not only the body.
        assert_eq!(count(&db, FLAGGED_OPEN).await, 3, "{}", db.name);
        assert_eq!(
            s.get_request(t, refused.id).await.unwrap(),
            refused,
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// Sets the column with `sql`, as an earlier schema or an older replica leaves it, and checks
/// that every open request is still read (judged by its body).
async fn set_by_hand_then_read(db: &TestDb, sql: &str, everyone: &[SubjectRequest]) {
    db.store
        .connection()
        .execute_raw(Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .unwrap();
    assert_eq!(
        db.store.open_requests(None).await.unwrap(),
        everyone,
        "{}: {sql}",
        db.name
    );
}

#[tokio::test]
async fn rows_of_earlier_schemas_and_older_replicas_are_read_by_their_body_then_set_right_by_migrate_and_a_restore()
 {
    for db in databases().await {
        let s = &db.store;
        let (t, open, _, everyone) = requests(&db).await;
        let (keys, rows) = crate::dump::dump(&db, t).await;
        // As before the column: every row empty. They are still read, judged by their body.
        set_by_hand_then_read(&db, "UPDATE requests SET is_open = NULL", &everyone).await;
        s.migrate().await.unwrap();
        assert_eq!(count(&db, NOT_FILLED).await, 0, "{}", db.name);
        assert_eq!(count(&db, FLAGGED_OPEN).await, 3, "{}", db.name);
        // An older replica closed a request without the column: flagged open, its body
        // closed. Read by its body meanwhile; set right by the next migrate.
        let closed_flagged_open = "UPDATE requests SET is_open = TRUE WHERE NOT is_open";
        set_by_hand_then_read(&db, closed_flagged_open, &everyone).await;
        assert_eq!(count(&db, FLAGGED_OPEN).await, 4, "{}", db.name);
        s.migrate().await.unwrap();
        assert_eq!(count(&db, FLAGGED_OPEN).await, 3, "{}", db.name);

        // A backup of an earlier schema has no such column; the restore fills it in.
        let rows = rows
            .into_iter()
            .map(|mut row| {
                if row.table == "requests" {
                    let mut value: serde_json::Value = serde_json::from_str(&row.json).unwrap();
                    assert!(value["is_open"].is_boolean(), "{value}");
                    value.as_object_mut().unwrap().remove("is_open");
                    row.json = value.to_string();
                }
                row
            })
            .collect();
        crate::dump::restore(&db, t, keys, rows).await.unwrap();
        assert_eq!(count(&db, NOT_FILLED).await, 0, "{}", db.name);
        assert_eq!(count(&db, FLAGGED_OPEN).await, 3, "{}", db.name);
        assert_eq!(s.open_requests(Some(t)).await.unwrap(), open, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn open_requests_are_found_through_the_index_led_by_the_open_column() {
    let db = crate::harness::sqlite().await;
    // The two statements `open_requests` sends.
    for flag in ["is_open = 1", "is_open IS NULL"] {
        let steps = crate::harness::sqlite_plan(
            &db,
            &format!("SELECT * FROM requests WHERE {flag} AND tenant_id = x'00'"),
        )
        .await;
        assert!(
            steps.iter().any(|s| s.contains("INDEX requests_open")),
            "{flag}: {steps:?}"
        );
    }
    db.finish().await;
}

#[tokio::test]
async fn a_change_made_from_a_stale_read_is_refused_and_writes_nothing() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        let read = SubjectRequest::open(t, ada.id, RequestKind::Erasure, at(3));
        s.insert_request(&read).await.unwrap();
        // Two changes decided from the same read: a refusal, then a verification.
        let mut refused = read.clone();
        refused
            .refuse("identity could not be confirmed", at(4))
            .unwrap();
        let mut verified = read.clone();
        verified
            .verify(gdpr_rights::IdentityVerification {
                method: gdpr_rights::VerificationMethod::AccountLogin,
                by: "dpo".into(),
                at: at(4),
                note: None,
            })
            .unwrap();
        s.update_request(&read, &refused).await.unwrap();
        // The second would reopen the refused request: refused, and nothing written.
        assert!(
            matches!(
                s.update_request(&read, &verified).await,
                Err(gdpr_ports::StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        assert_eq!(
            s.get_request(t, read.id).await.unwrap(),
            refused,
            "{}",
            db.name
        );
        assert_eq!(count(&db, FLAGGED_OPEN).await, 0, "{}", db.name);
        db.finish().await;
    }
}
