//! Export delivery over the fakes: encrypted, stored, downloadable once, expiring.

use gdpr_app::{AppConfig, AppError, ExportFormat};
use gdpr_audit::AuditAction;
use gdpr_ports::EncryptError;
use gdpr_testkit::RecordingEncryptor;
use time::Duration;

use crate::erasure::subject_with_data;
use crate::helpers::{PGP_KEY, world, world_with};

#[tokio::test]
async fn an_export_is_encrypted_stored_and_handed_over_once() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let ticket = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    assert_eq!(ticket.expires_at - ticket.created_at, Duration::hours(72));
    let stored: Vec<String> = w.backups.keys();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|k| k.starts_with(&format!("exports/{}/{}/", w.ctx.tenant, ticket.id)))
    );
    let ticket_json = String::from_utf8(
        w.backups
            .bytes(&format!(
                "exports/{}/{}/ticket.json",
                w.ctx.tenant, ticket.id
            ))
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        !ticket_json.contains('@'),
        "the ticket holds ids, not personal data"
    );

    let (got, sealed) = w.app.download_export(w.ctx, ticket.id).await.unwrap();
    assert_eq!(got, ticket);
    let bundle: serde_json::Value =
        serde_json::from_slice(&RecordingEncryptor::open(&sealed).expect("an envelope")).unwrap();
    assert_eq!(bundle["subject"]["id"], s.id.to_string());
    assert_eq!(bundle["records"].as_array().unwrap().len(), 2);
    assert!(w.backups.keys().is_empty(), "deleted as it was handed over");
    assert!(matches!(
        w.app.download_export(w.ctx, ticket.id).await,
        Err(AppError::NotFound("export"))
    ));
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::ExportDownloaded)
    );

    // Another tenant cannot see it.
    let other = w.other_tenant().await;
    let again = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    assert!(matches!(
        w.app.download_export(other, again.id).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_export_nobody_fetched_expires_and_is_deleted() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let kept = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    w.clock.advance(Duration::hours(71));
    let late = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    assert_eq!(w.app.prune_exports().await.unwrap(), 0);
    w.clock.advance(Duration::hours(2));
    // Past its expiry: refused and deleted, even before the job runs.
    assert!(matches!(
        w.app.download_export(w.ctx, kept.id).await,
        Err(AppError::Gone("export"))
    ));
    assert!(
        w.backups
            .keys()
            .iter()
            .all(|k| !k.contains(&kept.id.to_string()))
    );
    w.clock.advance(Duration::hours(72));
    assert_eq!(w.app.prune_exports().await.unwrap(), 1);
    assert!(w.backups.keys().is_empty(), "{:?}", late.id);
    let audit = w.app.audit_log(w.ctx, 0, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event.action == AuditAction::ExportExpired)
    );
}

#[tokio::test]
async fn a_csv_export_holds_one_forms_records_quoted() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let form = w.app.forms(w.ctx).await.unwrap()[0].clone();
    let ticket = w
        .app
        .create_export(
            w.ctx,
            s.id,
            ExportFormat::Csv { form: form.id },
            Some(PGP_KEY.into()),
        )
        .await
        .unwrap();
    let (_, sealed) = w.app.download_export(w.ctx, ticket.id).await.unwrap();
    let csv = String::from_utf8(RecordingEncryptor::open(&sealed).unwrap()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("\"id\",\"created_at\",\"email\""),
        "{csv}"
    );
    assert!(lines[1].contains(&format!(
        "\"{}\"",
        gdpr_testkit::fake::email(1).expose_pii()
    )));
    assert_eq!(
        w.encryptor.recipients_used().last().unwrap(),
        &vec![PGP_KEY.to_owned()]
    );
}

#[tokio::test]
async fn without_a_recipient_no_export_is_made() {
    let w = world_with(AppConfig::default()).await;
    let s = subject_with_data(&w, 1).await;
    let none = gdpr_testkit::RecordingEncryptor::with_recipients(&[]);
    let app = crate::helpers::app::<gdpr_testkit::InMemory>(
        w.store.clone(),
        w.backups.clone(),
        none,
        w.reporter.clone(),
        w.clock.clone(),
        AppConfig::default(),
    );
    let err = app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Encryption(EncryptError::NoRecipient)),
        "{err:?}"
    );
    assert!(w.backups.keys().is_empty());
}

#[tokio::test]
async fn erasure_deletes_the_subjects_exports_still_waiting() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let other = subject_with_data(&w, 2).await;
    w.app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    let kept = w
        .app
        .create_export(w.ctx, other.id, ExportFormat::Json, None)
        .await
        .unwrap();
    w.app.erase_subject(w.ctx, s.id, None).await.unwrap();
    let left = w.backups.keys();
    assert!(
        left.iter()
            .filter(|k| k.starts_with("exports/"))
            .all(|k| k.contains(&kept.id.to_string())),
        "{left:?}"
    );
    assert!(w.app.download_export(w.ctx, kept.id).await.is_ok());
}

#[tokio::test]
async fn a_csv_export_neutralises_cells_a_spreadsheet_would_run() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let form = w.app.forms(w.ctx).await.unwrap()[0].clone();
    let record = serde_json::json!({
        "email": gdpr_testkit::fake::email(1).expose_pii(),
        "full_name": "=cmd|' /C calc'!A0",
        "phone": "+33 1 23 45 67 89",
    });
    w.app
        .submit_record(w.ctx, form.id, s.id, &record)
        .await
        .unwrap();
    let ticket = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Csv { form: form.id }, None)
        .await
        .unwrap();
    let (_, sealed) = w.app.download_export(w.ctx, ticket.id).await.unwrap();
    let csv = String::from_utf8(RecordingEncryptor::open(&sealed).unwrap()).unwrap();
    assert!(csv.contains("\"'=cmd|' /C calc'!A0\""), "{csv}");
    assert!(csv.contains("\"'+33 1 23 45 67 89\""), "{csv}");
    assert!(!csv.contains(",\"=") && !csv.contains(",\"+"), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_downloads_hand_an_export_over_once() {
    let w = world().await;
    let s = subject_with_data(&w, 1).await;
    let ticket = w
        .app
        .create_export(w.ctx, s.id, ExportFormat::Json, None)
        .await
        .unwrap();
    let app = std::sync::Arc::new(w.app);
    let racers = (0..6).map(|_| {
        let app = std::sync::Arc::clone(&app);
        let (ctx, id) = (w.ctx, ticket.id);
        tokio::spawn(async move { app.download_export(ctx, id).await })
    });
    let mut handed = 0;
    for outcome in futures_util::future::join_all(racers).await {
        match outcome.unwrap() {
            Ok(_) => handed += 1,
            Err(AppError::NotFound("export")) => {}
            Err(other) => panic!("a download failed otherwise: {other:?}"),
        }
    }
    assert_eq!(handed, 1);
    assert!(
        w.backups.keys().is_empty(),
        "ticket, ciphertext and claim gone"
    );
}
