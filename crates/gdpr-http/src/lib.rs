//! The HTTP API: poem-openapi operations over the use cases, RFC 7807 problems, API keys and
//! the admin token, the operational endpoints, and the pages for people (`web`: the request
//! portal).
//!
//! This crate owns the wire format: only `dto` and `convert` know the JSON shapes, and every
//! error leaves as a problem document that never repeats personal data. It depends on
//! `gdpr-app` and the domain, never on an adapter: the server hands it an `App` already wired.
#![allow(
    clippy::result_large_err,
    reason = "ApiError is poem-openapi's response enum: boxing its problem would change the documented schema, and errors are the rare path"
)]

mod api;
mod auth;
mod client;
mod convert;
mod dto;
mod links;
mod metrics;
mod ndjson;
mod problem;
mod signed;
mod spool;
mod web;

use std::sync::Arc;

use async_trait::async_trait;
use gdpr_app::{App, AppError, Authenticated};
use gdpr_ports::Ports;
use poem::http::StatusCode;
use poem::middleware::{RequestId, ReuseId};
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use poem_openapi::OpenApiService;
use secrecy::SecretString;

pub use auth::{AuthContext, Authenticator, FailedAuthLimiter};
pub use client::TrustedProxy;
pub use metrics::Metrics;
pub use problem::{ApiError, FieldProblem, Problem, sanitise};
pub use prometheus_client;

use api::accountability::AccountabilityApi;
use api::admin::AdminApi;
use api::auditor::AuditorApi;
use api::breaches::BreachesApi;
use api::consent::ConsentApi;
use api::forms::FormsApi;
use api::recipients::RecipientsApi;
use api::requests::RequestsApi;
use api::retention::RetentionApi;
use api::subjects::SubjectsApi;
use api::webhooks::{AdminWebhooksApi, WebhooksApi};

/// Whether the service's dependencies answer (for `/readyz`).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` with a reason (no secrets) when not ready.
    async fn ready(&self) -> Result<(), String>;

    /// More for an operator reading `/readyz` (lines without secrets or personal data), which
    /// does not decide readiness: the age of the backups, say.
    fn detail(&self) -> Option<String> {
        None
    }
}

/// Registers more series on the `/metrics` registry, once at start.
pub type RegisterMetrics = Box<dyn FnOnce(&mut prometheus_client::registry::Registry) + Send>;

/// What the server gives the HTTP layer.
pub struct HttpOptions {
    /// The operator's token for `/v1/admin`; `None` disables those routes.
    pub admin_token: Option<SecretString>,
    /// The largest request body, in bytes (the NDJSON import is streamed and not limited).
    pub body_limit: u64,
    /// Failed authentications allowed per source address per minute.
    pub auth_failures_per_minute: u32,
    /// The readiness check.
    pub readiness: Arc<dyn Readiness>,
    /// Registers the server's own series (jobs run, backups' age, the database pool, the
    /// error tracker) beside the HTTP layer's, once at start.
    pub register_metrics: Option<RegisterMetrics>,
    /// Proxies whose `X-Forwarded-For` names the client (none: the peer is the client).
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Who may read `/metrics` (it tells, among other things, every tenant's overdue count).
    pub metrics: MetricsAccess,
}

/// Who may read `/metrics`.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Whoever reaches the port: the embedded default, which listens on 127.0.0.1.
    Open,
    /// Whoever sends `Authorization: Bearer <token>` (a scraper's token).
    Token(SecretString),
    /// Nobody: `/metrics` answers 404 (production without a token).
    Off,
}

struct AppAuthenticator<P: Ports>(Arc<App<P>>);

#[async_trait]
impl<P: Ports> Authenticator for AppAuthenticator<P> {
    async fn authenticate(&self, token: &SecretString) -> Result<Authenticated, AppError> {
        self.0.authenticate(token).await
    }
}

