//! The wire types: what the API reads and writes, converted by hand to and from the domain's
//! types at the edge. Only this module knows the JSON shape.

use gdpr_pii::{FieldKind, PiiCategory};
use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// Text in a request body: a JSON string and nothing else. poem-openapi's `String` also takes a
/// number or a boolean and turns it into text (`false` becomes `"false"`), which the schema
/// (`type: string`) does not allow: a client's mistake would be stored instead of refused.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    // Validators (pattern, lengths) see the text itself.
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            // Not `ParseError::expected_type`: its message quotes the value, which may be
            // personal data (a phone number sent as a number).
            _ => Err(ParseError::custom("expected a JSON string")),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A text with a rule: parsed as [`Text`], then checked by a validator or its `gdpr-pii` parser
/// (whose errors name the rule broken, never the value); documented with exactly the syntax
/// that check accepts, so that the document promises nothing the server refuses.
macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Text);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                String::name()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                Text::parse_from_json(value)
                    .map(Self)
                    .map_err(ParseError::propagate)
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                self.0.to_json()
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> Self {
                text.0.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A character that is not whitespace (Unicode `White_Space`, what `str::trim` removes),
/// spelled out so that the pattern means the same in ECMA-262, Python and Rust regexes.
pub(crate) const NOT_WHITESPACE: &str =
    r"[^\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// The rule of [`Prose`]: not all whitespace.
pub(crate) struct NotBlank;

impl poem_openapi::validation::Validator<String> for NotBlank {
    fn check(&self, value: &String) -> bool {
        !value.trim().is_empty()
    }
}

impl std::fmt::Display for NotBlank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expected a character that is not whitespace")
    }
}

/// The characters `gdpr_pii::FullName` refuses anywhere: control characters other than the
/// whitespace ones it folds (tab, vertical tab, form feed, next line); line breaks included.
pub(crate) const NAME_FORBIDDEN: &str = r"\x00-\x08\x0a\x0d-\x1f\x7f-\x84\x86-\x9f";

/// What a full name needs at least one of: a character neither whitespace (Unicode
/// `White_Space`, which the parser folds away) nor a control character.
pub(crate) const NAME_VISIBLE: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The documented syntax of a full name (see [`NameText`]).
pub(crate) fn name_pattern() -> String {
    format!("^[^{NAME_FORBIDDEN}]*[^{NAME_VISIBLE}][^{NAME_FORBIDDEN}]*$")
}

text_type!(
    /// Prose (a reason, a title, a description): text with at least one character that is
    /// not whitespace (the domain trims it). The document states it as a pattern;
    /// [`NotBlank`], the validator every `Prose` field carries (beside its `max_length`),
    /// enforces it with an error that names the field.
    Prose => MetaSchema {
        pattern: Some(NOT_WHITESPACE.to_owned()),
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// An e-mail address: at most 254 characters, one `@`, a dotted domain (`gdpr_pii::Email`).
    EmailText => MetaSchema {
        format: Some("email"),
        max_length: Some(254),
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// An IPv4 or IPv6 address (`gdpr_pii::IpAddress`).
    IpText => MetaSchema {
        any_of: vec![
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("ipv4"),
                ..MetaSchema::new("string")
            })),
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("ipv6"),
                ..MetaSchema::new("string")
            })),
        ],
        ..MetaSchema::new("string")
    }
);

