//! Registers kept as documents: one owner's, one kind's, in the order written; the tenant's
//! in its backups and gone with it, the deployment's in neither.

use gdpr_ports::{Document, DocumentKind, DocumentStore, Owner, StoreError};
use uuid::Uuid;

use crate::dump::{dump, restore};
use crate::harness::databases;
use crate::subjects::{at, tenant};

fn doc(owner: Owner, kind: DocumentKind, minutes: i64, body: &str) -> Document {
    Document {
        id: Uuid::now_v7(),
        kind,
        owner,
        created_at: at(minutes),
        body: body.into(),
    }
}

#[tokio::test]
async fn documents_are_kept_per_owner_and_kind_replaced_in_place_and_deleted() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let mine = Owner::Tenant(t);
        let later = doc(mine, DocumentKind::Recipient, 5, r#"{"n":2}"#);
        let first = doc(mine, DocumentKind::Recipient, 1, r#"{"n":1}"#);
        let breach = doc(mine, DocumentKind::Breach, 0, "{}");
        let ops = doc(Owner::Deployment, DocumentKind::Recipient, 0, "{}");
        for d in [&later, &first, &breach, &ops] {
            s.put_document(d).await.unwrap();
        }
        let listed = s
            .list_documents(mine, DocumentKind::Recipient)
            .await
            .unwrap();
        assert_eq!(
            listed,
            [first.clone(), later.clone()],
            "{}: oldest first",
            db.name
        );
        let deployment = s
            .list_documents(Owner::Deployment, DocumentKind::Recipient)
            .await
            .unwrap();
        assert_eq!(deployment, std::slice::from_ref(&ops), "{}", db.name);

        // Replaced: the body changes, its place in the list does not.
        let mut edited = first.clone();
        edited.body = r#"{"n":3}"#.into();
        edited.created_at = at(99);
        s.put_document(&edited).await.unwrap();
        let got = s
            .get_document(mine, DocumentKind::Recipient, first.id)
            .await
            .unwrap();
        assert_eq!(got.body, r#"{"n":3}"#, "{}", db.name);
        assert_eq!(got.created_at, first.created_at, "{}", db.name);

        // Another owner's or another register's id is neither readable nor writable.
        let mut stolen = ops.clone();
        stolen.owner = mine;
        stolen.body = "{\"taken\":true}".into();
        assert!(
            matches!(s.put_document(&stolen).await, Err(StoreError::Conflict(_))),
            "{}",
            db.name
        );
        assert_eq!(
            s.get_document(Owner::Deployment, DocumentKind::Recipient, ops.id)
                .await
                .unwrap()
                .body,
            "{}",
            "{}: unchanged",
            db.name
        );
        assert!(matches!(
            s.get_document(mine, DocumentKind::Recipient, ops.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.get_document(mine, DocumentKind::Recipient, breach.id)
                .await,
            Err(StoreError::NotFound)
        ));

        assert!(
            !s.delete_document(mine, DocumentKind::Breach, later.id)
                .await
                .unwrap()
        );
        assert!(
            s.delete_document(mine, DocumentKind::Recipient, later.id)
                .await
                .unwrap()
        );
        assert_eq!(
            s.list_documents(mine, DocumentKind::Recipient)
                .await
                .unwrap()
                .len(),
            1,
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_document_is_found_by_its_id_alone_with_its_owner_and_only_in_its_kind() {
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        let theirs = doc(
            Owner::Tenant(other),
            DocumentKind::WebhookEndpoint,
            1,
            r#"{"e":1}"#,
        );
        let mine = doc(
            Owner::Tenant(t),
            DocumentKind::WebhookEndpoint,
            2,
            r#"{"e":2}"#,
        );
        let ops = doc(
            Owner::Deployment,
            DocumentKind::WebhookEndpoint,
            3,
            r#"{"e":3}"#,
        );
        for d in [&theirs, &mine, &ops] {
            s.put_document(d).await.unwrap();
        }
        // Each opens with its own owner's key, and says whose it is.
        for d in [&theirs, &mine, &ops] {
            let found = s
                .document_by_id(DocumentKind::WebhookEndpoint, d.id)
                .await
                .unwrap();
            assert_eq!(&found, d, "{}", db.name);
        }
        // Another kind's id, or none at all, is not found.
        assert!(
            matches!(
                s.document_by_id(DocumentKind::Breach, mine.id).await,
                Err(StoreError::NotFound)
            ),
            "{}",
            db.name
        );
        assert!(matches!(
            s.document_by_id(DocumentKind::WebhookEndpoint, Uuid::now_v7())
                .await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn an_inserted_document_is_written_once_whoever_races_for_it() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let claim = doc(Owner::Tenant(t), DocumentKind::InquiryClaim, 0, "{}");
        // Eight writers at once: one wins, the others are told.
        let tries = (0..8).map(|_| s.insert_document(&claim));
        let results = futures_util::future::join_all(tries).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{}: {results:?}", db.name);
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict(_)))),
            "{results:?}"
        );
        assert_eq!(
            s.get_document(Owner::Tenant(t), DocumentKind::InquiryClaim, claim.id)
                .await
                .unwrap(),
            claim
        );
    }
}

#[tokio::test]
async fn a_tenants_documents_travel_in_its_backup_and_the_deployments_do_not() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let kept = doc(Owner::Tenant(t), DocumentKind::Breach, 1, r#"{"b":1}"#);
        let ops = doc(Owner::Deployment, DocumentKind::Breach, 1, r#"{"ops":1}"#);
        s.put_document(&kept).await.unwrap();
        s.put_document(&ops).await.unwrap();
        let (keys, rows) = dump(&db, t).await;
        let documents: Vec<&str> = rows
            .iter()
            .filter(|r| r.table == "documents")
            .map(|r| r.json.as_str())
            .collect();
        assert_eq!(documents.len(), 1, "{}: {documents:?}", db.name);
        assert!(documents[0].contains(&kept.id.to_string()));
        // Written since the backup, then undone by its restore; the deployment's stays.
        let since = doc(Owner::Tenant(t), DocumentKind::Breach, 2, "{}");
        s.put_document(&since).await.unwrap();
        s.delete_document(Owner::Tenant(t), DocumentKind::Breach, kept.id)
            .await
            .unwrap();
        restore(&db, t, keys, rows).await.unwrap();
        let after = s
            .list_documents(Owner::Tenant(t), DocumentKind::Breach)
            .await
            .unwrap();
        assert_eq!(after, [kept], "{}", db.name);
        assert_eq!(
            s.list_documents(Owner::Deployment, DocumentKind::Breach)
                .await
                .unwrap(),
            [ops],
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_documents_body_is_sealed_at_rest_and_opens_only_where_it_was_written() {
    use sea_orm::{ConnectionTrait, Statement};
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        let secret = r#"{"keys":[{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}"#;
        let endpoint = doc(Owner::Tenant(t), DocumentKind::WebhookEndpoint, 1, secret);
        let decoy = doc(Owner::Tenant(other), DocumentKind::WebhookEndpoint, 1, "{}");
        s.put_document(&endpoint).await.unwrap();
        s.put_document(&decoy).await.unwrap();
        let row = s
            .connection()
            .query_one_raw(Statement::from_string(
                db.backend(),
                format!(
                    "SELECT body FROM documents WHERE id = {}",
                    db.uuid_literal(&endpoint.id)
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let stored: String = row.try_get("", "body").unwrap();
        assert!(
            !stored.contains("whsec_") && !stored.contains("keys"),
            "{}",
            db.name
        );
        // Its ciphertext moved to another tenant's row does not open there.
        db.raw(&format!(
            "UPDATE documents SET body = (SELECT body FROM documents WHERE id = {}) WHERE id = {}",
            db.uuid_literal(&endpoint.id),
            db.uuid_literal(&decoy.id)
        ))
        .await;
        assert!(
            matches!(
                s.get_document(
                    Owner::Tenant(other),
                    DocumentKind::WebhookEndpoint,
                    decoy.id
                )
                .await,
                Err(StoreError::Corrupt(_))
            ),
            "{}",
            db.name
        );
        assert_eq!(
            s.get_document(Owner::Tenant(t), DocumentKind::WebhookEndpoint, endpoint.id)
                .await
                .unwrap()
                .body,
            secret
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_replacement_changes_a_document_that_exists_and_never_brings_back_a_deleted_one() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let mine = Owner::Tenant(t);
        let session = doc(mine, DocumentKind::ConsoleSession, 1, r#"{"seen":1}"#);
        s.put_document(&session).await.unwrap();
        let seen = Document {
            body: r#"{"seen":2}"#.into(),
            ..session.clone()
        };
        s.replace_document(&seen).await.unwrap();
        let got = s
            .get_document(mine, DocumentKind::ConsoleSession, session.id)
            .await
            .unwrap();
        assert_eq!(got.body, seen.body, "{}", db.name);
        // Another owner's or another register's id: not found, and left alone.
        for wrong in [
            Document {
                owner: Owner::Deployment,
                ..seen.clone()
            },
            Document {
                kind: DocumentKind::Breach,
                ..seen.clone()
            },
        ] {
            assert!(
                matches!(s.replace_document(&wrong).await, Err(StoreError::NotFound)),
                "{}",
                db.name
            );
        }
        // Deleted (a sign-out) between a read and the write that follows it: stays deleted.
        assert!(
            s.delete_document(mine, DocumentKind::ConsoleSession, session.id)
                .await
                .unwrap()
        );
        assert!(
            matches!(s.replace_document(&seen).await, Err(StoreError::NotFound)),
            "{}",
            db.name
        );
        assert!(
            matches!(
                s.get_document(mine, DocumentKind::ConsoleSession, session.id)
                    .await,
                Err(StoreError::NotFound)
            ),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_restore_keeps_erasure_confirmations_and_moved_address_claims_and_no_other_taken_id() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let mine = Owner::Tenant(t);
        let confirmed_before = doc(mine, DocumentKind::ErasureConfirmation, 1, r#"{"c":1}"#);
        let breach_before = doc(mine, DocumentKind::Breach, 1, r#"{"b":1}"#);
        s.put_document(&confirmed_before).await.unwrap();
        s.put_document(&breach_before).await.unwrap();
        let (keys, rows) = dump(&db, t).await;
        // Since the backup: a recipient confirmed another erasure; a breach was recorded.
        let confirmed_since = doc(mine, DocumentKind::ErasureConfirmation, 2, r#"{"c":2}"#);
        let breach_since = doc(mine, DocumentKind::Breach, 2, r#"{"b":2}"#);
        s.put_document(&confirmed_since).await.unwrap();
        s.put_document(&breach_since).await.unwrap();

        restore(&db, t, keys, rows).await.unwrap();
        assert_eq!(
            s.list_documents(mine, DocumentKind::Breach).await.unwrap(),
            std::slice::from_ref(&breach_before),
            "{}: replaced by the backup's",
            db.name
        );
        assert_eq!(
            s.list_documents(mine, DocumentKind::ErasureConfirmation)
                .await
                .unwrap(),
            [confirmed_before, confirmed_since],
            "{}: kept, the backup's copy not added twice",
            db.name
        );

        // Only kept kinds are skipped when already there: a backed-up breach whose id another
        // tenant's document holds now fails the restore, which changes nothing.
        let (keys, rows) = dump(&db, t).await;
        let other = tenant(s).await;
        s.delete_document(mine, DocumentKind::Breach, breach_before.id)
            .await
            .unwrap();
        let squatter = Document {
            owner: Owner::Tenant(other),
            ..breach_before.clone()
        };
        s.put_document(&squatter).await.unwrap();
        let since = doc(mine, DocumentKind::Breach, 3, r#"{"b":3}"#);
        s.put_document(&since).await.unwrap();
        assert!(
            restore(&db, t, keys, rows).await.is_err(),
            "{}: a taken id is not skipped",
            db.name
        );
        assert_eq!(
            s.list_documents(mine, DocumentKind::Breach).await.unwrap(),
            std::slice::from_ref(&since),
            "{}: nothing changed",
            db.name
        );

        // An address claim's id comes from the address: one that moved to another tenant
        // since the backup stays there, and the restore goes through without it.
        s.delete_document(Owner::Tenant(other), DocumentKind::Breach, squatter.id)
            .await
            .unwrap();
        let claim = doc(mine, DocumentKind::ConsoleAddress, 4, r#"{"user":"a"}"#);
        s.put_document(&claim).await.unwrap();
        let (keys, rows) = dump(&db, t).await;
        s.delete_document(mine, DocumentKind::ConsoleAddress, claim.id)
            .await
            .unwrap();
        let moved = Document {
            owner: Owner::Tenant(other),
            body: r#"{"user":"b"}"#.into(),
            ..claim.clone()
        };
        s.put_document(&moved).await.unwrap();
        restore(&db, t, keys, rows).await.unwrap();
        assert_eq!(
            s.document_by_id(DocumentKind::ConsoleAddress, claim.id)
                .await
                .unwrap(),
            moved,
            "{}: the claim stays where the address went",
            db.name
        );
        assert!(
            s.list_documents(mine, DocumentKind::ConsoleAddress)
                .await
                .unwrap()
                .is_empty()
        );
        db.finish().await;
    }
}
