//! Interaction rules, with mockall: who is called, how often, with what.

use gdpr_app::{AppConfig, Ctx};
use gdpr_audit::Actor;
use gdpr_pii::ApiKeyId;
use gdpr_ports::{ForgetOutcome, MockErrorReporter, Ports, ReportError};
use gdpr_rights::{ErasureStatus, Outcome, Place};
use gdpr_testkit::{InMemoryStore, ManualClock, MemoryObjectStore, RecordingEncryptor};
use mockall::predicate::eq;

use crate::helpers::{app, clock};

struct WithMockReporter;

impl Ports for WithMockReporter {
    type Store = InMemoryStore;
    type Backups = MemoryObjectStore;
    type Encryptor = RecordingEncryptor;
    type Reporter = MockErrorReporter;
    type Clock = ManualClock;
    type Signer = gdpr_testkit::HmacSigner;
}

fn build(store: InMemoryStore, reporter: MockErrorReporter) -> gdpr_app::App<WithMockReporter> {
    app::<WithMockReporter>(
        store,
        MemoryObjectStore::default(),
        RecordingEncryptor::default(),
        reporter,
        clock(),
        AppConfig::default(),
    )
}

async fn setup(reporter: MockErrorReporter) -> (gdpr_app::App<WithMockReporter>, Ctx) {
    let app = build(InMemoryStore::default(), reporter);
    let tenant = app
        .create_tenant(Actor::Operator, "T", "dpo@t.example")
        .await
        .unwrap();
    (
        app,
        Ctx::new(
            tenant.id,
            Actor::ApiKey(ApiKeyId::at(time::OffsetDateTime::UNIX_EPOCH)),
        ),
    )
}

#[tokio::test]
async fn erasure_asks_the_error_tracker_to_forget_the_person_exactly_once() {
    let mut reporter = MockErrorReporter::new();
    reporter
        .expect_forget_person()
        .times(1)
        .returning(|_| Ok(ForgetOutcome::Forgotten));
    reporter.expect_report().never();
    let (app, ctx) = setup(reporter).await;
    let s = app
        .register_subject(ctx, gdpr_app::NewSubject::default())
        .await
        .unwrap();
    let receipt = app.erase_subject(ctx, s.id, None).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Complete);
    // A retry pass finds nothing to do, so the tracker is not asked again.
    assert_eq!(app.retry_pending_erasures().await.unwrap().attempts, 0);
}

#[tokio::test]
async fn a_deletion_the_tracker_only_accepted_stays_pending_and_is_asked_again() {
    let mut reporter = MockErrorReporter::new();
    let mut calls = mockall::Sequence::new();
    reporter
        .expect_forget_person()
        .times(1)
        .in_sequence(&mut calls)
        .returning(|_| {
            Ok(ForgetOutcome::Accepted {
                job: "job-1".into(),
            })
        });
    reporter
        .expect_forget_person()
        .times(1)
        .in_sequence(&mut calls)
        .returning(|_| Ok(ForgetOutcome::Forgotten));
    reporter.expect_report().never();
    let (app, ctx) = setup(reporter).await;
    let s = app
        .register_subject(ctx, gdpr_app::NewSubject::default())
        .await
        .unwrap();
    let receipt = app.erase_subject(ctx, s.id, None).await.unwrap();
    // "Accepted" is not proof of deletion: the receipt must not claim completion.
    assert_ne!(receipt.status(), ErasureStatus::Complete);
    assert_eq!(app.retry_pending_erasures().await.unwrap().attempts, 1);
    let receipt = app.erasure_receipt(ctx, receipt.id).await.unwrap();
    assert_eq!(receipt.status(), ErasureStatus::Complete);
}

#[tokio::test]
async fn the_person_forgotten_is_the_erased_subject_by_pseudonymous_id() {
    let store = InMemoryStore::default();
    // A first app, whose tracker must not be called, registers two subjects.
    let (registrar, ctx) = {
        let app = build(store.clone(), MockErrorReporter::new());
        let tenant = app
            .create_tenant(Actor::Operator, "T", "dpo@t.example")
            .await
            .unwrap();
        (app, Ctx::new(tenant.id, Actor::System))
    };
    let subject = registrar
        .register_subject(ctx, gdpr_app::NewSubject::default())
        .await
        .unwrap();
    let bystander = registrar
        .register_subject(ctx, gdpr_app::NewSubject::default())
        .await
        .unwrap();
    // A second app over the same store erases one; the tracker hears that id and no other.
    let mut reporter = MockErrorReporter::new();
    reporter
        .expect_forget_person()
        .with(eq(subject.id))
        .times(1)
        .returning(|_| Ok(ForgetOutcome::Forgotten));
    let eraser = build(store, reporter);
    eraser.erase_subject(ctx, subject.id, None).await.unwrap();
    assert!(eraser.subject(ctx, bystander.id).await.is_ok());
}

#[tokio::test]
async fn a_failed_forget_is_shown_as_pending_and_retried_not_hidden() {
    let mut reporter = MockErrorReporter::new();
    let mut seq = mockall::Sequence::new();
    reporter
        .expect_forget_person()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(ReportError::Unavailable("HTTP 503".into())));
    reporter
        .expect_forget_person()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(ForgetOutcome::Forgotten));
    let (app, ctx) = setup(reporter).await;
    let s = app
        .register_subject(ctx, gdpr_app::NewSubject::default())
        .await
        .unwrap();
    let receipt = app.erase_subject(ctx, s.id, None).await.unwrap();
    assert!(matches!(
        receipt.outcome(Place::ErrorTracker),
        Some(Outcome::Pending { last_error, .. }) if last_error.contains("HTTP 503")
    ));
    let report = app.retry_pending_erasures().await.unwrap();
    assert_eq!((report.attempts, report.completed), (1, 1));
    assert_eq!(
        app.erasure_receipt(ctx, receipt.id).await.unwrap().status(),
        ErasureStatus::Complete
    );
}
