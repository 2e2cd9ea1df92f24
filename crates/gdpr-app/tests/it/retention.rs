//! Storage limitation (Art. 5(1)(e)): periods set per tenant and per form, a plan that
//! changes nothing, and an expiry that deletes what ran out (journaled first), spares what a
//! hold keeps, and erases subjects left with nothing for too long but those kept as proof of
//! consent.

use gdpr_app::{AppConfig, AppError, Ctx};
use gdpr_pii::{RecordId, SubjectId};
use gdpr_ports::{Page, PolicyOverride};
use gdpr_retention::{RetentionPeriod, RetentionPolicy};
use gdpr_rights::{Decision, HoldGround, RequestKind};
use time::Duration;

use crate::backup_restore::config;
use crate::erasure::subject_with_data;
use crate::helpers::{World, contractor, web, world_with};
use crate::journal::decisions;

fn days(n: u32) -> Option<RetentionPeriod> {
    Some(RetentionPeriod::days(n).unwrap())
}

async fn records_of(w: &World, s: SubjectId) -> Vec<RecordId> {
    w.app
        .records(w.ctx, None, Some(s), Page::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn audited(
    w: &World,
    ctx: Ctx,
    action: gdpr_audit::AuditAction,
) -> Vec<gdpr_audit::AuditRecord> {
    w.app
        .audit_log(ctx, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == action)
        .collect()
}

#[tokio::test]
async fn periods_are_set_per_tenant_and_per_form_and_shown_from_the_same_source() {
    let w = world_with(AppConfig {
        retention: RetentionPolicy {
            records: days(365),
            ..RetentionPolicy::default()
        },
        ..AppConfig::default()
    })
    .await;
    let (form, _) = w.contractors().await;
    let view = w.app.retention(w.ctx).await.unwrap();
    assert_eq!(view.in_force.records, days(365), "the deployment's default");
    assert_eq!(view.forms[0].in_force, days(365));

    let view = w
        .app
        .set_retention(
            w.ctx,
            PolicyOverride {
                records: days(90),
                inactive_subjects: days(30),
                ..PolicyOverride::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(view.in_force.records, days(90));
    assert_eq!(view.in_force.inactive_subjects, days(30));
    assert_eq!(view.in_force.backups.as_days(), 30, "not overridden");
    w.app
        .set_form_retention(w.ctx, form.id, days(10))
        .await
        .unwrap();
    let view = w.app.retention(w.ctx).await.unwrap();
    assert_eq!(
        (view.forms[0].own, view.forms[0].in_force),
        (days(10), days(10))
    );

    // The register and the access export say the same.
    let register = w.app.processing_register(w.ctx).await.unwrap();
    let activity = register
        .activities
        .iter()
        .find(|a| a.name == "Contractors")
        .unwrap();
    assert!(
        activity.retention.starts_with("10 days after submission"),
        "{}",
        activity.retention
    );
    assert!(
        register.activities[0]
            .retention
            .contains("30 days after anything was last written"),
        "{}",
        register.activities[0].retention
    );
    let s = subject_with_data(&w, 1).await;
    let export = w.app.export_subject(w.ctx, s.id).await.unwrap();
    assert_eq!(
        export.context.retention.records,
        vec![("Contractors".to_owned(), Some(10))]
    );
    assert_eq!(export.context.retention.inactive_subjects_days, Some(30));
    assert_eq!(export.context.retention.consent_proofs_days, 1826);

    // Each change is audited; another tenant is untouched.
    assert_eq!(
        audited(&w, w.ctx, gdpr_audit::AuditAction::RetentionChanged)
            .await
            .len(),
        2
    );
    let other = w.other_tenant().await;
    assert_eq!(
        w.app.retention(other).await.unwrap().in_force.records,
        days(365)
    );
}

#[tokio::test]
async fn expired_records_are_deleted_journaled_first_and_held_ones_kept() {
    let w = world_with(config()).await;
    let (form, _) = w.contractors().await;
    let [old, held, young] = [
        subject_with_data(&w, 1).await,
        subject_with_data(&w, 2).await,
        subject_with_data(&w, 3).await,
    ];
    w.app
        .place_legal_hold(w.ctx, held.id, HoldGround::LegalClaims, "litigation")
        .await
        .unwrap();
    w.app
        .set_form_retention(w.ctx, form.id, days(30))
        .await
        .unwrap();
    w.clock.advance(Duration::days(20));
    w.app
        .submit_record(w.ctx, form.id, young.id, &contractor(3))
        .await
        .unwrap();
    w.clock.advance(Duration::days(11));

    // The plan changes nothing and says what would go, and when the next one will.
    let plan = w.app.retention_plan(w.ctx).await.unwrap();
    assert_eq!(
        (plan.records_expired, plan.records_held),
        (4, 2),
        "{plan:?}"
    );
    assert_eq!(
        plan.forms[0].next_expiry,
        Some(gdpr_ports::Clock::now(&w.clock) - Duration::days(11) + Duration::days(30))
    );
    assert_eq!(records_of(&w, old.id).await.len(), 2, "a dry run");
    assert!(decisions(&w).iter().all(|d| d.kind() != "records_expired"));

    let report = w.app.expire(w.ctx.tenant).await.unwrap();
    assert_eq!((report.records_expired, report.records_held), (4, 2));
    assert!(records_of(&w, old.id).await.is_empty());
    assert_eq!(
        records_of(&w, held.id).await.len(),
        2,
        "the hold keeps them"
    );
    assert_eq!(records_of(&w, young.id).await.len(), 1, "within its period");
    // Journaled first, as a rule: the form, the cutoff, and the subjects a hold spared.
    let rules: Vec<Decision> = decisions(&w)
        .into_iter()
        .filter(|d| d.kind() == "records_expired")
        .collect();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(matches!(
        &rules[0],
        Decision::RecordsExpired { form: f, spared, submitted_before, .. }
            if *f == form.id && spared == &vec![held.id]
                && *submitted_before == gdpr_ports::Clock::now(&w.clock) - Duration::days(30)
    ));
    let enforced = audited(&w, w.ctx, gdpr_audit::AuditAction::RetentionEnforced).await;
    assert_eq!(enforced[0].event.details["records_expired"], "4");
    assert_eq!(enforced[0].event.details["records_held"], "2");

    // Nothing more until more expires.
    let again = w.app.expire(w.ctx.tenant).await.unwrap();
    assert_eq!((again.records_expired, again.records_held), (0, 2));
}

#[tokio::test]
async fn a_subject_left_with_nothing_is_erased_after_the_period_unless_kept_as_consent_proof() {
    let w = world_with(config()).await;
    let (_, consent) = w.contractors().await;
    w.app
        .set_retention(
            w.ctx,
            PolicyOverride {
                inactive_subjects: days(30),
                ..PolicyOverride::default()
            },
        )
        .await
        .unwrap();
    let idle = w.subject(1).await;
    let withdrew = w.subject(2).await;
    w.app
        .give_consent(w.ctx, withdrew.id, consent.id, web(None))
        .await
        .unwrap();
    w.app
        .withdraw_consent(w.ctx, withdrew.id, consent.id, web(None))
        .await
        .unwrap();
    let asking = w.subject(3).await;
    w.app
        .open_request(w.ctx, asking.id, RequestKind::Access)
        .await
        .unwrap();
    let held = w.subject(4).await;
    w.app
        .place_legal_hold(w.ctx, held.id, HoldGround::LegalObligation, "audit")
        .await
        .unwrap();
    let consenting = w.subject(5).await;
    w.app
        .give_consent(w.ctx, consenting.id, consent.id, web(None))
        .await
        .unwrap();
    let emptied = subject_with_data(&w, 6).await;
    w.clock.advance(Duration::days(20));
    for r in records_of(&w, emptied.id).await {
        w.app.delete_record(w.ctx, r).await.unwrap();
    }
    w.clock.advance(Duration::days(11));

    let plan = w.app.retention_plan(w.ctx).await.unwrap();
    assert_eq!(
        (plan.subjects_expired, plan.subjects_kept_as_consent_proof),
        (1, 1),
        "the idle one goes; the withdrawn one is a consent proof: {plan:?}"
    );
    assert!(w.app.subject(w.ctx, idle.id).await.is_ok(), "a dry run");
    let report = w.app.expire(w.ctx.tenant).await.unwrap();
    assert_eq!(report.subjects_expired, 1, "{report:?}");
    assert!(matches!(
        w.app.subject(w.ctx, idle.id).await,
        Err(AppError::NotFound(_))
    ));
    for kept in [&withdrew, &asking, &held, &consenting, &emptied] {
        assert!(w.app.subject(w.ctx, kept.id).await.is_ok());
    }
    assert!(
        decisions(&w)
            .iter()
            .any(|d| matches!(d, Decision::SubjectErased { subject, .. } if *subject == idle.id)),
        "the erasure is journaled like any other"
    );

    // Past the consent proofs' own period, the withdrawn subject goes too; the one whose
    // records went still consents, so it stays.
    w.clock.advance(Duration::days(5 * 365 + 2));
    let later = w.app.expire(w.ctx.tenant).await.unwrap();
    assert!(matches!(
        w.app.subject(w.ctx, withdrew.id).await,
        Err(AppError::NotFound(_))
    ));
    assert!(w.app.subject(w.ctx, emptied.id).await.is_ok());
    assert!(w.app.subject(w.ctx, held.id).await.is_ok());
    assert!(
        w.app.subject(w.ctx, asking.id).await.is_ok(),
        "its request is still open"
    );
    assert_eq!(later.subjects_expired, 1, "{later:?}");
}

#[tokio::test]
async fn the_daily_expiry_job_runs_once_per_day_for_every_tenant() {
    let w = world_with(config()).await;
    let (form, _) = w.contractors().await;
    let s = subject_with_data(&w, 1).await;
    w.app
        .set_form_retention(w.ctx, form.id, days(1))
        .await
        .unwrap();
    w.clock.advance(Duration::days(2));
    w.app.schedule_due_jobs().await.unwrap();
    let mut ran = Vec::new();
    while let Some(run) = w.app.run_next_job("w1").await.unwrap() {
        ran.push(run);
    }
    let expiry = ran.iter().find(|r| r.kind == "daily-expiry").unwrap();
    assert_eq!(
        expiry.outcome.as_deref(),
        Ok("1 tenants, 2 records expired, 0 inactive subjects erased, 0 failed")
    );
    assert!(records_of(&w, s.id).await.is_empty());
    // The same slot is not queued twice.
    assert_eq!(w.app.schedule_due_jobs().await.unwrap(), 0);
}

#[tokio::test]
async fn a_tenant_deleted_before_its_expiry_runs_gets_no_record_under_its_name() {
    use gdpr_ports::AuditLog as _;
    let w = world_with(config()).await;
    let gone = gdpr_pii::TenantId::from_uuid(uuid::Uuid::now_v7());
    assert!(matches!(
        w.app.expire(gone).await,
        Err(AppError::NotFound(_))
    ));
    assert!(
        w.store
            .audit_records(Some(gone), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
