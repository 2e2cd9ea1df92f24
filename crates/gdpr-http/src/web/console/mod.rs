//! The console (`/console`): the pages a tenant's DPO and viewers work in. Sign-in with
//! e-mail and password, a session in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict),
//! a CSRF token in every form, and a role checked on every post: a `viewer` reads, a `dpo`
//! also acts. Every page and action calls a `gdpr-app` use case as the signed-in user, so the
//! audit chain names them; nothing here reaches an adapter. The operator's pages
//! (`/console/operator`, `operator.rs`) sit behind the admin token, with a session of their
//! own.
//!
//! A subject's address travels only in a form's body and pages name subjects by id: no
//! personal data goes into a URL, so the access log records none.

mod breaches;
mod operator;
mod pages;
mod requests;

use std::sync::Arc;

use gdpr_app::{App, AppError, ConsoleRole, ConsoleSession, Lang};
use gdpr_ports::Ports;
use maud::{Markup, html};
use poem::endpoint::make;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response, Route, get, post};
use secrecy::{ExposeSecret as _, SecretString};

use super::{cross_site, lang, page_with, respond, see_other};
use crate::auth::AuthContext;
use crate::client::client_ip;

/// The session's cookie: `__Host-` makes the browser refuse it unless it is Secure, for
/// this host only, on every path.
const SESSION_COOKIE: &str = "__Host-gdpr_console";
/// Password hashes computed at once, at most (each holds a core and 19 MiB).
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The sign-in form's own anti-forgery token (no session exists yet): the form's hidden
/// field must equal this cookie.
const SIGN_IN_COOKIE: &str = "__Host-gdpr_sign_in";

/// A text in the page's language: both are written side by side, so that none is missing.
pub(super) const fn tr(lang: Lang, en: &'static str, fr: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
    }
}

/// One signed-in page view.
pub(super) struct View {
    pub(super) lang: Lang,
    pub(super) session: ConsoleSession,
    pub(super) org: String,
    here: String,
}

impl View {
    pub(super) const fn t(&self, en: &'static str, fr: &'static str) -> &'static str {
        tr(self.lang, en, fr)
    }

    pub(super) const fn dpo(&self) -> bool {
        matches!(self.session.user.role, ConsoleRole::Dpo)
    }

    /// A console path with the page's language.
    pub(super) fn link(&self, path: &str) -> String {
        format!("/console{path}?lang={}", self.lang.tag())
    }

    /// The hidden field every form of the session carries.
    pub(super) fn csrf(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf.expose_secret()); }
    }

    fn nav(&self) -> Markup {
        let items = [
            ("", self.t("Overview", "Vue d'ensemble")),
            ("/requests", self.t("Requests", "Demandes")),
            (
                "/subjects",
                self.t("Find a subject", "Trouver une personne"),
            ),
            ("/register", self.t("Register", "Registre")),
            ("/purposes", self.t("Purposes and forms", "Finalités")),
            ("/recipients", self.t("Recipients", "Destinataires")),
            ("/breaches", self.t("Breaches", "Violations")),
            ("/webhooks", self.t("Webhooks", "Webhooks")),
            ("/backups", self.t("Backups", "Sauvegardes")),
            ("/audit", self.t("Audit", "Audit")),
        ];
        let current = self.here.strip_prefix("/console").unwrap_or_default();
        html! {
            nav aria-label=(self.t("Console", "Console")) {
                ul {
                    @for (path, label) in items {
                        @let here = current == path
                            || (!path.is_empty() && current.starts_with(&format!("{path}/")));
                        li {
                            @if here {
                                a href=(self.link(path)) aria-current="page" { (label) }
                            } @else {
                                a href=(self.link(path)) { (label) }
                            }
                        }
                    }
                }
                form.signout method="post" action=(self.link("/sign-out")) {
                    (self.csrf())
                    span { (self.session.user.email) " · " (self.session.user.role.as_str()) }
                    button type="submit" { (self.t("Sign out", "Se déconnecter")) }
                }
            }
        }
    }

    /// The page titled `title` around `body`.
    pub(super) fn render(&self, status: StatusCode, title: &str, body: &Markup) -> Response {
        let nav = self.nav();
        respond(
            status,
            &page_with(self.lang, &self.org, &self.here, title, Some(&nav), body),
        )
    }

    /// A page that only says what went wrong.
    pub(super) fn problem(&self, status: StatusCode, message: &str) -> Response {
        let title = self.t("Something is wrong", "Un problème est survenu");
        self.render(status, title, &html! { p.error role="alert" { (message) } })
    }

    /// The page for a use case's refusal or failure (messages carry no personal data).
    pub(super) fn failed(&self, e: &AppError) -> Response {
        let (status, message) = explain(self.lang, e);
        self.problem(status, &message)
    }
}