text_type!(
    /// A full name: at most 256 characters, at least one visible, no line break or other
    /// control character (`gdpr_pii::FullName`).
    NameText => MetaSchema {
        max_length: Some(256),
        pattern: Some(name_pattern()),
        ..MetaSchema::new("string")
    }
);

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
    use super::{Category, LimitKindIo, Prose, SelectBy, Text};
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

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Declares a wire enum mirroring a domain enum, with conversions both ways.
macro_rules! mirror {
    ($(#[$doc:meta])* $dto:ident <=> $domain:path { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename_all = "snake_case")]
        pub(crate) enum $dto {
            $($(#[$vdoc])* $variant),+
        }

        impl From<$dto> for $domain {
            fn from(v: $dto) -> Self {
                match v { $($dto::$variant => <$domain>::$variant),+ }
            }
        }

        impl From<$domain> for $dto {
            fn from(v: $domain) -> Self {
                match v { $(<$domain>::$variant => $dto::$variant),+ }
            }
        }
    };
}

mirror!(
    /// What a field's values are.
    Kind <=> FieldKind {
        /// Text up to 10,000 characters.
        Text,
        /// An e-mail address.
        Email,
        /// A number.
        Number,
        /// true or false.
        Boolean,
        /// YYYY-MM-DD.
        Date,
    }
);

mirror!(
    /// What kind of personal data a field holds (or `not_personal`).
    Category <=> PiiCategory {
        /// E-mail address.
        Email,
        /// Full name.
        FullName,
        /// IP address.
        IpAddress,
        /// Telephone number.
        Phone,
        /// Postal address.
        PostalAddress,
        /// Date of birth.
        DateOfBirth,
        /// National identification number.
        NationalId,
        /// Free text.
        FreeText,
        /// Declared not personal.
        NotPersonal,
    }
);

mirror!(
    /// The lawful basis of a purpose (GDPR Art. 6(1)).
    Basis <=> gdpr_consent::LawfulBasis {
        /// (a) consent.
        Consent,
        /// (b) contract.
        Contract,
        /// (c) legal obligation.
        LegalObligation,
        /// (d) vital interests.
        VitalInterests,
        /// (e) public task.
        PublicTask,
        /// (f) legitimate interests.
        LegitimateInterests,
    }
);

mirror!(
    /// How consent was given or withdrawn.
    Method <=> gdpr_consent::ConsentMethod {
        /// A web form.
        WebForm,
        /// An API call.
        Api,
        /// A paper form.
        Paper,
        /// An e-mail.
        Email,
        /// Recorded verbally.
        Verbal,
    }
);

mirror!(
    /// The right a request exercises.
    RequestKindDto <=> gdpr_rights::RequestKind {
        /// Art. 15.
        Access,
        /// Art. 20.
        Portability,
        /// Art. 16.
        Rectification,
        /// Art. 17.
        Erasure,
        /// Art. 18.
        Restriction,
        /// Art. 21.
        Objection,
    }
);

mirror!(
    /// Where a request stands.
    RequestStatusDto <=> gdpr_rights::RequestStatus {
        /// Not yet answered.
        Open,
        /// Answered.
        Completed,
        /// Refused, with reasons.
        Refused,
    }
);

mirror!(
    /// The Art. 17(3) ground of a legal hold.
    Ground <=> gdpr_rights::HoldGround {
        /// (a).
        FreedomOfExpression,
        /// (b).
        LegalObligation,
        /// (c).
        PublicHealth,
        /// (d).
        Archiving,
        /// (e).
        LegalClaims,
    }
);

/// A tenant.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct TenantOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Legal name.
    pub(crate) name: String,
    /// Privacy contact.
    pub(crate) privacy_contact: String,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
}

/// A tenant to create.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct TenantIn {
    /// Legal name, 1 to 200 characters.
    pub(crate) name: Text,
    /// Privacy contact (a DPO role address), 1 to 320 characters.
    pub(crate) privacy_contact: Text,
}

/// An API key to issue.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct KeyIn {
    /// Whether the key may only read.
    #[oai(default)]
    pub(crate) read_only: bool,
}

/// An API key just issued: the token is shown once.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IssuedKeyOut {
    /// Key id.
    pub(crate) id: Uuid,
    /// Its tenant.
    pub(crate) tenant: Uuid,
    /// Read-only or not.
    pub(crate) read_only: bool,
    /// The token to send as `Authorization: Bearer <token>`. Never shown again.
    pub(crate) token: String,
}

/// An API key as listed (never its secret).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct KeyOut {
    /// Key id.
    pub(crate) id: Uuid,
    /// Read-only or not.
    pub(crate) read_only: bool,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
    /// Revoked, if it was.
    pub(crate) revoked_at: Option<OffsetDateTime>,
}

/// The receipt for deleting all of a tenant's backups.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BackupDeletionOut {
    /// The tenant.
    pub(crate) tenant: Uuid,
    /// When the deletion finished.
    pub(crate) at: OffsetDateTime,
    /// Every object removed.
    pub(crate) deleted_objects: Vec<String>,
}