type Apis<P> = (
    AdminApi<P>,
    SubjectsApi<P>,
    FormsApi<P>,
    ConsentApi<P>,
    RequestsApi<P>,
    AccountabilityApi<P>,
    RecipientsApi<P>,
    RetentionApi<P>,
    WebhooksApi<P>,
    AdminWebhooksApi<P>,
    BreachesApi<P>,
    AuditorApi<P>,
);

/// The OpenAPI service of the `/v1` API.
#[must_use]
pub(crate) fn api_service<P: Ports>(app: Arc<App<P>>) -> OpenApiService<Apis<P>, ()> {
    let apis = (
        AdminApi(app.clone()),
        SubjectsApi(app.clone()),
        FormsApi(app.clone()),
        ConsentApi(app.clone()),
        RequestsApi(app.clone()),
        AccountabilityApi(app.clone()),
        RecipientsApi(app.clone()),
        RetentionApi(app.clone()),
        WebhooksApi(app.clone()),
        AdminWebhooksApi(app.clone()),
        BreachesApi(app.clone()),
        AuditorApi(app),
    );
    OpenApiService::new(apis, "gdpr", env!("CARGO_PKG_VERSION"))
        .description(
            "The compliance core of a multi-tenant SaaS: personal data classified, encrypted and \
             consented, erased everywhere on request, with receipts and a verifiable audit trail. \
             Errors are RFC 7807 problem documents and never echo personal data.",
        )
        .server("/v1")
}

/// The OpenAPI document, as served at `/openapi.json`.
#[must_use]
pub fn openapi_json<P: Ports>(app: Arc<App<P>>) -> String {
    close_request_bodies(&api_service(app).spec())
}

/// Every request body is parsed with unknown fields refused (`deny_unknown_fields`), which
/// poem-openapi leaves out of the document: each object schema a request body reaches is
/// marked `additionalProperties: false`, so that clients and generated tests know that an
/// extra field is an error. Optional properties are marked `nullable` in every schema:
/// poem-openapi reads `null` there as absent in a request (or, in a rectification, as "clear
/// it"), and the answers that mirror a domain document (receipts, the register, audit records,
/// attestations) write `null` where the domain's JSON has it, hashes included.
/// (Swagger UI at `/docs` shows the document without the marks.) The links between operations
/// are added too ([`links`]).
fn close_request_bodies(spec: &str) -> String {
    use serde_json::Value;

    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    links::add_links(&mut doc);
    let mut todo = Vec::new();
    for operation in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
    {
        refs(&operation["requestBody"], &mut todo);
    }
    let mut reached = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if reached.insert(name.clone()) {
            refs(&doc["components"]["schemas"][&name], &mut todo);
        }
    }
    let names: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|schemas| schemas.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        if let Some(schema) = doc["components"]["schemas"][&name].as_object_mut()
            && schema.get("type").and_then(Value::as_str) == Some("object")
            && schema.contains_key("properties")
        {
            if reached.contains(&name) {
                schema.insert("additionalProperties".into(), Value::Bool(false));
            }
            let required: Vec<Value> = schema
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(&Value::String(name.clone())) {
                        mark_nullable(property);
                    }
                }
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
}

/// Marks a property schema `nullable`; a bare `$ref` cannot carry siblings in OpenAPI 3.0, so
/// it is wrapped in an `allOf` first.
fn mark_nullable(property: &mut serde_json::Value) {
    use serde_json::Value;

    let Some(map) = property.as_object_mut() else {
        return;
    };
    if let Some(reference) = map.remove("$ref") {
        map.insert(
            "allOf".into(),
            Value::Array(vec![serde_json::json!({ "$ref": reference })]),
        );
    }
    map.insert("nullable".into(), Value::Bool(true));
}

type SlowReading = std::pin::Pin<Box<dyn std::future::Future<Output = metrics::Slow> + Send>>;
type LiveReading = std::pin::Pin<Box<dyn std::future::Future<Output = metrics::Reading> + Send>>;

