//! The Art. 30 register is generated from the inventory, per tenant.

use gdpr_consent::LawfulBasis;
use gdpr_pii::PiiCategory;
use gdpr_testkit::fake;

use crate::helpers::world;

#[tokio::test]
async fn the_register_follows_the_forms_purposes_recipients_and_retention() {
    let w = world().await;
    let (form, consent) = w.contractors().await;
    let register = w.app.processing_register(w.ctx).await.unwrap();
    let names: Vec<&str> = register
        .activities
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["Subject profiles", "Contractors", "Security logging"]
    );
    let contractors = &register.activities[1];
    assert_eq!(contractors.lawful_basis, Some(LawfulBasis::Consent));
    assert_eq!(contractors.purpose, "Managing contractors' assignments");
    assert_eq!(
        contractors.data_categories,
        [
            PiiCategory::Email,
            PiiCategory::FullName,
            PiiCategory::Phone
        ]
    );
    assert_eq!(contractors.consent_form, Some(consent.id));
    assert_eq!(
        contractors.retention,
        "until erased; copies in backups for 30 days"
    );
    assert_eq!(register.activities[2].retention, "180 days");
    assert!(
        register
            .security_measures
            .iter()
            .any(|m| m.contains("encrypted at rest"))
    );
    assert_eq!(register.inventory.entries().len(), 3 + 4);
    assert_eq!(register.controller, "LogAlto SAS");

    // A new form shows up without anyone editing the register.
    w.app
        .define_purpose(
            w.ctx,
            "payroll",
            "Paying staff",
            LawfulBasis::LegalObligation,
        )
        .await
        .unwrap();
    w.app
        .define_form(
            w.ctx,
            "Payroll",
            fake::contractors_schema().specs(),
            "payroll",
        )
        .await
        .unwrap();
    let register = w.app.processing_register(w.ctx).await.unwrap();
    assert_eq!(register.activities.len(), 4);
    assert_eq!(
        register.activities[2].lawful_basis,
        Some(LawfulBasis::LegalObligation)
    );
    let md = register.to_markdown();
    assert!(md.contains("## Payroll"), "{md}");
    assert!(
        md.contains("- Lawful basis: legal obligation (Art. 6(1)(c))"),
        "{md}"
    );
    assert!(md.contains("| form Contractors | phone | phone |"), "{md}");
    let _ = form;
}

#[tokio::test]
async fn each_tenant_gets_its_own_register() {
    let w = world().await;
    w.contractors().await;
    let other = w.other_tenant().await;
    let theirs = w.app.processing_register(other).await.unwrap();
    assert_eq!(theirs.controller, "Other Corp");
    assert_eq!(
        theirs.activities.len(),
        2,
        "no Contractors activity in another tenant's register"
    );
}

#[tokio::test]
async fn names_in_the_markdown_register_stay_inert_text() {
    let w = world().await;
    w.app
        .define_purpose(
            w.ctx,
            "staff",
            "Staff\n## Fake section",
            LawfulBasis::Contract,
        )
        .await
        .unwrap();
    let evil = "Evil\n# Heading\r\n- bullet <script>alert(1)</script> [link](http://e.example) | x";
    w.app
        .define_form(w.ctx, evil, fake::contractors_schema().specs(), "staff")
        .await
        .unwrap();
    let md = w
        .app
        .processing_register(w.ctx)
        .await
        .unwrap()
        .to_markdown();
    let lines: Vec<&str> = md.lines().collect();
    assert!(!lines.iter().any(|l| l.starts_with("# Heading")), "{md}");
    assert!(
        !lines.iter().any(|l| l.starts_with("## Fake section")),
        "{md}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("- bullet")), "{md}");
    assert!(
        !md.contains("<script>") && md.contains("&lt;script&gt;"),
        "{md}"
    );
    assert!(md.contains("\\[link\\]"), "{md}");
    assert!(
        md.contains("## Evil \\# Heading  - bullet &lt;script&gt;"),
        "one heading line for the name: {md}"
    );
}
