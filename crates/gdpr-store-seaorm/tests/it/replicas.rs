//! Two replicas over one database, each answering the hot path from its own cache: a change
//! taken by one is refused by it at once and by the other once its watcher hears of it
//! (`NOTIFY` on PostgreSQL; on SQLite, the counter an operator's process bumps).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gdpr_app::{Adapters, App, AppConfig, AppError, Ctx, GiveConsent, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::{ConsentMethod, LawfulBasis};
use gdpr_pii::SubjectId;
use gdpr_rights::LimitKind;
use gdpr_store_seaorm::{MasterKey, SeaOrmStore, Watcher};
use gdpr_testkit::postgres::ThrowawayDatabase;
use gdpr_testkit::{ManualClock, MemoryObjectStore, RecordingEncryptor, RecordingErrorReporter};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::harness::postgres_url;
use crate::scenario::OnSeaOrm;
use crate::subjects::at;

/// How long a replica may take to hear of a change before the test fails: a liveness bound,
/// far above the lag measured in the benchmark (`cargo xtask bench cache`), far below the
/// cache's 30 s ttl (so a refusal within it cannot come from an entry ageing out).
const HEARD_WITHIN: Duration = Duration::from_secs(5);

type Replica = Arc<App<OnSeaOrm>>;

fn replica(store: &SeaOrmStore, backups: &MemoryObjectStore) -> Replica {
    Arc::new(App::new(
        Adapters {
            store: store.clone(),
            backups: backups.clone(),
            encryptor: RecordingEncryptor::default(),
            reporter: RecordingErrorReporter::default(),
            clock: ManualClock::at(at(0)),
            signer: gdpr_testkit::HmacSigner::default(),
        },
        AppConfig::default(),
    ))
}

fn watch(store: &SeaOrmStore, app: &Replica, retry: Duration) -> Watcher {
    let app = Arc::clone(app);
    store.watch_invalidations_retrying(retry, move |signal| app.cache_signal(signal))
}

/// Waits until `done` holds, for at most [`HEARD_WITHIN`]; how long it took.
async fn within<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < HEARD_WITHIN,
            "{what}: not within {HEARD_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

async fn may_process(app: &Replica, ctx: Ctx, s: SubjectId, purpose: &str) -> bool {
    app.processing_check(ctx, s, purpose)
        .await
        .is_ok_and(|c| c.may_process)
}

fn how() -> GiveConsent {
    GiveConsent {
        method: ConsentMethod::Api,
        source_ip: None,
        version: None,
    }
}

struct Tenant {
    ctx: Ctx,
    consent_form: gdpr_pii::ConsentFormId,
    subjects: Vec<SubjectId>,
}

/// A tenant whose `n` subjects consent to "news" (consent) and may be processed for
/// "analytics" (legitimate interests).
async fn tenant(app: &Replica, n: usize) -> Tenant {
    let t = app
        .create_tenant(Actor::Operator, "Replicated", "dpo@replicated.example")
        .await
        .unwrap();
    let ctx = Ctx::new(t.id, Actor::System);
    app.define_purpose(ctx, "news", "Newsletter", LawfulBasis::Consent)
        .await
        .unwrap();
    app.define_purpose(
        ctx,
        "analytics",
        "Analytics",
        LawfulBasis::LegitimateInterests,
    )
    .await
    .unwrap();
    let consent = app
        .publish_consent_form(ctx, "news", "News", "I want the newsletter.")
        .await
        .unwrap();
    let mut subjects = Vec::new();
    for _ in 0..n {
        let s = app
            .register_subject(ctx, NewSubject::default())
            .await
            .unwrap();
        app.give_consent(ctx, s.id, consent.id, how())
            .await
            .unwrap();
        subjects.push(s.id);
    }
    Tenant {
        ctx,
        consent_form: consent.id,
        subjects,
    }
}

