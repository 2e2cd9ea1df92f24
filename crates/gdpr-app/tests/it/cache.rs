//! The hot path from memory: two replicas over one store, the messages between them relayed
//! by hand, so that what each answers before and after a message is seen.

use gdpr_app::{AppError, Ctx};
use gdpr_audit::Actor;
use gdpr_consent::LawfulBasis;
use gdpr_pii::SubjectId;
use gdpr_ports::{CacheSignal, Invalidation};
use gdpr_rights::LimitKind;
use gdpr_testkit::{EnvelopeDecryptor, InMemory};

use crate::backup_restore::{back_up, config, progress};
use crate::helpers::{World, contractor, web, world_with};

type Replica = gdpr_app::App<InMemory>;

/// A second replica over the same store, backups and clock.
fn replica(w: &World) -> Replica {
    let b = w.another_app(config());
    b.cache_signal(CacheSignal::Up);
    b
}

/// Tells `b` what the replicas published since last asked.
fn relay(w: &World, b: &Replica) -> Vec<Invalidation> {
    let published = w.store.take_published();
    for what in &published {
        b.cache_signal(CacheSignal::Invalidate(*what));
    }
    published
}

async fn may_process(app: &Replica, ctx: Ctx, s: SubjectId, purpose: &str) -> bool {
    app.processing_check(ctx, s, purpose)
        .await
        .unwrap()
        .may_process
}

/// A world whose subject consents to "contractors", with an LI purpose "analytics" beside.
async fn consenting() -> (World, SubjectId) {
    let w = world_with(config()).await;
    w.app.cache_signal(CacheSignal::Up);
    w.app
        .define_purpose(
            w.ctx,
            "analytics",
            "Usage analytics",
            LawfulBasis::LegitimateInterests,
        )
        .await
        .unwrap();
    let (_, _, s) = w.consenting_subject(1).await;
    w.store.take_published();
    (w, s.id)
}

#[tokio::test]
async fn the_replica_that_takes_a_withdrawal_refuses_at_once_and_another_once_told() {
    let (w, s) = consenting().await;
    let b = replica(&w);
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    assert!(may_process(&w.app, w.ctx, s, "contractors").await);
    assert!(may_process(&b, w.ctx, s, "contractors").await);
    assert!(w.app.cache_entries() > 0 && b.cache_entries() > 0);

    w.app
        .withdraw_consent(w.ctx, s, consent, web(None))
        .await
        .unwrap();
    assert!(!may_process(&w.app, w.ctx, s, "contractors").await);
    // B answers from memory until the message reaches it: that lag is the bound measured.
    assert!(may_process(&b, w.ctx, s, "contractors").await);
    let told = relay(&w, &b);
    assert_eq!(
        told,
        [Invalidation::Subject {
            tenant: w.ctx.tenant,
            subject: s
        }]
    );
    assert!(!may_process(&b, w.ctx, s, "contractors").await);
}

