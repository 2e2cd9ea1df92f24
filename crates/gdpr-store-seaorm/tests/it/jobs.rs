//! The jobs queue: de-duplicated scheduling, claiming, leases, and two workers that never
//! run the same job.

use std::collections::BTreeSet;

use gdpr_ports::{JobQueue, JobState};
use time::Duration;
use uuid::Uuid;

use crate::harness::{databases, postgres, postgres_url};
use crate::subjects::at;

#[tokio::test]
async fn jobs_are_queued_once_claimed_when_due_and_finished() {
    use gdpr_ports::StoreError;
    for db in databases().await {
        let s = &db.store;
        let id = Uuid::new_v4();
        assert!(s.enqueue(id, "erasure-retry", "{}", at(10)).await.unwrap());
        assert!(
            !s.enqueue(id, "erasure-retry", "{}", at(10)).await.unwrap(),
            "{}: queued once",
            db.name
        );
        let lease = Duration::minutes(5);
        assert!(
            s.claim("w1", at(9), lease).await.unwrap().is_none(),
            "not due yet"
        );
        let job = s.claim("w1", at(10), lease).await.unwrap().unwrap();
        assert_eq!(
            (job.id, job.kind.as_str(), job.attempts),
            (id, "erasure-retry", 1),
            "{}",
            db.name
        );
        assert!(
            s.claim("w2", at(11), lease).await.unwrap().is_none(),
            "a running job is not claimed twice"
        );

        // Progress renews the lease: at 17 the job is not up for grabs.
        s.record_progress(id, "w1", 40, 100, at(10)).await.unwrap();
        s.record_progress(id, "w1", 50, 100, at(13)).await.unwrap();
        assert!(
            s.claim("w2", at(17), lease).await.unwrap().is_none(),
            "{}: lease renewed",
            db.name
        );
        // The worker dies; after the lease, another worker resumes where it was.
        let resumed = s.claim("w2", at(19), lease).await.unwrap().unwrap();
        assert_eq!(
            (resumed.attempts, resumed.progress),
            (2, (50, 100)),
            "{}",
            db.name
        );
        // The first worker wakes up: it holds nothing any more and changes nothing.
        let stale = s.record_progress(id, "w1", 99, 100, at(19)).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{}", db.name);
        assert!(
            matches!(
                s.complete(id, "w1", "", None).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        assert_eq!(s.job(id).await.unwrap().state, JobState::Running);

        // Queued again: it keeps what it needs to run, whatever it would settle to.
        let settled = r#"{"total":3}"#;
        let queued = s.job(id).await.unwrap().payload;
        s.fail(
            id,
            "w2",
            "error tracker unavailable",
            Some(at(20)),
            Some(settled.into()),
        )
        .await
        .unwrap();
        let status = s.job(id).await.unwrap();
        assert_eq!(status.payload, queued, "{}", db.name);
        assert_eq!(status.state, JobState::Queued);
        assert_eq!(
            status.last_error.as_deref(),
            Some("error tracker unavailable")
        );
        let again = s.claim("w1", at(20), lease).await.unwrap().unwrap();
        s.complete(again.id, "w1", "3 erased", Some(settled.into()))
            .await
            .unwrap();
        let done = s.job(id).await.unwrap();
        assert_eq!(done.state, JobState::Done);
        assert_eq!(done.payload, settled, "{}: its inputs are gone", db.name);
        assert_eq!(done.result.as_deref(), Some("3 erased"));
        assert!(
            s.claim("w1", at(100), lease).await.unwrap().is_none(),
            "done jobs stay done"
        );

        let doomed = Uuid::new_v4();
        s.enqueue(doomed, "x", "{}", at(0)).await.unwrap();
        s.claim("w1", at(0), lease).await.unwrap().unwrap();
        s.fail(doomed, "w1", "bad payload", None, Some(settled.into()))
            .await
            .unwrap();
        let failed = s.job(doomed).await.unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert_eq!(failed.payload, settled, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_job_that_keeps_losing_its_worker_stops_being_claimed() {
    for db in databases().await {
        let s = &db.store;
        let id = Uuid::new_v4();
        s.enqueue(id, "crashy", "{}", at(0)).await.unwrap();
        let lease = Duration::minutes(1);
        let mut claims = 0;
        for round in 0..20 {
            if s.claim("w", at(round * 2), lease).await.unwrap().is_some() {
                claims += 1;
            }
        }
        assert_eq!(claims, gdpr_ports::MAX_ATTEMPTS, "{}", db.name);
        assert_eq!(s.job(id).await.unwrap().attempts, gdpr_ports::MAX_ATTEMPTS);
        db.finish().await;
    }
}

/// Two workers on one PostgreSQL database, claiming as fast as they can: every job is run by
/// exactly one of them.
#[tokio::test]
async fn two_workers_on_postgres_never_run_the_same_job() {
    let Some(url) = postgres_url() else { return };
    let db = postgres(&url).await;
    let total = 300;
    let mut queued = BTreeSet::new();
    for n in 0..total {
        let id = Uuid::new_v4();
        db.store
            .enqueue(id, "work", &format!("{{\"n\":{n}}}"), at(0))
            .await
            .unwrap();
        queued.insert(id);
    }
    let workers: Vec<_> = ["replica-a", "replica-b"]
        .into_iter()
        .map(|name| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut ran = Vec::new();
                while let Some(job) = store.claim(name, at(1), Duration::hours(1)).await.unwrap() {
                    ran.push(job.id);
                    store.complete(job.id, name, "", None).await.unwrap();
                }
                ran
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut per_worker = Vec::new();
    for w in workers {
        let ran = w.await.unwrap();
        per_worker.push(ran.len());
        all.extend(ran);
    }
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), total, "every job ran once: {per_worker:?}");
    assert_eq!(distinct, queued);
    assert!(
        per_worker.iter().all(|n| *n > 0),
        "both replicas took work: {per_worker:?}"
    );
    db.finish().await;
}
