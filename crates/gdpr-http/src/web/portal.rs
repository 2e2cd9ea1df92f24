//! The request portal's pages (`/portal/{tenant}`): the form (which right, which address),
//! the code's page, the answer. The use cases are `App::portal_open` and
//! `App::portal_confirm`; this module only reads forms and renders what they say.
//!
//! A form post answers `303 See Other` on success (a reload does not post again) and
//! re-renders the form with the problem said next to it otherwise, with the matching status
//! (422, 429, 410, 409, 404, 503). The address typed is not echoed back: it stays out of
//! every page the service renders.

use std::sync::Arc;

use gdpr_app::portal::CODE_DIGITS;
use gdpr_app::{App, AppError, Lang, PortalAnswer};
use gdpr_pii::TenantId;
use gdpr_ports::Ports;
use maud::{Markup, html};
use poem::endpoint::make;
use poem::http::StatusCode;
use poem::{Request, Response, Route, get};
use serde::Deserialize;

use super::i18n::{Words, rights, words};
use super::{cross_site, lang, page, respond, see_other, uuid_param};
use crate::client::client_ip;

/// The portal's routes, to nest under `/portal`.
pub(crate) fn portal<P: Ports>(app: Arc<App<P>>) -> Route {
    let (a, b, c, d) = (app.clone(), app.clone(), app.clone(), app);
    Route::new()
        .at(
            "/:tenant",
            get(make(move |req| start(a.clone(), req))).post(make(move |req| open(b.clone(), req))),
        )
        .at(
            "/:tenant/:inquiry",
            get(make(move |req| code_page(c.clone(), req)))
                .post(make(move |req| confirm(d.clone(), req))),
        )
}

#[derive(Deserialize)]
struct OpenForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

/// One page view: its language, the tenant the path names (if its portal is open), the
/// tenant's name and the page's own path.
struct Visit {
    lang: Lang,
    tenant: TenantId,
    org: String,
    here: String,
    /// How long a code works, and for how many tries (the pages say so).
    minutes: i64,
    tries: u8,
}

impl Visit {
    /// The view of `req`, or the answer when the tenant has no open portal.
    async fn of<P: Ports>(app: &App<P>, req: &Request) -> Result<Self, Response> {
        let lang = lang(req);
        let Some(tenant) = uuid_param(req, "tenant").map(TenantId::from_uuid) else {
            return Err(not_found(lang));
        };
        match app.portal_tenant(tenant).await {
            Ok(t) => Ok(Self {
                lang,
                tenant,
                org: t.name,
                here: req.original_uri().path().to_owned(),
                minutes: app.config().portal.code_ttl.whole_minutes(),
                tries: app.config().portal.code_tries,
            }),
            Err(AppError::NotFound(_)) => Err(not_found(lang)),
            Err(e) => Err(failure(lang, &e)),
        }
    }

    fn words(&self) -> &'static Words {
        words(self.lang)
    }

    /// The page titled `title` around `body`.
    fn render(&self, status: StatusCode, title: &str, body: &Markup) -> Response {
        respond(status, &page(self.lang, &self.org, &self.here, title, body))
    }

    /// A page that ends the journey (an answer): its language switch leads to the start.
    fn render_end(&self, status: StatusCode, title: &str, body: &Markup) -> Response {
        let start = start_of(&self.here);
        respond(status, &page(self.lang, &self.org, start, title, body))
    }

    /// `text` with the deployment's settings filled in.
    fn fill(&self, text: &str) -> String {
        text.replace("{minutes}", &self.minutes.to_string())
            .replace("{tries}", &self.tries.to_string())
    }
}

fn not_found(lang: Lang) -> Response {
    let w = words(lang);
    respond(
        StatusCode::NOT_FOUND,
        &page(lang, "", "", w.error_title, &html! { p { (w.not_found) } }),
    )
}

/// An answer for what the person cannot mend: the service's own failure.
fn failure(lang: Lang, e: &AppError) -> Response {
    let w = words(lang);
    crate::problem::log_failure("portal", e);
    let status = if crate::problem::is_unavailable(e) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    respond(
        status,
        &page(
            lang,
            "",
            "",
            w.error_title,
            &html! { p.error role="alert" { (w.unavailable) } },
        ),
    )
}

fn error_line(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.error role="alert" id="problem" { (message) }
        }
    }
}

fn start_form(w: &Words, lang: Lang, here: &str, problem: Option<&str>) -> Markup {
    html! {
        p { (w.intro) }
        (error_line(problem))
        form method="post" action={ (here) "?lang=" (lang.tag()) } {
            fieldset {
                legend { (w.what) }
                @for (i, (_, value, label, hint)) in rights(lang).iter().enumerate() {
                    div.choice {
                        input type="radio" name="kind" id={ "kind-" (value) } value=(value)
                            required checked[i == 0] aria-describedby={ "hint-" (value) };
                        div {
                            label for={ "kind-" (value) } { (label) }
                            p.hint id={ "hint-" (value) } { (hint) }
                        }
                    }
                }
            }
            label for="email" { (w.email) }
            p.hint id="email-hint" { (w.email_hint) }
            input type="email" id="email" name="email" required autocomplete="email"
                aria-describedby=(described_by("email-hint", problem));
            button type="submit" { (w.send_code) }
        }
    }
}

/// `GET /portal/{tenant}`.
async fn start<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = match Visit::of(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let w = v.words();
    v.render(
        StatusCode::OK,
        w.title,
        &start_form(w, v.lang, &v.here, None),
    )
}

