//! Webhooks from the use cases' side: events drawn from the audit chain reach the endpoints
//! that want them, signed so that the Standard Webhooks reference implementation verifies
//! them, once per event whichever replica feeds and delivers, retried for three days, then
//! dead-lettered with the endpoint disabled and the tenant told.

use gdpr_app::{AppConfig, AppError, NewEndpoint, SignedMessage, WebhookConfig};
use gdpr_audit::AuditAction;
use gdpr_ports::{Clock as _, DeliveryFilter, DeliveryState, Page, WebhookStore};
use gdpr_testkit::{Posted, RecordingWebhookSender};
use gdpr_webhooks::{AddressPolicy, ConfirmedBy, EventType, Secret, VerifyError, signature};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::helpers::{World, web, world_with};

fn config() -> AppConfig {
    AppConfig {
        webhooks: WebhookConfig {
            addresses: AddressPolicy::default(),
            ..WebhookConfig::default()
        },
        ..AppConfig::default()
    }
}

fn endpoint(events: &[EventType], confirms_erasure: bool) -> NewEndpoint {
    NewEndpoint {
        url: "https://hooks.example.com/gdpr".into(),
        description: "CRM".into(),
        events: events.to_vec(),
        confirms_erasure: confirms_erasure.then_some(ConfirmedBy::Delivery),
    }
}

/// Feeds and delivers until nothing is left to do now.
async fn pump(w: &World, sender: &RecordingWebhookSender) {
    w.app.feed_webhooks().await.unwrap();
    while w
        .app
        .deliver_webhooks(sender, "worker-a")
        .await
        .unwrap()
        .claimed
        > 0
    {}
}

/// Whether the Standard Webhooks reference implementation, computing the signature itself,
/// finds it among the post's (its `verify` also checks the timestamp against its own clock,
/// and ours is a test clock).
fn verifies(post: &Posted, secret: &Secret) -> bool {
    let id = post.header("webhook-id").unwrap();
    let timestamp: i64 = post.header("webhook-timestamp").unwrap().parse().unwrap();
    let expected = standardwebhooks::Webhook::new(&secret.expose())
        .unwrap()
        .sign(id, timestamp, post.body.as_bytes())
        .unwrap();
    post.header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|s| s == expected)
}

#[tokio::test]
async fn a_withdrawal_reaches_the_endpoint_signed_once_and_carries_ids_only() {
    let w = world_with(config()).await;
    let (_, consent, s) = w.consenting_subject(1).await;
    let issued = w
        .app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::ConsentWithdrawn], false))
        .await
        .unwrap();
    assert!(issued.secret.expose().starts_with("whsec_"));
    let sender = RecordingWebhookSender::default();
    pump(&w, &sender).await;
    assert!(
        sender.posted().is_empty(),
        "what came before the endpoint is not its news"
    );

    w.app
        .withdraw_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    pump(&w, &sender).await;
    pump(&w, &sender).await;
    let posted = sender.posted();
    assert_eq!(
        posted.len(),
        1,
        "only the type it wants, and once: {posted:?}"
    );
    let post = &posted[0];
    assert_eq!(post.url, "https://hooks.example.com/gdpr");
    assert!(verifies(post, &issued.secret), "{post:?}");
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(body["type"], "consent.withdrawn");
    assert_eq!(body["data"]["subject"], s.id.to_string());
    assert_eq!(post.header("webhook-id"), body["data"]["id"].as_str());
    let email = s.email.as_ref().unwrap().expose_pii();
    assert!(!post.body.contains(email), "ids, never personal data");

    let list = w
        .app
        .webhook_deliveries(w.ctx, DeliveryFilter::default(), Page::first(10))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, DeliveryState::Delivered);
    assert_eq!(list[0].last_status, Some(200));
}

