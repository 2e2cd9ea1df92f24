//! RFC 7807 problem documents: every error the API returns, built so that no personal data
//! is ever echoed back.

use std::sync::Arc;

use gdpr_app::AppError;
use gdpr_consent::{ConsentError, FormError};
use gdpr_ports::StoreError;
use gdpr_rights::RequestError;
use poem::http::StatusCode;
use poem::middleware::ReqId;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// One field's problem.
#[derive(Debug, Clone, Object)]
pub struct FieldProblem {
    /// The field (a JSON name), empty for the body as a whole.
    pub field: String,
    /// What is wrong with it, never its value.
    pub reason: String,
}

/// An RFC 7807 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:gdpr:problem:<kind>`).
    #[oai(rename = "type")]
    pub kind: String,
    /// A short, stable summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this case, without personal data.
    pub detail: Option<String>,
    /// The request path.
    pub instance: Option<String>,
    /// The request id, to quote to the operator.
    pub request_id: Option<String>,
    /// Per-field problems.
    pub errors: Option<Vec<FieldProblem>>,
}

impl Problem {
    /// A problem of `kind` with a detail.
    #[must_use]
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:gdpr:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            instance: None,
            request_id: None,
            errors: None,
        }
    }
}

/// Every error response of the API.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed (JSON syntax, types, unknown fields, a bound or pattern the
    /// schema states, parameters).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid or revoked credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The credentials are valid but may not do this (a read-only key writing).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// Nothing with this id for this tenant.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state (duplicate, missing consent, legal hold).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// No such route serves this method.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>),
    /// A body without a Content-Length (only the NDJSON import may be streamed).
    #[oai(status = 411, content_type = "application/problem+json")]
    LengthRequired(Json<Problem>),
    /// The body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body's content type is not the one the operation reads.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed but breaks a rule (an invalid e-mail, a field without category...).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many failed authentications from this source.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected failure; details are in the server's log under the request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (the database) is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

impl ApiError {
    /// The error for a problem, by its status.
    #[must_use]
    pub fn from_problem(problem: Problem) -> Self {
        let json = Json(problem);
        match json.0.status {
            400 => Self::BadRequest(json),
            401 => Self::Unauthorized(json),
            403 => Self::Forbidden(json),
            404 => Self::NotFound(json),
            409 => Self::Conflict(json),
            405 => Self::MethodNotAllowed(json),
            411 => Self::LengthRequired(json),
            413 => Self::PayloadTooLarge(json),
            415 => Self::UnsupportedMediaType(json),
            422 => Self::Unprocessable(json),
            429 => Self::TooManyRequests(json),
            503 => Self::Unavailable(json),
            _ => Self::Internal(json),
        }
    }