#[derive(Clone)]
struct Ops {
    access: MetricsAccess,
    metrics: Arc<Metrics>,
    readiness: Arc<dyn Readiness>,
    /// Overdue requests and failing attestation checks: reading them reads every tenant, so
    /// a scrape reuses a reading younger than a minute.
    slow: Arc<dyn Fn() -> SlowReading + Send + Sync>,
    /// The jobs queue and the cache, read at each scrape.
    live: Arc<dyn Fn() -> LiveReading + Send + Sync>,
    slow_cache: Arc<std::sync::Mutex<Option<(std::time::Instant, metrics::Slow)>>>,
}

impl Ops {
    async fn slow(&self) -> metrics::Slow {
        let fresh = self
            .slow_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some((_, reading)) =
            fresh.filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(60))
        {
            return reading;
        }
        let reading = (self.slow)().await;
        *self
            .slow_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), reading.clone()));
        reading
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(Data(ops): Data<&Ops>) -> Response {
    match ops.readiness.ready().await {
        Ok(()) => match ops.readiness.detail() {
            Some(detail) => format!("ready\n{detail}\n").into_response(),
            None => "ready".into_response(),
        },
        Err(reason) => {
            let problem = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not ready",
                reason,
            );
            ApiError::from_problem(problem).into_response()
        }
    }
}

/// Whether the request may read `/metrics`; a refusal otherwise (401, or 404 when off).
fn metrics_allowed(access: &MetricsAccess, req: &Request) -> Result<(), Response> {
    let refuse = |status, kind: &str, title: &str, detail: &str| {
        Err(ApiError::from_problem(Problem::new(status, kind, title, detail)).into_response())
    };
    match access {
        MetricsAccess::Open => Ok(()),
        MetricsAccess::Off => refuse(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "metrics are off: set http.metrics_token to scrape them",
        ),
        MetricsAccess::Token(token) => {
            use sha2::Digest as _;
            use subtle::ConstantTimeEq as _;
            let given = req
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            // Hashes compared, so that the time taken says nothing of the lengths.
            let given = sha2::Sha256::digest(given.trim().as_bytes());
            let wanted =
                sha2::Sha256::digest(secrecy::ExposeSecret::expose_secret(token).as_bytes());
            if bool::from(given.ct_eq(&wanted)) {
                Ok(())
            } else {
                refuse(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    "the metrics token is missing or wrong",
                )
            }
        }
    }
}

#[handler]
async fn metrics_text(req: &Request, Data(ops): Data<&Ops>) -> Response {
    if let Err(refused) = metrics_allowed(&ops.access, req) {
        return refused;
    }
    let reading = (ops.live)().await;
    ops.metrics.refresh(&reading, &ops.slow().await);
    ops.metrics
        .encode()
        .with_content_type(metrics::CONTENT_TYPE)
        .into_response()
}

