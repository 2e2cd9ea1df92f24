//! Group commit of single-subject creates (the HTTP create route): calls that arrive while a
//! create is being committed wait, and are then written together, in one transaction, by one
//! task. Each caller is answered only after that transaction committed, so nothing
//! acknowledged can be lost; a group that fails (a taken e-mail, an outage) is written again
//! one subject at a time, so each caller gets its own answer, exactly as without grouping.
//!
//! Why: on SQLite every write transaction waits for the single writer (sleeping in the busy
//! handler), and on both databases each commit is a sync to disk: committing the creates that
//! queued meanwhile together shares that sync and that wait. The writing task is detached from
//! the callers, so a caller that gives up (its client disconnected) cannot cut a group's
//! transaction short for the others; its subject is then stored all the same. A panic while
//! writing is caught and carried back to the caller whose subject caused it (the group is
//! written again one by one to find it); the writer goes on.
//!
//! Known limit: one writer serves every tenant, and on PostgreSQL a create waits for its
//! tenant's audit-chain lock, which a restore of that tenant holds throughout: creates for
//! other tenants wait behind it meanwhile.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use gdpr_audit::AuditEvent;
use gdpr_pii::Subject;
use gdpr_ports::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::SeaOrmStore;

/// Creates written in one transaction at most.
const MAX_GROUP: usize = 256;
/// Creates waiting for the writer at most; more callers wait to queue.
const QUEUE: usize = 1_024;

/// A write's outcome, or the panic it caused (carried back to its caller, a bug stays a bug).
type Answer = std::thread::Result<Result<(), StoreError>>;

pub(crate) struct Pending {
    subject: Subject,
    audit: Vec<AuditEvent>,
    reply: oneshot::Sender<Answer>,
}

/// The queue to the writing task.
pub(crate) type Queue = mpsc::Sender<Pending>;

/// Starts the writing task for `store` (which must not itself queue: it holds no queue).
pub(crate) fn spawn(store: SeaOrmStore) -> Queue {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut group = Vec::with_capacity(MAX_GROUP);
        // Ends when every store holding the queue is dropped.
        while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
            store.commit_group(std::mem::take(&mut group)).await;
        }
    });
    tx
}

/// Queues one create and waits for its answer; its audit events back if the writing task is
/// gone (its runtime shut down), for the caller to write it itself.
pub(crate) async fn submit(
    queue: &Queue,
    subject: &Subject,
    audit: Vec<AuditEvent>,
) -> Result<Result<(), StoreError>, Vec<AuditEvent>> {
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        subject: subject.clone(),
        audit,
        reply,
    };
    if let Err(unsent) = queue.send(pending).await {
        return Err(unsent.0.audit);
    }
    match answer.await {
        Ok(Ok(result)) => Ok(result),
        // Its own subject made the writer panic: the panic is this caller's.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // Only when the runtime shuts down: the transaction may or may not have committed.
        Err(_) => Ok(Err(StoreError::Unavailable(
            "the store's writer stopped before answering".into(),
        ))),
    }
}

impl SeaOrmStore {
    /// Writes one group and answers each of its callers. A panic is caught, so that the
    /// writer goes on serving the others.
    async fn commit_group(&self, group: Vec<Pending>) {
        let (mut subjects, mut audits, mut replies) = (Vec::new(), Vec::new(), Vec::new());
        for p in group {
            subjects.push(p.subject);
            audits.push(p.audit);
            replies.push(p.reply);
        }
        if subjects.len() > 1 {
            match AssertUnwindSafe(self.insert_now(&subjects, audits.concat()))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => {
                    self.grouped
                        .fetch_add(subjects.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    for reply in replies {
                        let _ = reply.send(Ok(Ok(())));
                    }
                    return;
                }
                // An outage: every caller gets it now, rather than one after another.
                Ok(Err(e)) if !matches!(e, StoreError::Conflict(_)) => {
                    for reply in replies {
                        let _ = reply.send(Ok(Err(same(&e))));
                    }
                    return;
                }
                // One taken e-mail refused the group, or one subject made it panic: the
                // others must not fail for it.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        // Alone, or refused for one of them: each on its own, with its own answer.
        for ((subject, audit), reply) in subjects.iter().zip(audits).zip(replies) {
            let answer = AssertUnwindSafe(self.insert_now(std::slice::from_ref(subject), audit))
                .catch_unwind()
                .await;
            // The caller may have given up; its subject is stored all the same.
            let _ = reply.send(answer);
        }
    }
}

/// The same error again, for another caller of the failed group.
fn same(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(rule) => StoreError::Conflict(rule),
        StoreError::Unavailable(source) => StoreError::Unavailable(source.to_string().into()),
        StoreError::Corrupt(what) => StoreError::Corrupt(what.clone()),
    }
}
