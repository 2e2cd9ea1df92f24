//! The register of processors and recipients: the deployment's and the tenant's feed the
//! Art. 30 register, access exports (Art. 15(1)(c), 15(2)) and the daily attestation, which
//! flags a transfer outside the EEA without a safeguard (Art. 44–46).

use gdpr_app::{AppConfig, AppError, KeptBy};
use gdpr_audit::{AuditAction, CheckKind, Verdict};
use gdpr_consent::{LawfulBasis, PurposeId};
use gdpr_pii::PiiCategory;
use gdpr_rights::{Country, Recipient, RecipientRole, Safeguard, Transfer};

use crate::helpers::world_with;

fn recipient(name: &str, country: &str, safeguard: Safeguard, purposes: &[&str]) -> Recipient {
    Recipient {
        name: name.into(),
        role: RecipientRole::Processor,
        description: "sends e-mail".into(),
        purposes: purposes
            .iter()
            .map(|p| PurposeId::parse(p).unwrap())
            .collect(),
        categories: vec![PiiCategory::Email],
        country: Some(Country::parse(country).unwrap()),
        location: None,
        safeguard,
        contract: Some("DPA 2026-04".into()),
    }
}

fn config() -> AppConfig {
    AppConfig {
        recipients: vec![recipient(
            "Error tracker (Rollbar)",
            "US",
            Safeguard::StandardContractualClauses,
            &[],
        )],
        ..AppConfig::default()
    }
}

#[tokio::test]
async fn a_tenants_recipients_feed_its_register_its_exports_and_its_attestation() {
    let w = world_with(config()).await;
    w.contractors().await;
    w.app
        .define_purpose(
            w.ctx,
            "payroll",
            "Paying staff",
            LawfulBasis::LegalObligation,
        )
        .await
        .unwrap();
    let mail = w
        .app
        .put_recipient(
            w.ctx,
            None,
            recipient("Mail SAS", "fr", Safeguard::None, &["contractors"]),
        )
        .await
        .unwrap();
    let analytics = w
        .app
        .put_recipient(
            w.ctx,
            None,
            recipient("Analytics Inc.", "US", Safeguard::None, &["payroll"]),
        )
        .await
        .unwrap();
    assert_eq!(mail.transfer, Transfer::WithinEea);
    assert_eq!(analytics.transfer, Transfer::Unsafeguarded);

    // The register: every recipient, the flagged one said so; each activity names those
    // that receive its purpose's data.
    let register = w.app.processing_register(w.ctx).await.unwrap();
    let names: Vec<&str> = register
        .recipients
        .iter()
        .map(|r| r.recipient.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Error tracker (Rollbar)", "Mail SAS", "Analytics Inc."]
    );
    assert_eq!(register.recipients[0].kept_by, KeptBy::Deployment);
    assert_eq!(register.recipients[2].kept_by, KeptBy::Tenant);
    // The deployment's processors: an id every listing gives alike, read by it, never
    // changed or removed by a tenant.
    let rollbar = register.recipients[0].id;
    let again = w.app.recipients(w.ctx).await.unwrap();
    assert_eq!(again[0].id, rollbar);
    assert_eq!(
        w.app
            .recipient(w.ctx, rollbar)
            .await
            .unwrap()
            .recipient
            .name,
        "Error tracker (Rollbar)"
    );
    let mine = recipient("Mine now", "FR", Safeguard::None, &[]);
    assert!(matches!(
        w.app.put_recipient(w.ctx, Some(rollbar), mine).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        w.app.remove_recipient(w.ctx, rollbar).await,
        Err(AppError::Forbidden(_))
    ));
    let contractors = register
        .activities
        .iter()
        .find(|a| a.name == "Contractors")
        .unwrap();
    assert_eq!(
        contractors.recipients,
        ["Error tracker (Rollbar)", "Mail SAS"]
    );
    assert_eq!(
        register.activities[0].recipients.len(),
        3,
        "profiles reach every recipient"
    );
    let md = register.to_markdown();
    assert!(
        md.contains("Analytics Inc. (processor; US; **FLAGGED: outside the EEA with no safeguard"),
        "{md}"
    );
    assert!(md.contains("under standard contractual clauses"), "{md}");

    // The attestation fails on it, by name, and passes once a safeguard is named.
    let attestation = w.app.attest_tenant(w.ctx.tenant).await.unwrap();
    let check = attestation.check(CheckKind::TransfersSafeguarded).unwrap();
    assert_eq!(check.verdict, Verdict::Fail);
    assert!(
        check.detail.contains("Analytics Inc. (unsafeguarded)"),
        "{}",
        check.detail
    );
    let id = analytics.id;
    let fixed = w
        .app
        .put_recipient(
            w.ctx,
            Some(id),
            recipient(
                "Analytics Inc.",
                "US",
                Safeguard::StandardContractualClauses,
                &["payroll"],
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        fixed.transfer,
        Transfer::Safeguarded(Safeguard::StandardContractualClauses)
    );
    let attestation = w.app.attest_tenant(w.ctx.tenant).await.unwrap();
    let check = attestation.check(CheckKind::TransfersSafeguarded).unwrap();
    assert_eq!(check.verdict, Verdict::Pass, "{}", check.detail);

    // An access export names every recipient and the ground of each transfer (Art. 15(2)).
    let s = w.subject(1).await;
    let bundle = serde_json::to_value(w.app.export_subject(w.ctx, s.id).await.unwrap()).unwrap();
    let listed = bundle["context"]["recipients"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2]["name"], "Analytics Inc.");
    assert_eq!(listed[2]["transfer"], "safeguarded");
    assert_eq!(listed[2]["safeguard"], "standard_contractual_clauses");
    assert_eq!(listed[2]["flagged"], false);
    assert_eq!(listed[1]["transfer"], "within_eea");

    // Removed; each step is in the audit chain.
    w.app.remove_recipient(w.ctx, id).await.unwrap();
    assert!(matches!(
        w.app.remove_recipient(w.ctx, id).await,
        Err(AppError::NotFound("recipient"))
    ));
    let actions = crate::helpers::audited(
        &w,
        &[
            AuditAction::RecipientRegistered,
            AuditAction::RecipientChanged,
            AuditAction::RecipientRemoved,
        ],
    )
    .await;
    assert_eq!(
        actions,
        [
            AuditAction::RecipientRegistered,
            AuditAction::RecipientRegistered,
            AuditAction::RecipientChanged,
            AuditAction::RecipientRemoved
        ]
    );
}

