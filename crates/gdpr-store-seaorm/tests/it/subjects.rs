//! Tenants, subjects and records: round trips, uniqueness, paging and tenant scoping.

use gdpr_consent::{Form, LawfulBasis};
use gdpr_pii::{Record, RecordId, Subject, SubjectId, Tenant, TenantId};
use gdpr_ports::{Cursor, FormStore, Page, RecordStore, StoreError, SubjectStore, TenantStore};
use gdpr_store_seaorm::SeaOrmStore;
use gdpr_testkit::fake;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::harness::{InsertOne, databases};

pub(crate) fn at(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
        + Duration::minutes(minutes)
        + Duration::nanoseconds(123)
}

pub(crate) async fn tenant(store: &SeaOrmStore) -> TenantId {
    let t = Tenant {
        id: TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
        name: "LogAlto SAS".into(),
        privacy_contact: "dpo@logalto.example".into(),
        created_at: at(0),
    };
    store.insert_tenant(&t).await.unwrap();
    t.id
}

pub(crate) fn subject(tenant: TenantId, seed: u64) -> Subject {
    Subject {
        id: SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
        tenant,
        email: Some(fake::email(seed)),
        full_name: Some(fake::full_name(seed)),
        ip_address: Some(fake::ip(seed)),
        created_at: at(seed as i64),
        updated_at: at(seed as i64),
    }
}

/// Two subjects of `tenant`, stored.
pub(crate) async fn two_subjects(store: &SeaOrmStore, tenant: TenantId) -> (Subject, Subject) {
    let (a, b) = (subject(tenant, 1), subject(tenant, 2));
    store.insert_subject(&a).await.unwrap();
    store.insert_subject(&b).await.unwrap();
    (a, b)
}

pub(crate) async fn contractors(store: &SeaOrmStore, tenant: TenantId) -> Form {
    let purpose = fake::purpose("contractors", LawfulBasis::Contract);
    let form = Form::define(
        tenant,
        "Contractors",
        fake::contractors_schema(),
        &purpose,
        at(0),
    )
    .unwrap();
    store.insert_form(&form).await.unwrap();
    form
}

pub(crate) fn record(form: &Form, subject: &Subject, seed: u64) -> Record {
    let values = form
        .schema
        .validate(&json!({
            "email": fake::email(seed).expose_pii(),
            "full_name": fake::full_name(seed).expose_pii(),
            "phone": "+33 1 23 45 67 89",
            "day_rate": 512.5,
        }))
        .unwrap();
    Record {
        id: RecordId::at(time::OffsetDateTime::UNIX_EPOCH),
        tenant: form.tenant,
        form: form.id,
        subject: subject.id,
        values,
        created_at: at(100 + seed as i64),
    }
}

#[tokio::test]
async fn subjects_round_trip_and_are_found_by_email() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let mut ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        assert_eq!(s.get_subject(t, ada.id).await.unwrap(), ada, "{}", db.name);
        assert!(s.has_subject_key(t, ada.id).await.unwrap());
        let found = s.find_subject_by_email(t, &fake::email(1)).await.unwrap();
        assert_eq!(found.map(|f| f.id), Some(ada.id), "{}", db.name);
        assert!(
            s.find_subject_by_email(t, &fake::email(2))
                .await
                .unwrap()
                .is_none()
        );

        ada.full_name = None;
        ada.email = Some(fake::email(9));
        ada.updated_at = at(50);
        s.update_subject(&ada).await.unwrap();
        assert_eq!(s.get_subject(t, ada.id).await.unwrap(), ada, "{}", db.name);
        assert!(
            s.find_subject_by_email(t, &fake::email(1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.find_subject_by_email(t, &fake::email(9))
                .await
                .unwrap()
                .is_some()
        );

        let bare = Subject {
            email: None,
            full_name: None,
            ip_address: None,
            ..subject(t, 3)
        };
        s.insert_subject(&bare).await.unwrap();
        assert_eq!(s.get_subject(t, bare.id).await.unwrap(), bare);
        db.finish().await;
    }
}