#[tokio::test]
async fn a_receiver_down_for_hours_loses_nothing_and_one_down_for_three_days_is_disabled() {
    let w = world_with(config()).await;
    let crm = w
        .app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectErased], true))
        .await
        .unwrap();
    w.app
        .create_webhook_endpoint(
            w.ctx,
            NewEndpoint {
                url: "https://ops.example.com/hooks".into(),
                ..endpoint(&[EventType::EndpointDisabled], false)
            },
        )
        .await
        .unwrap();
    let sender = RecordingWebhookSender::default();
    let s = w.subject(1).await;
    sender.go_down();
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    pump(&w, &sender).await;
    let pending = w.app.erasure_confirmations(w.ctx, s.id).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].confirmed_at, pending[0].overdue), (None, false));

    // Down for five hours: retried, backing off, then delivered once it is back.
    for _ in 0..10 {
        w.clock.advance(Duration::minutes(30));
        pump(&w, &sender).await;
    }
    let tries = sender.posted().len();
    assert!(
        (4..=8).contains(&tries),
        "backing off: {tries} attempts in five hours"
    );
    sender.answer(204);
    w.clock.advance(Duration::hours(6));
    pump(&w, &sender).await;
    let confirmed = w.app.erasure_confirmations(w.ctx, s.id).await.unwrap();
    assert!(
        confirmed[0].confirmed_at.is_some(),
        "its 2xx confirms (Art. 19)"
    );
    let delivered = w
        .app
        .webhook_deliveries(
            w.ctx,
            DeliveryFilter {
                state: Some(DeliveryState::Delivered),
                ..DeliveryFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    let ids: std::collections::BTreeSet<_> = sender
        .posted()
        .iter()
        .map(|p| p.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");

    // Down for good: three days of retries, then dead-lettered and the endpoint disabled.
    sender.answer(503);
    let other = w.subject(2).await;
    w.app.erase_subject(w.ctx, other.id, None).await.unwrap();
    for _ in 0..(4 * 24 * 2) {
        w.clock.advance(Duration::minutes(30));
        pump(&w, &sender).await;
    }
    let view = w
        .app
        .webhook_endpoint(w.ctx, crm.endpoint.id)
        .await
        .unwrap();
    assert!(view.disabled.is_some(), "{view:?}");
    let overdue = w.app.erasure_confirmations(w.ctx, other.id).await.unwrap();
    assert!(overdue[0].overdue && overdue[0].confirmed_at.is_none());
    let failed = w
        .app
        .webhook_deliveries(
            w.ctx,
            DeliveryFilter {
                state: Some(DeliveryState::Failed),
                endpoint: Some(crm.endpoint.id),
                ..DeliveryFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].last_error.as_deref().unwrap().contains("503"),
        "{failed:?}"
    );
    // The tenant is told: in its audit chain, to its other endpoint, to the error tracker.
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::WebhookEndpointDisabled)
    );
    assert!(
        sender
            .posted()
            .iter()
            .any(|p| p.url == "https://ops.example.com/hooks"
                && p.body.contains("endpoint.disabled")),
        "the other endpoint heard of it"
    );
    assert!(
        w.reporter
            .reports()
            .iter()
            .any(|r| r.message.contains("disabled after failing"))
    );

    // Re-enabled and replayed: delivered.
    sender.answer(200);
    w.app
        .update_webhook_endpoint(
            w.ctx,
            crm.endpoint.id,
            endpoint(&[EventType::SubjectErased], true),
            true,
        )
        .await
        .unwrap();
    let n = w
        .app
        .replay_webhook_deliveries(w.ctx, Some(crm.endpoint.id), Vec::new())
        .await
        .unwrap();
    assert_eq!(n, 1);
    pump(&w, &sender).await;
    let confirmed = w.app.erasure_confirmations(w.ctx, other.id).await.unwrap();
    assert!(confirmed[0].confirmed_at.is_some());
}

