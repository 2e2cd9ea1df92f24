//! Erasure is one transaction: all of it, or (after a failure mid-way) none of it.

use gdpr_audit::{Actor, AuditAction, AuditEvent};
use gdpr_consent::{ConsentAction, ConsentEvent, ConsentForm, ConsentMethod, LawfulBasis};
use gdpr_pii::SubjectId;
use gdpr_ports::{
    AuditLog, ConsentStore, ErasedCounts, ErasureStore, KeyStore, Page, RecordStore, StoreError,
    SubjectStore,
};
use gdpr_rights::{ErasurePlan, ErasureReceipt, Tombstone};
use gdpr_store_seaorm::SeaOrmStore;
use gdpr_testkit::fake;
use uuid::Uuid;

use crate::harness::databases;
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

fn audit(t: gdpr_pii::TenantId, subject: SubjectId) -> AuditEvent {
    AuditEvent::new(at(60), Some(t), Actor::System, AuditAction::SubjectErased).about(subject)
}

#[tokio::test]
async fn erasure_removes_everything_about_the_subject_and_nothing_else() {
    for db in databases().await {
        let s = &db.store;
        let (t, a, b) = populated(s).await;
        let counts = s
            .erase_subject(&tombstone(t, a), audit(t, a))
            .await
            .unwrap();
        assert_eq!(
            counts,
            ErasedCounts {
                records: 2,
                personal_fields: 3,
                keys: 1,
                consents: 1
            },
            "{}",
            db.name
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
        assert!(matches!(
            s.erase_subject(&tombstone(t, a), audit(t, a)).await,
            Err(StoreError::NotFound)
        ));
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
        let err = s
            .erase_subject(&tombstone(t, a), audit(t, a))
            .await
            .unwrap_err();
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
        assert!(
            s.erase_subject(&tombstone(t, a), audit(t, a))
                .await
                .is_err()
        );
        assert!(s.tombstones(t).await.unwrap().is_empty(), "{}", db.name);
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
    use gdpr_ports::LegalHoldStore;
    for db in databases().await {
        let s = &db.store;
        let (t, a, _) = populated(s).await;
        let hold = gdpr_rights::LegalHold::place(
            t,
            a,
            gdpr_rights::HoldGround::LegalClaims,
            "case 7",
            at(59),
        )
        .unwrap();
        s.insert_hold(&hold).await.unwrap();
        assert!(
            matches!(
                s.erase_subject(&tombstone(t, a), audit(t, a)).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        assert!(s.get_subject(t, a).await.is_ok());
        assert!(s.tombstones(t).await.unwrap().is_empty());
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
        s.save_erasure_receipt(&receipt).await.unwrap();
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
        s.save_erasure_receipt(&receipt).await.unwrap();
        assert!(s.unfinished_erasure_receipts().await.unwrap().is_empty());
        assert_eq!(s.get_erasure_receipt(t, receipt.id).await.unwrap(), receipt);
        assert!(matches!(
            s.get_erasure_receipt(tenant(s).await, receipt.id).await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}