/// A table's header row: each column's words in the page's language.
pub(super) fn thead(lang: Lang, columns: &[(&'static str, &'static str)]) -> Markup {
    html! {
        thead { tr { @for (en, fr) in columns { th scope="col" { (tr(lang, en, fr)) } } } }
    }
}

/// A moment as the pages show it: `2026-12-07 09:30 UTC`.
pub(super) fn when(at: time::OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// What an action just did (`Ok`, announced politely) or why it was refused (`Err`, an
/// alert the form's fields point to), above a page.
pub(super) fn said(said: Option<Result<&str, &str>>) -> Markup {
    html! {
        @match said {
            Some(Ok(message)) => p.done role="status" { (message) },
            Some(Err(message)) => p.error role="alert" id="problem" { (message) },
            None => {},
        }
    }
}

/// The status and words for a use case's error.
pub(super) fn explain(lang: Lang, e: &AppError) -> (StatusCode, String) {
    match e {
        AppError::InvalidInput { .. } | AppError::InvalidRecord(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        AppError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            tr(lang, "There is no such page.", "Cette page n'existe pas.").to_owned(),
        ),
        AppError::Request(_)
        | AppError::Conflict(_)
        | AppError::ProcessingBlocked(_)
        | AppError::Consent(_)
        | AppError::ConsentRequired { .. }
        | AppError::ConsentFormMissing
        | AppError::Encryption(_) => (StatusCode::CONFLICT, e.to_string()),
        AppError::Form(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        AppError::Gone(_) => (StatusCode::GONE, e.to_string()),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, e.to_string()),
        AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        AppError::TenantOffboarding { .. } => (StatusCode::FORBIDDEN, e.to_string()),
        _ if crate::problem::is_unavailable(e) => {
            crate::problem::log_failure("console", e);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                tr(
                lang,
                "The service cannot answer just now. Try again in a few minutes.",
                "Le service ne peut pas répondre pour l'instant. Réessayez dans quelques minutes.",
            )
            .to_owned(),
            )
        }
        other => {
            crate::problem::log_failure("console", other);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                tr(
                    lang,
                    "Something failed on our side; it was reported.",
                    "Une erreur s'est produite de notre côté ; elle a été signalée.",
                )
                .to_owned(),
            )
        }
    }
}

/// The value of cookie `name` in the request.
pub(super) fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let mut line = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        line.push_str(&format!("; Max-Age={age}"));
    }
    if let Ok(value) = HeaderValue::from_str(&line) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn to_sign_in(lang: Lang) -> Response {
    see_other(&format!("/console/sign-in?lang={}", lang.tag()))
}

/// The signed-in view of `req`, or the answer for one that is not signed in.
pub(super) async fn view<P: Ports>(app: &App<P>, req: &Request) -> Result<View, Response> {
    let lang = lang(req);
    let Some(token) = cookie(req, SESSION_COOKIE) else {
        return Err(to_sign_in(lang));
    };
    let session = match app.console_session(&SecretString::from(token)).await {
        Ok(session) => session,
        Err(AppError::Unauthorized) => return Err(to_sign_in(lang)),
        Err(e) => {
            let (status, message) = explain(lang, &e);
            let body = html! { p.error role="alert" { (message) } };
            let title = tr(lang, "Something is wrong", "Un problème est survenu");
            return Err(respond(
                status,
                &page_with(lang, "", "", title, None, &body),
            ));
        }
    };
    let org = app
        .tenant(session.user.tenant)
        .await
        .map(|t| t.name)
        .unwrap_or_default();
    Ok(View {
        lang,
        session,
        org,
        here: req.original_uri().path().to_owned(),
    })
}