    /// A 422 naming one field.
    #[must_use]
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "Invalid input",
            format!("{field}: {reason}"),
        );
        p.errors = Some(vec![FieldProblem {
            field: field.to_owned(),
            reason,
        }]);
        Self::from_problem(p)
    }

    /// A 400 for a query parameter that parses but means nothing here, as poem answers for
    /// one that does not parse.
    #[must_use]
    pub fn bad_parameter(name: &str, reason: &str) -> Self {
        Self::from_problem(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
            format!("{name}: {reason}"),
        ))
    }

    /// A 403 for a read-only key.
    #[must_use]
    pub fn read_only() -> Self {
        Self::from_problem(Problem::new(
            StatusCode::FORBIDDEN,
            "read-only-key",
            "Forbidden",
            "this API key is read-only",
        ))
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        use StatusCode as S;
        let p = |status, kind, title| Problem::new(status, kind, title, e.to_string());
        let problem = match &e {
            AppError::NotFound(_) => p(S::NOT_FOUND, "not-found", "Not found"),
            AppError::Unauthorized => p(S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            AppError::Signature(_) => p(S::UNAUTHORIZED, "bad-signature", "Signature refused"),
            AppError::InvalidInput { field, reason } => {
                return Self::invalid(field, reason.clone());
            }
            AppError::InvalidRecord(errors) => {
                let mut problem = p(S::UNPROCESSABLE_ENTITY, "invalid-record", "Invalid record");
                problem.errors = Some(
                    errors
                        .0
                        .iter()
                        .map(|f| FieldProblem {
                            field: f.field.clone(),
                            reason: f.reason.clone(),
                        })
                        .collect(),
                );
                problem
            }
            AppError::Conflict(_) => p(S::CONFLICT, "conflict", "Conflict"),
            AppError::ConsentRequired { .. } => {
                p(S::CONFLICT, "consent-required", "Consent required")
            }
            AppError::ConsentFormMissing => {
                p(S::CONFLICT, "consent-form-missing", "Consent form missing")
            }
            // The state of something else (the purpose's basis, the form's versions) is what
            // refuses, not the body's shape.
            AppError::Consent(
                ConsentError::Unchanged
                | ConsentError::NotGiven
                | ConsentError::NotConsentBased { .. }
                | ConsentError::UnknownVersion
                | ConsentError::Retired,
            )
            | AppError::Form(
                FormError::PurposeMismatch { .. }
                | FormError::Consent(ConsentError::NotConsentBased { .. } | ConsentError::Retired),
            ) => p(S::CONFLICT, "consent-conflict", "Conflict"),
            AppError::Consent(_) | AppError::Form(_) => {
                p(S::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input")
            }
            AppError::Request(
                RequestError::ExtensionTooLong(_)
                | RequestError::ReasonRequired
                | RequestError::NoteTooLong,
            ) => p(S::UNPROCESSABLE_ENTITY, "invalid-input", "Invalid input"),
            AppError::Request(_) => p(S::CONFLICT, "request-state", "Conflict"),
            AppError::Forbidden(_) => p(S::FORBIDDEN, "forbidden-by-policy", "Forbidden"),
            AppError::Encryption(_) => p(S::CONFLICT, "encryption-refused", "Encryption refused"),
            AppError::Gone(_) => p(S::GONE, "gone", "Gone"),
            AppError::ProcessingBlocked(_) => {
                p(S::CONFLICT, "processing-blocked", "Processing blocked")
            }
            AppError::TooManyRequests(_) => {
                p(S::TOO_MANY_REQUESTS, "rate-limited", "Too many requests")
            }
            AppError::TenantOffboarding { .. } => {
                p(S::CONFLICT, "tenant-offboarding", "Tenant being offboarded")
            }
            // The journal or backups cannot be written (object storage down, no signing key):
            // the decision is not made, and the caller may retry.
            AppError::Store(StoreError::Unavailable(_))
            | AppError::Mail(_)
            | AppError::Backup(_)
            | AppError::Signing(_) => {
                log_failure("api", &e);
                p(S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable")
            }
            AppError::Store(_)
            | AppError::Decryption(_)
            | AppError::BackupUnusable { .. }
            | AppError::Untrusted { .. } => {
                log_failure("api", &e);
                Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "an internal error occurred",
                )
            }
        };
        Self::from_problem(problem)
    }
}

/// Logs a failure the caller cannot mend (a 503 or a 500 of `surface`: `api`, `console`,
/// `portal`) in words for operators: the error and its root cause, a database's cut at its
/// first quotation mark ([`AppError::for_operators`]). Never the error's `Debug`: it prints
/// a driver's whole error, and a database's message may quote the values it refused.
pub(crate) fn log_failure(surface: &'static str, e: &AppError) {
    let error = e.for_operators();
    if is_unavailable(e) {
        tracing::error!(surface, error, "dependency unavailable");
    } else {
        tracing::error!(surface, error, "internal failure");
    }
}

/// Whether `e` is a dependency that is down (the database, object storage, signing, mail):
/// a 503, which a retry may mend.
pub(crate) const fn is_unavailable(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Store(StoreError::Unavailable(_))
            | AppError::Mail(_)
            | AppError::Backup(_)
            | AppError::Signing(_)
    )
}