/// A subject to register.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct SubjectIn {
    /// E-mail address (normalised to lower case).
    pub(crate) email: Option<EmailText>,
    /// Full name.
    pub(crate) full_name: Option<NameText>,
    /// IP address.
    pub(crate) ip_address: Option<IpText>,
}

/// Changes to a subject's profile: an absent field is kept, `null` clears it.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RectifyIn {
    /// E-mail address.
    pub(crate) email: MaybeUndefined<EmailText>,
    /// Full name.
    pub(crate) full_name: MaybeUndefined<NameText>,
    /// IP address.
    pub(crate) ip_address: MaybeUndefined<IpText>,
}

/// A look-up by e-mail (in the body, so the address never lands in a URL or an access log).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct LookupIn {
    /// The address.
    pub(crate) email: EmailText,
}

/// A subject.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SubjectOut {
    /// Id.
    pub(crate) id: Uuid,
    /// E-mail.
    pub(crate) email: Option<String>,
    /// Full name.
    pub(crate) full_name: Option<String>,
    /// IP address.
    pub(crate) ip_address: Option<String>,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
    /// Last changed.
    pub(crate) updated_at: OffsetDateTime,
}

/// A page of subjects.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SubjectPage {
    /// The subjects.
    pub(crate) items: Vec<SubjectOut>,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
}

/// One line of an import that was refused.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ImportError {
    /// Line number, from 1.
    pub(crate) line: u64,
    /// The field at fault, or empty for the line as a whole.
    pub(crate) field: String,
    /// What is wrong, never the value.
    pub(crate) reason: String,
}

/// What an import did: every line is either imported whole or refused whole.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ImportOut {
    /// Lines imported.
    pub(crate) imported: u64,
    /// Lines refused.
    pub(crate) failed: u64,
    /// The ids of the imported subjects, in line order.
    pub(crate) ids: Vec<Uuid>,
    /// Why each refused line was refused.
    pub(crate) errors: Vec<ImportError>,
}

/// A purpose to declare.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct PurposeIn {
    /// Identifier: 1 to 64 lowercase letters, digits, '-' and '_', starting with a letter.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) id: Text,
    /// What the processing is for.
    #[oai(validator(max_length = 1000, custom = "crate::dto::NotBlank"))]
    pub(crate) description: Prose,
    /// Its lawful basis.
    pub(crate) lawful_basis: Basis,
}

/// A purpose.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PurposeOut {
    /// Identifier.
    pub(crate) id: String,
    /// Description.
    pub(crate) description: String,
    /// Lawful basis.
    pub(crate) lawful_basis: Basis,
    /// Its article, e.g. `Art. 6(1)(a)`.
    pub(crate) article: String,
}

/// A form field and its classification: parsed as [`FieldFields`], documented as
/// [`shapes::Field`].
pub(crate) type FieldIn = Shaped<FieldFields, shapes::Field>;

/// The parts of a form field.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct FieldFields {
    /// Name: lowercase letters, digits and '_'.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub(crate) name: Text,
    /// Value type.
    pub(crate) kind: Kind,
    /// PII category (declare `not_personal` explicitly). Optional here only so that its
    /// absence gets the domain's error, which names the field; the document requires it.
    pub(crate) category: Option<Category>,
    /// Whether every record must have it.
    #[oai(default)]
    pub(crate) required: bool,
}

/// A field of a form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FieldOut {
    /// Name.
    pub(crate) name: String,
    /// Value type.
    pub(crate) kind: Kind,
    /// PII category.
    pub(crate) category: Category,
    /// Required.
    pub(crate) required: bool,
}

/// A form to define.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct FormIn {
    /// Name, unique in the tenant.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) name: Prose,
    /// The purpose it serves.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: Text,
    /// Its fields, each classified, each name once (422 otherwise: JSON Schema cannot say
    /// that items differ by one property).
    #[oai(validator(min_items = 1, max_items = 200))]
    pub(crate) fields: Vec<FieldIn>,
}

