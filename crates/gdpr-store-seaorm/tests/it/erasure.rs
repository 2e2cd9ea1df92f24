//! Erasure is one transaction: all of it, or (after a failure mid-way) none of it.

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_consent::{ConsentAction, ConsentEvent, ConsentForm, ConsentMethod, LawfulBasis};
use gdpr_pii::SubjectId;
use gdpr_ports::{
    AuditLog, ConsentStore, Erased, ErasedCounts, Erasure, ErasureStore, FormStore, LegalHoldStore,
    Page, RecordCount, RecordStore, StoreError, SubjectStore,
};
use gdpr_rights::{ErasurePlan, ErasureReceipt, Tombstone};
use gdpr_store_seaorm::SeaOrmStore;
use gdpr_testkit::fake;
use uuid::Uuid;

use crate::harness::{InsertOne, databases};
use crate::subjects::{at, contractors, record, subject, tenant};

async fn populated(s: &SeaOrmStore) -> (gdpr_pii::TenantId, SubjectId, SubjectId) {
    let t = tenant(s).await;
    let form = contractors(s, t).await;
    let purpose = fake::purpose("news", LawfulBasis::Consent);
    s.insert_purpose(t, &purpose).await.unwrap();
    let consent = ConsentForm::publish(t, &purpose, "News", "I agree", at(0)).unwrap();
    s.save_consent_form(&consent).await.unwrap();
    let (a, b) = (subject(t, 1), subject(t, 2));
    for x in [&a, &b] {
        s.insert_subject(x).await.unwrap();
        s.insert_record(&record(&form, x, 1)).await.unwrap();
        s.insert_record(&record(&form, x, 2)).await.unwrap();
        let event = ConsentEvent::new(
            &consent,
            x.id,
            ConsentAction::Given,
            None,
            at(5),
            ConsentMethod::Api,
            None,
        )
        .unwrap();
        s.append_consent_event(&event).await.unwrap();
    }
    (t, a.id, b.id)
}

fn tombstone(t: gdpr_pii::TenantId, subject: SubjectId) -> Tombstone {
    Tombstone {
        tenant: t,
        subject,
        erased_at: at(60),
        receipt: Uuid::new_v4(),
    }
}

fn erasure(t: gdpr_pii::TenantId, subject: SubjectId) -> Erasure {
    let plan = ErasurePlan::for_subject(t, subject, &[]).unwrap();
    let receipt = ErasureReceipt::planned(&plan, None, at(60));
    Erasure {
        tombstone: Tombstone {
            receipt: receipt.id,
            ..tombstone(t, subject)
        },
        audit: AuditEvent::new(at(60), Some(t), Actor::System, AuditAction::SubjectErased)
            .about(subject),
        receipt,
    }
}

/// Erases one subject; its outcome.
async fn erase(
    s: &SeaOrmStore,
    t: gdpr_pii::TenantId,
    subject: SubjectId,
) -> Result<Erased, StoreError> {
    let mut outcomes = s.erase_subjects(vec![erasure(t, subject)]).await?;
    assert_eq!(outcomes.len(), 1);
    Ok(outcomes.remove(0))
}

fn hold(t: gdpr_pii::TenantId, subject: SubjectId) -> gdpr_rights::LegalHold {
    gdpr_rights::LegalHold::place(
        t,
        subject,
        gdpr_rights::HoldGround::LegalClaims,
        "case 7",
        at(59),
    )
    .unwrap()
}