/// A form post of the signed-in session: the session, the role it needs (`dpo` for any
/// change), the same origin and the CSRF token checked, then its fields.
pub(super) async fn posted<P: Ports>(
    app: &App<P>,
    mut req: Request,
) -> Result<(View, Vec<(String, String)>), Response> {
    let v = view(app, &req).await?;
    if cross_site(&req) {
        return Err(v.problem(
            StatusCode::FORBIDDEN,
            v.t(
                "This form can only be sent from the console's own pages.",
                "Ce formulaire ne peut être envoyé que depuis les pages de la console.",
            ),
        ));
    }
    let body = req.take_body().into_string().await.unwrap_or_default();
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let token = field(&fields, "csrf");
    if !v.session.csrf_matches(token) {
        tracing::warn!(target: "security", event = "csrf_refused", path = req.uri().path(), "console form without its session's token");
        return Err(v.problem(
            StatusCode::FORBIDDEN,
            v.t(
                "This form has expired or did not come from this console. Reload the page and try again.",
                "Ce formulaire a expiré ou ne vient pas de cette console. Rechargez la page et réessayez.",
            ),
        ));
    }
    Ok((v, fields))
}

/// As [`posted`], for a change: a `viewer` is refused.
pub(super) async fn posted_by_dpo<P: Ports>(
    app: &App<P>,
    req: Request,
) -> Result<(View, Vec<(String, String)>), Response> {
    let (v, fields) = posted(app, req).await?;
    if !v.dpo() {
        tracing::warn!(target: "security", event = "console_role_refused", user = %v.session.user.id, "a viewer tried a change");
        return Err(v.problem(
            StatusCode::FORBIDDEN,
            v.t(
                "Your role (viewer) may read, not change anything.",
                "Votre rôle (lecteur) permet de consulter, pas de modifier.",
            ),
        ));
    }
    Ok((v, fields))
}

/// A form field's value (empty when absent).
pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The console's routes, to nest under `/console`.
pub(crate) fn console<P: Ports>(app: Arc<App<P>>) -> Route {
    macro_rules! to {
        ($handler:path) => {{
            let app = app.clone();
            make(move |req| $handler(app.clone(), req))
        }};
    }
    Route::new()
        .at("/", get(to!(pages::overview)))
        .at("/sign-in", get(to!(sign_in_page)).post(to!(sign_in)))
        .at("/sign-out", post(to!(sign_out)))
        .at("/requests", get(to!(requests::list)))
        .at("/requests/:id", get(to!(requests::detail)))
        .at("/requests/:id/:action", post(to!(requests::act)))
        .at("/exports/:id", post(to!(requests::download)))
        .at(
            "/subjects",
            get(to!(pages::find_subject)).post(to!(pages::found_subject)),
        )
        .at("/register", get(to!(pages::register)))
        .at("/purposes", get(to!(pages::purposes)))
        .at("/recipients", get(to!(pages::recipients)))
        .at(
            "/breaches",
            get(to!(breaches::list)).post(to!(breaches::record)),
        )
        .at("/breaches/:id", get(to!(breaches::detail)))
        .at("/breaches/:id/:action", post(to!(breaches::act)))
        .at("/webhooks", get(to!(pages::webhooks)))
        .at("/webhooks/:id/replay", post(to!(pages::replay)))
        .at("/backups", get(to!(pages::backups)))
        .at("/audit", get(to!(pages::audit)))
        .at("/operator", get(to!(operator::tenants)))
        .at(
            "/operator/sign-in",
            get(to!(operator::sign_in_page)).post(to!(operator::sign_in)),
        )
        .at("/operator/sign-out", post(to!(operator::sign_out)))
        .at("/operator/tenants", post(to!(operator::create_tenant)))
        .at("/operator/tenants/:id", get(to!(operator::tenant)))
        .at("/operator/tenants/:id/:action", post(to!(operator::act)))
}

