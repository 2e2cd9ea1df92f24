//! The webhook delivery queue on SQLite and PostgreSQL: cursors move only from where the
//! caller saw them, concurrent claims never share a delivery, a lapsed lease passes it on, an
//! attempt of a worker that lost it is ignored; replays, dead-letters and tenant deletion.

use std::collections::BTreeSet;

use gdpr_ports::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, Page, StoreError, TenantStore, WebhookStore,
};
use time::Duration;
use uuid::Uuid;

use crate::harness::databases;
use crate::subjects::{at, tenant};

fn who(n: i64) -> gdpr_pii::SubjectId {
    gdpr_pii::SubjectId::from_uuid(Uuid::from_u128(n.unsigned_abs().into()))
}

fn delivery(tenant: gdpr_pii::TenantId, endpoint: Uuid, n: i64) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        tenant,
        endpoint,
        event_id: format!("evt_{n}"),
        event_type: "subject.erased".into(),
        subject: Some(who(n)),
        payload: format!(r#"{{"n":{n}}}"#),
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: at(n),
        created_at: at(n),
        first_attempt_at: None,
        last_attempt_at: None,
        last_status: None,
        last_error: None,
        delivered_at: None,
    }
}

#[tokio::test]
async fn a_cursor_moves_only_from_where_it_was_seen_and_queues_with_it() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let e = Uuid::now_v7();
        assert_eq!(s.webhook_cursor(t, e).await.unwrap(), None);
        assert!(
            s.queue_deliveries(t, e, None, 3, vec![delivery(t, e, 1)])
                .await
                .unwrap()
        );
        // A replica that saw no cursor, or an old one, writes nothing.
        assert!(
            !s.queue_deliveries(t, e, None, 5, vec![delivery(t, e, 2)])
                .await
                .unwrap()
        );
        assert!(
            !s.queue_deliveries(t, e, Some(1), 5, vec![delivery(t, e, 2)])
                .await
                .unwrap()
        );
        assert!(
            s.queue_deliveries(t, e, Some(3), 5, vec![delivery(t, e, 4)])
                .await
                .unwrap()
        );
        assert_eq!(
            s.webhook_cursor(t, e).await.unwrap(),
            Some(5),
            "{}",
            db.name
        );
        let all = s
            .deliveries(t, DeliveryFilter::default(), Page::first(10))
            .await
            .unwrap();
        let events: Vec<&str> = all.iter().map(|d| d.event_id.as_str()).collect();
        assert_eq!(events, ["evt_4", "evt_1"], "{}: newest first", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn concurrent_claims_never_share_a_delivery_and_a_lapsed_lease_passes_it_on() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let e = Uuid::now_v7();
        let queued: Vec<Delivery> = (0..60).map(|n| delivery(t, e, n)).collect();
        s.queue_deliveries(t, e, None, 60, queued).await.unwrap();
        let now = at(100);
        let lease = Duration::minutes(1);
        let (a, b, c) = tokio::join!(
            s.claim_deliveries("a", now, lease, 25),
            s.claim_deliveries("b", now, lease, 25),
            s.claim_deliveries("c", now, lease, 25),
        );
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        let ids: BTreeSet<Uuid> = a.iter().chain(&b).chain(&c).map(|d| d.id).collect();
        assert_eq!(
            ids.len(),
            a.len() + b.len() + c.len(),
            "{}: no delivery twice",
            db.name
        );
        assert_eq!(ids.len(), 60, "{}", db.name);
        assert!(
            s.claim_deliveries("d", now, lease, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // A's lease lapses: its deliveries go to D, and A's late word is ignored.
        let later = now + Duration::minutes(2);
        let taken = s.claim_deliveries("d", later, lease, 100).await.unwrap();
        assert_eq!(taken.len(), 60, "{}: every lease lapsed", db.name);
        let first = taken[0].id;
        s.record_attempts(
            "a",
            vec![(
                first,
                Attempt::Delivered {
                    at: later,
                    status: 200,
                },
            )],
        )
        .await
        .unwrap();
        assert_eq!(
            s.delivery(t, first).await.unwrap().state,
            DeliveryState::Pending
        );
        s.record_attempts(
            "d",
            vec![
                (
                    first,
                    Attempt::Delivered {
                        at: later,
                        status: 204,
                    },
                ),
                (
                    taken[1].id,
                    Attempt::Retry {
                        at: later,
                        status: Some(503),
                        error: "the endpoint answered 503".into(),
                        next_at: later + Duration::seconds(5),
                    },
                ),
                (
                    taken[2].id,
                    Attempt::Failed {
                        at: later,
                        status: None,
                        error: "gone".into(),
                    },
                ),
            ],
        )
        .await
        .unwrap();
        let done = s.delivery(t, first).await.unwrap();
        assert_eq!(
            (
                done.state,
                done.last_status,
                done.delivered_at,
                done.attempts
            ),
            (DeliveryState::Delivered, Some(204), Some(later), 1),
            "{}",
            db.name
        );
        let retry = s.delivery(t, taken[1].id).await.unwrap();
        assert_eq!(retry.state, DeliveryState::Pending);
        assert_eq!(retry.next_at, later + Duration::seconds(5));
        assert_eq!(retry.first_attempt_at, Some(later));
        // Released with the attempt: due again when its time comes, to anyone.
        let again = s
            .claim_deliveries("e", later + Duration::seconds(6), lease, 100)
            .await
            .unwrap();
        assert!(again.iter().any(|d| d.id == retry.id), "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn replays_dead_letters_filters_and_tenant_deletion() {
    for db in databases().await {
        let s = &db.store;
        let (t, other) = (tenant(s).await, tenant(s).await);
        let (e, f) = (Uuid::now_v7(), Uuid::now_v7());
        let mine: Vec<Delivery> = (0..4).map(|n| delivery(t, e, n)).collect();
        let ids: Vec<Uuid> = mine.iter().map(|d| d.id).collect();
        s.queue_deliveries(t, e, None, 4, mine).await.unwrap();
        s.queue_deliveries(t, f, None, 1, vec![delivery(t, f, 9)])
            .await
            .unwrap();
        s.queue_deliveries(other, e, None, 1, vec![delivery(other, e, 7)])
            .await
            .unwrap_or(false);

        assert_eq!(
            s.fail_pending(t, e, "the endpoint was disabled", false)
                .await
                .unwrap(),
            4
        );
        let failed = s
            .deliveries(
                t,
                DeliveryFilter {
                    state: Some(DeliveryState::Failed),
                    ..DeliveryFilter::default()
                },
                Page::first(10),
            )
            .await
            .unwrap();
        assert_eq!(failed.len(), 4, "{}", db.name);
        assert_eq!(
            failed[0].last_error.as_deref(),
            Some("the endpoint was disabled")
        );
        // One replayed by id, then the rest by endpoint; another tenant's are out of reach.
        assert_eq!(
            s.requeue_deliveries(other, Some(e), vec![ids[0]], at(50))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.requeue_deliveries(t, None, vec![ids[0]], at(50))
                .await
                .unwrap(),
            1
        );
        let replayed = s.delivery(t, ids[0]).await.unwrap();
        assert_eq!(
            (replayed.state, replayed.next_at, replayed.attempts),
            (DeliveryState::Pending, at(50), 0)
        );
        assert_eq!(
            s.requeue_deliveries(t, Some(e), Vec::new(), at(50))
                .await
                .unwrap(),
            3
        );

        let about = s
            .deliveries(
                t,
                DeliveryFilter {
                    subject: Some(who(2)),
                    ..DeliveryFilter::default()
                },
                Page::first(10),
            )
            .await
            .unwrap();
        assert_eq!(about.len(), 1, "{}", db.name);
        let page = s
            .deliveries(t, DeliveryFilter::default(), Page::first(2))
            .await
            .unwrap();
        let after = gdpr_ports::Cursor {
            at: page[1].created_at,
            id: page[1].id,
        };
        let next = s
            .deliveries(
                t,
                DeliveryFilter::default(),
                Page {
                    offset: 0,
                    limit: 10,
                    after: Some(after),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.len() + next.len(),
            5,
            "{}: pages cover all once",
            db.name
        );
        assert!(matches!(
            s.delivery(other, ids[1]).await,
            Err(StoreError::NotFound)
        ));

        // Removed endpoint: its cursor forgotten.
        s.fail_pending(t, f, "the endpoint was removed", true)
            .await
            .unwrap();
        assert_eq!(s.webhook_cursor(t, f).await.unwrap(), None);

        // The deployment's endpoint's deliveries (under the nil id): one of the tenant's
        // events, one of the other tenant's.
        let nil = gdpr_pii::TenantId::from_uuid(Uuid::nil());
        let ops = Uuid::now_v7();
        let event_of = |tenant: gdpr_pii::TenantId, n: i64| Delivery {
            event_id: format!("evt_{}_{n}", tenant.as_uuid().simple()),
            ..delivery(nil, ops, n)
        };
        s.queue_deliveries(t, ops, None, 1, vec![event_of(t, 7), event_of(other, 8)])
            .await
            .unwrap();

        // The tenant's deletion takes its deliveries and cursors, and the deployment's
        // deliveries of its events, and no one else's.
        let receipt = gdpr_audit::AuditEvent::new(
            at(60),
            None,
            gdpr_audit::Actor::Operator,
            gdpr_audit::AuditAction::TenantOffboarded,
        );
        let counts = s.delete_tenant(t, receipt).await.unwrap();
        assert_eq!(
            counts.get("webhook_deliveries"),
            Some(&6),
            "{}: {counts:?}",
            db.name
        );
        assert_eq!(
            counts.get("webhook_cursors"),
            Some(&2),
            "{}: {counts:?}",
            db.name
        );
        let left = s
            .deliveries(nil, DeliveryFilter::default(), Page::first(10))
            .await
            .unwrap();
        assert_eq!(left.len(), 1, "{}", db.name);
        assert!(
            left[0]
                .event_id
                .contains(&other.as_uuid().simple().to_string())
        );
        assert_eq!(s.webhook_cursor(other, e).await.unwrap(), Some(1));
        db.finish().await;
    }
}
