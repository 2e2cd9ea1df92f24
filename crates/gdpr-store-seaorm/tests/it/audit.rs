//! The audit chain as stored: appends chain, concurrent appends serialise, tampering with the
//! table is found at the record tampered with.

use gdpr_audit::{Actor, AuditAction, AuditEvent, ChainBreak, verify};
use gdpr_ports::AuditLog;
use gdpr_store_seaorm::SeaOrmStore;

use crate::harness::databases;
use crate::subjects::{at, tenant};

async fn append(s: &SeaOrmStore, t: gdpr_pii::TenantId, n: i64) {
    s.append_audit(
        AuditEvent::new(at(n), Some(t), Actor::System, AuditAction::SubjectViewed).with("n", n),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn chains_append_per_tenant_and_verify() {
    for db in databases().await {
        let s = &db.store;
        let (t, u) = (tenant(s).await, tenant(s).await);
        for n in 0..5 {
            append(s, t, n).await;
        }
        append(s, u, 0).await;
        s.append_audit(AuditEvent::new(
            at(0),
            None,
            Actor::Operator,
            AuditAction::TenantCreated,
        ))
        .await
        .unwrap();
        let chain = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(verify(Some(t), &chain).unwrap().records, 5, "{}", db.name);
        assert_eq!(s.audit_records(Some(u), 0, 100).await.unwrap().len(), 1);
        assert_eq!(s.audit_records(None, 0, 100).await.unwrap().len(), 1);
        assert_eq!(s.audit_records(Some(t), 3, 100).await.unwrap()[0].seq, 4);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_keep_one_unbroken_chain() {
    for db in databases().await {
        let s = db.store.clone();
        let t = tenant(&s).await;
        // As many writers as a busy server has connections: none may fail for losing the
        // race to the chain's next position (the load test once saw that on PostgreSQL).
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for n in 0..25 {
                        append(&s, t, w * 100 + n).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let chain = s.audit_records(Some(t), 0, 1000).await.unwrap();
        assert_eq!(verify(Some(t), &chain).unwrap().records, 400, "{}", db.name);
        // They queued for the chain's head rather than racing for its next position.
        assert_eq!(s.lost_races(), 0, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn replicas_appending_in_turn_each_link_to_the_stored_head() {
    for db in databases().await {
        let a = &db.store;
        let b = SeaOrmStore::connect(&db.url, 2, gdpr_store_seaorm::MasterKey::generate().0)
            .await
            .unwrap();
        let t = tenant(a).await;
        // Each replica remembers the head it wrote; the other's appends make it stale.
        for n in 0..3 {
            append(a, t, 2 * n).await;
            append(&b, t, 2 * n + 1).await;
        }
        append(a, t, 6).await;
        append(a, t, 7).await;
        // As if A's last append had been rolled back and B had appended instead: the row at
        // A's remembered position now holds another record.
        db.raw(&format!(
            "DELETE FROM audit_log WHERE chain = '{t}' AND seq = 8"
        ))
        .await;
        append(&b, t, 8).await;
        append(a, t, 9).await;
        let chain = a.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(verify(Some(t), &chain).unwrap().records, 9, "{}", db.name);
        // No append raced for a position already taken: a stale memory costs a read.
        assert_eq!((a.lost_races(), b.lost_races()), (0, 0), "{}", db.name);
        b.close().await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn editing_or_deleting_rows_is_found_where_it_happened() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        for n in 0..6 {
            append(s, t, n).await;
        }
        db.raw("UPDATE audit_log SET body = REPLACE(body, '\"subject_viewed\"', '\"subject_erased\"') WHERE seq = 3")
            .await;
        let chain = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(
            verify(Some(t), &chain),
            Err(ChainBreak::Altered { seq: 3 }),
            "{}",
            db.name
        );

        db.raw("UPDATE audit_log SET body = REPLACE(body, '\"subject_erased\"', '\"subject_viewed\"') WHERE seq = 3")
            .await;
        db.raw("DELETE FROM audit_log WHERE seq = 5").await;
        let chain = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(
            verify(Some(t), &chain),
            Err(ChainBreak::OutOfSequence {
                expected: 5,
                found: 6
            }),
            "{}",
            db.name
        );
        // Renumbering rows to hide the gap changes what was hashed.
        db.raw("UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
        let chain = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(
            verify(Some(t), &chain),
            Err(ChainBreak::Altered { seq: 5 }),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn attestations_chain_per_tenant_beside_the_audit_chain_and_concurrent_ones_serialise() {
    use gdpr_audit::{Check, CheckKind, verify_attestations};
    use gdpr_ports::AttestationLog;

    for db in databases().await {
        let s = db.store.clone();
        let (t, u) = (tenant(&s).await, tenant(&s).await);
        append(&s, t, 0).await;
        assert!(s.last_attestation(t).await.unwrap().is_none());
        let tasks: Vec<_> = (0..4)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for n in 0..5 {
                        let checks =
                            vec![Check::pass(CheckKind::NoOverdueRequest, format!("{w}/{n}"))];
                        s.append_attestation(t, at(n), checks, None).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        s.append_attestation(u, at(0), vec![], None).await.unwrap();
        let chain = s.attestations(t, 0, 100).await.unwrap();
        assert_eq!(
            verify_attestations(t, &chain).unwrap().records,
            20,
            "{}",
            db.name
        );
        assert_eq!(s.last_attestation(t).await.unwrap().as_ref(), chain.last());
        assert_eq!(s.attestations(t, 18, 100).await.unwrap()[0].seq, 19);
        assert_eq!(s.attestations(u, 0, 100).await.unwrap().len(), 1);
        // The tenant's audit chain holds its own record only.
        let audit = s.audit_records(Some(t), 0, 100).await.unwrap();
        assert_eq!(verify(Some(t), &audit).unwrap().records, 1);
        db.finish().await;
    }
}