/// `POST /portal/{tenant}`: sends the code, then on to the code's page.
async fn open<P: Ports>(app: Arc<App<P>>, mut req: Request) -> Response {
    let v = match Visit::of(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let (w, lang) = (v.words(), v.lang);
    if cross_site(&req) {
        let refused = html! { p.error role="alert" { (w.cross_site) } };
        return v.render(StatusCode::FORBIDDEN, w.error_title, &refused);
    }
    let body = req.take_body().into_string().await.unwrap_or_default();
    let form: Option<OpenForm> = serde_urlencoded::from_str(&body).ok();
    let kind = form
        .as_ref()
        .and_then(|f| rights(lang).into_iter().find(|r| r.1 == f.kind))
        .map(|r| r.0);
    let again = |status, problem: &str| {
        v.render(
            status,
            w.title,
            &start_form(w, lang, &v.here, Some(problem)),
        )
    };
    let (Some(form), Some(kind)) = (form, kind) else {
        return again(StatusCode::UNPROCESSABLE_ENTITY, w.bad_kind);
    };
    let source = client_ip(&req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match app
        .portal_open(v.tenant, &form.email, kind, &source, lang)
        .await
    {
        Ok(ticket) => see_other(&format!(
            "{}/{}?lang={}",
            v.here,
            ticket.inquiry,
            lang.tag()
        )),
        Err(AppError::InvalidInput { .. }) => again(StatusCode::UNPROCESSABLE_ENTITY, w.bad_email),
        Err(AppError::TooManyRequests(_)) => again(StatusCode::TOO_MANY_REQUESTS, w.too_many),
        Err(AppError::NotFound(_)) => not_found(lang),
        Err(e @ AppError::Mail(_)) => {
            tracing::warn!(error = %e, "portal: a code could not be sent");
            again(StatusCode::SERVICE_UNAVAILABLE, w.unavailable)
        }
        Err(e) => failure(lang, &e),
    }
}

fn code_form(v: &Visit, problem: Option<&str>) -> Markup {
    let w = v.words();
    let pattern = format!("[0-9]{{{CODE_DIGITS}}}");
    html! {
        p { (v.fill(w.code_sent)) }
        (error_line(problem))
        form method="post" action={ (v.here) "?lang=" (v.lang.tag()) } {
            label for="code" { (w.code) }
            p.hint id="code-hint" { (w.code_hint) }
            input type="text" id="code" name="code" required inputmode="numeric"
                pattern=(pattern) maxlength=(CODE_DIGITS) autocomplete="one-time-code"
                aria-describedby=(described_by("code-hint", problem));
            button type="submit" { (w.confirm) }
        }
    }
}

/// The ids a field's `aria-describedby` names: its hint, and the problem said, if any.
fn described_by(hint: &str, problem: Option<&str>) -> String {
    match problem {
        Some(_) => format!("{hint} problem"),
        None => hint.to_owned(),
    }
}

/// The portal's start page, from a path under it.
fn start_of(here: &str) -> &str {
    here.rsplit_once('/').map_or(here, |(start, _)| start)
}

/// `GET /portal/{tenant}/{inquiry}`.
async fn code_page<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = match Visit::of(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    if uuid_param(&req, "inquiry").is_none() {
        return not_found(v.lang);
    }
    v.render(StatusCode::OK, v.words().code_title, &code_form(&v, None))
}

/// `POST /portal/{tenant}/{inquiry}`: the code given back; the answer.
async fn confirm<P: Ports>(app: Arc<App<P>>, mut req: Request) -> Response {
    let v = match Visit::of(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let Some(inquiry) = uuid_param(&req, "inquiry") else {
        return not_found(v.lang);
    };
    let (w, lang) = (v.words(), v.lang);
    if cross_site(&req) {
        let refused = html! { p.error role="alert" { (w.cross_site) } };
        return v.render(StatusCode::FORBIDDEN, w.error_title, &refused);
    }
    let body = req.take_body().into_string().await.unwrap_or_default();
    let code = serde_urlencoded::from_str::<CodeForm>(&body)
        .map(|f| f.code)
        .unwrap_or_default();
    let again =
        |status, problem: &str| v.render(status, w.code_title, &code_form(&v, Some(problem)));
    let ended = |status, problem: &str| {
        let body = html! {
            p.error role="alert" { (problem) }
            p { a href={ (start_of(&v.here)) "?lang=" (lang.tag()) } { (w.start_again) } }
        };
        v.render_end(status, w.code_title, &body)
    };
    // Not the code's form: said, and no try spent.
    let code = code.trim();
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, w.code_hint);
    }
    match app.portal_confirm(v.tenant, inquiry, code).await {
        Ok(PortalAnswer::RequestOpened { request, due }) => {
            let body = html! {
                dl {
                    dt { (w.opened_reference) }
                    dd { code { (request) } }
                    dt { (w.opened_due) }
                    dd { time datetime=(due) { (due) } }
                }
            };
            v.render_end(StatusCode::OK, w.opened_title, &body)
        }
        Ok(PortalAnswer::NothingHeld) => v.render_end(
            StatusCode::OK,
            w.nothing_title,
            &html! { p { (w.nothing_held) } },
        ),
        Err(AppError::InvalidInput { .. }) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, &v.fill(w.wrong_code))
        }
        Err(AppError::Gone(_)) => ended(StatusCode::GONE, w.code_gone),
        Err(AppError::Conflict(_)) => ended(StatusCode::CONFLICT, w.already),
        Err(AppError::NotFound(_)) => not_found(lang),
        Err(e) => failure(lang, &e),
    }
}