/// Which sign-in form: a tenant's staff (address and password) or the operator (the admin
/// token).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Door {
    Staff,
    Operator,
}

impl Door {
    const fn path(self) -> &'static str {
        match self {
            Self::Staff => "/console/sign-in",
            Self::Operator => "/console/operator/sign-in",
        }
    }
}

fn sign_in_form(lang: Lang, door: Door, token: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(problem) = problem {
            p.error role="alert" id="problem" { (problem) }
        }
        form method="post" action={ (door.path()) "?lang=" (lang.tag()) } {
            input type="hidden" name="csrf" value=(token);
            @if door == Door::Staff {
                label for="email" { (tr(lang, "E-mail address", "Adresse e-mail")) }
                input type="email" id="email" name="email" required autocomplete="username";
                label for="password" { (tr(lang, "Password", "Mot de passe")) }
                input type="password" id="password" name="password" required
                    autocomplete="current-password";
            } @else {
                label for="token" { (tr(lang, "Admin token", "Jeton d'administration")) }
                input type="password" id="token" name="token" required autocomplete="off";
            }
            button type="submit" { (tr(lang, "Sign in", "Se connecter")) }
        }
    }
}

/// The sign-in page of `door`, with a fresh anti-forgery token in the form and its cookie.
pub(super) fn sign_in_answer(
    lang: Lang,
    door: Door,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    // 122 random bits from the operating system.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let title = match door {
        Door::Staff => tr(lang, "Sign in to the console", "Connexion à la console"),
        Door::Operator => tr(lang, "The operator's pages", "Pages de l'opérateur"),
    };
    let body = sign_in_form(lang, door, &token, problem);
    let mut response = respond(
        status,
        &page_with(lang, "", door.path(), title, None, &body),
    );
    set_cookie(&mut response, SIGN_IN_COOKIE, &token, None);
    response
}

/// `GET /console/sign-in`.
async fn sign_in_page<P: Ports>(_app: Arc<App<P>>, req: Request) -> Response {
    sign_in_answer(lang(&req), Door::Staff, StatusCode::OK, None)
}

/// A sign-in post, checked before its credentials are looked at: the source's allowance of
/// failures, the same origin, and the form's token against its cookie.
pub(super) struct SignInPost {
    pub(super) lang: Lang,
    pub(super) fields: Vec<(String, String)>,
    auth: Option<Arc<AuthContext>>,
    source: Option<std::net::IpAddr>,
}

impl SignInPost {
    /// The post's fields, or the answer that refuses it.
    pub(super) async fn read(mut req: Request, door: Door) -> Result<Self, Response> {
        let lang = lang(&req);
        let auth = req.data::<Arc<AuthContext>>().cloned();
        let source = client_ip(&req);
        if let (Some(auth), Some(ip)) = (&auth, source)
            && auth.limiter.blocked(ip)
        {
            auth.metrics.rate_limited.inc();
            let message = tr(
                lang,
                "Too many failed sign-ins from here. Try again in a minute.",
                "Trop de connexions échouées depuis cet endroit. Réessayez dans une minute.",
            );
            return Err(sign_in_answer(
                lang,
                door,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
            ));
        }
        let expected = cookie(&req, SIGN_IN_COOKIE).unwrap_or_default();
        let body = req.take_body().into_string().await.unwrap_or_default();
        let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
        let token = field(&fields, "csrf");
        if cross_site(&req)
            || expected.is_empty()
            || !bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                token.as_bytes(),
            ))
        {
            let message = tr(
                lang,
                "This form has expired or did not come from this console. Try again.",
                "Ce formulaire a expiré ou ne vient pas de cette console. Réessayez.",
            );
            return Err(sign_in_answer(
                lang,
                door,
                StatusCode::FORBIDDEN,
                Some(message),
            ));
        }
        Ok(Self {
            lang,
            fields,
            auth,
            source,
        })
    }

    /// The credentials were wrong: counted against the source, logged (without them).
    pub(super) fn failed(&self, door: Door, message: &str) -> Response {
        let mut source = None;
        if let (Some(auth), Some(ip)) = (&self.auth, self.source) {
            auth.limiter.fail(ip);
            auth.metrics.auth_failures.inc();
            source = Some(
                gdpr_pii::IpAddress::from_ip(ip)
                    .pseudonymise(auth.pseudonymisation)
                    .to_string(),
            );
        }
        tracing::warn!(
            target: "security",
            event = "console_sign_in_failed",
            source = source.as_deref().unwrap_or("unknown"),
            "console sign-in refused"
        );
        sign_in_answer(self.lang, door, StatusCode::UNAUTHORIZED, Some(message))
    }

    /// Signed in: the session's cookie, the sign-in cookie cleared, on to `location`.
    pub(super) fn signed_in(&self, location: &str, cookie: &str, token: &SecretString) -> Response {
        let mut response = see_other(&format!("{location}?lang={}", self.lang.tag()));
        set_cookie(&mut response, cookie, token.expose_secret(), None);
        set_cookie(&mut response, SIGN_IN_COOKIE, "", Some(0));
        response
    }

    /// Whether `token` is the deployment's admin token (compared through hashes, in
    /// constant time); never, when the admin routes are off.
    pub(super) fn is_admin_token(&self, token: &str) -> bool {
        self.auth.as_ref().is_some_and(|a| a.is_admin_token(token))
    }

    /// The admin token's fingerprint, which an operator session keeps.
    pub(super) fn admin_key(&self) -> Option<String> {
        self.auth.as_ref().and_then(|a| a.admin_key())
    }
}

