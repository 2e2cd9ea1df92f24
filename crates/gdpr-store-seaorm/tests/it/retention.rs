//! What retention reads and writes: a tenant's own periods, records by submission time
//! without opening them, and subjects left with nothing since when.

use gdpr_pii::{Record, RecordId};
use gdpr_ports::{PolicyOverride, RecordRef, RecordStore, StoreError, SubjectStore, TenantStore};
use gdpr_retention::RetentionPeriod;
use time::Duration;

use crate::harness::{InsertOne, databases};
use crate::subjects::{at, contractors, record, subject, tenant};

#[tokio::test]
async fn a_tenants_retention_round_trips_and_an_unknown_tenant_is_not_found() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        assert_eq!(
            s.tenant_retention(t).await.unwrap(),
            PolicyOverride::default(),
            "{}",
            db.name
        );
        let set = PolicyOverride {
            records: Some(RetentionPeriod::days(90).unwrap()),
            inactive_subjects: Some(RetentionPeriod::days(30).unwrap()),
            ..PolicyOverride::default()
        };
        s.set_tenant_retention(t, &set).await.unwrap();
        assert_eq!(s.tenant_retention(t).await.unwrap(), set);
        let unknown = gdpr_pii::TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        assert!(matches!(
            s.set_tenant_retention(unknown, &set).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.tenant_retention(unknown).await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn records_are_read_by_submission_time_a_page_at_a_time_and_one_form_only() {
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        let form = contractors(s, t).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        // Five records, two of them submitted at the same instant (ids break the tie).
        let records: Vec<Record> = [0, 1, 1, 2, 3]
            .into_iter()
            .map(|minute| Record {
                id: RecordId::at(time::OffsetDateTime::UNIX_EPOCH),
                created_at: at(minute),
                ..record(&form, &ada, 1)
            })
            .collect();
        for r in &records {
            s.insert_record(r).await.unwrap();
        }
        let mut seen: Vec<RecordRef> = Vec::new();
        let mut after = None;
        loop {
            let page = s
                .records_submitted_before(t, form.id, at(2), after, 2)
                .await
                .unwrap();
            let Some(last) = page.last().copied() else {
                break;
            };
            seen.extend(page);
            after = Some(last);
        }
        let mut expected: Vec<(time::OffsetDateTime, RecordId)> =
            records[..4].iter().map(|r| (r.created_at, r.id)).collect();
        expected.sort();
        assert_eq!(
            seen.iter()
                .map(|r| (r.created_at, r.id))
                .collect::<Vec<_>>(),
            expected,
            "{}: in order, each once, up to `before` inclusive",
            db.name
        );
        assert!(seen.iter().all(|r| r.subject == ada.id));
        assert!(
            s.records_submitted_before(other, form.id, at(10), None, 10)
                .await
                .unwrap()
                .is_empty(),
            "another tenant's"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn subjects_left_with_nothing_are_found_with_the_time_their_last_record_went() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let (never, emptied, busy) = (subject(t, 1), subject(t, 2), subject(t, 3));
        for x in [&never, &emptied, &busy] {
            s.insert_subject(x).await.unwrap();
        }
        let (gone, kept) = (record(&form, &emptied, 2), record(&form, &busy, 3));
        s.insert_record(&gone).await.unwrap();
        s.insert_record(&kept).await.unwrap();
        let deleted_at = at(1_000);
        assert_eq!(
            s.delete_records(t, &[gone.id], deleted_at).await.unwrap(),
            1
        );
        // Idle since before the deletion: only the one that never had a record.
        let idle = s.idle_subjects(t, at(999)).await.unwrap();
        assert_eq!(idle, vec![(never.id, never.updated_at)], "{}", db.name);
        // Later, the emptied one too, idle since its record went; never the one with a record.
        let mut idle = s
            .idle_subjects(t, deleted_at + Duration::DAY)
            .await
            .unwrap();
        idle.sort();
        let mut expected = vec![(never.id, never.updated_at), (emptied.id, deleted_at)];
        expected.sort();
        assert_eq!(idle, expected, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn records_expire_a_chunk_at_a_time_oldest_first_sparing_held_subjects() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let (ada, held) = (subject(t, 1), subject(t, 2));
        s.insert_subject(&ada).await.unwrap();
        s.insert_subject(&held).await.unwrap();
        let at_minute = |subject: &gdpr_pii::Subject, minute| Record {
            id: RecordId::at(time::OffsetDateTime::UNIX_EPOCH),
            created_at: at(minute),
            ..record(&form, subject, 1)
        };
        // Ada's records at minutes 0, 1, 1, 2 and 10; the held subject's at 0.
        let mine: Vec<Record> = [0, 1, 1, 2, 10].map(|m| at_minute(&ada, m)).into();
        for r in mine.iter().chain([&at_minute(&held, 0)]) {
            s.insert_record(r).await.unwrap();
        }
        let spared = [held.id];
        let expire =
            |after, limit| s.expire_records(t, form.id, at(2), after, &spared, at(100), limit);
        // Three of the four past minute 2, oldest first; then the last; then none.
        let (n, through) = expire(None, 3).await.unwrap();
        assert_eq!((n, through), (3, Some(at(1))), "{}", db.name);
        let left: Vec<RecordId> = s
            .records_submitted_before(t, form.id, at(1_000), None, 100)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        let mut oldest: Vec<&Record> = mine.iter().collect();
        oldest.sort_by_key(|r| (r.created_at, r.id));
        assert!(!left.contains(&oldest[2].id) && left.contains(&oldest[3].id));
        // The next chunk starts past the first; then nothing is left.
        assert_eq!(expire(through, 3).await.unwrap(), (1, Some(at(2))));
        assert_eq!(expire(None, 3).await.unwrap(), (0, None));
        let left = s
            .records_submitted_before(t, form.id, at(1_000), None, 100)
            .await
            .unwrap();
        assert_eq!(left.len(), 2, "the held subject's and the young one");
        assert!(left.iter().any(|r| r.subject == held.id));
        // Ada is left with one record; her last deletion time is noted.
        let idle = s.idle_subjects(t, at(1_000)).await.unwrap();
        assert!(idle.is_empty(), "both still have a record");
        // A subject whose every record expired is idle from the expiry on.
        let gone = subject(t, 3);
        s.insert_subject(&gone).await.unwrap();
        s.insert_record(&at_minute(&gone, 0)).await.unwrap();
        assert_eq!(expire(None, 3).await.unwrap(), (1, Some(at(2))));
        let idle = s.idle_subjects(t, at(1_000)).await.unwrap();
        assert_eq!(idle, vec![(gone.id, at(100))], "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn records_deleted_while_others_are_written_wait_their_turn_and_none_fails() {
    // A deletion reads (whose records) before it writes: on SQLite such a transaction must
    // take the write lock first, or a writer committing in between fails it at once with
    // SQLITE_BUSY (no busy wait) — a 503 a client saw now and then.
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let people: Vec<_> = (0..8).map(|i| subject(t, 10 + i)).collect();
        for p in &people {
            s.insert_subject(p).await.unwrap();
        }
        let mut records = Vec::new();
        for (i, p) in people.iter().enumerate() {
            for k in 0..8 {
                let r = record(&form, p, (100 + i * 8 + k) as u64);
                s.insert_record(&r).await.unwrap();
                records.push(r);
            }
        }
        let deletions = records
            .iter()
            .map(|r| async move { s.delete_records(t, &[r.id], at(2_000)).await });
        let writes = (0..64).map(|k| {
            let r = record(&form, &people[k % 8], 1_000 + k as u64);
            async move { s.insert_record(&r).await }
        });
        let (deleted, written) = tokio::join!(
            futures_util::future::join_all(deletions),
            futures_util::future::join_all(writes)
        );
        for d in deleted {
            assert_eq!(d.unwrap(), 1, "{}", db.name);
        }
        for w in written {
            w.unwrap();
        }
        db.finish().await;
    }
}