/// A form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FormOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Name.
    pub(crate) name: String,
    /// Purpose.
    pub(crate) purpose: String,
    /// The consent form records need, if the purpose rests on consent.
    pub(crate) consent_form: Option<Uuid>,
    /// Fields.
    pub(crate) fields: Vec<FieldOut>,
    /// Created.
    pub(crate) created_at: OffsetDateTime,
}

/// A consent form to attach.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct AttachIn {
    /// The consent form.
    pub(crate) consent_form: Uuid,
}

/// A record to submit.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RecordIn {
    /// The form.
    pub(crate) form: Uuid,
    /// The subject it is about.
    pub(crate) subject: Uuid,
    /// Field values, as the form's schema says.
    pub(crate) values: Value,
}

/// A record.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Form.
    pub(crate) form: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Values.
    pub(crate) values: Value,
    /// Submitted.
    pub(crate) created_at: OffsetDateTime,
}

/// A page of records.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordPage {
    /// The records.
    pub(crate) items: Vec<RecordOut>,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
}

/// A consent form to publish.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ConsentFormIn {
    /// Its consent-based purpose.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: Text,
    /// Title.
    #[oai(validator(max_length = 200, custom = "crate::dto::NotBlank"))]
    pub(crate) title: Prose,
    /// The exact text shown to subjects.
    #[oai(validator(max_length = 100000, custom = "crate::dto::NotBlank"))]
    pub(crate) text: Prose,
}

/// A new version of a consent form.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct VersionIn {
    /// The new text.
    #[oai(validator(max_length = 100000, custom = "crate::dto::NotBlank"))]
    pub(crate) text: Prose,
    /// Whether earlier consents stop counting.
    pub(crate) requires_reconsent: bool,
}

/// A published version.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct VersionOut {
    /// 1, 2, ...
    pub(crate) number: u32,
    /// SHA-256 of the text.
    pub(crate) hash: String,
    /// The text.
    pub(crate) text: String,
    /// Published.
    pub(crate) published_at: OffsetDateTime,
    /// Whether it required re-consent.
    pub(crate) requires_reconsent: bool,
}

/// A consent form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentFormOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Purpose.
    pub(crate) purpose: String,
    /// Title.
    pub(crate) title: String,
    /// Versions, oldest first.
    pub(crate) versions: Vec<VersionOut>,
}

/// Giving or withdrawing consent.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ConsentIn {
    /// The consent form.
    pub(crate) consent_form: Uuid,
    /// How.
    pub(crate) method: Method,
    /// The address the subject acted from; only its network is kept.
    pub(crate) source_ip: Option<IpText>,
    /// The version shown, by the SHA-256 of its text (default: the latest).
    #[oai(validator(pattern = r"^[0-9a-fA-F]{64}$"))]
    pub(crate) version: Option<Text>,
}

/// Where a subject stands with a consent form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ConsentStatusDto {
    /// Current.
    Given,
    /// Withdrawn.
    Withdrawn,
    /// Given to a version since replaced by one requiring re-consent.
    ReconsentRequired,
    /// Never given.
    NeverGiven,
}

/// A subject's consent to one form.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentStateOut {
    /// The consent form.
    pub(crate) consent_form: Uuid,
    /// Its purpose.
    pub(crate) purpose: String,
    /// The status.
    pub(crate) status: ConsentStatusDto,
    /// When given or withdrawn.
    pub(crate) at: Option<OffsetDateTime>,
    /// The version consented to.
    pub(crate) version: Option<String>,
}

/// Whether a subject's data may be processed for a purpose now.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConsentCheckOut {
    /// The purpose.
    pub(crate) purpose: String,
    /// Whether the subject currently consents to it (consent-based purposes).
    pub(crate) consented: bool,
    /// The answer to act on: the purpose's basis holds (consent given where it is the basis)
    /// and no restriction or objection forbids the processing.
    pub(crate) may_process: bool,
    /// What forbids it, if anything: `restriction` (Art. 18) or `objection` (Art. 21).
    pub(crate) blocked_by: Option<LimitKindIo>,
}

/// A request to open.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RequestIn {
    /// The subject.
    pub(crate) subject: Uuid,
    /// The right exercised.
    pub(crate) kind: RequestKindDto,
}

