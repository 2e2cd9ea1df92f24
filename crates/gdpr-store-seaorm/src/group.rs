//! Group commit of single creates (the HTTP routes that create a subject or submit a record):
//! calls that arrive while one is being committed wait, and are then written together, in one
//! transaction, by one task per kind. Each caller is answered only after that transaction
//! committed, so nothing acknowledged can be lost; a group refused for one of its writes (a
//! taken e-mail, a subject erased meanwhile) is written again one at a time, so each caller gets
//! its own answer, exactly as without grouping; an outage is every caller's answer at once.
//!
//! Why: on SQLite every write transaction waits for the single writer (sleeping in the busy
//! handler), and on both databases each commit is a sync to disk: committing the creates that
//! queued meanwhile together shares that sync and that wait. The writing task is detached from
//! the callers, so a caller that gives up (its client disconnected) cannot cut a group's
//! transaction short for the others; its write is then stored all the same. A panic while
//! writing is caught and carried back to the caller whose write caused it (the group is
//! written again one by one to find it); the writer goes on.
//!
//! Known limit: one writer per kind serves every tenant, and on PostgreSQL a create waits for its
//! tenant's audit-chain lock, which a restore of that tenant holds throughout: creates for
//! other tenants wait behind it meanwhile.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use gdpr_audit::AuditEvent;
use gdpr_pii::{Record, Subject};
use gdpr_ports::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::SeaOrmStore;

/// What is committed in groups: written many at once, with their audit events, in one
/// transaction.
pub(crate) trait Grouped: Clone + Send + Sync + 'static {
    /// This kind's queue.
    fn queue(queues: &Queues) -> &Queue<Self>;

    fn write<'a>(
        store: &'a SeaOrmStore,
        items: &'a [Self],
        audit: Vec<AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;
}

impl Grouped for Subject {
    fn queue(queues: &Queues) -> &Queue<Self> {
        &queues.subjects
    }

    fn write<'a>(
        store: &'a SeaOrmStore,
        items: &'a [Self],
        audit: Vec<AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        store.insert_now(items, audit)
    }
}

impl Grouped for Record {
    fn queue(queues: &Queues) -> &Queue<Self> {
        &queues.records
    }

    fn write<'a>(
        store: &'a SeaOrmStore,
        items: &'a [Self],
        audit: Vec<AuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        store.insert_records_now(items, audit)
    }
}

/// The queues to the writing tasks, one per kind.
#[derive(Clone)]
pub(crate) struct Queues {
    pub(crate) subjects: Queue<Subject>,
    pub(crate) records: Queue<Record>,
}

impl Queues {
    /// Starts the writing tasks for `store` (which must not itself queue: it holds no queues).
    pub(crate) fn spawn(store: &SeaOrmStore) -> Self {
        Self {
            subjects: spawn(store.clone()),
            records: spawn(store.clone()),
        }
    }
}

/// Creates written in one transaction at most.
const MAX_GROUP: usize = 256;
/// Creates waiting for the writer at most; more callers wait to queue.
const QUEUE: usize = 1_024;

/// A write's outcome, or the panic it caused (carried back to its caller, a bug stays a bug).
type Answer = std::thread::Result<Result<(), StoreError>>;

pub(crate) struct Pending<T> {
    item: T,
    audit: Vec<AuditEvent>,
    reply: oneshot::Sender<Answer>,
}

/// The queue to one kind's writing task.
pub(crate) type Queue<T> = mpsc::Sender<Pending<T>>;

fn spawn<T: Grouped>(store: SeaOrmStore) -> Queue<T> {
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
async fn submit<T: Grouped>(
    queue: &Queue<T>,
    item: &T,
    audit: Vec<AuditEvent>,
) -> Result<Result<(), StoreError>, Vec<AuditEvent>> {
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        item: item.clone(),
        audit,
        reply,
    };
    if let Err(unsent) = queue.send(pending).await {
        return Err(unsent.0.audit);
    }
    match answer.await {
        Ok(Ok(result)) => Ok(result),
        // Its own write made the writer panic: the panic is this caller's.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // Only when the runtime shuts down: the transaction may or may not have committed.
        Err(_) => Ok(Err(StoreError::Unavailable(
            "the store's writer stopped before answering".into(),
        ))),
    }
}

impl SeaOrmStore {
    /// Writes `items` with `audit`: one alone is committed with the others of its kind that
    /// arrive meanwhile; several (a batch) are written now, in their own transaction.
    pub(crate) async fn insert_grouped<T: Grouped>(
        &self,
        items: &[T],
        audit: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        let audit = match (items, &self.group) {
            ([one], Some(queues)) => match submit(T::queue(queues), one, audit).await {
                Ok(result) => return result,
                Err(unsent) => unsent,
            },
            _ => audit,
        };
        T::write(self, items, audit).await
    }

    /// Writes one group and answers each of its callers. A panic is caught, so that the
    /// writer goes on serving the others.
    async fn commit_group<T: Grouped>(&self, group: Vec<Pending<T>>) {
        let (mut items, mut audits, mut replies) = (Vec::new(), Vec::new(), Vec::new());
        for p in group {
            items.push(p.item);
            audits.push(p.audit);
            replies.push(p.reply);
        }
        if items.len() > 1 {
            match AssertUnwindSafe(T::write(self, &items, audits.concat()))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => {
                    self.grouped
                        .fetch_add(items.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    for reply in replies {
                        let _ = reply.send(Ok(Ok(())));
                    }
                    return;
                }
                // An outage: every caller gets it now, rather than one after another.
                Ok(Err(e)) if !one_writes_fault(&e) => {
                    for reply in replies {
                        let _ = reply.send(Ok(Err(same(&e))));
                    }
                    return;
                }
                // One write refused the group (a taken e-mail, a subject or form gone), or
                // made it panic: the others must not fail for it.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        // Alone, or refused for one of them: each on its own, with its own answer.
        for ((item, audit), reply) in items.iter().zip(audits).zip(replies) {
            let answer = AssertUnwindSafe(T::write(self, std::slice::from_ref(item), audit))
                .catch_unwind()
                .await;
            // The caller may have given up; its write is stored all the same.
            let _ = reply.send(answer);
        }
    }
}

/// Whether `e` can be one write's own (then the others are written without it), rather than
/// the database's (then it is everyone's).
fn one_writes_fault(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_) | StoreError::NotFound)
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