#[tokio::test]
async fn a_change_on_one_postgresql_replica_is_refused_there_at_once_and_on_the_other_once_notified()
 {
    let Some(server) = postgres_url() else {
        return;
    };
    let db = ThrowawayDatabase::create(&server, "gdpr_replicas").await;
    let (_, secret) = MasterKey::generate();
    let connect = || async {
        let store = SeaOrmStore::connect(&db.url, 4, MasterKey::from_base64(&secret).unwrap())
            .await
            .unwrap();
        store.announce_changes(false);
        store
    };
    let (store_a, store_b) = (connect().await, connect().await);
    store_a.migrate().await.unwrap();
    let backups = MemoryObjectStore::default();
    let (a, b) = (replica(&store_a, &backups), replica(&store_b, &backups));
    let _watch_a = watch(&store_a, &a, Duration::from_millis(100));
    // B, once cut, waits long enough before listening again for the test to see it down.
    let watch_b = watch(&store_b, &b, Duration::from_secs(3));
    within("both replicas listening", || async {
        a.cache_is_up() && b.cache_is_up()
    })
    .await;

    let t = tenant(&a, 5).await;
    let [withdrawn, restricted, objected, erased, while_cut] = t.subjects[..] else {
        unreachable!()
    };
    let key = a
        .create_api_key(Actor::Operator, t.ctx.tenant, false)
        .await
        .unwrap();
    // Both replicas answer every question once, from the database, and keep the answers.
    for app in [&a, &b] {
        for &s in &t.subjects {
            assert!(may_process(app, t.ctx, s, "news").await);
            assert!(may_process(app, t.ctx, s, "analytics").await);
        }
        assert!(app.authenticate(&key.token).await.is_ok());
        assert!(app.cache_entries() >= 11, "{}", app.cache_entries());
    }

    a.withdraw_consent(t.ctx, withdrawn, t.consent_form, how())
        .await
        .unwrap();
    assert!(
        !may_process(&a, t.ctx, withdrawn, "news").await,
        "at once on A"
    );
    within("B refuses the withdrawn consent", || async {
        !may_process(&b, t.ctx, withdrawn, "news").await
    })
    .await;

    a.place_limit(t.ctx, restricted, LimitKind::Restriction, None, "contested")
        .await
        .unwrap();
    a.place_limit(
        t.ctx,
        objected,
        LimitKind::Objection,
        Some("analytics"),
        "no",
    )
    .await
    .unwrap();
    assert!(!may_process(&a, t.ctx, restricted, "news").await);
    assert!(!may_process(&a, t.ctx, objected, "analytics").await);
    within("B refuses the restriction and the objection", || async {
        !may_process(&b, t.ctx, restricted, "news").await
            && !may_process(&b, t.ctx, objected, "analytics").await
    })
    .await;

    a.erase_subject(t.ctx, erased, None).await.unwrap();
    assert!(matches!(
        a.processing_check(t.ctx, erased, "news").await,
        Err(AppError::NotFound("subject"))
    ));
    within("B no longer knows the erased subject", || async {
        matches!(
            b.processing_check(t.ctx, erased, "news").await,
            Err(AppError::NotFound("subject"))
        )
    })
    .await;

    a.revoke_api_key(Actor::Operator, t.ctx.tenant, key.record.id)
        .await
        .unwrap();
    assert!(matches!(
        a.authenticate(&key.token).await,
        Err(AppError::Unauthorized)
    ));
    within("B refuses the revoked key", || async {
        matches!(
            b.authenticate(&key.token).await,
            Err(AppError::Unauthorized)
        )
    })
    .await;

    // B's listener is cut: B says so and answers from the database, missing no change.
    assert!(may_process(&b, t.ctx, while_cut, "news").await);
    let pid = watch_b.backend_pid().expect("B listens");
    store_a
        .connection()
        .execute_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_terminate_backend({pid})"),
        ))
        .await
        .unwrap();
    within("B notices its listener is gone", || async {
        !b.cache_is_up()
    })
    .await;
    a.withdraw_consent(t.ctx, while_cut, t.consent_form, how())
        .await
        .unwrap();
    assert!(
        !may_process(&b, t.ctx, while_cut, "news").await,
        "B, deaf, reads the database"
    );
    assert_eq!(b.cache_entries(), 0);
    // It listens again, empty, and still refuses.
    within("B listens again", || async { b.cache_is_up() }).await;
    assert_ne!(watch_b.backend_pid(), Some(pid));
    assert!(!may_process(&b, t.ctx, while_cut, "news").await);
    drop(db);
}

#[tokio::test]
async fn on_sqlite_an_operator_command_from_another_process_reaches_the_servers_cache() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gdpr.db").display());
    let (_, secret) = MasterKey::generate();
    let open = || async {
        SeaOrmStore::connect(&url, 4, MasterKey::from_base64(&secret).unwrap())
            .await
            .unwrap()
    };
    let server_store = open().await;
    server_store.migrate().await.unwrap();
    server_store.announce_changes(false);
    let backups = MemoryObjectStore::default();
    let server = replica(&server_store, &backups);
    let _watch = watch(&server_store, &server, Duration::from_millis(100));
    within("the server watches", || async { server.cache_is_up() }).await;
    let t = tenant(&server, 1).await;
    let key = server
        .create_api_key(Actor::Operator, t.ctx.tenant, false)
        .await
        .unwrap();
    assert!(server.authenticate(&key.token).await.is_ok());
    assert!(may_process(&server, t.ctx, t.subjects[0], "news").await);

    // The server's own changes do not wake it: its cache forgot them already.
    let subject = server
        .register_subject(t.ctx, NewSubject::default())
        .await
        .unwrap();
    server
        .place_limit(t.ctx, subject.id, LimitKind::Restriction, None, "contested")
        .await
        .unwrap();
    let epoch = |store: SeaOrmStore| async move {
        store
            .connection()
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT epoch FROM cache_epoch WHERE id = 1",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "epoch")
            .unwrap()
    };
    assert_eq!(epoch(server_store.clone()).await, 0);

    // `gdpr` run by the operator: another process, another pool, announcing its changes.
    let operator_store = open().await;
    let operator = replica(&operator_store, &backups);
    operator
        .revoke_api_key(Actor::Operator, t.ctx.tenant, key.record.id)
        .await
        .unwrap();
    operator
        .withdraw_consent(t.ctx, t.subjects[0], t.consent_form, how())
        .await
        .unwrap();
    assert_eq!(epoch(operator_store).await, 2);
    within("the server refuses the key and the check", || async {
        matches!(
            server.authenticate(&key.token).await,
            Err(AppError::Unauthorized)
        ) && !may_process(&server, t.ctx, t.subjects[0], "news").await
    })
    .await;
}
