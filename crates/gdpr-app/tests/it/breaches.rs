//! The breach register: the 72-hour clock the attestation watches, a late notification that
//! must say why, the people a selector finds told through webhook events (ids only), the
//! deployment's breaches in every tenant's attestation, and the draft for the authority.

use gdpr_app::{AppError, BreachScope, NewEndpoint};
use gdpr_audit::{AuditAction, CheckKind, Verdict};
use gdpr_pii::PiiCategory;
use gdpr_ports::AuditLog as _;
use gdpr_rights::{AuthorityNotice, BatchSelector, Breach, BreachKind, Clock};
use gdpr_testkit::RecordingWebhookSender;
use gdpr_webhooks::EventType;
use time::Duration;

use crate::helpers::{contractor, world};

fn facts(title: &str, detected_at: time::OffsetDateTime) -> Breach {
    Breach {
        title: title.into(),
        detected_at,
        occurred_at: None,
        kinds: vec![BreachKind::Confidentiality],
        nature: "a misconfigured export bucket was public for a day".into(),
        categories: vec![PiiCategory::Email, PiiCategory::FullName],
        subjects_approx: 2,
        records_approx: 2,
        consequences: "phishing".into(),
        measures: "bucket closed, access logs reviewed".into(),
        authority: None,
        subjects: None,
        subjects_notified_at: None,
        affected: None,
    }
}

async fn breach_check(w: &crate::helpers::World) -> (Verdict, String) {
    let a = w.app.attest_tenant(w.ctx.tenant).await.unwrap();
    let c = a.check(CheckKind::BreachesNotified).unwrap();
    (c.verdict, c.detail.clone())
}

#[tokio::test]
async fn the_72_hour_clock_fails_the_attestation_and_a_late_notice_must_say_why() {
    let w = world().await;
    let now = gdpr_ports::Clock::now(&w.clock);
    let scope = BreachScope::Tenant(w.ctx);
    let v = w
        .app
        .record_breach(scope, facts("Public bucket", now))
        .await
        .unwrap();
    assert_eq!(
        v.clock,
        Clock::Running {
            due_at: now + Duration::hours(72)
        }
    );
    assert_eq!(breach_check(&w).await.0, Verdict::Pass);

    w.clock.advance(Duration::hours(73));
    let (verdict, detail) = breach_check(&w).await;
    assert_eq!(verdict, Verdict::Fail);
    assert!(detail.contains(&v.id.to_string()), "{detail}");

    let late = |reason: Option<&str>| AuthorityNotice {
        at: gdpr_ports::Clock::now(&w.clock),
        reference: Some("CNIL-2026-0042".into()),
        late_reason: reason.map(str::to_owned),
    };
    let refused = w.app.notify_authority(scope, v.id, late(None)).await;
    assert!(
        matches!(
            &refused,
            Err(AppError::Conflict(m)) if m.contains("late_reason")
        ),
        "{refused:?}"
    );
    let notified = w
        .app
        .notify_authority(
            scope,
            v.id,
            late(Some("the scope took four days to establish")),
        )
        .await
        .unwrap();
    assert!(matches!(notified.clock, Clock::Notified { late: true, .. }));
    assert_eq!(breach_check(&w).await.0, Verdict::Pass);
    assert!(matches!(
        w.app
            .notify_authority(scope, v.id, late(Some("again")))
            .await,
        Err(AppError::Conflict(_))
    ));

    let draft = w.app.breach_draft(scope, v.id, "ops").await.unwrap();
    let md = draft.to_markdown();
    for field in [
        "Public bucket",
        "Contact point",
        "LogAlto SAS",
        "Likely consequences",
        "bucket closed",
    ] {
        assert!(md.contains(field), "{field}: {md}");
    }
    let actions = crate::helpers::audited(
        &w,
        &[
            AuditAction::BreachRecorded,
            AuditAction::BreachAuthorityNotified,
        ],
    )
    .await;
    assert_eq!(
        actions,
        [
            AuditAction::BreachRecorded,
            AuditAction::BreachAuthorityNotified
        ]
    );
}