/// An extension.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ExtendIn {
    /// 1 or 2 months.
    #[oai(validator(minimum(value = "1"), maximum(value = "2")))]
    pub(crate) months: u8,
    /// Why; told to the subject.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A refusal.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RefuseIn {
    /// The reasons the subject is told.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// An extension granted.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ExtensionOut {
    /// Months.
    pub(crate) months: u8,
    /// Why.
    pub(crate) reason: String,
    /// When decided.
    pub(crate) at: OffsetDateTime,
}

/// A data-subject request.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RequestOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Right.
    pub(crate) kind: RequestKindDto,
    /// Status.
    pub(crate) status: RequestStatusDto,
    /// Received.
    pub(crate) received_at: OffsetDateTime,
    /// Last day to answer (UTC).
    pub(crate) due_date: Date,
    /// Open past its due date.
    pub(crate) overdue: bool,
    /// Extension.
    pub(crate) extension: Option<ExtensionOut>,
    /// Answered.
    pub(crate) closed_at: Option<OffsetDateTime>,
    /// Reasons of a refusal.
    pub(crate) refusal_reason: Option<String>,
}

/// A page of requests.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RequestPage {
    /// The requests.
    pub(crate) items: Vec<RequestOut>,
    /// Items skipped.
    pub(crate) offset: u64,
    /// Page size asked for.
    pub(crate) limit: u32,
}

/// A legal hold to place.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct HoldIn {
    /// Ground.
    pub(crate) ground: Ground,
    /// Why (a case number, a law), never personal data.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A legal hold.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct HoldOut {
    /// Id.
    pub(crate) id: Uuid,
    /// Subject.
    pub(crate) subject: Uuid,
    /// Ground.
    pub(crate) ground: Ground,
    /// Reason.
    pub(crate) reason: String,
    /// Placed.
    pub(crate) placed_at: OffsetDateTime,
    /// Released.
    pub(crate) released_at: Option<OffsetDateTime>,
}

/// One place of an erasure and its outcome.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PlaceOut {
    /// The place: records, personal_fields, data_key, consents, backups, error_tracker.
    pub(crate) place: String,
    /// planned, done, pending or blocked.
    pub(crate) outcome: String,
    /// When it was done or last tried.
    pub(crate) at: Option<OffsetDateTime>,
    /// How many items went.
    pub(crate) count: Option<u64>,
    /// Attempts so far (pending).
    pub(crate) attempts: Option<u32>,
    /// Last failure (pending) or the blocking reason.
    pub(crate) reason: Option<String>,
}

/// An erasure receipt.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ReceiptOut {
    /// Id.
    pub(crate) id: Uuid,
    /// The subject erased.
    pub(crate) subject: Uuid,
    /// The request answered.
    pub(crate) request: Option<Uuid>,
    /// Started.
    pub(crate) started_at: OffsetDateTime,
    /// complete, pending or blocked.
    pub(crate) status: String,
    /// Each place.
    pub(crate) places: Vec<PlaceOut>,
}

/// How a batch erasure selects subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum SelectBy {
    /// Subjects with a record in `form`.
    Form,
    /// Subjects with a record created in `[from, to)` (optionally in `form`).
    CreatedBetween,
    /// Subjects with a record of `form` whose `field` equals `value`.
    FieldEquals,
    /// The `subjects` listed.
    Subjects,
}

/// A batch selection: parsed as [`SelectorFields`], documented as [`shapes::Selector`].
pub(crate) type SelectorIn = Shaped<SelectorFields, shapes::Selector>;

/// The fields of a batch selection; `by` says which of the others it takes.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct SelectorFields {
    /// The kind of selection.
    pub(crate) by: SelectBy,
    // Each field is read as present or absent, `null` included: one the kind does not use
    // is refused even as `null`, as the documented shapes say.
    /// Form.
    pub(crate) form: MaybeUndefined<Uuid>,
    /// Start (inclusive).
    pub(crate) from: MaybeUndefined<OffsetDateTime>,
    /// End (exclusive).
    pub(crate) to: MaybeUndefined<OffsetDateTime>,
    /// Field name.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub(crate) field: MaybeUndefined<Text>,
    /// Field value (`null` is a value: no record holds it, so it selects nobody).
    pub(crate) value: MaybeUndefined<Value>,
    /// Subject ids.
    #[oai(validator(max_items = 100000))]
    pub(crate) subjects: MaybeUndefined<Vec<Uuid>>,
}