#[tokio::test]
async fn replicas_feed_and_deliver_each_event_once_and_a_dead_workers_claim_passes_on() {
    let w = world_with(config()).await;
    w.app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectCreated], false))
        .await
        .unwrap();
    let other = w.another_app(config());
    for seed in 0..40 {
        w.subject(seed).await;
    }
    let sender = RecordingWebhookSender::default();
    let (a, b) = tokio::join!(w.app.feed_webhooks(), other.feed_webhooks());
    assert_eq!(a.unwrap() + b.unwrap(), 40, "each event queued once");
    // Worker A claims a batch and dies without a word.
    let held = w
        .store
        .claim_deliveries(
            "worker-dead",
            gdpr_ports::Clock::now(&w.clock),
            Duration::minutes(2),
            10,
        )
        .await
        .unwrap();
    assert_eq!(held.len(), 10);
    let (a, b) = tokio::join!(
        w.app.deliver_webhooks(&sender, "worker-a"),
        other.deliver_webhooks(&sender, "worker-b")
    );
    assert_eq!(
        a.unwrap().delivered + b.unwrap().delivered,
        30,
        "the held ten wait"
    );
    w.clock.advance(Duration::minutes(3));
    pump(&w, &sender).await;
    let posted = sender.posted();
    let ids: std::collections::BTreeSet<_> = posted
        .iter()
        .map(|p| p.header("webhook-id").unwrap())
        .collect();
    assert_eq!((posted.len(), ids.len()), (40, 40), "each event once");
}