#[tokio::test]
async fn restriction_objection_and_erasure_reach_both_replicas() {
    let (w, s) = consenting().await;
    let b = replica(&w);
    for app in [&w.app, &b] {
        assert!(may_process(app, w.ctx, s, "analytics").await);
    }
    w.app
        .place_limit(w.ctx, s, LimitKind::Objection, Some("analytics"), "no")
        .await
        .unwrap();
    relay(&w, &b);
    for app in [&w.app, &b] {
        assert!(!may_process(app, w.ctx, s, "analytics").await);
        assert!(may_process(app, w.ctx, s, "contractors").await);
    }
    w.app
        .place_limit(w.ctx, s, LimitKind::Restriction, None, "contested")
        .await
        .unwrap();
    relay(&w, &b);
    for app in [&w.app, &b] {
        assert!(!may_process(app, w.ctx, s, "contractors").await);
    }
    w.app.erase_subject(w.ctx, s, None).await.unwrap();
    relay(&w, &b);
    for app in [&w.app, &b] {
        let gone = app.processing_check(w.ctx, s, "contractors").await;
        assert!(
            matches!(gone, Err(AppError::NotFound("subject"))),
            "{gone:?}"
        );
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_both_replicas_once_told() {
    let (w, _) = consenting().await;
    let b = replica(&w);
    let key = w
        .app
        .create_api_key(Actor::Operator, w.ctx.tenant, false)
        .await
        .unwrap();
    assert!(w.app.authenticate(&key.token).await.is_ok());
    assert!(b.authenticate(&key.token).await.is_ok());
    w.app
        .revoke_api_key(Actor::Operator, w.ctx.tenant, key.record.id)
        .await
        .unwrap();
    assert!(matches!(
        w.app.authenticate(&key.token).await,
        Err(AppError::Unauthorized)
    ));
    assert!(b.authenticate(&key.token).await.is_ok(), "not told yet");
    assert_eq!(relay(&w, &b), [Invalidation::ApiKey(key.record.id)]);
    assert!(matches!(
        b.authenticate(&key.token).await,
        Err(AppError::Unauthorized)
    ));

    // Offboarding stops every key of the tenant: a tenant-wide message.
    let other = w
        .app
        .create_api_key(Actor::Operator, w.ctx.tenant, false)
        .await
        .unwrap();
    assert!(b.authenticate(&other.token).await.is_ok());
    w.app
        .schedule_offboarding(Actor::Operator, w.ctx.tenant, None)
        .await
        .unwrap();
    assert_eq!(relay(&w, &b), [Invalidation::Tenant(w.ctx.tenant)]);
    assert!(matches!(
        b.authenticate(&other.token).await,
        Err(AppError::TenantOffboarding { .. })
    ));
}

#[tokio::test]
async fn a_replica_whose_watcher_is_down_answers_from_the_database() {
    let (w, s) = consenting().await;
    let b = replica(&w);
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    assert!(may_process(&b, w.ctx, s, "contractors").await);
    b.cache_signal(CacheSignal::Down);
    assert!(!b.cache_is_up());
    w.app
        .withdraw_consent(w.ctx, s, consent, web(None))
        .await
        .unwrap();
    // Nothing relayed: the message is lost with the connection.
    w.store.take_published();
    assert!(!may_process(&b, w.ctx, s, "contractors").await);
    assert_eq!(b.cache_entries(), 0, "nothing is kept while down");
    w.app
        .give_consent(w.ctx, s, consent, web(None))
        .await
        .unwrap();
    w.store.take_published();
    // Back up: it starts empty, so it reads what changed while it was down.
    b.cache_signal(CacheSignal::Up);
    assert!(may_process(&b, w.ctx, s, "contractors").await);
}

#[tokio::test]
async fn tenant_wide_changes_and_a_restore_tell_every_replica_to_forget_the_tenant() {
    let (w, s) = consenting().await;
    let b = replica(&w);
    let tenant = Invalidation::Tenant(w.ctx.tenant);
    let consent = w.app.consent_forms(w.ctx).await.unwrap()[0].id;
    w.app
        .publish_consent_version(w.ctx, consent, "New wording.", true)
        .await
        .unwrap();
    assert_eq!(relay(&w, &b), [tenant]);
    // Re-consent is required under the new version: no longer a valid consent.
    assert!(!may_process(&b, w.ctx, s, "contractors").await);
    let backup = back_up(&w).await;
    w.app.retire_consent_form(w.ctx, consent).await.unwrap();
    assert_eq!(relay(&w, &b), [tenant]);
    w.app
        .restore_tenant(
            w.ctx.tenant,
            Some(&backup),
            true,
            &EnvelopeDecryptor,
            &progress(),
        )
        .await
        .unwrap();
    // Once for the rows put back, once for the decisions replayed over them.
    assert_eq!(relay(&w, &b), [tenant, tenant]);
}

#[tokio::test]
async fn without_its_watcher_up_an_app_never_answers_from_memory() {
    let w = world_with(config()).await;
    assert!(!w.app.cache_is_up());
    let (_, _, s) = w.consenting_subject(1).await;
    assert!(may_process(&w.app, w.ctx, s.id, "contractors").await);
    assert_eq!(w.app.cache_entries(), 0);
}

#[tokio::test]
async fn a_submission_admitted_from_memory_is_refused_once_its_consent_or_its_forms_consent_form_changes()
 {
    let (w, s) = consenting().await;
    let form = w.app.forms(w.ctx).await.unwrap()[0].id;
    // Another consent form of the purpose, published before anything is cached: only the
    // form's own change below can make the replicas forget their admissions.
    let second = w
        .app
        .publish_consent_form(w.ctx, "contractors", "New terms", "Other words")
        .await
        .unwrap()
        .id;
    w.store.take_published();
    let b = replica(&w);
    let submit = async |app: &Replica| app.submit_record(w.ctx, form, s, &contractor(1)).await;
    let refused =
        |r: Result<gdpr_pii::Record, AppError>| matches!(r, Err(AppError::ConsentRequired { .. }));
    for app in [&w.app, &b] {
        submit(app).await.unwrap();
        let before = app.cache_entries();
        submit(app).await.unwrap();
        assert_eq!(app.cache_entries(), before, "the second from memory");
        assert!(before >= 2, "the form and the admission are kept");
    }

    // The form now asks for consent to the second consent form, never given.
    w.app
        .attach_consent_form(w.ctx, form, second)
        .await
        .unwrap();
    assert!(refused(submit(&w.app).await));
    assert_eq!(relay(&w, &b), [Invalidation::Tenant(w.ctx.tenant)]);
    assert!(refused(submit(&b).await));

    w.app
        .give_consent(w.ctx, s, second, web(None))
        .await
        .unwrap();
    relay(&w, &b);
    for app in [&w.app, &b] {
        submit(app).await.unwrap();
    }
    // A withdrawal: refused at once where it was taken, by the other once told.
    w.app
        .withdraw_consent(w.ctx, s, second, web(None))
        .await
        .unwrap();
    assert!(refused(submit(&w.app).await));
    submit(&b).await.expect("B answers from memory until told");
    relay(&w, &b);
    assert!(refused(submit(&b).await));
}