/// What a batch erasure would do.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchPlanOut {
    /// Subjects that would be erased.
    pub(crate) subjects: Vec<Uuid>,
    /// Records they hold.
    pub(crate) records: u64,
    /// Selected but held by a legal hold.
    pub(crate) blocked: Vec<Uuid>,
    /// Listed ids that match no subject.
    pub(crate) unknown: u64,
}

/// The result of verifying the audit chain.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuditVerifyOut {
    /// Whether the chain is intact.
    pub(crate) valid: bool,
    /// Records checked.
    pub(crate) records: u64,
    /// Hash of the last record (when valid).
    pub(crate) head: Option<String>,
    /// Where it breaks (when not).
    pub(crate) problem: Option<String>,
    /// The sequence number where it breaks.
    pub(crate) broken_at: Option<u64>,
}

// The wire types carry personal data in clear, so none of them derives `Debug`: nothing can
// print one by accident.

/// A whole JSON document (a receipt, the register, an audit record) as the domain defines it.
pub(crate) type Document = Value;

/// What an export holds.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ExportFormatIn {
    /// Everything held about the subject, with the Art. 15 context, as JSON
    /// (`docs/export.schema.json`).
    Json,
    /// The subject's records of one form as CSV, for portability (Art. 20).
    Csv,
}

/// A request for an export: parsed as [`ExportFields`], documented as [`shapes::Export`].
pub(crate) type ExportIn = Shaped<ExportFields, shapes::Export>;

/// The fields of a request for an export of a subject (Art. 15, 20).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct ExportFields {
    /// `json` (the default) or `csv`.
    pub(crate) format: Option<ExportFormatIn>,
    /// The form whose records a `csv` export holds (required with `csv`; with `json`,
    /// refused even as `null`).
    pub(crate) form: MaybeUndefined<Uuid>,
    /// The requester's ASCII-armored OpenPGP public key. Without it, the export is encrypted to
    /// the deployment's configured recipients; with none configured, it is refused.
    pub(crate) recipient_key: Option<Text>,
}

/// An export waiting to be downloaded, once, before it expires.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ExportOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// `json` or `csv`.
    pub(crate) format: ExportFormatIn,
    /// The form, for `csv`.
    pub(crate) form: Option<Uuid>,
    /// When it was made.
    pub(crate) created_at: OffsetDateTime,
    /// When it is deleted if nobody downloaded it.
    pub(crate) expires_at: OffsetDateTime,
    /// The ciphertext's size in bytes.
    pub(crate) size: u64,
    /// Where to download it (once).
    pub(crate) download: String,
}

mirror!(
    /// A limit the subject puts on processing.
    LimitKindIo <=> gdpr_rights::LimitKind {
        /// Art. 18: restriction of processing (all of the subject's data).
        Restriction,
        /// Art. 21: objection to processing under legitimate interests.
        Objection,
    }
);

/// A restriction or objection to place: parsed as [`LimitFields`], documented as
/// [`shapes::Limit`].
pub(crate) type LimitIn = Shaped<LimitFields, shapes::Limit>;

/// The fields of a restriction or objection to place.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct LimitFields {
    /// `restriction` or `objection`.
    pub(crate) kind: LimitKindIo,
    /// For an objection, the one legitimate-interest purpose it concerns (default: all of
    /// them). A restriction names none.
    #[oai(validator(pattern = r"^[a-z][a-z0-9_-]{0,63}$"))]
    pub(crate) purpose: MaybeUndefined<Text>,
    /// Why (the contested accuracy, the subject's grounds): 1 to 2,000 characters.
    #[oai(validator(max_length = 2000, custom = "crate::dto::NotBlank"))]
    pub(crate) reason: Prose,
}