#[tokio::test]
async fn an_email_is_unique_within_a_tenant_only() {
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        s.insert_subject(&subject(t, 1)).await.unwrap();
        let again = subject(t, 1);
        assert!(
            matches!(s.insert_subject(&again).await, Err(StoreError::Conflict(_))),
            "{}",
            db.name
        );
        assert!(
            !s.has_subject_key(t, again.id).await.unwrap(),
            "a refused insert leaves no key"
        );
        s.insert_subject(&subject(other, 1)).await.unwrap();
        let mut second = subject(t, 2);
        s.insert_subject(&second).await.unwrap();
        second.email = Some(fake::email(1));
        assert!(matches!(
            s.update_subject(&second).await,
            Err(StoreError::Conflict(_))
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn lists_are_ordered_and_paged() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let mut ids = Vec::new();
        for seed in 0..7 {
            let x = subject(t, seed);
            ids.push(x.id);
            s.insert_subject(&x).await.unwrap();
        }
        let page = s
            .list_subjects(
                t,
                Page {
                    offset: 2,
                    limit: 3,
                    after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|x| x.id).collect::<Vec<_>>(),
            ids[2..5],
            "{}",
            db.name
        );
        // After the page's last subject: the rest, by a cursor instead of an offset.
        let last = page.last().unwrap();
        let after = Page {
            after: Some(Cursor {
                at: last.created_at,
                id: *last.id.as_uuid(),
            }),
            ..Page::first(10)
        };
        let rest = s.list_subjects(t, after).await.unwrap();
        assert_eq!(
            rest.iter().map(|x| x.id).collect::<Vec<_>>(),
            ids[5..],
            "{}",
            db.name
        );
        assert_eq!(s.list_subjects(t, Page::ALL).await.unwrap().len(), 7);
        db.finish().await;
    }
}

#[tokio::test]
async fn records_round_trip_with_typed_values() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        let r = record(&form, &ada, 1);
        s.insert_record(&r).await.unwrap();
        assert_eq!(s.get_record(t, r.id).await.unwrap(), r, "{}", db.name);
        let r2 = record(&form, &ada, 2);
        s.insert_record(&r2).await.unwrap();
        let listed = s
            .list_records(t, Some(form.id), Some(ada.id), Page::ALL)
            .await
            .unwrap();
        assert_eq!(listed, vec![r.clone(), r2.clone()]);
        assert_eq!(
            s.delete_records(
                t,
                &[r.id, RecordId::at(time::OffsetDateTime::UNIX_EPOCH)],
                at(500)
            )
            .await
            .unwrap(),
            1
        );
        assert!(matches!(
            s.get_record(t, r.id).await,
            Err(StoreError::NotFound)
        ));

        let orphan = Record {
            subject: SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            ..record(&form, &ada, 3)
        };
        assert!(matches!(
            s.insert_record(&orphan).await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn another_tenants_ids_are_not_found() {
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        let form = contractors(s, t).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        let r = record(&form, &ada, 1);
        s.insert_record(&r).await.unwrap();
        assert!(
            matches!(
                s.get_subject(other, ada.id).await,
                Err(StoreError::NotFound)
            ),
            "{}",
            db.name
        );
        assert!(
            s.find_subject_by_email(other, &fake::email(1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.get_record(other, r.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.get_form(other, form.id).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.delete_records(other, &[r.id], at(500)).await.unwrap(), 0);
        assert!(
            s.list_records(other, None, None, Page::ALL)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!s.has_subject_key(other, ada.id).await.unwrap());
        let mut stolen = ada.clone();
        stolen.tenant = other;
        assert!(matches!(
            s.update_subject(&stolen).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.get_record(t, r.id).await.unwrap(), r, "untouched");
        db.finish().await;
    }
}

#[tokio::test]
async fn a_batch_of_subjects_is_stored_whole_or_not_at_all() {
    use gdpr_audit::{Actor, AuditAction, AuditEvent};
    use gdpr_ports::AuditLog;
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let batch: Vec<Subject> = (10..14).map(|seed| subject(t, seed)).collect();
        let audit = |b: &[Subject]| {
            b.iter()
                .map(|x| {
                    AuditEvent::new(at(0), Some(t), Actor::System, AuditAction::SubjectCreated)
                        .about(x.id)
                })
                .collect::<Vec<_>>()
        };
        s.insert_subjects(&batch, audit(&batch)).await.unwrap();
        for x in &batch {
            assert_eq!(&s.get_subject(t, x.id).await.unwrap(), x, "{}", db.name);
        }
        assert_eq!(s.audit_records(Some(t), 0, 100).await.unwrap().len(), 4);

        // One taken e-mail (or a duplicate inside the batch) refuses the whole batch.
        let clash = vec![subject(t, 20), subject(t, 10)];
        assert!(
            matches!(
                s.insert_subjects(&clash, audit(&clash)).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        // Refused by the unique index, then named a conflict at once: not retried as a race.
        assert_eq!(s.lost_races(), 0, "{}", db.name);
        let twice = vec![subject(t, 21), subject(t, 21)];
        assert!(matches!(
            s.insert_subjects(&twice, audit(&twice)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.get_subject(t, clash[0].id).await,
            Err(StoreError::NotFound)
        ));
        assert!(!s.has_subject_key(t, clash[0].id).await.unwrap());
        assert_eq!(s.list_subjects(t, Page::ALL).await.unwrap().len(), 4);
        assert_eq!(
            s.audit_records(Some(t), 0, 100).await.unwrap().len(),
            4,
            "no audit entry for what was refused"
        );
        db.finish().await;
    }
}

/// A batch bigger than the chunk sealed at a time (1,000, the next one sealed while the
/// database writes the current one): every subject stored under its own key, and a failure
/// in the last chunk takes back the chunks already written.
#[tokio::test]
async fn a_batch_of_several_sealed_chunks_is_stored_whole_or_not_at_all() {
    use gdpr_audit::{Actor, AuditAction, AuditEvent};
    use gdpr_ports::AuditLog;
    let audit = |t: TenantId, b: &[Subject]| {
        b.iter()
            .map(|x| {
                AuditEvent::new(at(0), Some(t), Actor::System, AuditAction::SubjectCreated)
                    .about(x.id)
            })
            .collect::<Vec<_>>()
    };
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let batch: Vec<Subject> = (100..1_300).map(|seed| subject(t, seed)).collect();
        s.insert_subjects(&batch, audit(t, &batch)).await.unwrap();
        let stored = s.list_subjects(t, Page::ALL).await.unwrap();
        assert_eq!(stored.len(), batch.len(), "{}", db.name);
        let mut expected = batch.clone();
        expected.sort_by_key(|x| (x.created_at, x.id));
        assert_eq!(
            stored, expected,
            "{}: every field decrypts as given",
            db.name
        );

        // The last subject reuses a stored id: its chunk fails after one was written.
        let mut failing: Vec<Subject> = (3_000..4_200).map(|seed| subject(t, seed)).collect();
        failing.last_mut().unwrap().id = batch[0].id;
        assert!(
            s.insert_subjects(&failing, audit(t, &failing))
                .await
                .is_err(),
            "{}",
            db.name
        );
        assert_eq!(
            s.list_subjects(t, Page::ALL).await.unwrap().len(),
            batch.len(),
            "{}: nothing of the failed batch stays",
            db.name
        );
        assert!(!s.has_subject_key(t, failing[0].id).await.unwrap());
        assert_eq!(
            s.audit_records(Some(t), 0, 10_000).await.unwrap().len(),
            batch.len()
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn many_records_are_stored_in_one_transaction_or_not_at_all() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let (a, b) = two_subjects(s, t).await;
        let mut batch: Vec<Record> = (0..2_500)
            .map(|n| record(&form, if n % 2 == 0 { &a } else { &b }, n))
            .collect();
        let audit = |records: &[Record]| {
            records
                .iter()
                .map(|r| {
                    gdpr_audit::AuditEvent::new(
                        r.created_at,
                        Some(t),
                        gdpr_audit::Actor::System,
                        gdpr_audit::AuditAction::RecordSubmitted,
                    )
                })
                .collect::<Vec<_>>()
        };
        // One subject that does not exist: nothing at all is stored.
        let stranger = subject(t, 3);
        batch.push(record(&form, &stranger, 9));
        let err = s.insert_records(&batch, audit(&batch)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{}: {err:?}", db.name);
        assert!(
            s.list_records(t, None, None, Page::ALL)
                .await
                .unwrap()
                .is_empty()
        );
        batch.pop();

        s.insert_records(&batch, audit(&batch)).await.unwrap();
        let stored = s
            .list_records(t, Some(form.id), Some(a.id), Page::ALL)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1_250, "{}", db.name);
        // Large reads are opened on several cores: every record still comes back whole, under
        // its own subject's key, in order.
        let mine: Vec<Record> = batch
            .iter()
            .filter(|r| r.subject == a.id)
            .cloned()
            .collect();
        assert!(stored == mine, "{}: one subject's records differ", db.name);
        let all = s.list_records(t, None, None, Page::ALL).await.unwrap();
        assert!(all == batch, "{}: the tenant's records differ", db.name);
        // Sealed under the right key: each reads back as it was.
        let back = s.get_record(t, batch[7].id).await.unwrap();
        assert_eq!(back, batch[7], "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn records_read_whole_or_by_page_come_in_the_same_order() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let form = contractors(s, t).await;
        let a = subject(t, 1);
        s.insert_subject(&a).await.unwrap();
        // Stored out of creation order, with ties broken by id.
        let mut stored = Vec::new();
        for (n, minute) in [5, 1, 3, 1, 5, 2, 1].into_iter().enumerate() {
            let mut r = record(&form, &a, n as u64);
            r.created_at = at(minute);
            s.insert_record(&r).await.unwrap();
            stored.push(r);
        }
        stored.sort_by_key(|r| (r.created_at, *r.id.as_uuid()));
        let ids = |records: &[Record]| records.iter().map(|r| r.id).collect::<Vec<_>>();
        let whole = s
            .list_records(t, None, Some(a.id), Page::ALL)
            .await
            .unwrap();
        assert_eq!(ids(&whole), ids(&stored), "{}", db.name);
        let mut paged = Vec::new();
        for offset in (0..stored.len() as u64).step_by(2) {
            paged.extend(
                s.list_records(
                    t,
                    None,
                    Some(a.id),
                    Page {
                        offset,
                        limit: 2,
                        after: None,
                    },
                )
                .await
                .unwrap(),
            );
        }
        assert_eq!(ids(&paged), ids(&stored), "{}", db.name);
        // By a cursor, two at a time: records submitted at the same minute are told apart by
        // their id, none lost or repeated.
        let mut by_cursor: Vec<Record> = Vec::new();
        loop {
            let page = Page {
                after: by_cursor.last().map(|r| Cursor {
                    at: r.created_at,
                    id: *r.id.as_uuid(),
                }),
                ..Page::first(2)
            };
            let next = s.list_records(t, None, Some(a.id), page).await.unwrap();
            if next.is_empty() {
                break;
            }
            by_cursor.extend(next);
        }
        assert_eq!(ids(&by_cursor), ids(&stored), "{}", db.name);
        db.finish().await;
    }
}

/// Writes `items` all at once, one call each with its audit event; their answers in order.
async fn at_once<T: Written>(s: &SeaOrmStore, items: &[T]) -> Vec<Result<(), StoreError>> {
    let tasks: Vec<_> = items
        .iter()
        .cloned()
        .map(|x| {
            let s = s.clone();
            tokio::spawn(async move {
                let (tenant, subject) = x.ids();
                let event = gdpr_audit::AuditEvent::new(
                    at(0),
                    Some(tenant),
                    gdpr_audit::Actor::System,
                    T::ACTION,
                )
                .about(subject);
                x.write(&s, event).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// What is written one at a time by concurrent callers.
trait Written: Clone + Send + Sync + 'static {
    const ACTION: gdpr_audit::AuditAction;
    /// Whose, and about whom.
    fn ids(&self) -> (TenantId, SubjectId);
    fn write(
        &self,
        s: &SeaOrmStore,
        event: gdpr_audit::AuditEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Written for Subject {
    const ACTION: gdpr_audit::AuditAction = gdpr_audit::AuditAction::SubjectCreated;
    fn ids(&self) -> (TenantId, SubjectId) {
        (self.tenant, self.id)
    }
    async fn write(
        &self,
        s: &SeaOrmStore,
        event: gdpr_audit::AuditEvent,
    ) -> Result<(), StoreError> {
        s.insert_subjects(std::slice::from_ref(self), vec![event])
            .await
    }
}

impl Written for Record {
    const ACTION: gdpr_audit::AuditAction = gdpr_audit::AuditAction::RecordSubmitted;
    fn ids(&self) -> (TenantId, SubjectId) {
        (self.tenant, self.subject)
    }
    async fn write(
        &self,
        s: &SeaOrmStore,
        event: gdpr_audit::AuditEvent,
    ) -> Result<(), StoreError> {
        s.insert_records(std::slice::from_ref(self), vec![event])
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_are_committed_together_and_each_answered_alone() {
    use gdpr_audit::verify;
    use gdpr_ports::AuditLog;

    for db in databases().await {
        let s = db.store.clone();
        let t = tenant(&s).await;
        // Thirty-two creates at once: they queue while one commits, and go in together.
        let first: Vec<Subject> = (0..32).map(|n| subject(t, 1_000 + n)).collect();
        let answers = at_once(&s, &first).await;
        assert!(
            answers.iter().all(Result::is_ok),
            "{}: {answers:?}",
            db.name
        );
        assert!(s.grouped_creates() > 1, "{}", db.name);
        // Thirty-two more, two of them with one e-mail: one of those two is refused, and
        // nobody else fails for it.
        let mut second: Vec<Subject> = (32..63).map(|n| subject(t, 1_000 + n)).collect();
        second.push(subject(t, 1_032));
        let answers = at_once(&s, &second).await;
        let refused: Vec<usize> = (0..answers.len())
            .filter(|&i| matches!(answers[i], Err(StoreError::Conflict(_))))
            .collect();
        assert_eq!(refused.len(), 1, "{}: {answers:?}", db.name);
        assert!([0, 31].contains(&refused[0]), "{}", db.name);
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 31);
        for (x, answer) in second.iter().zip(&answers) {
            match answer {
                Ok(()) => assert_eq!(&s.get_subject(t, x.id).await.unwrap(), x),
                Err(_) => assert!(matches!(
                    s.get_subject(t, x.id).await,
                    Err(StoreError::NotFound)
                )),
            }
        }
        // One audit entry per stored subject, in one unbroken chain.
        let chain = s.audit_records(Some(t), 0, 1_000).await.unwrap();
        assert_eq!(verify(Some(t), &chain).unwrap().records, 63, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_subject_is_known_to_exist_without_its_key_being_read() {
    for db in databases().await {
        let s = &db.store;
        let (t, u) = (tenant(s).await, tenant(s).await);
        let (a, _) = two_subjects(s, t).await;
        assert!(s.subject_exists(t, a.id).await.unwrap(), "{}", db.name);
        assert!(
            !s.subject_exists(u, a.id).await.unwrap(),
            "another tenant's"
        );
        assert!(
            !s.subject_exists(t, SubjectId::at(time::OffsetDateTime::UNIX_EPOCH))
                .await
                .unwrap()
        );
        // Without its data key the profile cannot be opened, yet the subject still exists.
        db.raw(&format!(
            "DELETE FROM subject_keys WHERE subject_id = {}",
            db.uuid_literal(a.id.as_uuid())
        ))
        .await;
        assert!(matches!(
            s.get_subject(t, a.id).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(s.subject_exists(t, a.id).await.unwrap(), "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_subjects_requests_are_read_by_subject_oldest_first_and_within_its_tenant() {
    use gdpr_ports::RequestStore as _;
    use gdpr_rights::{RequestKind, SubjectRequest};
    for db in crate::harness::databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let (ada, grace) = (subject(t, 1), subject(t, 2));
        for one in [&ada, &grace] {
            s.insert_subject(one).await.unwrap();
        }
        let later = SubjectRequest::open(t, ada.id, RequestKind::Erasure, at(9));
        let earlier = SubjectRequest::open(t, ada.id, RequestKind::Access, at(3));
        let hers = SubjectRequest::open(t, grace.id, RequestKind::Access, at(5));
        for r in [&later, &earlier, &hers] {
            s.insert_request(r).await.unwrap();
        }
        let found = s.list_subject_requests(t, ada.id).await.unwrap();
        assert_eq!(found, [earlier.clone(), later.clone()], "{}", db.name);
        let other = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        assert!(
            s.list_subject_requests(other, ada.id)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_record_submissions_are_committed_together_and_a_missing_subject_fails_alone() {
    use gdpr_audit::verify;
    use gdpr_ports::AuditLog;

    for db in databases().await {
        let s = db.store.clone();
        let t = tenant(&s).await;
        let form = contractors(&s, t).await;
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        // Forty submissions at once: they queue while one commits, and go in together.
        let first: Vec<Record> = (0..40).map(|n| record(&form, &ada, 10 + n)).collect();
        let answers = at_once(&s, &first).await;
        assert!(
            answers.iter().all(Result::is_ok),
            "{}: {answers:?}",
            db.name
        );
        assert!(s.grouped_creates() > 1, "{}: never grouped", db.name);
        // Forty more, one of them about a subject that does not exist: it alone is refused.
        let mut second: Vec<Record> = (40..80).map(|n| record(&form, &ada, 10 + n)).collect();
        second[17].subject = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let answers = at_once(&s, &second).await;
        for (i, (r, answer)) in second.iter().zip(&answers).enumerate() {
            if i == 17 {
                assert!(
                    matches!(answer, Err(StoreError::NotFound)),
                    "{}: {answer:?}",
                    db.name
                );
                assert!(matches!(
                    s.get_record(t, r.id).await,
                    Err(StoreError::NotFound)
                ));
            } else {
                assert!(answer.is_ok(), "{}: {answer:?}", db.name);
                assert_eq!(&s.get_record(t, r.id).await.unwrap(), r, "{}", db.name);
            }
        }
        for r in &first {
            assert_eq!(&s.get_record(t, r.id).await.unwrap(), r, "{}", db.name);
        }
        // One audit entry per stored record (the subject was inserted bare), in one unbroken
        // chain; none for the refused one.
        let chain = s.audit_records(Some(t), 0, 1_000).await.unwrap();
        assert_eq!(verify(Some(t), &chain).unwrap().records, 79, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_subjects_requests_are_found_through_the_index_led_by_the_subject() {
    let db = crate::harness::sqlite().await;
    // The statement `list_subject_requests` sends (it sorts the few rows itself).
    let steps = crate::harness::sqlite_plan(
        &db,
        "SELECT * FROM requests WHERE subject_id = x'01' AND tenant_id = x'00'",
    )
    .await;
    assert!(
        steps
            .iter()
            .any(|s| s.contains("USING INDEX requests_subject")),
        "{steps:?}"
    );
    db.finish().await;
}