#[tokio::test]
async fn a_recipient_against_the_rules_is_refused_and_changes_nothing() {
    let w = world_with(AppConfig::default()).await;
    let unknown = w
        .app
        .put_recipient(
            w.ctx,
            None,
            recipient("Mail SAS", "FR", Safeguard::None, &["nowhere"]),
        )
        .await;
    assert!(
        matches!(unknown, Err(AppError::NotFound("purpose"))),
        "{unknown:?}"
    );
    let adequacy = w
        .app
        .put_recipient(
            w.ctx,
            None,
            recipient("Outsourcer", "IN", Safeguard::Adequacy, &[]),
        )
        .await;
    assert!(
        matches!(
            &adequacy,
            Err(AppError::Conflict(m)) if m.contains("adequacy")
        ),
        "{adequacy:?}"
    );
    let ghost = uuid::Uuid::now_v7();
    assert!(matches!(
        w.app
            .put_recipient(
                w.ctx,
                Some(ghost),
                recipient("X", "FR", Safeguard::None, &[])
            )
            .await,
        Err(AppError::NotFound("recipient"))
    ));
    assert!(w.app.recipients(w.ctx).await.unwrap().is_empty());

    // Another tenant's recipient is not found, for reading, changing or removing.
    let other = w.other_tenant().await;
    let theirs = w
        .app
        .put_recipient(
            other,
            None,
            recipient("Their host", "DE", Safeguard::None, &[]),
        )
        .await
        .unwrap()
        .id;
    assert!(matches!(
        w.app.recipient(w.ctx, theirs).await,
        Err(AppError::NotFound("recipient"))
    ));
    assert!(matches!(
        w.app.remove_recipient(w.ctx, theirs).await,
        Err(AppError::NotFound("recipient"))
    ));
    assert_eq!(w.app.recipients(other).await.unwrap().len(), 1);
}