#[tokio::test]
async fn an_endpoint_is_checked_rotated_and_removed_within_its_tenant() {
    let w = world_with(config()).await;
    for url in [
        "http://hooks.example.com/x",
        "https://169.254.169.254/latest",
        "https://localhost/x",
    ] {
        let refused = w
            .app
            .create_webhook_endpoint(
                w.ctx,
                NewEndpoint {
                    url: url.into(),
                    ..endpoint(&[], false)
                },
            )
            .await;
        assert!(
            matches!(&refused, Err(AppError::Forbidden(_))),
            "{url}: {refused:?}"
        );
    }
    let issued = w
        .app
        .create_webhook_endpoint(w.ctx, endpoint(&[], false))
        .await
        .unwrap();
    let id = issued.endpoint.id;
    let rotated = w.app.rotate_webhook_secret(w.ctx, id).await.unwrap();
    assert_eq!(rotated.endpoint.signing_secrets, 2);
    let sender = RecordingWebhookSender::default();
    let s = w.subject(1).await;
    pump(&w, &sender).await;
    let post = &sender.posted()[0];
    assert!(verifies(post, &issued.secret) && verifies(post, &rotated.secret));
    w.clock.advance(Duration::hours(25));
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    pump(&w, &sender).await;
    let last = sender.posted().last().cloned().unwrap();
    assert!(verifies(&last, &rotated.secret) && !verifies(&last, &issued.secret));

    let other = w.other_tenant().await;
    assert!(matches!(
        w.app.webhook_endpoint(other, id).await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        w.app.remove_webhook_endpoint(other, id).await,
        Err(AppError::NotFound(_))
    ));
    sender.go_down();
    w.subject(2).await;
    w.app.feed_webhooks().await.unwrap();
    w.app.remove_webhook_endpoint(w.ctx, id).await.unwrap();
    let failed = w
        .app
        .webhook_deliveries(
            w.ctx,
            DeliveryFilter {
                state: Some(DeliveryState::Failed),
                ..DeliveryFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "its pending delivery is dead-lettered");
    assert!(w.app.webhook_endpoints(w.ctx).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deployment_endpoint_hears_every_tenant_and_no_tenant_sees_its_deliveries() {
    use gdpr_app::EndpointScope;
    let w = world_with(config()).await;
    let other = w.other_tenant().await;
    let ops = gdpr_app::NewEndpoint {
        url: "https://ops.example.com/gdpr".into(),
        ..endpoint(&[EventType::SubjectCreated], false)
    };
    let deployment = w
        .app
        .create_webhook_endpoint_in(EndpointScope::Deployment, ops)
        .await
        .unwrap();
    let theirs = w
        .app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectCreated], false))
        .await
        .unwrap();
    let (mine, yours) = (w.subject(1).await, w.subject_in(other, 2).await);
    let sender = RecordingWebhookSender::default();
    pump(&w, &sender).await;

    // The deployment's endpoint got both tenants' events, signed with its own secret; the
    // tenant's endpoint its own tenant's only.
    let posted = sender.posted();
    let to_ops: Vec<&Posted> = posted
        .iter()
        .filter(|p| p.url == "https://ops.example.com/gdpr")
        .collect();
    assert_eq!(to_ops.len(), 2, "{posted:?}");
    for (subject, tenant) in [(mine.id, w.ctx.tenant), (yours.id, other.tenant)] {
        let post = to_ops
            .iter()
            .find(|p| p.body.contains(&subject.to_string()))
            .unwrap_or_else(|| panic!("{subject} reached the deployment's endpoint"));
        assert!(post.body.contains(&tenant.to_string()), "{}", post.body);
        assert!(verifies(post, &deployment.secret));
    }
    let to_tenant = posted.len() - to_ops.len();
    assert_eq!(
        to_tenant, 1,
        "the tenant's endpoint hears its own tenant only"
    );

    // No tenant's log shows the deployment's deliveries, nor can a tenant replay them.
    let listed = w
        .app
        .webhook_deliveries(w.ctx, DeliveryFilter::default(), Page::first(100))
        .await
        .unwrap();
    assert!(
        listed.iter().all(|d| d.endpoint == theirs.endpoint.id),
        "{listed:?}"
    );
    assert!(
        w.app
            .webhook_deliveries(other, DeliveryFilter::default(), Page::first(100))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        w.app
            .replay_webhook_deliveries(w.ctx, Some(deployment.endpoint.id), Vec::new())
            .await,
        Err(AppError::NotFound(_))
    ));
    assert!(
        w.app
            .webhook_endpoints(w.ctx)
            .await
            .unwrap()
            .iter()
            .all(|e| e.id != deployment.endpoint.id)
    );
    let ours = w
        .app
        .webhook_deliveries_in(
            EndpointScope::Deployment,
            DeliveryFilter::default(),
            Page::first(100),
        )
        .await
        .unwrap();
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|d| d.state == DeliveryState::Delivered));

    // The operator's changes are in the system chain, not a tenant's.
    use gdpr_ports::AuditLog as _;
    let system = w.store.audit_records(None, 0, 1000).await.unwrap();
    assert!(system.iter().any(|r| {
        r.event.action == AuditAction::WebhookEndpointCreated
            && r.event.actor == gdpr_audit::Actor::Operator
    }));
    w.app
        .remove_webhook_endpoint_in(EndpointScope::Deployment, deployment.endpoint.id)
        .await
        .unwrap();
    assert!(
        w.app
            .webhook_endpoints_in(EndpointScope::Deployment)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_deployment_endpoint_gets_no_history_however_long_the_chains_and_forgets_a_deleted_tenant()
 {
    use gdpr_app::EndpointScope;
    use gdpr_ports::{Clock as _, TenantStore as _};
    let w = world_with(config()).await;
    let other = w.other_tenant().await;
    // More history than a feeding page holds (500 records), before the endpoint exists.
    for seed in 0..600 {
        w.subject(seed).await;
    }
    w.clock.advance(Duration::seconds(1));
    let ops = w
        .app
        .create_webhook_endpoint_in(
            EndpointScope::Deployment,
            endpoint(&[EventType::SubjectCreated], false),
        )
        .await
        .unwrap();
    let sender = RecordingWebhookSender::default();
    pump(&w, &sender).await;
    assert!(
        sender.posted().is_empty(),
        "history is not the endpoint's news"
    );
    let news = w.subject(1_000).await;
    pump(&w, &sender).await;
    let posted = sender.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].body.contains(&news.id.to_string()));

    // The tenant leaves: the deployment's deliveries of its events go with it.
    let deployment = || {
        w.app.webhook_deliveries_in(
            EndpointScope::Deployment,
            DeliveryFilter::default(),
            Page::first(100),
        )
    };
    assert_eq!(deployment().await.unwrap().len(), 1);
    let receipt = gdpr_audit::AuditEvent::new(
        w.clock.now(),
        None,
        gdpr_audit::Actor::System,
        AuditAction::TenantOffboarded,
    );
    w.store.delete_tenant(w.ctx.tenant, receipt).await.unwrap();
    assert!(deployment().await.unwrap().is_empty());

    // Removed: its cursors go too, the other tenant's included.
    assert!(
        w.store
            .webhook_cursor(other.tenant, ops.endpoint.id)
            .await
            .unwrap()
            .is_some()
    );
    w.app
        .remove_webhook_endpoint_in(EndpointScope::Deployment, ops.endpoint.id)
        .await
        .unwrap();
    assert_eq!(
        w.store
            .webhook_cursor(other.tenant, ops.endpoint.id)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_erasure_request_shows_each_recipient_pending_then_confirmed_or_overdue() {
    use gdpr_rights::{RequestKind, VerificationMethod};

    /// An erasure request of a new subject, verified and answered by its erasure.
    async fn answered(w: &World, seed: u64) -> gdpr_pii::RequestId {
        let s = w.subject(seed).await;
        let request = w
            .app
            .open_request(w.ctx, s.id, RequestKind::Erasure)
            .await
            .unwrap()
            .request
            .id;
        w.app
            .verify_request_identity(w.ctx, request, VerificationMethod::AccountLogin, None)
            .await
            .unwrap();
        w.app
            .erase_subject(w.ctx, s.id, Some(request))
            .await
            .unwrap();
        request
    }
    /// (confirmed, overdue) of each recipient, as the request shows them.
    async fn recipients(w: &World, request: gdpr_pii::RequestId) -> Vec<(bool, bool)> {
        w.app
            .request(w.ctx, request)
            .await
            .unwrap()
            .recipients
            .expect("an erasure request read alone carries them")
            .iter()
            .map(|c| (c.confirmed_at.is_some(), c.overdue))
            .collect()
    }

    // A recipient that answers: pending until delivered, then confirmed (late here).
    let w = world_with(config()).await;
    w.app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectErased], true))
        .await
        .unwrap();
    let sender = RecordingWebhookSender::default();
    let request = answered(&w, 1).await;
    // Not yet queued for it (the worker is behind, or the endpoint was disabled): pending,
    // then overdue three days on — never left out.
    assert_eq!(recipients(&w, request).await, [(false, false)]);
    w.clock.advance(Duration::days(4));
    assert_eq!(recipients(&w, request).await, [(false, true)]);
    pump(&w, &sender).await;
    assert_eq!(recipients(&w, request).await, [(true, false)]);
    // Lists do not carry them; other rights have none.
    let listed = w.app.requests(w.ctx, false, Page::first(10)).await.unwrap();
    assert!(listed.iter().all(|r| r.recipients.is_none()));
    let s = w.subject(2).await;
    let access = w
        .app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap()
        .request
        .id;
    assert!(
        w.app
            .request(w.ctx, access)
            .await
            .unwrap()
            .recipients
            .is_none()
    );

    // A recipient down for three days: its confirmation is overdue on the request.
    let w = world_with(config()).await;
    w.app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectErased], true))
        .await
        .unwrap();
    sender.go_down();
    let request = answered(&w, 3).await;
    for _ in 0..(4 * 24 * 2) {
        w.clock.advance(Duration::minutes(30));
        pump(&w, &sender).await;
    }
    assert_eq!(recipients(&w, request).await, [(false, true)]);
}