/// `POST /console/sign-in`: the session's cookie and on to the overview, or the form again.
async fn sign_in<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let previous = cookie(&req, SESSION_COOKIE);
    let post = match SignInPost::read(req, Door::Staff).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let lang = post.lang;
    let password = SecretString::from(field(&post.fields, "password").to_owned());
    let email = field(&post.fields, "email").to_owned();
    // argon2id holds a core for tens of milliseconds: off the async workers, two at a time
    // (the permit goes with the work, so a client that leaves does not free it early), and
    // a sign-in that cannot get one within seconds is told to come back.
    let busy = || {
        let message = tr(
            lang,
            "Too many sign-ins at once. Try again in a moment.",
            "Trop de connexions en même temps. Réessayez dans un instant.",
        );
        sign_in_answer(
            lang,
            Door::Staff,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(message),
        )
    };
    let Ok(Ok(permit)) =
        tokio::time::timeout(std::time::Duration::from_secs(5), HASHING.acquire()).await
    else {
        return busy();
    };
    let signing_in = {
        let app = app.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            handle.block_on(async move { app.console_sign_in(&email, &password).await })
        })
    };
    let outcome = match signing_in.await {
        Ok(outcome) => outcome,
        Err(e) => {
            // A join error's text can carry a panic's message: only what it was.
            tracing::error!(panicked = e.is_panic(), "console sign-in task failed");
            return busy();
        }
    };
    if outcome.is_ok()
        && let Some(previous) = previous
        && let Ok(session) = app.console_session(&SecretString::from(previous)).await
    {
        // A session this browser still held ends: one browser, one session.
        let _ = app.console_sign_out(&session).await;
    }
    match outcome {
        Ok(signed_in) => {
            tracing::info!(target: "security", event = "console_signed_in", user = %signed_in.session.user.id, "console sign-in");
            post.signed_in("/console", SESSION_COOKIE, &signed_in.token)
        }
        Err(AppError::Unauthorized) => post.failed(
            Door::Staff,
            tr(
                lang,
                "This address and password do not match a console user.",
                "Cette adresse et ce mot de passe ne correspondent à aucun utilisateur.",
            ),
        ),
        Err(e) => {
            let (status, message) = explain(lang, &e);
            sign_in_answer(lang, Door::Staff, status, Some(&message))
        }
    }
}

/// `POST /console/sign-out`.
async fn sign_out<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let lang = lang(&req);
    let (v, _) = match posted(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    if let Err(e) = app.console_sign_out(&v.session).await {
        return v.failed(&e);
    }
    let mut response = to_sign_in(lang);
    set_cookie(&mut response, SESSION_COOKIE, "", Some(0));
    response
}
