//! The record of processing activities (Art. 30), generated per tenant from the inventory:
//! never hand-written, so it cannot drift from what the software actually stores.

use std::fmt::Write as _;

use gdpr_audit::AuditAction;
use gdpr_consent::{LawfulBasis, PurposeId};
use gdpr_pii::{ConsentFormId, Inventory, PROFILE_FIELDS, PiiCategory};
use gdpr_ports::{Clock, Ports};
use gdpr_rights::{Safeguard, Transfer};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{App, AppError, Ctx, RecipientEntry};

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
    /// Every recipient (the deployment's, then the tenant's), with role, country and the
    /// transfer its data makes (Art. 30(1)(d)-(e)).
    pub recipients: Vec<RecipientEntry>,
    /// Technical and organisational measures.
    pub security_measures: Vec<String>,
    /// Every classified field (the inventory the register was generated from).
    pub inventory: Inventory,
}

/// Text a tenant or operator chose (a form's name, a purpose, a contact), made inert in
/// Markdown: one line (line breaks and other control characters become spaces, so it cannot
/// start a heading, a list or a table row), HTML's `<`, `>` and `&` as entities, and the
/// characters of Markdown's inline syntax escaped.
/// How long a subject's profile (and consent history) is kept, in words, from the same
/// policy the expiry job applies.
fn profile_retention(policy: &gdpr_retention::RetentionPolicy) -> String {
    match policy.inactive_subjects {
        Some(idle) => format!(
            "until erased, or {} days after anything was last written about the subject once              no record, consent in force, open request or legal hold keeps them (their consent              history, if any, {} days after its last event)",
            idle.as_days(),
            policy.consent_proofs.as_days()
        ),
        None => "until erased".to_owned(),
    }
}

/// A safeguard in words.
const fn safeguard(s: Safeguard) -> &'static str {
    match s {
        Safeguard::Adequacy => "an adequacy decision (Art. 45)",
        Safeguard::StandardContractualClauses => "standard contractual clauses (Art. 46(2)(c))",
        Safeguard::BindingCorporateRules => "binding corporate rules (Art. 47)",
        Safeguard::None => "no safeguard",
    }
}

/// [`md`], for the other Markdown documents of the crate (the breach notification draft).
pub(crate) fn inert(text: &str) -> String {
    md(text)
}

fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

impl Register {
    /// The register as Markdown, for humans. Every text that comes from a tenant or the
    /// configuration is made inert (one line, HTML and Markdown syntax escaped): a form's name
    /// cannot add headings, list items or HTML.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut md_out = String::new();
        let out = &mut md_out;
        let _ = writeln!(out, "# Record of processing activities (GDPR Art. 30)\n");
        let _ = writeln!(out, "- Controller: {}", md(&self.controller));
        let _ = writeln!(out, "- Privacy contact: {}", md(&self.privacy_contact));
        let _ = writeln!(out, "- Generated: {}\n", self.generated_at);
        for a in &self.activities {
            let _ = writeln!(out, "## {}\n", md(&a.name));
            let _ = writeln!(out, "- Purpose: {}", md(&a.purpose));
            let basis = a.lawful_basis.map_or_else(
                || "that of each activity the data serves".to_owned(),
                |b| format!("{} ({})", b.as_str().replace('_', " "), b.article()),
            );
            let _ = writeln!(out, "- Lawful basis: {basis}");
            let cats: Vec<&str> = a.data_categories.iter().map(|c| c.description()).collect();
            let _ = writeln!(out, "- Personal data: {}", cats.join(", "));
            let _ = writeln!(out, "- Data subjects: {}", md(&a.data_subjects));
            let recipients: Vec<String> = a.recipients.iter().map(|r| md(r)).collect();
            let _ = writeln!(out, "- Recipients: {}", recipients.join(", "));
            let _ = writeln!(out, "- Retention: {}\n", md(&a.retention));
        }
        let _ = writeln!(out, "## Recipients\n");
        for r in &self.recipients {
            let x = &r.recipient;
            let role = match x.role {
                gdpr_rights::RecipientRole::Processor => "processor",
                gdpr_rights::RecipientRole::SubProcessor => "sub-processor",
                gdpr_rights::RecipientRole::Recipient => "recipient",
            };
            let place = match (&x.country, &x.location) {
                (Some(c), Some(l)) => format!("{c}, {}", md(l)),
                (Some(c), None) => c.to_string(),
                (None, Some(l)) => format!("{} (country not stated)", md(l)),
                (None, None) => "country not stated".to_owned(),
            };
            let transfer = match r.transfer {
                Transfer::WithinEea => "within the EEA".to_owned(),
                Transfer::Safeguarded(s) => format!("outside the EEA, under {}", safeguard(s)),
                Transfer::Unsafeguarded => {
                    "**FLAGGED: outside the EEA with no safeguard (Art. 44)**".to_owned()
                }
                Transfer::NotStated => {
                    "**FLAGGED: where it processes is not stated (Art. 30(1)(e))**".to_owned()
                }
            };
            let _ = write!(out, "- {} ({role}; {place}; {transfer})", md(&x.name));
            if !x.description.is_empty() {
                let _ = write!(out, ": {}", md(&x.description));
            }
            if let Some(contract) = &x.contract {
                let _ = write!(out, " [contract: {}]", md(contract));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\n## Security measures\n");
        for m in &self.security_measures {
            let _ = writeln!(out, "- {}", md(m));
        }
        let _ = writeln!(out, "\n## Inventory of classified fields\n");
        let _ = writeln!(out, "| where | field | category |\n|---|---|---|");
        for e in self.inventory.entries() {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md(&e.location),
                md(&e.field),
                e.category
            );
        }
        md_out
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
        let policy = self.retention_policy(ctx.tenant).await?;
        let recipients = self.recipients(ctx).await?;
        let serving = |purpose: Option<&PurposeId>| -> Vec<String> {
            recipients
                .iter()
                .filter(|r| purpose.is_none_or(|p| r.recipient.serves(p)))
                .map(|r| r.recipient.name.clone())
                .collect()
        };
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
            recipients: serving(None),
            retention: format!("{}{backups}", profile_retention(&policy)),
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
            let records = policy.for_form(form.retention);
            activities.push(ProcessingActivity {
                name: form.name.clone(),
                purpose: purpose
                    .map_or_else(|| form.purpose.to_string(), |p| p.description.clone()),
                lawful_basis: purpose.map(|p| p.basis),
                data_categories: categories,
                data_subjects: format!("people the tenant keeps \"{}\" records about", form.name),
                recipients: serving(Some(&form.purpose)),
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
            recipients,
            security_measures: self.config.security_measures.clone(),
            inventory,
        };
        self.audit(self.event(ctx, AuditAction::RegisterGenerated))
            .await?;
        Ok(register)
    }
}
