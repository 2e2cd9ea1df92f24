//! The record of processing activities (Art. 30), generated per tenant from the inventory:
//! never hand-written, so it cannot drift from what the software actually stores.

use std::fmt::Write as _;

use gdpr_audit::AuditAction;
use gdpr_consent::LawfulBasis;
use gdpr_pii::{ConsentFormId, Inventory, PROFILE_FIELDS, PiiCategory};
use gdpr_ports::{Clock, Ports};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{App, AppError, Ctx, RecipientInfo};

/// One processing activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessingActivity {
    /// Its name (a form's name, or a built-in activity).
    pub name: String,
    /// Its purpose, in words.
    pub purpose: String,
    /// The lawful basis; `None` where each activity's own basis applies.
    pub lawful_basis: Option<LawfulBasis>,
    /// Categories of personal data.
    pub data_categories: Vec<PiiCategory>,
    /// Categories of data subjects.
    pub data_subjects: String,
    /// Names of the recipients.
    pub recipients: Vec<String>,
    /// How long the data is kept.
    pub retention: String,
    /// The consent form records require, for consent-based activities.
    pub consent_form: Option<ConsentFormId>,
}

/// A tenant's register of processing activities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Register {
    /// The controller's name.
    pub controller: String,
    /// The controller's privacy contact.
    pub privacy_contact: String,
    /// When it was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The activities.
    pub activities: Vec<ProcessingActivity>,
    /// Every recipient, with role and location.
    pub recipients: Vec<RecipientInfo>,
    /// Technical and organisational measures.
    pub security_measures: Vec<String>,
    /// Every classified field (the inventory the register was generated from).
    pub inventory: Inventory,
}

impl Register {
    /// The register as Markdown, for humans.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Record of processing activities (GDPR Art. 30)\n");
        let _ = writeln!(md, "- Controller: {}", self.controller);
        let _ = writeln!(md, "- Privacy contact: {}", self.privacy_contact);
        let _ = writeln!(md, "- Generated: {}\n", self.generated_at);
        for a in &self.activities {
            let _ = writeln!(md, "## {}\n", a.name);
            let _ = writeln!(md, "- Purpose: {}", a.purpose);
            let basis = a.lawful_basis.map_or_else(
                || "that of each activity the data serves".to_owned(),
                |b| format!("{} ({})", b.as_str().replace('_', " "), b.article()),
            );
            let _ = writeln!(md, "- Lawful basis: {basis}");
            let cats: Vec<&str> = a.data_categories.iter().map(|c| c.description()).collect();
            let _ = writeln!(md, "- Personal data: {}", cats.join(", "));
            let _ = writeln!(md, "- Data subjects: {}", a.data_subjects);
            let _ = writeln!(md, "- Recipients: {}", a.recipients.join(", "));
            let _ = writeln!(md, "- Retention: {}\n", a.retention);
        }
        let _ = writeln!(md, "## Recipients\n");
        for r in &self.recipients {
            let _ = writeln!(md, "- {}: {} ({})", r.name, r.role, r.location);
        }
        let _ = writeln!(md, "\n## Security measures\n");
        for m in &self.security_measures {
            let _ = writeln!(md, "- {m}");
        }
        let _ = writeln!(md, "\n## Inventory of classified fields\n");
        let _ = writeln!(md, "| where | field | category |\n|---|---|---|");
        for e in self.inventory.entries() {
            let _ = writeln!(md, "| {} | {} | {} |", e.location, e.field, e.category);
        }
        md
    }
}

impl<P: Ports> App<P> {
    /// Generates the tenant's register from its forms, purposes and the configuration.
    ///
    /// # Errors
    /// [`AppError::NotFound`] for the tenant; storage errors.
    pub async fn processing_register(&self, ctx: Ctx) -> Result<Register, AppError> {
        let tenant = self.tenant(ctx.tenant).await?;
        let forms = self.forms(ctx).await?;
        let purposes = self.purposes(ctx).await?;
        let policy = self.config.retention.for_tenant(ctx.tenant);
        let recipient_names: Vec<String> = self
            .config
            .recipients
            .iter()
            .map(|r| r.name.clone())
            .collect();
        let backups = format!("; copies in backups for {} days", policy.backups.as_days());
        let mut inventory = Inventory::profile();
        let mut activities = vec![ProcessingActivity {
            name: "Subject profiles".into(),
            purpose: "identifying the people the tenant keeps data about, proving their consent \
                      and answering their requests"
                .into(),
            lawful_basis: None,
            data_categories: PROFILE_FIELDS.iter().map(|(_, c)| *c).collect(),
            data_subjects: "every person the tenant keeps data about".into(),
            recipients: recipient_names.clone(),
            retention: format!("until erased{backups}"),
            consent_form: None,
        }];
        for form in &forms {
            inventory.add_form(&form.name, &form.schema);
            let purpose = purposes.iter().find(|p| p.id == form.purpose);
            let mut categories: Vec<PiiCategory> = form
                .schema
                .classification()
                .map(|(_, c)| c)
                .filter(|c| c.is_personal())
                .collect();
            categories.sort();
            categories.dedup();
            let records = self.config.retention.for_records(ctx.tenant, form.id);
            activities.push(ProcessingActivity {
                name: form.name.clone(),
                purpose: purpose
                    .map_or_else(|| form.purpose.to_string(), |p| p.description.clone()),
                lawful_basis: purpose.map(|p| p.basis),
                data_categories: categories,
                data_subjects: format!("people the tenant keeps \"{}\" records about", form.name),
                recipients: recipient_names.clone(),
                retention: match records {
                    Some(days) => format!("{} days after submission{backups}", days.as_days()),
                    None => format!("until erased{backups}"),
                },
                consent_form: form.consent_form,
            });
        }
        activities.push(ProcessingActivity {
            name: "Security logging".into(),
            purpose: "detecting intrusions and abuse in server logs".into(),
            lawful_basis: Some(LawfulBasis::LegitimateInterests),
            data_categories: vec![PiiCategory::IpAddress],
            data_subjects: "every person whose requests reach the service (IP addresses are \
                            pseudonymised before they are written)"
                .into(),
            recipients: vec![],
            retention: format!("{} days", policy.logs.as_days()),
            consent_form: None,
        });
        let register = Register {
            controller: tenant.name,
            privacy_contact: tenant.privacy_contact,
            generated_at: self.clock.now(),
            activities,
            recipients: self.config.recipients.clone(),
            security_measures: self.config.security_measures.clone(),
            inventory,
        };
        self.audit(self.event(ctx, AuditAction::RegisterGenerated))
            .await?;
        Ok(register)
    }
}
