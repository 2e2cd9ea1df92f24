//! The audit log: every action on personal data is chained; tampering is found at its record.

use gdpr_app::NewSubject;
use gdpr_audit::{AuditAction, ChainBreak};
use gdpr_ports::Page;
use gdpr_rights::RequestKind;

use crate::helpers::{World, contractor, web, world};

#[tokio::test]
async fn every_action_on_personal_data_appends_to_the_tenants_chain() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let s = w.subject(1).await;
    w.app.subject(w.ctx, s.id).await.unwrap();
    w.app
        .find_subject_by_email(w.ctx, s.email.as_ref().unwrap().expose_pii())
        .await
        .unwrap();
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    let r = w
        .app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    w.app.record(w.ctx, r.id).await.unwrap();
    w.app.records(w.ctx, None, None, Page::ALL).await.unwrap();
    w.app.delete_record(w.ctx, r.id).await.unwrap();
    w.app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();
    w.app.export_subject(w.ctx, s.id).await.unwrap();
    w.app
        .withdraw_consent(w.ctx, s.id, consent.id, web(None))
        .await
        .unwrap();
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();

    let log = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let actions: Vec<AuditAction> = log.iter().map(|r| r.event.action).collect();
    use AuditAction::*;
    assert_eq!(
        actions,
        [
            TenantCreated,
            PurposeDefined,
            ConsentFormPublished,
            FormDefined,
            FormConsentAttached,
            SubjectCreated,
            SubjectViewed,
            SubjectLookedUp,
            ConsentGiven,
            RecordSubmitted,
            RecordViewed,
            RecordsListed,
            RecordDeleted,
            RequestOpened,
            ExportAssembled,
            ConsentWithdrawn,
            SubjectErased,
        ]
    );
    let about: Vec<_> = log
        .iter()
        .filter(|r| r.event.subject == Some(s.id))
        .collect();
    assert_eq!(about.len(), 11);
    let json = serde_json::to_string(&log).unwrap();
    assert!(
        !json.contains(s.email.as_ref().unwrap().expose_pii()),
        "no personal data in the log"
    );
    assert!(!json.contains(s.full_name.as_ref().unwrap().expose_pii()));
    let head = w
        .app
        .verify_audit(Some(w.ctx.tenant))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.records, log.len() as u64);
    assert_eq!(head.head, log.last().unwrap().hash);
}