/// A restriction or objection.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct LimitOut {
    /// Its id.
    pub(crate) id: Uuid,
    /// The subject.
    pub(crate) subject: Uuid,
    /// `restriction` or `objection`.
    pub(crate) kind: LimitKindIo,
    /// The article.
    pub(crate) article: String,
    /// The purpose an objection concerns (none: every legitimate-interest purpose).
    pub(crate) purpose: Option<String>,
    /// Why.
    pub(crate) reason: String,
    /// When it was placed.
    pub(crate) placed_at: OffsetDateTime,
    /// When it was lifted.
    pub(crate) lifted_at: Option<OffsetDateTime>,
    /// Whether it is in force.
    pub(crate) active: bool,
}

/// A batch job's progress (an erasure, a deletion of records).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct JobProgressOut {
    /// The job's id.
    pub(crate) id: Uuid,
    /// `queued`, `running`, `done` or `failed`.
    pub(crate) state: String,
    /// Items (subjects, records) done so far: the furthest point a run has recorded.
    pub(crate) done: u64,
    /// Items to do (the dry run's count when it started).
    pub(crate) total: u64,
    /// Runs so far (more than one after a crash or restart: the job resumes).
    pub(crate) attempts: u32,
    /// The last failure, if any (the job is retried).
    pub(crate) last_error: Option<String>,
    /// Where to follow it.
    pub(crate) status: String,
}

/// A batch erasure, started or as it stands.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchErasureOut {
    /// Its progress.
    #[oai(flatten)]
    pub(crate) job: JobProgressOut,
    /// Once done: subjects erased, their records, subjects left alone by a legal hold.
    pub(crate) summary: Option<BatchSummaryOut>,
}

/// What a batch erasure came to.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct BatchSummaryOut {
    /// Subjects erased, each with its own receipt, or found already gone.
    pub(crate) erased: u64,
    /// The records of the subjects the dry run would erase, as it counted them.
    pub(crate) records: u64,
    /// Subjects left alone by a legal hold, held at the dry run or since (each with a receipt
    /// saying so).
    pub(crate) blocked: u64,
}

/// What a batch deletion of records would delete, or deleted.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordDeletionPlanOut {
    /// Records (to be) deleted.
    pub(crate) records: u64,
    /// The subjects they belong to (who stay).
    pub(crate) subjects: u64,
    /// Selected records left alone: their subject is under a legal hold.
    pub(crate) blocked: u64,
}

/// A batch deletion of records, started or as it stands.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecordDeletionOut {
    /// Its progress.
    #[oai(flatten)]
    pub(crate) job: JobProgressOut,
    /// Once done, what it came to.
    pub(crate) summary: Option<RecordDeletionPlanOut>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdpr_pii::FullName;
    use proptest::prelude::*;

    /// What the document says of a full name: the pattern and `maxLength`.
    fn documented_name(text: &str) -> bool {
        let pattern = regex::Regex::new(&name_pattern()).unwrap();
        pattern.is_match(text) && text.chars().count() <= 256
    }

    #[test]
    fn the_documented_name_syntax_is_the_parsers() {
        for text in [
            "Ada",
            "  Ada \t Lovelace ",
            "\u{85}Ada",
            "Zoë",
            "",
            " \t\u{a0}\u{3000}",
            "a\nb",
            "a\rb",
            "a\u{0}b",
            "a\u{7}b",
            "a\u{1c}b",
            "a\u{9f}b",
            "\u{feff}",
        ] {
            assert_eq!(
                documented_name(text),
                FullName::parse(text).is_ok(),
                "{text:?}"
            );
        }
        let long = "é".repeat(257);
        assert!(!documented_name(&long) && FullName::parse(&long).is_err());
    }

    proptest! {
        #[test]
        fn documented_and_parsed_names_agree(
            text in proptest::collection::vec(
                prop_oneof![
                    Just(' '), Just('\t'), Just('\n'), Just('\r'), Just('\u{0}'),
                    Just('\u{b}'), Just('\u{1f}'), Just('\u{7f}'), Just('\u{85}'),
                    Just('\u{a0}'), Just('\u{2003}'), Just('\u{3000}'), Just('\u{feff}'),
                    proptest::char::range('a', 'e'), proptest::char::any(),
                ],
                0..300,
            ).prop_map(String::from_iter)
        ) {
            prop_assert_eq!(documented_name(&text), FullName::parse(&text).is_ok());
        }
    }
}
