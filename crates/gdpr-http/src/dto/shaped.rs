//! Bodies whose fields depend on one of them: parsed flat (errors name the field), documented
//! as the `oneOf` of their valid combinations.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A request body parsed as `P` and documented as `S`.
///
/// Some bodies take different fields depending on one of them (a batch selection's `by`, an
/// export's `format`). Their exact shape is a `oneOf`, which poem-openapi's `Union` can
/// describe but parses with one vague error for the whole body. So the body is parsed as a
/// flat object `P`, whose errors name the field, the handler checks which fields go together,
/// and the document shows `S`, the `oneOf` of the valid combinations, so that clients and
/// generated tests know exactly what is accepted.
pub(crate) struct Shaped<P, S>(pub(crate) P, PhantomData<fn() -> S>);

impl<P, S> Shaped<P, S> {
    /// The parsed body.
    pub(crate) fn into_inner(self) -> P {
        self.0
    }
}

impl<P: Type, S: Type> Type for Shaped<P, S> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        S::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        S::schema_ref()
    }

    fn register(registry: &mut Registry) {
        S::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<P: ParseFromJSON, S: Type> ParseFromJSON for Shaped<P, S> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        P::parse_from_json(value)
            .map(|parsed| Self(parsed, PhantomData))
            .map_err(ParseError::propagate)
    }
}

impl<P: ToJSON, S: Type> ToJSON for Shaped<P, S> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

/// The documented shapes of [`Shaped`] bodies: types for the OpenAPI document only, never
/// built (the derives need them parseable, nothing parses them).
#[allow(dead_code)]
pub(crate) mod shapes {
    use crate::dto::{Category, ConsentStateDto, LimitKindIo, Prose, SelectBy, Text};
    use poem_openapi::{Enum, Object, Union};
    use time::OffsetDateTime;
    use uuid::Uuid;

    /// A batch selection: `by` names the kind, which says what else it takes.
    #[derive(Union)]
    #[oai(discriminator_name = "by", one_of)]
    pub(crate) enum Selector {
        /// Subjects with a record in `form`.
        #[oai(mapping = "form")]
        Form(ByForm),
        /// Subjects with a record created in `[from, to)`, optionally in `form` (an empty
        /// range selects nobody).
        #[oai(mapping = "created_between")]
        CreatedBetween(ByCreation),
        /// Subjects with a record of `form` whose `field` equals `value`.
        #[oai(mapping = "field_equals")]
        FieldEquals(ByField),
        /// The `subjects` listed.
        #[oai(mapping = "subjects")]
        Subjects(BySubjects),
        /// Subjects with a consent event under `consent_form` (record deletion: their records
        /// in the forms of its purpose).
        #[oai(mapping = "consent_form")]
        ConsentForm(ByConsentForm),
        /// Subjects whose consent for `purpose` stands as `state` (record deletion: their
        /// records in the forms of that purpose).
        #[oai(mapping = "consent_state")]
        ConsentState(ByConsentState),
    }

    /// Subjects with a consent event under `consent_form`.
    #[derive(Object)]
    pub(crate) struct ByConsentForm {
        /// `consent_form`.
        by: SelectBy,
        /// The consent form.
        consent_form: Uuid,
    }

    /// Subjects whose consent for `purpose` stands as `state`.
    #[derive(Object)]
    pub(crate) struct ByConsentState {
        /// `consent_state`.
        by: SelectBy,
        /// The consent-based purpose.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
        purpose: Text,
        /// Where the subject stands.
        state: ConsentStateDto,
    }

    /// Subjects with a record in `form`.
    #[derive(Object)]
    pub(crate) struct ByForm {
        /// `form`.
        by: SelectBy,
        /// The form.
        form: Uuid,
    }

    /// Subjects with a record created in `[from, to)`.
    #[derive(Object)]
    pub(crate) struct ByCreation {
        /// `created_between`.
        by: SelectBy,
        /// Start (inclusive).
        from: OffsetDateTime,
        /// End (exclusive).
        to: OffsetDateTime,
        /// Only records of this form.
        form: Option<Uuid>,
    }

    /// Subjects with a record of `form` whose `field` equals `value`.
    #[derive(Object)]
    pub(crate) struct ByField {
        /// `field_equals`.
        by: SelectBy,
        /// The form.
        form: Uuid,
        /// The field's name.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
        field: Text,
        /// The value it must equal.
        value: serde_json::Value,
    }

