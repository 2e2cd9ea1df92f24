//! Encryption at rest: no plaintext canary anywhere in the database; ciphertexts bound to
//! their row and field.

use gdpr_pii::{Email, FullName, IpAddress, Subject};
use gdpr_ports::{RecordStore, StoreError, SubjectStore};
use gdpr_testkit::fake;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::harness::{InsertOne, TestDb, databases};
use crate::subjects::{contractors, record, subject, tenant, two_subjects};

/// Every byte the database holds: the SQLite files, or every row of every table as text.
async fn raw_contents(db: &TestDb) -> Vec<u8> {
    let conn = db.store.connection();
    match db.backend() {
        DbBackend::Sqlite => {
            conn.execute_unprepared("PRAGMA wal_checkpoint(FULL)")
                .await
                .unwrap();
            let dir = db.sqlite_dir.as_ref().unwrap().path();
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            bytes
        }
        _ => {
            let tables = conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'".to_owned(),
                ))
                .await
                .unwrap();
            let mut text = String::new();
            for t in tables {
                let name: String = t.try_get("", "tablename").unwrap();
                let rows = conn
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("SELECT t::text AS row FROM \"{name}\" t"),
                    ))
                    .await
                    .unwrap();
                for row in rows {
                    text.push_str(&row.try_get::<String>("", "row").unwrap());
                }
            }
            text.into_bytes()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_plaintext_canary_reaches_the_database() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let (email, name, ip) = fake::canaries("atrest");
        let canary = Subject {
            email: Some(Email::parse(&email).unwrap()),
            full_name: Some(FullName::parse(&name).unwrap()),
            ip_address: Some(IpAddress::parse(&ip).unwrap()),
            ..subject(t, 1)
        };
        s.insert_subject(&canary).await.unwrap();
        let mut r = record(&form, &canary, 1);
        r.values = form
            .schema
            .validate(&json!({"email": email, "full_name": name, "phone": "+33 6 99 88 77 66", "day_rate": 700}))
            .unwrap();
        s.insert_record(&r).await.unwrap();

        let bytes = raw_contents(&db).await;
        assert!(
            bytes.len() > 1000,
            "{}: the scan read the database",
            db.name
        );
        for needle in [
            email.as_str(),
            "canary-mail",
            name.as_str(),
            "Canaryname",
            ip.as_str(),
            "+33 6 99 88 77 66",
        ] {
            assert!(
                !contains(&bytes, needle),
                "{}: plaintext {needle:?} found at rest",
                db.name
            );
        }
        // The scan would see plaintext if there were any: the non-personal field is there.
        assert!(
            contains(&bytes, "day_rate"),
            "{}: the scan sees stored text",
            db.name
        );
        assert_eq!(s.get_subject(t, canary.id).await.unwrap(), canary);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let (a, b) = two_subjects(s, t).await;
        let (pa, pb) = (
            db.uuid_literal(a.id.as_uuid()),
            db.uuid_literal(b.id.as_uuid()),
        );
        db.raw(&format!(
            "UPDATE subjects SET full_name_ct = (SELECT full_name_ct FROM subjects WHERE id = {pa}) WHERE id = {pb}"
        ))
        .await;
        assert!(
            matches!(s.get_subject(t, b.id).await, Err(StoreError::Corrupt(_))),
            "{}",
            db.name
        );
        // Within one row, moving a value to another column fails the same way.
        db.raw(&format!(
            "UPDATE subjects SET full_name_ct = email_ct WHERE id = {pa}"
        ))
        .await;
        assert!(
            matches!(s.get_subject(t, a.id).await, Err(StoreError::Corrupt(_))),
            "{}",
            db.name
        );
        // And the error says nothing about the data.
        let err = s.get_subject(t, a.id).await.unwrap_err().to_string();
        assert!(!err.contains("example.org"), "{err}");
        let _ = s
            .list_records(t, None, None, gdpr_ports::Page::ALL)
            .await
            .unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn a_records_sealed_fields_open_only_in_their_own_record() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let (a, b) = two_subjects(s, t).await;
        let (a1, a2, b1) = (
            record(&form, &a, 1),
            record(&form, &a, 2),
            record(&form, &b, 3),
        );
        for r in [&a1, &a2, &b1] {
            s.insert_record(r).await.unwrap();
        }
        let literal = |r: &gdpr_pii::Record| db.uuid_literal(r.id.as_uuid());
        // All personal fields of a record are one ciphertext (sealing version 2).
        let conn = s.connection();
        let row = conn
            .query_one_raw(Statement::from_string(
                db.backend(),
                format!("SELECT sealed FROM records WHERE id = {}", literal(&a1)),
            ))
            .await
            .unwrap()
            .unwrap();
        let sealed: String = row.try_get("", "sealed").unwrap();
        assert!(sealed.starts_with("v2:"), "{}: {sealed}", db.name);
        // Copied into another record of the same subject (same key) or of another subject:
        // refused either way.
        for target in [&a2, &b1] {
            db.raw(&format!(
                "UPDATE records SET sealed = (SELECT sealed FROM records WHERE id = {}) WHERE id = {}",
                literal(&a1),
                literal(target)
            ))
            .await;
            assert!(
                matches!(
                    s.get_record(t, target.id).await,
                    Err(StoreError::Corrupt(_))
                ),
                "{}",
                db.name
            );
        }
        // The record it came from still opens.
        assert_eq!(s.get_record(t, a1.id).await.unwrap(), a1, "{}", db.name);
        db.finish().await;
    }
}