#[tokio::test]
async fn the_people_a_selector_finds_are_told_through_webhook_events_of_ids_only() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let mut people = Vec::new();
    for seed in 1..=3 {
        let s = w.subject(seed).await;
        w.app
            .give_consent(w.ctx, s.id, consent.id, crate::helpers::web(None))
            .await
            .unwrap();
        people.push(s);
    }
    for s in &people[..2] {
        w.app
            .submit_record(w.ctx, form.id, s.id, &contractor(1))
            .await
            .unwrap();
    }
    w.app
        .create_webhook_endpoint(
            w.ctx,
            NewEndpoint {
                url: "https://crm.example.com/hook".into(),
                description: String::new(),
                events: vec![EventType::BreachRecorded, EventType::BreachSubjectNotified],
                confirms_erasure: None,
            },
        )
        .await
        .unwrap();
    let scope = BreachScope::Tenant(w.ctx);
    let now = gdpr_ports::Clock::now(&w.clock);
    let v = w
        .app
        .record_breach(scope, facts("Contractors leaked", now))
        .await
        .unwrap();
    assert!(matches!(
        w.app.notify_breach_subjects(w.ctx, v.id).await,
        Err(AppError::Conflict(_))
    ));
    let scoped = w
        .app
        .scope_breach(w.ctx, v.id, BatchSelector::Form { form: form.id })
        .await
        .unwrap();
    let affected = scoped.breach.affected.unwrap();
    assert_eq!((affected.subjects, affected.records), (2, 2));
    assert!(
        matches!(
            w.app.notify_breach_subjects(w.ctx, v.id).await,
            Err(AppError::Conflict(_))
        ),
        "not decided yet"
    );
    w.app
        .decide_breach_subjects(scope, v.id, true, "names and e-mails in clear: high risk")
        .await
        .unwrap();
    assert_eq!(w.app.notify_breach_subjects(w.ctx, v.id).await.unwrap(), 2);
    assert!(
        matches!(
            w.app.notify_breach_subjects(w.ctx, v.id).await,
            Err(AppError::Conflict(_))
        ),
        "once"
    );

    let sender = RecordingWebhookSender::default();
    w.app.feed_webhooks().await.unwrap();
    while w.app.deliver_webhooks(&sender, "w").await.unwrap().claimed > 0 {}
    let bodies: Vec<serde_json::Value> = sender
        .posted()
        .iter()
        .map(|p| serde_json::from_str(&p.body).unwrap())
        .collect();
    let told: std::collections::BTreeSet<String> = bodies
        .iter()
        .filter(|b| b["type"] == "breach.subject_notified")
        .map(|b| b["data"]["subject"].as_str().unwrap().to_owned())
        .collect();
    let expected: std::collections::BTreeSet<String> =
        people[..2].iter().map(|s| s.id.to_string()).collect();
    assert_eq!(told, expected);
    assert!(bodies.iter().any(|b| b["type"] == "breach.recorded"));
    for p in sender.posted() {
        for s in &people {
            assert!(!p.body.contains(s.email.as_ref().unwrap().expose_pii()));
        }
    }
}

#[tokio::test]
async fn a_deployment_breach_is_the_operators_and_weighs_on_every_tenants_attestation() {
    let w = world().await;
    let other = w.other_tenant().await;
    let now = gdpr_ports::Clock::now(&w.clock);
    let v = w
        .app
        .record_breach(BreachScope::Deployment, facts("Backup key leaked", now))
        .await
        .unwrap();
    assert!(v.deployment);
    assert!(matches!(
        w.app.breach(BreachScope::Tenant(w.ctx), v.id).await,
        Err(AppError::NotFound("breach"))
    ));
    assert!(
        w.app
            .breaches(BreachScope::Tenant(other))
            .await
            .unwrap()
            .is_empty()
    );
    w.clock.advance(Duration::hours(80));
    for tenant in [w.ctx.tenant, other.tenant] {
        let a = w.app.attest_tenant(tenant).await.unwrap();
        assert_eq!(
            a.check(CheckKind::BreachesNotified).unwrap().verdict,
            Verdict::Fail
        );
    }
    let system = w.store.audit_records(None, 0, 100).await.unwrap();
    assert!(
        system
            .iter()
            .any(|r| r.event.action == AuditAction::BreachRecorded)
    );
    let mut bad = facts("  ", now);
    bad.kinds.clear();
    assert!(matches!(
        w.app.record_breach(BreachScope::Tenant(w.ctx), bad).await,
        Err(AppError::InvalidInput { .. })
    ));
}
