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

        s.record_progress(id, 40, 100).await.unwrap();
        // The worker dies; after the lease, another worker resumes where it was.
        let resumed = s.claim("w2", at(16), lease).await.unwrap().unwrap();
        assert_eq!(
            (resumed.attempts, resumed.progress),
            (2, (40, 100)),
            "{}",
            db.name
        );

        s.fail(id, "error tracker unavailable", Some(at(20)))
            .await
            .unwrap();
        let status = s.job(id).await.unwrap();
        assert_eq!(status.state, JobState::Queued);
        assert_eq!(
            status.last_error.as_deref(),
            Some("error tracker unavailable")
        );
        let again = s.claim("w1", at(20), lease).await.unwrap().unwrap();
        s.complete(again.id).await.unwrap();
        assert_eq!(s.job(id).await.unwrap().state, JobState::Done);
        assert!(
            s.claim("w1", at(100), lease).await.unwrap().is_none(),
            "done jobs stay done"
        );

        let doomed = Uuid::new_v4();
        s.enqueue(doomed, "x", "{}", at(0)).await.unwrap();
        s.claim("w1", at(0), lease).await.unwrap().unwrap();
        s.fail(doomed, "bad payload", None).await.unwrap();
        assert_eq!(s.job(doomed).await.unwrap().state, JobState::Failed);
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
                    store.complete(job.id).await.unwrap();
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