#[tokio::test]
async fn verification_finds_an_edited_removed_or_reordered_record() {
    let w = world().await;
    for _ in 0..5 {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let tenant = Some(w.ctx.tenant);
    assert!(w.app.verify_audit(tenant).await.unwrap().is_ok());

    w.store.tamper_with_audit(tenant, |chain| {
        chain[3].event.action = AuditAction::SubjectViewed
    });
    assert_eq!(
        w.app.verify_audit(tenant).await.unwrap(),
        Err(ChainBreak::Altered { seq: 4 })
    );
    w.store.tamper_with_audit(tenant, |chain| {
        chain[3].event.action = AuditAction::SubjectCreated
    });
    assert!(
        w.app.verify_audit(tenant).await.unwrap().is_ok(),
        "restored"
    );

    w.store.tamper_with_audit(tenant, |chain| chain.swap(2, 4));
    assert!(matches!(
        w.app.verify_audit(tenant).await.unwrap(),
        Err(ChainBreak::OutOfSequence {
            expected: 3,
            found: 5
        })
    ));
    w.store.tamper_with_audit(tenant, |chain| chain.swap(2, 4));

    w.store.tamper_with_audit(tenant, |chain| {
        chain.remove(1);
    });
    assert!(matches!(
        w.app.verify_audit(tenant).await.unwrap(),
        Err(ChainBreak::OutOfSequence {
            expected: 2,
            found: 3
        })
    ));
}

#[tokio::test]
async fn chains_longer_than_a_page_verify() {
    let w = world().await;
    for _ in 0..1_100 {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let head = w
        .app
        .verify_audit(Some(w.ctx.tenant))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.records, 1_101);
}

#[tokio::test]
async fn an_incremental_check_reads_from_the_last_mark_and_sees_what_changed_there_or_after() {
    let w = world().await;
    let register = || async {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    };
    for _ in 0..4 {
        register().await;
    }
    let tenant = Some(w.ctx.tenant);
    // The first check is a full one; it marks the head (5 records).
    let (head, from) = w.app.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!((head.unwrap().records, from), (5, 1));
    register().await;
    register().await;
    // The next reads from the mark: the marked record again, and the two after it.
    let (head, from) = w.app.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!((head.unwrap().records, from), (7, 5));

    // An altered record after the mark is found.
    register().await;
    w.store.tamper_with_audit(tenant, |chain| {
        chain[7].event.action = AuditAction::SubjectViewed
    });
    let (broken, _) = w.app.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!(broken, Err(ChainBreak::Altered { seq: 8 }));
    w.store.tamper_with_audit(tenant, |chain| {
        chain[7].event.action = AuditAction::SubjectCreated
    });
    assert!(intact_since_last(&w).await);

    // The marked record itself altered: the whole chain is checked, and finds it.
    w.store.tamper_with_audit(tenant, |chain| {
        chain[7].event.action = AuditAction::SubjectViewed
    });
    let (broken, from) = w.app.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!((broken, from), (Err(ChainBreak::Altered { seq: 8 }), 1));
    // Gone (a restore from an older backup rewrote the log): checked whole, found intact.
    w.store.tamper_with_audit(tenant, |chain| {
        chain.truncate(6);
    });
    let (intact, from) = w.app.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!((intact.unwrap().records, from), (6, 1));

    // Before the mark it sees nothing: that is the full check's work (daily, and on demand).
    let w = world().await;
    for _ in 0..3 {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let tenant = Some(w.ctx.tenant);
    assert!(intact_since_last(&w).await);
    w.store.tamper_with_audit(tenant, |chain| {
        chain[1].event.action = AuditAction::SubjectViewed
    });
    assert!(intact_since_last(&w).await);
    assert_eq!(
        w.app.verify_audit(tenant).await.unwrap(),
        Err(ChainBreak::Altered { seq: 2 })
    );
}

#[tokio::test]
async fn after_a_restart_the_incremental_check_starts_from_the_head_the_last_attestation_verified()
{
    let w = world().await;
    for _ in 0..4 {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let tenant = Some(w.ctx.tenant);
    let attested = w
        .app
        .attest_tenant(w.ctx.tenant)
        .await
        .unwrap()
        .audit
        .unwrap();
    for _ in 0..2 {
        w.app
            .register_subject(w.ctx, NewSubject::default())
            .await
            .unwrap();
    }
    let total = w.app.verify_audit(tenant).await.unwrap().unwrap().records;
    // A new process (nothing checked in it yet) reads from the attested head, not from 1.
    let restarted = w.another_app(gdpr_app::AppConfig::default());
    let (head, from) = restarted.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!((head.unwrap().records, from), (total, attested.seq));
    // The attested record altered since: another new process checks the whole chain.
    let index = usize::try_from(attested.seq - 1).unwrap();
    w.store.tamper_with_audit(tenant, |chain| {
        chain[index].event.action = AuditAction::SubjectViewed
    });
    let restarted = w.another_app(gdpr_app::AppConfig::default());
    let (broken, from) = restarted.verify_audit_since_last(tenant).await.unwrap();
    assert_eq!(
        (broken, from),
        (Err(ChainBreak::Altered { seq: attested.seq }), 1)
    );
}

/// Whether the incremental check finds the tenant's chain intact.
async fn intact_since_last(w: &World) -> bool {
    let tenant = Some(w.ctx.tenant);
    w.app
        .verify_audit_since_last(tenant)
        .await
        .unwrap()
        .0
        .is_ok()
}