/// Redacts what a parser quotes from the input: every double-quoted string, every back-quoted
/// word that is not a plain field name, and whatever follows poem-openapi's `found ` (it prints
/// the value it got unquoted, e.g. a number). Parsers' messages quote values, and a value may be
/// personal data.
#[must_use]
pub fn sanitise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if out.ends_with("found ") {
            // The value runs to the end of its sentence (". " or the end) or of the
            // parenthesis the message is in; a string inside the value (JSON) is skipped whole.
            let mut rest = std::iter::once(c).chain(chars.by_ref()).peekable();
            let mut tail = String::new();
            let (mut in_string, mut escaped) = (false, false);
            while let Some(v) = rest.next() {
                if in_string {
                    (in_string, escaped) = (escaped || v != '"', !escaped && v == '\\');
                } else if v == '"' {
                    in_string = true;
                } else if v == ')' || (v == '.' && rest.peek().is_none_or(|n| *n == ' ')) {
                    tail.push(v);
                    tail.extend(rest);
                    break;
                }
            }
            out.push('…');
            out.push_str(&sanitise(&tail));
            return out;
        }
        if c == '"' || c == '`' {
            let mut quoted = String::new();
            let mut closed = false;
            for q in chars.by_ref() {
                if q == c {
                    closed = true;
                    break;
                }
                quoted.push(q);
            }
            // Field names (and header names such as `content-type`) are the API's own words.
            let is_name = c == '`' && (gdpr_pii::is_field_name(&quoted) || is_header_name(&quoted));
            out.push(c);
            out.push_str(if is_name { &quoted } else { "…" });
            if closed {
                out.push(c);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// The methods each documented path accepts, read from the OpenAPI document: the `Allow`
/// header of a 405 answer.
#[derive(Debug, Default)]
pub(crate) struct AllowedMethods(Vec<(Vec<Option<String>>, String)>);

impl AllowedMethods {
    /// From the OpenAPI document's paths, served under `prefix`.
    pub(crate) fn from_spec(spec: &str, prefix: &str) -> Self {
        const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let Some(paths) = doc["paths"].as_object() else {
            return Self::default();
        };
        let mut table = Vec::with_capacity(paths.len());
        for (path, operations) in paths {
            // A `{param}` segment matches any segment.
            let segments = format!("{prefix}{path}")
                .split('/')
                .skip(1)
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            // In a fixed order, whatever the JSON map's.
            let methods: Vec<String> = METHODS
                .iter()
                .filter(|m| operations.get(**m).is_some())
                .map(|m| m.to_uppercase())
                .collect();
            table.push((segments, methods.join(", ")));
        }
        Self(table)
    }

    /// What `path` accepts: the documented path that matches it with the most literal
    /// segments (`/subjects/lookup` before `/subjects/{id}`).
    pub(crate) fn for_path(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        self.0
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p))
            })
            .max_by_key(|(segments, _)| segments.iter().filter(|s| s.is_some()).count())
            .map(|(_, methods)| methods.as_str())
    }
}