/// A recipient that confirms by callback (Art. 19): its 2xx leaves the erasure pending; only
/// its own signed confirmation, within five minutes and for a subject whose erasure it was
/// sent, confirms it — once, audited once. A forged, stale, misdirected or misplaced call
/// changes nothing.
#[tokio::test]
async fn a_recipient_confirming_by_callback_is_pending_until_its_signed_confirmation() {
    let w = world_with(config()).await;
    let issued = w
        .app
        .create_webhook_endpoint(
            w.ctx,
            NewEndpoint {
                confirms_erasure: Some(ConfirmedBy::Callback),
                ..endpoint(&[EventType::SubjectErased], false)
            },
        )
        .await
        .unwrap();
    let crm = issued.endpoint.id;
    let by_delivery = w
        .app
        .create_webhook_endpoint(w.ctx, endpoint(&[EventType::SubjectErased], true))
        .await
        .unwrap();
    let sender = RecordingWebhookSender::default();
    let s = w.subject(1).await;
    let other = w.subject(2).await;
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    pump(&w, &sender).await;
    let state = |list: Vec<gdpr_app::ErasureConfirmation>| {
        list.into_iter()
            .map(|c| (c.endpoint, c.by, c.confirmed_at.is_some(), c.overdue))
            .collect::<Vec<_>>()
    };
    let now = w.app.erasure_confirmations(w.ctx, s.id).await.unwrap();
    assert_eq!(
        state(now),
        [
            (crm, ConfirmedBy::Callback, false, false),
            (by_delivery.endpoint.id, ConfirmedBy::Delivery, true, false),
        ],
        "delivered to both: only the one confirming by delivery is confirmed"
    );

    let body = |subject: gdpr_pii::SubjectId| format!(r#"{{"subject":"{subject}"}}"#);
    let call = |secret: &Secret, at: OffsetDateTime, endpoint: Uuid, subject| {
        let body = body(subject);
        let header = signature([secret], "msg_1", at.unix_timestamp(), body.as_bytes());
        let timestamp = at.unix_timestamp().to_string();
        let app = &w.app;
        async move {
            app.confirm_erasure(
                endpoint,
                subject,
                &SignedMessage {
                    id: "msg_1",
                    timestamp: &timestamp,
                    signature: &header,
                    body: body.as_bytes(),
                },
            )
            .await
        }
    };
    let stranger = Secret::from_bytes(vec![5; 32]).unwrap();
    let t = w.clock.now();
    assert!(matches!(
        call(&stranger, t, crm, s.id).await,
        Err(AppError::Signature(VerifyError::Signature))
    ));
    assert!(
        matches!(
            call(&issued.secret, t, Uuid::now_v7(), s.id).await,
            Err(AppError::Signature(VerifyError::Signature)),
        ),
        "an unknown endpoint is told what a forger is"
    );
    assert!(matches!(
        call(&issued.secret, t - Duration::minutes(6), crm, s.id).await,
        Err(AppError::Signature(VerifyError::Stale))
    ));
    assert!(
        matches!(
            call(&stranger, t - Duration::minutes(6), Uuid::now_v7(), s.id).await,
            Err(AppError::Signature(VerifyError::Stale))
        ),
        "stale is stale whether the endpoint exists or not"
    );
    assert!(
        matches!(
            call(&issued.secret, t, crm, other.id).await,
            Err(AppError::NotFound(_))
        ),
        "no erasure of that subject was sent to it"
    );
    assert!(
        matches!(
            call(&by_delivery.secret, t, by_delivery.endpoint.id, s.id).await,
            Err(AppError::Conflict(_))
        ),
        "an endpoint confirming by delivery does not call back"
    );
    let still = w.app.erasure_confirmations(w.ctx, s.id).await.unwrap();
    assert_eq!(state(still)[0], (crm, ConfirmedBy::Callback, false, false));

    let first = call(&issued.secret, t, crm, s.id).await.unwrap();
    assert_eq!(
        (first.endpoint, first.subject, first.confirmed_at),
        (crm, s.id, t)
    );
    // Given again an hour later, signed with the secret a rotation just replaced (it signs
    // for a day more): the first answers, and is all that is kept.
    w.clock.advance(Duration::hours(1));
    w.app.rotate_webhook_secret(w.ctx, crm).await.unwrap();
    let again = call(&issued.secret, w.clock.now(), crm, s.id)
        .await
        .unwrap();
    assert_eq!(again, first, "given again, it answers the first");
    // Two at once, for another subject: one kept, one audited.
    let twice = w.subject(4).await;
    w.app.erase_subject(w.ctx, twice.id, None).await.unwrap();
    pump(&w, &sender).await;
    let at = w.clock.now();
    let (one, two) = tokio::join!(
        call(&issued.secret, at, crm, twice.id),
        call(&issued.secret, at, crm, twice.id)
    );
    assert_eq!(one.unwrap(), two.unwrap());
    let confirmed = w.app.erasure_confirmations(w.ctx, s.id).await.unwrap();
    assert_eq!(confirmed[0].confirmed_at, Some(t));
    let audit = w.app.audit_log(w.ctx, 0, 10_000).await.unwrap();
    let audited: Vec<_> = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::ErasureConfirmedByRecipient)
        .collect();
    assert_eq!(audited.len(), 2, "audited once per subject");
    assert_eq!(audited[0].event.subject, Some(s.id));
    assert_eq!(
        audited[0].event.details.get("endpoint"),
        Some(&crm.to_string())
    );

    // Delivered, never confirmed: overdue after the same three days.
    let late = w.subject(3).await;
    w.app.erase_subject(w.ctx, late.id, None).await.unwrap();
    pump(&w, &sender).await;
    w.clock.advance(Duration::days(4));
    let overdue = w.app.erasure_confirmations(w.ctx, late.id).await.unwrap();
    assert_eq!(state(overdue)[0], (crm, ConfirmedBy::Callback, false, true));
}