/// What the service does around every request, in one layer: the client's address resolved
/// once, before anything logs or limits by it; then, once answered, a 5xx reported to the
/// error tracker, the answer counted, the security headers set and one access-log line
/// written. One layer, not five: each layer moved the request and nested the next one's
/// future (the merge did not move the consent check's ratio, though: docs/performance.md).
async fn edge<E: Endpoint>(next: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let started = std::time::Instant::now();
    client::resolve_client(&mut req);
    let client = client::client_ip(&req);
    let method = req.method().clone();
    let uri = req.uri().clone();
    let request_id = req.data::<poem::middleware::ReqId>().cloned();
    // For a 5xx's report only: the map is cloned (its values are shared, not copied), and
    // turned into owned strings only for a 5xx.
    let headers = req.headers().clone();
    let hook = req.data::<ErrorHook>().cloned();
    let metrics = req.data::<Arc<Metrics>>().cloned();
    let pseudonymisation = req
        .data::<Arc<AuthContext>>()
        .map(|auth| auth.pseudonymisation);
    let mut response = next.call(req).await?.into_response();
    let status = response.status().as_u16();
    let path = uri.path();
    let request_id = || {
        request_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    if let Some(hook) = hook.filter(|_| response.status().is_server_error()) {
        report_server_error(
            &hook,
            status,
            method.as_str(),
            path,
            &headers,
            client,
            request_id(),
        );
    }
    if let Some(m) = metrics {
        let route = response.data::<poem::PathPattern>();
        m.answered(
            route.map(|r| &*r.0),
            method.as_str(),
            status,
            started.elapsed(),
        );
    }
    security_headers(&mut response, path);
    // The line is made only for a log that keeps it.
    if tracing::enabled!(target: "access", tracing::Level::INFO) {
        let source = match (client, pseudonymisation) {
            (Some(ip), Some(policy)) => gdpr_pii::IpAddress::from_ip(ip)
                .pseudonymise(policy)
                .to_string(),
            _ => "unknown".to_owned(),
        };
        access_log(
            method.as_str(),
            path,
            status,
            started,
            &request_id(),
            &source,
        );
    }
    Ok(response)
}

/// Headers on every answer: `X-Content-Type-Options: nosniff` (a browser never guesses a
/// type), and on everything but the API's description `Cache-Control: no-store` (answers carry
/// personal data: no cache, shared or private, keeps them).
fn security_headers(response: &mut Response, path: &str) {
    let headers = response.headers_mut();
    headers.insert(
        poem::http::header::X_CONTENT_TYPE_OPTIONS,
        poem::http::HeaderValue::from_static("nosniff"),
    );
    let description = path == "/openapi.json" || path.starts_with("/docs");
    if !description {
        headers.insert(
            poem::http::header::CACHE_CONTROL,
            poem::http::HeaderValue::from_static("no-store"),
        );
    }
}

/// One line per request on the `access` target: method, path (never the query string, which
/// may carry values), status, duration, request id, and the source's pseudonymised network.
fn access_log(
    method: &str,
    path: &str,
    status: u16,
    started: std::time::Instant,
    request_id: &str,
    source: &str,
) {
    tracing::info!(
        target: "access",
        method,
        path,
        status,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        request_id,
        source,
        "request"
    );
}

type ErrorHook = Arc<dyn Fn(gdpr_ports::ErrorReport) + Send + Sync>;

/// A panic answers like any unexpected failure: an opaque 500 problem document. The panic's
/// message is not used (it could hold anything); the report says a 500 happened, and where.
#[derive(Clone, Copy)]
struct PanicAsProblem;

impl poem::middleware::PanicHandler for PanicAsProblem {
    type Response = Response;

    fn get_response(&self, _panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        tracing::error!("a request handler panicked");
        let problem = Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an internal error occurred",
        );
        ApiError::from_problem(problem).into_response()
    }
}

/// Reports a 5xx answer (panics included, turned into 500 by `CatchPanic`) to the error
/// tracker, with the request's method, path, headers and address for the adapter to scrub.
fn report_server_error(
    hook: &ErrorHook,
    status: u16,
    method: &str,
    path: &str,
    headers: &poem::http::HeaderMap,
    client: Option<std::net::IpAddr>,
    request_id: String,
) {
    let context = gdpr_ports::RequestContext {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        client_ip: client.map(gdpr_pii::IpAddress::from_ip),
    };
    hook(gdpr_ports::ErrorReport {
        level: if status == 500 {
            gdpr_ports::ReportLevel::Critical
        } else {
            gdpr_ports::ReportLevel::Error
        },
        message: format!("HTTP {status} on {method} {path}"),
        person: None,
        context: [
            ("request_id".to_owned(), request_id),
            ("status".to_owned(), status.to_string()),
        ]
        .into(),
        request: Some(context),
    });
}