/// SQLite connections run in WAL mode with `synchronous = FULL`: a commit that returned is on
/// disk (an erasure reported done stays done through a power cut), with the bulk-import tuning
/// (page cache, checkpoint interval) in place.
#[tokio::test]
async fn sqlite_connections_are_durable_and_tuned_for_bulk_writes() {
    let db = crate::harness::sqlite().await;
    let conn = db.store.connection();
    let mut seen = Vec::new();
    for pragma in [
        "journal_mode",
        "synchronous",
        "cache_size",
        "wal_autocheckpoint",
    ] {
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("PRAGMA {pragma}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let value = row
            .try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
            .unwrap();
        seen.push(value);
    }
    assert_eq!(seen, ["wal", "2", "-32768", "16384"]);
}

/// A legal hold's or a limit's reason is free text that may name people: sealed under the
/// subject's key, so nothing of it is at rest in clear, and it goes with the key.
#[tokio::test]
async fn the_reasons_of_holds_and_limits_are_sealed_under_the_subjects_key() {
    use gdpr_ports::{LegalHoldStore, ProcessingLimitStore};
    use gdpr_rights::{HoldGround, LegalHold, LimitKind, ProcessingLimit};
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        let at = time::macros::datetime!(2026-12-06 10:00 UTC);
        let hold = LegalHold::place(
            t,
            ada.id,
            HoldGround::LegalClaims,
            "Holdreason v. Zanzibar",
            at,
        )
        .unwrap();
        s.insert_hold(&hold).await.unwrap();
        let limit = ProcessingLimit::place(
            t,
            ada.id,
            LimitKind::Restriction,
            None,
            "Limitreason Quixote",
            at,
        )
        .unwrap();
        s.insert_limit(&limit).await.unwrap();
        let bytes = raw_contents(&db).await;
        for needle in ["Holdreason", "Zanzibar", "Limitreason", "Quixote"] {
            assert!(!contains(&bytes, needle), "{}: {needle:?} at rest", db.name);
        }
        assert!(
            contains(&bytes, "sealed"),
            "{}: the scan sees the rows",
            db.name
        );
        assert_eq!(
            s.holds_of(t, ada.id).await.unwrap(),
            std::slice::from_ref(&hold)
        );
        assert_eq!(
            s.limits_of(t, ada.id).await.unwrap(),
            std::slice::from_ref(&limit)
        );
        assert_eq!(
            s.held_subjects(t).await.unwrap(),
            [ada.id].into_iter().collect()
        );
        // Released, the hold keeps its reason; lifted likewise.
        let mut released = hold.clone();
        released.released_at = Some(at);
        s.update_hold(&released).await.unwrap();
        assert_eq!(s.holds_of(t, ada.id).await.unwrap(), [released]);
        assert!(s.held_subjects(t).await.unwrap().is_empty());
        db.finish().await;
    }
}