#[tokio::test]
async fn erasure_removes_everything_about_the_subject_and_nothing_else() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, b) = populated(s).await;
        let Erased::Done(receipt) = erase(s, t, a).await.unwrap() else {
            panic!("{}: not erased", db.name)
        };
        let mut expected = erasure(t, a).receipt;
        expected.id = receipt.id;
        expected.record_erased(
            ErasedCounts {
                records: 2,
                personal_fields: 3,
                keys: 1,
                consents: 1,
            },
            at(60),
        );
        assert_eq!(receipt, expected, "{}", db.name);
        // Stored in the same transaction, the places outside the database still to do.
        assert_eq!(s.get_erasure_receipt(t, receipt.id).await.unwrap(), receipt);
        assert_eq!(
            s.unfinished_erasure_receipts().await.unwrap(),
            vec![receipt]
        );
        assert!(matches!(
            s.get_subject(t, a).await,
            Err(StoreError::NotFound)
        ));
        assert!(!s.has_subject_key(t, a).await.unwrap());
        assert!(
            s.list_records(t, None, Some(a), Page::ALL)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.consent_history(t, a).await.unwrap().is_empty());
        assert_eq!(s.tombstones(t).await.unwrap().len(), 1);
        let log = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(log.last().unwrap().event.action, AuditAction::SubjectErased);
        // The other subject is whole.
        assert!(s.get_subject(t, b).await.is_ok());
        assert_eq!(
            s.list_records(t, None, Some(b), Page::ALL)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s.consent_history(t, b).await.unwrap().len(), 1);
        // Erasing again finds nobody and writes nothing.
        assert_eq!(erase(s, t, a).await.unwrap(), Erased::NotFound);
        assert_eq!(s.tombstones(t).await.unwrap().len(), 1);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_failure_mid_transaction_leaves_the_subject_whole() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, _) = populated(s).await;
        let before = s.get_subject(t, a).await.unwrap();
        // The last writes of the transaction (tombstone, audit) will fail: everything before
        // them (records, consents, profile, key deleted) must be rolled back.
        db.raw("DROP TABLE tombstones").await;
        let err = erase(s, t, a).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{}: {err:?}",
            db.name
        );
        assert_eq!(s.get_subject(t, a).await.unwrap(), before, "{}", db.name);
        assert!(s.has_subject_key(t, a).await.unwrap());
        assert_eq!(
            s.list_records(t, None, Some(a), Page::ALL)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(s.consent_history(t, a).await.unwrap().len(), 1);
        assert!(s.audit_records(Some(t), 0, 100).await.unwrap().is_empty());
        db.finish().await;
    }
}

#[tokio::test]
async fn a_failure_at_the_last_write_leaves_no_tombstone_either() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, _) = populated(s).await;
        // The audit entry is the transaction's last write.
        db.raw("DROP TABLE audit_log").await;
        assert!(erase(s, t, a).await.is_err());
        assert!(s.tombstones(t).await.unwrap().is_empty(), "{}", db.name);
        assert!(s.unfinished_erasure_receipts().await.unwrap().is_empty());
        assert!(s.get_subject(t, a).await.is_ok());
        assert!(s.has_subject_key(t, a).await.unwrap());
        assert_eq!(
            s.list_records(t, None, Some(a), Page::ALL)
                .await
                .unwrap()
                .len(),
            2
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_hold_placed_after_the_check_still_blocks_the_transaction() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, _) = populated(s).await;
        s.insert_hold(&hold(t, a)).await.unwrap();
        assert_eq!(erase(s, t, a).await.unwrap(), Erased::Held, "{}", db.name);
        assert!(s.get_subject(t, a).await.is_ok());
        assert!(s.tombstones(t).await.unwrap().is_empty());
        db.finish().await;
    }
}