/// The tenant restored by `app` from `backup`.
async fn restore(
    app: &gdpr_app::App<gdpr_testkit::InMemory>,
    tenant: gdpr_pii::TenantId,
    backup: &str,
    replace: bool,
) -> gdpr_app::RestoreReport {
    app.restore_tenant(
        tenant,
        Some(backup),
        replace,
        &gdpr_testkit::EnvelopeDecryptor,
        &crate::backup_restore::progress(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_erasure_the_lost_database_forgot_is_told_to_the_recipients_again_after_a_restore() {
    use crate::backup_restore::{back_up, on_an_empty_store};

    /// Feeds and delivers on `app` until nothing is left to do now.
    async fn pump_on(app: &gdpr_app::App<gdpr_testkit::InMemory>, sender: &RecordingWebhookSender) {
        app.feed_webhooks().await.unwrap();
        while app
            .deliver_webhooks(sender, "worker-a")
            .await
            .unwrap()
            .claimed
            > 0
        {}
    }
    /// The subjects of the `subject.erased` events posted so far.
    fn erasures_posted(sender: &RecordingWebhookSender) -> Vec<String> {
        sender
            .posted()
            .iter()
            .filter_map(|p| serde_json::from_str::<serde_json::Value>(&p.body).ok())
            .filter(|v| v["type"] == "subject.erased")
            .map(|v| v["data"]["subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    let w = world_with(crate::backup_restore::config()).await;
    let ctx = w.ctx;
    w.app
        .create_webhook_endpoint(ctx, endpoint(&[EventType::SubjectErased], true))
        .await
        .unwrap();
    let (gone, kept, early) = (w.subject(1).await, w.subject(2).await, w.subject(4).await);
    // Days go by: the restore reads the chain from a day (and an hour) before the backup on,
    // found by a search through what came before. An erasure half a day before the backup is
    // in the backup's chain: read there, never announced again.
    w.clock.advance(Duration::hours(36));
    w.app.erase_subject(ctx, early.id, None).await.unwrap();
    w.clock.advance(Duration::hours(12));
    let backup = back_up(&w).await;
    // Erased after the backup, told to the recipient, which confirmed by its 2xx; and one
    // subject the backup never held, registered and erased since.
    w.app.erase_subject(ctx, gone.id, None).await.unwrap();
    let late = w.subject(3).await;
    w.app.erase_subject(ctx, late.id, None).await.unwrap();
    let sender = RecordingWebhookSender::default();
    pump_on(&w.app, &sender).await;
    assert_eq!(
        erasures_posted(&sender),
        [early.id, gone.id, late.id].map(|s| s.to_string())
    );
    let confirmed = |list: Vec<gdpr_app::ErasureConfirmation>| {
        list.iter()
            .map(|c| (c.confirmed_at.is_some(), c.overdue))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        confirmed(w.app.erasure_confirmations(ctx, gone.id).await.unwrap()),
        [(true, false)]
    );

    // Restored over the database that still holds its chain: the erasure is there, nothing
    // is told twice.
    let again = restore(&w.app, ctx.tenant, &backup, true).await;
    assert_eq!((again.subjects_left_out, again.erasures_announced), (1, 0));

    // The database is lost: the chain, the deliveries and the confirmation with it. The
    // restore leaves the subject out (the journal) and records its erasure again, so the
    // recipient hears of it and confirms again; the subject kept is not announced.
    let (_, recovered) = on_an_empty_store(&w);
    let report = restore(&recovered, ctx.tenant, &backup, false).await;
    assert_eq!(
        (report.subjects_left_out, report.erasures_announced),
        (1, 2),
        "the subject left out, and the one the backup never held"
    );
    assert_eq!(
        confirmed(recovered.erasure_confirmations(ctx, gone.id).await.unwrap()),
        [(false, false)],
        "pending again: the proof went with the database"
    );
    let after = RecordingWebhookSender::default();
    pump_on(&recovered, &after).await;
    let told = erasures_posted(&after);
    for erased in [gone.id, late.id] {
        assert!(told.contains(&erased.to_string()), "{told:?}");
    }
    assert!(!told.contains(&kept.id.to_string()), "{told:?}");
    assert_eq!(
        confirmed(recovered.erasure_confirmations(ctx, gone.id).await.unwrap()),
        [(true, false)]
    );

    // Run again (after a crash, say): the chain now shows the announcement.
    let rerun = restore(&recovered, ctx.tenant, &backup, true).await;
    assert_eq!(rerun.erasures_announced, 0);
}

#[tokio::test]
async fn a_recipients_call_back_outlives_a_restore_over_the_database_that_kept_its_delivery() {
    let w = world_with(crate::backup_restore::config()).await;
    let ctx = w.ctx;
    let issued = w
        .app
        .create_webhook_endpoint(
            ctx,
            NewEndpoint {
                confirms_erasure: Some(ConfirmedBy::Callback),
                ..endpoint(&[EventType::SubjectErased], false)
            },
        )
        .await
        .unwrap();
    let s = w.subject(1).await;
    let backup = crate::backup_restore::back_up(&w).await;
    w.app.erase_subject(ctx, s.id, None).await.unwrap();
    pump(&w, &RecordingWebhookSender::default()).await;
    // The recipient erased on its side and says so, signed.
    let body = format!(r#"{{"subject":"{}"}}"#, s.id);
    let at = w.clock.now().unix_timestamp();
    let header = signature([&issued.secret], "msg_1", at, body.as_bytes());
    w.app
        .confirm_erasure(
            issued.endpoint.id,
            s.id,
            &SignedMessage {
                id: "msg_1",
                timestamp: &at.to_string(),
                signature: &header,
                body: body.as_bytes(),
            },
        )
        .await
        .unwrap();
    let confirmed = || async {
        w.app
            .erasure_confirmations(ctx, s.id)
            .await
            .unwrap()
            .iter()
            .map(|c| (c.confirmed_at, c.overdue))
            .collect::<Vec<_>>()
    };
    let before = confirmed().await;
    assert!(before[0].0.is_some(), "{before:?}");

    // Restored over the database: the delivery stays (not in backups), and so does the
    // confirmation, though the backup predates it; days later it is not overdue.
    restore(&w.app, ctx.tenant, &backup, true).await;
    w.clock.advance(Duration::days(4));
    assert_eq!(confirmed().await, before);
}