    /// The subjects listed.
    #[derive(Object)]
    pub(crate) struct BySubjects {
        /// `subjects`.
        by: SelectBy,
        /// Their ids.
        #[oai(validator(max_items = 100000))]
        subjects: Vec<Uuid>,
    }

    /// A form field: an `email` field is classified `email`; any other kind takes any
    /// category.
    #[derive(Union)]
    #[oai(one_of)]
    pub(crate) enum Field {
        /// An e-mail field.
        Email(EmailField),
        /// Any other field.
        Other(OtherField),
    }

    /// `email`.
    #[derive(Enum)]
    #[oai(rename_all = "snake_case")]
    pub(crate) enum EmailOnly {
        /// An e-mail address.
        Email,
    }

    /// A kind other than `email`.
    #[derive(Enum)]
    #[oai(rename_all = "snake_case")]
    pub(crate) enum NotEmail {
        /// Text up to 10,000 characters.
        Text,
        /// A number.
        Number,
        /// true or false.
        Boolean,
        /// YYYY-MM-DD.
        Date,
    }

    /// A field holding an e-mail address.
    #[derive(Object)]
    pub(crate) struct EmailField {
        /// Name: lowercase letters, digits and '_'.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
        name: Text,
        /// `email`.
        kind: EmailOnly,
        /// `email`.
        category: EmailOnly,
        /// Whether every record must have it (default false).
        #[oai(default)]
        required: bool,
    }

    /// A field of any other kind.
    #[derive(Object)]
    pub(crate) struct OtherField {
        /// Name: lowercase letters, digits and '_'.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
        name: Text,
        /// Value type.
        kind: NotEmail,
        /// PII category (declare `not_personal` explicitly).
        category: Category,
        /// Whether every record must have it (default false).
        #[oai(default)]
        required: bool,
    }

    /// A restriction (Art. 18) or an objection (Art. 21): `kind` says which.
    #[derive(Union)]
    #[oai(discriminator_name = "kind", one_of)]
    pub(crate) enum Limit {
        /// Every use of the subject's data but storage stops.
        #[oai(mapping = "restriction")]
        Restriction(Restriction),
        /// Processing under legitimate interests stops, for one purpose or all.
        #[oai(mapping = "objection")]
        Objection(Objection),
    }

    /// A restriction: it covers all of the subject's data and names no purpose.
    #[derive(Object)]
    pub(crate) struct Restriction {
        /// `restriction`.
        kind: LimitKindIo,
        /// Why (the contested accuracy, say): 1 to 2,000 characters.
        #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
        reason: Prose,
    }

    /// An objection.
    #[derive(Object)]
    pub(crate) struct Objection {
        /// `objection`.
        kind: LimitKindIo,
        /// The one legitimate-interest purpose it concerns (default: all of them).
        #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
        purpose: Option<Text>,
        /// The subject's grounds: 1 to 2,000 characters.
        #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
        reason: Prose,
    }

    /// A request for an export: the JSON bundle, or one form's records as CSV.
    #[derive(Union)]
    #[oai(one_of)]
    pub(crate) enum Export {
        /// Everything held about the subject, as JSON.
        Json(JsonExport),
        /// The subject's records of one form, as CSV.
        Csv(CsvExport),
    }

    /// `json`.
    #[derive(Enum)]
    #[oai(rename_all = "snake_case")]
    pub(crate) enum JsonOnly {
        /// The JSON bundle.
        Json,
    }

    /// `csv`.
    #[derive(Enum)]
    #[oai(rename_all = "snake_case")]
    pub(crate) enum CsvOnly {
        /// CSV.
        Csv,
    }

    /// Everything held about the subject, with the Art. 15 context, as JSON
    /// (`docs/export.schema.json`).
    #[derive(Object)]
    pub(crate) struct JsonExport {
        /// `json` (the default).
        format: Option<JsonOnly>,
        /// The requester's ASCII-armored OpenPGP public key. Without it, the export is
        /// encrypted to the deployment's configured recipients; with none configured, it is
        /// refused.
        recipient_key: Option<Text>,
    }

    /// The subject's records of one form as CSV, for portability (Art. 20).
    #[derive(Object)]
    pub(crate) struct CsvExport {
        /// `csv`.
        format: CsvOnly,
        /// The form whose records it holds.
        form: Uuid,
        /// As for the JSON bundle.
        recipient_key: Option<Text>,
    }
}
