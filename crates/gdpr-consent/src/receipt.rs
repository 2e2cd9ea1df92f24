//! Consent receipts in the shape of the Kantara Initiative Consent Receipt Specification v1.1.
//!
//! A receipt is what the subject (and an auditor) can keep: who the controller is, what was
//! consented to, which exact text (by hash), when and how. The principal is named by the
//! subject's pseudonymous id, never by e-mail or name.

use gdpr_pii::PiiCategory;
use serde::{Deserialize, Serialize};

use crate::{ConsentAction, ConsentEvent, ConsentForm, Purpose};

/// The controller: the tenant that collects consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Controller {
    /// Legal name.
    #[serde(rename = "piiController")]
    pub name: String,
    /// A contact point (a role, a DPO) — not a data subject.
    pub contact: String,
    /// The contact e-mail of the controller.
    pub email: String,
    /// The privacy policy's address.
    #[serde(skip)]
    pub policy_url: String,
}

/// One purpose as a receipt lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPurpose {
    /// The purpose in words.
    pub purpose: String,
    /// The purpose's id.
    pub purpose_category: Vec<String>,
    /// `EXPLICIT`: consent is given by an affirmative act.
    pub consent_type: String,
    /// The categories of data processed for it.
    pub pii_category: Vec<String>,
    /// Always `true`: one purpose per consent form.
    pub primary_purpose: bool,
    /// How the consent ends.
    pub termination: String,
    /// Whether data is disclosed to third parties for this purpose.
    pub third_party_disclosure: bool,
}

/// One service (a consent form) as a receipt lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptService {
    /// The consent form's title.
    pub service: String,
    /// Its purposes.
    pub purposes: Vec<ReceiptPurpose>,
}

/// A Kantara-style consent receipt, plus the action and the exact version hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentReceipt {
    /// `KI-CR-v1.1.0`.
    pub version: String,
    /// `EU`.
    pub jurisdiction: String,
    /// Seconds since the Unix epoch.
    pub consent_timestamp: i64,
    /// How consent was collected.
    pub collection_method: String,
    /// The consent event's id.
    #[serde(rename = "consentReceiptID")]
    pub consent_receipt_id: String,
    /// `en`.
    pub language: String,
    /// The subject's pseudonymous id.
    pub pii_principal_id: String,
    /// The controller.
    pub pii_controllers: Vec<Controller>,
    /// The controller's privacy policy.
    pub policy_url: String,
    /// The consent form and purpose.
    pub services: Vec<ReceiptService>,
    /// Whether special categories of data are involved.
    pub sensitive: bool,
    /// The special categories involved.
    pub spi_cat: Vec<String>,
    /// `given` or `withdrawn` (an extension of the specification).
    pub action: ConsentAction,
    /// The SHA-256 of the exact consent text (an extension of the specification).
    pub consent_form_version: String,
    /// The pseudonymised network the consent came from (an extension of the specification).
    pub source: Option<String>,
}

impl ConsentReceipt {
    /// The receipt for one event.
    #[must_use]
    pub fn for_event(
        event: &ConsentEvent,
        form: &ConsentForm,
        purpose: &Purpose,
        controller: &Controller,
        categories: &[PiiCategory],
        third_party_disclosure: bool,
    ) -> Self {
        Self {
            version: "KI-CR-v1.1.0".into(),
            jurisdiction: "EU".into(),
            consent_timestamp: event.at.unix_timestamp(),
            collection_method: event.method.describe().into(),
            consent_receipt_id: event.id.0.to_string(),
            language: "en".into(),
            pii_principal_id: event.subject.to_string(),
            pii_controllers: vec![controller.clone()],
            policy_url: controller.policy_url.clone(),
            services: vec![ReceiptService {
                service: form.title.clone(),
                purposes: vec![ReceiptPurpose {
                    purpose: purpose.description.clone(),
                    purpose_category: vec![purpose.id.to_string()],
                    consent_type: "EXPLICIT".into(),
                    pii_category: categories
                        .iter()
                        .filter(|c| c.is_personal())
                        .map(|c| c.as_str().to_owned())
                        .collect(),
                    primary_purpose: true,
                    termination: "until withdrawn; withdrawal takes effect at once".into(),
                    third_party_disclosure,
                }],
            }],
            sensitive: false,
            spi_cat: vec![],
            action: event.action,
            consent_form_version: event.form_version.to_string(),
            source: event.source.map(|s| s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use gdpr_pii::{IpAddress, PseudonymisationPolicy, SubjectId, TenantId};
    use time::macros::datetime;

    use super::*;
    use crate::{ConsentMethod, LawfulBasis, PurposeId};

    #[test]
    fn a_receipt_carries_the_kantara_fields_and_no_personal_data() {
        let purpose = Purpose::new(
            PurposeId::parse("contractors").unwrap(),
            "Managing contractors",
            LawfulBasis::Consent,
        )
        .unwrap();
        let form = ConsentForm::publish(
            TenantId::at(time::OffsetDateTime::UNIX_EPOCH),
            &purpose,
            "Contractor data",
            "I agree",
            datetime!(2026-01-01 0:00 UTC),
        )
        .unwrap();
        let source = IpAddress::parse("203.0.113.9")
            .unwrap()
            .pseudonymise(PseudonymisationPolicy::default());
        let subject = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let event = ConsentEvent::new(
            &form,
            subject,
            ConsentAction::Given,
            None,
            datetime!(2026-01-02 10:00 UTC),
            ConsentMethod::WebForm,
            Some(source),
        )
        .unwrap();
        let controller = Controller {
            name: "LogAlto SAS".into(),
            contact: "DPO".into(),
            email: "dpo@logalto.example".into(),
            policy_url: "https://logalto.example/privacy".into(),
        };
        let receipt = ConsentReceipt::for_event(
            &event,
            &form,
            &purpose,
            &controller,
            &[PiiCategory::Email, PiiCategory::NotPersonal],
            true,
        );
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(json["version"], "KI-CR-v1.1.0");
        assert_eq!(json["consentTimestamp"], 1_767_348_000);
        assert_eq!(json["piiPrincipalId"], subject.to_string());
        assert_eq!(json["piiControllers"][0]["piiController"], "LogAlto SAS");
        assert_eq!(
            json["services"][0]["purposes"][0]["piiCategory"],
            serde_json::json!(["email"])
        );
        assert_eq!(json["consentFormVersion"], form.latest().hash.to_string());
        assert_eq!(json["source"], "203.0.113.0/24");
        assert_eq!(json["action"], "given");
        assert!(!json.to_string().contains("203.0.113.9"));
    }
}