/// The body limit, whatever the protocol: a body whose declared length is over the limit is
/// refused before anything reads it, and any other (HTTP/1.1 chunked, HTTP/2 without a
/// length) is read up to the limit and refused as soon as it goes over, so that no more than
/// the limit is ever held. The streamed NDJSON import has limits of its own.
async fn body_limit<E: Endpoint>(next: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let limit = req.data::<BodyLimit>().map_or(u64::MAX, |l| l.0);
    if req.uri().path().ends_with("/subjects/import") {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let too_large = || {
        let problem = Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body is larger than {limit} bytes"),
        );
        Ok(ApiError::from_problem(problem).into_response())
    };
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large();
    }
    let body = req.take_body();
    let read = body
        .into_bytes_limit(usize::try_from(limit).unwrap_or(usize::MAX))
        .await;
    match read {
        Ok(bytes) => req.set_body(bytes),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => return too_large(),
        Err(_) => {
            let problem = Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "Bad request",
                "the request body could not be read to its end",
            );
            return Ok(ApiError::from_problem(problem).into_response());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

#[derive(Clone, Copy)]
struct BodyLimit(u64);

/// The whole HTTP application: `/v1` (the API), `/openapi.json`, `/docs` (Swagger UI),
/// `/portal` (the request portal's pages) and its `/assets`, `/healthz`, `/readyz` and
/// `/metrics`, with request ids, tracing, problem documents, the
/// body limit and the failed-authentication limiter.
pub fn routes<P: Ports>(
    app: Arc<App<P>>,
    options: HttpOptions,
) -> impl Endpoint<Output = Response> + 'static {
    let metrics = Arc::new(Metrics::new(|registry| {
        if let Some(register) = options.register_metrics {
            register(registry);
        }
    }));
    let auth = Arc::new(AuthContext {
        authenticator: Arc::new(AppAuthenticator(app.clone())),
        admin_token: options.admin_token,
        limiter: FailedAuthLimiter::new(options.auth_failures_per_minute),
        pseudonymisation: app.config().pseudonymisation,
        metrics: metrics.clone(),
    });
    let overdue_app = app.clone();
    let report_app = app.clone();
    let hook: ErrorHook = Arc::new(move |report| report_app.report_error(report));
    let ops = Ops {
        access: options.metrics,
        metrics: metrics.clone(),
        readiness: options.readiness,
        live: {
            let app = app.clone();
            Arc::new(move || {
                let app = app.clone();
                Box::pin(async move {
                    metrics::Reading {
                        now: time::OffsetDateTime::now_utc(),
                        jobs: app.queue_depth().await.ok(),
                        cache_entries: app.cache_entries(),
                        cache_up: app.cache_is_up(),
                    }
                })
            })
        },
        slow: Arc::new(move || {
            let app = overdue_app.clone();
            Box::pin(async move {
                metrics::Slow {
                    overdue: app.overdue_request_count().await.ok(),
                    failing: app.failing_checks().await.ok().map(|failing| {
                        failing
                            .into_iter()
                            .map(|(kind, n)| (metrics::check_name(kind), n))
                            .collect()
                    }),
                }
            })
        }),
        slow_cache: Arc::default(),
    };
    let portal = web::portal(app.clone());
    let console = web::console(app.clone());
    let service = api_service(app);
    let spec = service.spec();
    let allowed = Arc::new(problem::AllowedMethods::from_spec(&spec, "/v1"));
    let document = close_request_bodies(&spec);
    let served = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    let docs = service.swagger_ui();
    Route::new()
        .nest("/v1", service)
        .at("/openapi.json", served)
        .nest("/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_text))
        .nest("/portal", portal)
        .nest("/console", console)
        .at(
            "/assets/style.css",
            get(poem::endpoint::make_sync(|_| web::stylesheet())),
        )
        .around(body_limit)
        .around(problem::problem_layer)
        .with(poem::middleware::CatchPanic::new().with_handler(PanicAsProblem))
        .around(edge)
        .with(RequestId::default().reuse_id(ReuseId::Use))
        .data(client::TrustedProxies(Arc::new(options.trusted_proxies)))
        .data(ops)
        .data(auth)
        .data(metrics)
        .data(BodyLimit(options.body_limit))
        .data(allowed)
        .data(hook)
}
