//! Access exports: everything about the subject with its context, leaving only encrypted.

use gdpr_app::AppError;
use gdpr_ports::{EncryptError, Recipients};
use gdpr_rights::RequestKind;
use gdpr_testkit::RecordingEncryptor;

use crate::helpers::{PGP_KEY, contractor, web, world};

#[tokio::test]
async fn the_bundle_holds_every_piece_of_data_and_the_article_15_context() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let s = w.subject(1).await;
    let other = w.subject(2).await;
    w.app
        .give_consent(w.ctx, s.id, consent.id, web(Some("192.0.2.55")))
        .await
        .unwrap();
    w.app
        .give_consent(w.ctx, other.id, consent.id, web(None))
        .await
        .unwrap();
    w.app
        .submit_record(w.ctx, form.id, s.id, &contractor(1))
        .await
        .unwrap();
    w.app
        .submit_record(w.ctx, form.id, other.id, &contractor(2))
        .await
        .unwrap();
    w.app
        .open_request(w.ctx, s.id, RequestKind::Access)
        .await
        .unwrap();

    let bundle = serde_json::to_value(w.app.export_subject(w.ctx, s.id).await.unwrap()).unwrap();
    assert_eq!(bundle["schema_version"], 2);
    assert_eq!(
        bundle["subject"]["email"],
        s.email.as_ref().unwrap().expose_pii()
    );
    assert_eq!(
        bundle["subject"]["ip_address"],
        s.ip_address.unwrap().expose_pii().to_string()
    );
    assert_eq!(
        bundle["records"].as_array().unwrap().len(),
        1,
        "only this subject's records"
    );
    assert_eq!(bundle["records"][0]["form_name"], "Contractors");
    assert_eq!(bundle["records"][0]["values"]["day_rate"], 500.0);
    assert_eq!(bundle["consents"][0]["receipt"]["version"], "KI-CR-v1.1.0");
    assert_eq!(bundle["consents"][0]["event"]["source"], "192.0.2.0/24");
    assert_eq!(bundle["requests"][0]["kind"], "access");
    assert_eq!(bundle["requests"][0]["due_date"], "2026-02-28");
    let context = &bundle["context"];
    assert_eq!(context["purposes"][0]["article"], "Art. 6(1)(a)");
    assert_eq!(
        context["recipients"],
        serde_json::json!([]),
        "none configured"
    );
    assert_eq!(context["retention"]["backups_days"], 30);
    assert!(
        context["categories"]
            .to_string()
            .contains("telephone numbers")
    );
    assert_eq!(context["rights"].as_array().unwrap().len(), 7);
    assert!(
        !bundle
            .to_string()
            .contains(other.email.as_ref().unwrap().expose_pii())
    );
}

#[tokio::test]
async fn the_bundle_leaves_only_encrypted_and_never_without_a_recipient() {
    let w = world().await;
    let s = w.subject(1).await;
    let sealed = w
        .app
        .export_subject_encrypted(w.ctx, s.id, Recipients::Configured)
        .await
        .unwrap();
    let email = s.email.as_ref().unwrap().expose_pii();
    assert!(!String::from_utf8_lossy(&sealed).starts_with('{'));
    let opened: serde_json::Value =
        serde_json::from_slice(&RecordingEncryptor::open(&sealed).unwrap()).unwrap();
    assert_eq!(opened["subject"]["email"], email);
    assert_eq!(
        w.encryptor.recipients_used(),
        vec![vec![PGP_KEY.to_owned()]]
    );

    let requester = format!("{PGP_KEY}\n");
    w.app
        .export_subject_encrypted(w.ctx, s.id, Recipients::Armored(vec![requester.clone()]))
        .await
        .unwrap();
    assert_eq!(w.encryptor.recipients_used()[1], vec![requester]);

    let audit_before = w.app.audit_log(w.ctx, 0, 1000).await.unwrap().len();
    let err = w
        .app
        .export_subject_encrypted(w.ctx, s.id, Recipients::Armored(vec![]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Encryption(EncryptError::NoRecipient)
    ));
    let err = w
        .app
        .export_subject_encrypted(w.ctx, s.id, Recipients::Armored(vec!["not a key".into()]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Encryption(EncryptError::BadRecipient { index: 0, .. })
    ));
    assert_eq!(
        w.app.audit_log(w.ctx, 0, 1000).await.unwrap().len(),
        audit_before,
        "nothing left"
    );
}

#[tokio::test]
async fn a_deployment_without_recipients_refuses_every_export() {
    let w = world().await;
    let w = crate::helpers::World {
        encryptor: RecordingEncryptor::default(),
        ..w
    };
    let w = {
        let config = w.app.config().clone();
        w.reconfigured(config)
    };
    let s = w.subject(1).await;
    assert!(matches!(
        w.app
            .export_subject_encrypted(w.ctx, s.id, Recipients::Configured)
            .await,
        Err(AppError::Encryption(EncryptError::NoRecipient))
    ));
}