#[tokio::test]
async fn a_batch_erases_those_it_can_in_one_transaction_and_reports_the_others() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, b) = populated(s).await;
        let held = subject(t, 3);
        s.insert_subject(&held).await.unwrap();
        s.insert_hold(&hold(t, held.id)).await.unwrap();
        let other_tenant = tenant(s).await;
        let theirs = subject(other_tenant, 4);
        s.insert_subject(&theirs).await.unwrap();
        let batch = vec![
            erasure(t, a),
            erasure(t, SubjectId::at(time::OffsetDateTime::UNIX_EPOCH)),
            erasure(t, held.id),
            // The other tenant's subject, named under this tenant: not found, untouched.
            erasure(t, theirs.id),
            erasure(t, b),
            // Listed twice: erased once.
            erasure(t, a),
        ];
        let outcomes = s.erase_subjects(batch).await.unwrap();
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|o| match o {
                Erased::Done(_) => "done",
                Erased::NotFound => "not found",
                Erased::Held => "held",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "done",
                "not found",
                "held",
                "not found",
                "done",
                "not found"
            ],
            "{}",
            db.name
        );
        for (outcome, subject) in outcomes.iter().zip([a, a, a, a, b]) {
            if let Erased::Done(receipt) = outcome {
                assert_eq!(receipt.subject, subject);
                assert!(
                    receipt.outcome(gdpr_rights::Place::Records)
                        == Some(&gdpr_rights::Outcome::Done {
                            at: at(60),
                            count: Some(2)
                        }),
                    "{}: each subject's own count",
                    db.name
                );
            }
        }
        for gone in [a, b] {
            assert!(matches!(
                s.get_subject(t, gone).await,
                Err(StoreError::NotFound)
            ));
            assert!(!s.has_subject_key(t, gone).await.unwrap());
        }
        assert!(s.get_subject(t, held.id).await.is_ok());
        assert!(s.has_subject_key(t, held.id).await.unwrap());
        assert!(s.get_subject(other_tenant, theirs.id).await.is_ok());
        assert_eq!(s.tombstones(t).await.unwrap().len(), 2);
        assert_eq!(s.unfinished_erasure_receipts().await.unwrap().len(), 2);
        let erased = s
            .audit_records(Some(t), 0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.event.action == AuditAction::SubjectErased)
            .count();
        assert_eq!(erased, 2, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn rows_about_a_missing_subject_are_refused_by_the_database() {
    for db in databases().await {
        let (t, real, _) = populated(&db.store).await;
        let ghost = db.uuid_literal(&Uuid::new_v4());
        let real = db.uuid_literal(real.as_uuid());
        let tenant = db.uuid_literal(t.as_uuid());
        let event = db.uuid_literal(&Uuid::new_v4());
        // What a write racing an erasure would leave behind: the foreign keys refuse it.
        let sql = format!(
            "INSERT INTO consent_events (id, tenant_id, subject_id, body) VALUES ({event}, {tenant}, {ghost}, '{{}}')"
        );
        assert!(
            !db.try_raw(&sql).await,
            "{}: orphan consent event accepted",
            db.name
        );
        // The same statement about a subject who exists is accepted: the key is what refused it.
        assert!(db.try_raw(&sql.replace(&ghost, &real)).await, "{}", db.name);
        let key = format!(
            "INSERT INTO subject_keys (subject_id, tenant_id, wrapped) VALUES ({ghost}, {tenant}, x'00')"
        );
        let key = if db.backend() == sea_orm::DbBackend::Postgres {
            key.replace("x'00'", "'\\x00'")
        } else {
            key
        };
        assert!(!db.try_raw(&key).await, "{}: orphan key accepted", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn receipts_are_stored_updated_and_listed_while_unfinished() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, _) = populated(s).await;
        let plan = ErasurePlan::for_subject(t, a, &[]).unwrap();
        let mut receipt = ErasureReceipt::planned(&plan, None, at(60));
        s.save_erasure_receipts(std::slice::from_ref(&receipt))
            .await
            .unwrap();
        assert_eq!(
            s.unfinished_erasure_receipts().await.unwrap(),
            vec![receipt.clone()],
            "{}",
            db.name
        );
        for place in gdpr_rights::Place::ALL {
            receipt.record(
                place,
                gdpr_rights::Outcome::Done {
                    at: at(61),
                    count: None,
                },
            );
        }
        let other = ErasureReceipt::planned(&plan, None, at(62));
        s.save_erasure_receipts(&[receipt.clone(), other.clone()])
            .await
            .unwrap();
        assert_eq!(
            s.unfinished_erasure_receipts().await.unwrap(),
            vec![other.clone()]
        );
        assert_eq!(s.get_erasure_receipt(t, receipt.id).await.unwrap(), receipt);
        let intruder = tenant(s).await;
        assert!(matches!(
            s.get_erasure_receipt(intruder, receipt.id).await,
            Err(StoreError::NotFound)
        ));
        // Another tenant cannot overwrite it by reusing its id, and nothing of the call lands.
        let mut stolen = other.clone();
        stolen.tenant = intruder;
        let fresh = ErasureReceipt::planned(&plan, None, at(63));
        assert!(
            matches!(
                s.save_erasure_receipts(&[fresh.clone(), stolen]).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        assert_eq!(s.get_erasure_receipt(t, other.id).await.unwrap(), other);
        assert!(matches!(
            s.get_erasure_receipt(t, fresh.id).await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn batch_planning_counts_records_per_subject_and_lists_held_subjects_without_decrypting() {
    use gdpr_rights::RecordScope;
    for db in databases().await {
        let s = &db.store;
        let (t, a, b) = populated(s).await;
        let form = s.list_forms(t).await.unwrap()[0].clone();
        let mut late = record(&form, &s.get_subject(t, b).await.unwrap(), 3);
        late.created_at = at(30);
        s.insert_record(&late).await.unwrap();
        let all = s
            .count_records_by_subject(t, RecordScope::ALL)
            .await
            .unwrap();
        let count = |in_scope, total| RecordCount { in_scope, total };
        assert_eq!(
            all,
            [(a, count(2, 2)), (b, count(3, 3))].into(),
            "{}",
            db.name
        );
        let window = RecordScope {
            form: Some(form.id),
            from: Some(at(20)),
            to: Some(at(31)),
        };
        assert_eq!(
            s.count_records_by_subject(t, window).await.unwrap(),
            // Only b is in the window, with all its records counted beside.
            [(b, count(1, 3))].into(),
            "{}",
            db.name
        );
        // A window opening before what nanoseconds since 1970 can hold still opens before
        // every record (it is not read as "after everything").
        let since_year_one = RecordScope {
            from: Some(time::macros::datetime!(0001-01-01 0:00 UTC)),
            ..RecordScope::ALL
        };
        assert_eq!(
            s.count_records_by_subject(t, since_year_one).await.unwrap(),
            all,
            "{}",
            db.name
        );
        // The window's end is exclusive, to the nanosecond.
        let before = RecordScope {
            to: Some(at(30)),
            ..window
        };
        assert!(
            s.count_records_by_subject(t, before)
                .await
                .unwrap()
                .is_empty()
        );
        let other_form = RecordScope {
            form: Some(gdpr_pii::FormId::at(time::OffsetDateTime::UNIX_EPOCH)),
            ..RecordScope::ALL
        };
        assert!(
            s.count_records_by_subject(t, other_form)
                .await
                .unwrap()
                .is_empty()
        );
        // Another tenant's view is empty.
        let other = tenant(s).await;
        assert!(
            s.count_records_by_subject(other, RecordScope::ALL)
                .await
                .unwrap()
                .is_empty()
        );

        assert!(s.held_subjects(t).await.unwrap().is_empty());
        let mut h = hold(t, a);
        s.insert_hold(&h).await.unwrap();
        assert_eq!(s.held_subjects(t).await.unwrap(), [a].into(), "{}", db.name);
        assert!(s.held_subjects(other).await.unwrap().is_empty());
        h.released_at = Some(at(61));
        s.update_hold(&h).await.unwrap();
        assert!(s.held_subjects(t).await.unwrap().is_empty(), "{}", db.name);
        db.finish().await;
    }
}

/// Every foreign key to `subjects` as `(table, column, served by an index leading with it)`.
async fn references_to_subjects(db: &crate::harness::TestDb) -> Vec<(String, String, bool)> {
    use sea_orm::{ConnectionTrait, Statement};
    let c = db.store.connection();
    let backend = c.get_database_backend();
    let query = |sql: String| c.query_all_raw(Statement::from_string(backend, sql));
    let mut found = Vec::new();
    if backend == sea_orm::DbBackend::Postgres {
        let sql = "SELECT c.conrelid::regclass::text AS tbl, a.attname::text AS col, \
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid \
                           AND i.indkey[0] = c.conkey[1]) AS indexed \
                   FROM pg_constraint c JOIN pg_attribute a \
                     ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                   WHERE c.contype = 'f' AND c.confrelid = 'subjects'::regclass";
        for row in query(sql.into()).await.unwrap() {
            found.push((
                row.try_get("", "tbl").unwrap(),
                row.try_get("", "col").unwrap(),
                row.try_get("", "indexed").unwrap(),
            ));
        }
        return found;
    }
    let tables = query("SELECT name FROM sqlite_master WHERE type = 'table'".into())
        .await
        .unwrap();
    for table in tables {
        let table: String = table.try_get("", "name").unwrap();
        for fk in query(format!("PRAGMA foreign_key_list('{table}')"))
            .await
            .unwrap()
        {
            let target: String = fk.try_get("", "table").unwrap();
            if target != "subjects" {
                continue;
            }
            let column: String = fk.try_get("", "from").unwrap();
            let mut indexed = false;
            for index in query(format!("PRAGMA index_list('{table}')"))
                .await
                .unwrap()
            {
                let name: String = index.try_get("", "name").unwrap();
                let first = query(format!("PRAGMA index_info('{name}')"))
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|c| c.try_get::<i64>("", "seqno").unwrap() == 0)
                    .map(|c| c.try_get::<String>("", "name").unwrap());
                indexed |= first.as_deref() == Some(column.as_str());
            }
            found.push((table.clone(), column, indexed));
        }
    }
    found
}

#[tokio::test]
async fn every_reference_to_a_subject_is_checked_through_an_index() {
    // Deleting a subject makes the database look for rows still referring to it; without an
    // index leading with the referring column, each deletion scans the whole table.
    for db in databases().await {
        let refs = references_to_subjects(&db).await;
        let tables: Vec<&str> = refs.iter().map(|(t, _, _)| t.as_str()).collect();
        for expected in ["records", "consent_events", "subject_keys"] {
            assert!(tables.contains(&expected), "{}: {refs:?}", db.name);
        }
        let unindexed: Vec<_> = refs.iter().filter(|(_, _, indexed)| !indexed).collect();
        assert!(unindexed.is_empty(), "{}: {unindexed:?}", db.name);
        db.finish().await;
    }
}
