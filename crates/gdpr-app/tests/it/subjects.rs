//! Subjects: parsing at the edge, uniqueness, look-up, rectification.

use gdpr_app::{AppError, NewSubject, Rectification};
use gdpr_testkit::fake;

use crate::helpers::world;

#[tokio::test]
async fn invalid_input_is_refused_by_field_without_echoing_it_and_changes_nothing() {
    let w = world().await;
    let err = w
        .app
        .register_subject(
            w.ctx,
            NewSubject {
                email: Some("canary person@example.org".into()),
                ..NewSubject::default()
            },
        )
        .await
        .unwrap_err();
    let AppError::InvalidInput { field, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*field, "email");
    assert!(reason.contains("whitespace"), "{reason}");
    assert!(!err.to_string().contains("canary"), "{err}");
    let err = w
        .app
        .register_subject(
            w.ctx,
            NewSubject {
                ip_address: Some("999.1.1.1".into()),
                ..NewSubject::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::InvalidInput {
            field: "ip_address",
            ..
        }
    ));
    assert!(
        w.app
            .subjects(w.ctx, gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_email_belongs_to_one_subject_per_tenant_and_finds_them_in_any_case() {
    let w = world().await;
    let s = w.subject(1).await;
    let again = NewSubject {
        email: Some(fake::email(1).expose_pii().to_uppercase()),
        ..NewSubject::default()
    };
    assert!(matches!(
        w.app.register_subject(w.ctx, again.clone()).await,
        Err(AppError::Conflict(_))
    ));
    let found = w
        .app
        .find_subject_by_email(
            w.ctx,
            &format!("  {}  ", fake::email(1).expose_pii().to_uppercase()),
        )
        .await
        .unwrap();
    assert_eq!(found.id, s.id);
    // Another tenant may know the same person independently.
    let other = w.other_tenant().await;
    assert!(w.app.register_subject(other, again).await.is_ok());
    assert!(matches!(
        w.app
            .find_subject_by_email(w.ctx, "nobody@example.org")
            .await,
        Err(AppError::NotFound("subject"))
    ));
}

#[tokio::test]
async fn rectification_sets_clears_and_keeps_fields() {
    let w = world().await;
    let s = w.subject(2).await;
    let fixed = w
        .app
        .rectify_subject(
            w.ctx,
            s.id,
            Rectification {
                full_name: Some(Some("Grace B. Hopper".into())),
                ip_address: Some(None),
                email: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(fixed.full_name.unwrap().expose_pii(), "Grace B. Hopper");
    assert!(fixed.ip_address.is_none());
    assert_eq!(fixed.email, s.email, "an absent field is left as it was");
    let stored = w.app.subject(w.ctx, s.id).await.unwrap();
    assert!(stored.ip_address.is_none());
    // An empty rectification changes nothing: the subject as it stands, no rectification
    // audited, but the read it answers with is.
    let audited = |log: &[gdpr_audit::AuditRecord], action| {
        log.iter().filter(|r| r.event.action == action).count()
    };
    let log = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    let (rectified, viewed) = (
        audited(&log, gdpr_audit::AuditAction::SubjectRectified),
        audited(&log, gdpr_audit::AuditAction::SubjectViewed),
    );
    let same = w
        .app
        .rectify_subject(w.ctx, s.id, Rectification::default())
        .await
        .unwrap();
    assert_eq!(same, stored);
    let log = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert_eq!(
        audited(&log, gdpr_audit::AuditAction::SubjectRectified),
        rectified
    );
    assert_eq!(
        audited(&log, gdpr_audit::AuditAction::SubjectViewed),
        viewed + 1
    );
    assert_eq!(w.app.subject(w.ctx, s.id).await.unwrap(), stored);
    let taken = w.subject(3).await;
    let err = w
        .app
        .rectify_subject(
            w.ctx,
            taken.id,
            Rectification {
                email: Some(Some(fake::email(2).expose_pii().to_owned())),
                ..Rectification::default()
            },
        )
        .await;
    assert!(matches!(err, Err(AppError::Conflict(_))));
}

#[tokio::test]
async fn an_import_takes_each_subject_whole_or_refuses_it_with_its_reason() {
    let w = world().await;
    w.subject(1).await;
    let new = |email: &str| NewSubject {
        email: Some(email.into()),
        ..NewSubject::default()
    };
    let clean = w
        .app
        .import_subjects(w.ctx, vec![new("a@example.org"), new("b@example.org")])
        .await
        .unwrap();
    assert!(clean.iter().all(Result::is_ok));
    let mixed = w
        .app
        .import_subjects(
            w.ctx,
            vec![
                new("c@example.org"),
                new("not an address"),
                new(fake::email(1).expose_pii()),
                new("C@example.org"),
                new("d@example.org"),
            ],
        )
        .await
        .unwrap();
    let outcome: Vec<&str> = mixed
        .iter()
        .map(|r| match r {
            Ok(_) => "ok",
            Err(AppError::InvalidInput { .. }) => "invalid",
            Err(AppError::Conflict(_)) => "taken",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(outcome, ["ok", "invalid", "taken", "taken", "ok"]);
    assert_eq!(
        w.app
            .subjects(w.ctx, gdpr_ports::Page::ALL)
            .await
            .unwrap()
            .len(),
        5
    );
    let created = w
        .app
        .audit_log(w.ctx, 0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.event.action == gdpr_audit::AuditAction::SubjectCreated)
        .count();
    assert_eq!(created, 5, "one audit entry per imported subject");
}