/// The outermost layer: every error that is not already a response (poem-openapi's parse
/// errors, unknown routes, panics turned into 500s) becomes a problem document, with the
/// request id and path.
pub(crate) async fn problem_layer<E: Endpoint>(
    next: Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };
    let request_id = req.data::<ReqId>().map(ToString::to_string);
    let instance = req.uri().path().to_owned();
    let allowed = req.data::<Arc<AllowedMethods>>().cloned();
    let result = next.call(req).await;
    let mut response = match result {
        Ok(r) => r.into_response(),
        Err(err) if err.is_from_response() => err.into_response(),
        Err(err) => {
            let status = err.status();
            // The route template the error came from, kept for the metrics (a new response is
            // built below).
            let route = err.data::<poem::PathPattern>().cloned();
            let (kind, title, detail) =
                if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
                    (
                        "malformed-body",
                        "Malformed request body",
                        sanitise(&e.reason),
                    )
                } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
                    (
                        "invalid-parameter",
                        "Invalid parameter",
                        format!("{}: {}", e.name, sanitise(&e.reason)),
                    )
                } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
                    (
                        "invalid-parameter",
                        "Invalid path parameter",
                        format!("{}: {}", e.name, sanitise(&e.reason)),
                    )
                } else if err.is::<ContentTypeError>() {
                    (
                        "unsupported-media-type",
                        "Unsupported media type",
                        sanitise(&err.to_string()),
                    )
                } else if err.is::<AuthorizationError>() {
                    (
                        "unauthorized",
                        "Unauthorized",
                        "missing or malformed credentials".to_owned(),
                    )
                } else if status == StatusCode::NOT_FOUND {
                    ("not-found", "Not found", "no such route".to_owned())
                } else if status == StatusCode::METHOD_NOT_ALLOWED {
                    (
                        "method-not-allowed",
                        "Method not allowed",
                        "this route does not accept this method".to_owned(),
                    )
                } else if status == StatusCode::PAYLOAD_TOO_LARGE {
                    (
                        "payload-too-large",
                        "Payload too large",
                        "the request body is larger than the server accepts".to_owned(),
                    )
                } else if status.is_server_error() {
                    tracing::error!(error = %sanitise(&err.to_string()), "request failed");
                    (
                        "internal",
                        "Internal error",
                        "an internal error occurred".to_owned(),
                    )
                } else {
                    ("bad-request", "Bad request", sanitise(&err.to_string()))
                };
            let problem = Problem::new(status, kind, title, detail);
            let mut response = ApiError::from_problem(problem).into_response();
            if let Some(route) = route {
                response.set_data(route);
            }
            response
        }
    };
    // RFC 9110: a 405 lists what the resource does accept.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allowed.as_ref().and_then(|a| a.for_path(&instance))
    {
        response.headers_mut().insert(
            poem::http::header::ALLOW,
            poem::http::HeaderValue::from_str(methods)
                .unwrap_or_else(|_| poem::http::HeaderValue::from_static("")),
        );
    }
    // Fill in where and which request, for problems built anywhere.
    if response
        .content_type()
        .is_some_and(|c| c.starts_with("application/problem+json"))
    {
        let body = response.take_body().into_bytes().await.unwrap_or_default();
        if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) {
            value["instance"] = instance.into();
            if let Some(id) = request_id {
                value["request_id"] = id.into();
            }
            response.set_body(value.to_string());
        } else {
            response.set_body(body);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::{AllowedMethods, sanitise};

    #[test]
    fn a_405_lists_the_methods_of_the_most_specific_documented_path() {
        let spec = r#"{"paths": {
            "/subjects": {"get": {}, "post": {}},
            "/subjects/{id}": {"get": {}, "patch": {}, "delete": {}, "parameters": []},
            "/subjects/lookup": {"post": {}}
        }}"#;
        let allowed = AllowedMethods::from_spec(spec, "/v1");
        assert_eq!(allowed.for_path("/v1/subjects"), Some("GET, POST"));
        assert_eq!(
            allowed.for_path("/v1/subjects/5b1e"),
            Some("GET, DELETE, PATCH")
        );
        assert_eq!(allowed.for_path("/v1/subjects/lookup"), Some("POST"));
        assert_eq!(allowed.for_path("/v1/forms"), None);
        assert_eq!(allowed.for_path("/subjects"), None, "outside the prefix");
    }

    #[test]
    fn quoted_input_never_survives_but_field_names_do() {
        let cases = [
            (
                r#"failed to parse "NewSubject": invalid type: string "canary@x.example", expected u32"#,
                r#"failed to parse "…": invalid type: string "…", expected u32"#,
            ),
            (
                "unknown field `nickname`, expected `email`",
                "unknown field `nickname`, expected `email`",
            ),
            ("unknown field `Canary Person`", "unknown field `…`"),
            ("invalid value: integer `-5`", "invalid value: integer `…`"),
            ("unterminated \"canary", "unterminated \"…"),
            (
                r#"Expected input type "string", found 3355512345. (occurred while parsing "X")"#,
                r#"Expected input type "…", found …. (occurred while parsing "…")"#,
            ),
            (
                r#"Expected input type "uuid", found {"a":[1,2.5]}."#,
                r#"Expected input type "…", found …."#,
            ),
            ("found true", "found …"),
            (
                r#"Expected input type "uuid", found {"a":"x. y) \" z."}. Next"#,
                r#"Expected input type "…", found …. Next"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitise(input), expected);
        }
    }
}
