//! Web pages for people: the request portal (`/portal/{tenant}`) and the console
//! (`/console`). Server-rendered HTML
//! (maud: templates compiled into the binary, every value escaped unless marked otherwise,
//! and nothing here marks one), one stylesheet, no script at all.
//!
//! Pages call the same use cases as the API, through `gdpr-app`; they never reach an
//! adapter. Every page answers with a Content-Security-Policy that allows nothing but this
//! origin's stylesheet and form posts, may not be framed, sends no referrer and is not
//! cached. No personal data goes into a URL (an address travels only in a form's body), so
//! the access log, which records paths, records none.

mod console;
mod i18n;
mod portal;

use gdpr_app::Lang;
use maud::{DOCTYPE, Markup, html};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response};

pub(crate) use console::console;
pub(crate) use portal::portal;

/// The stylesheet, compiled in.
const STYLE: &str = include_str!("style.css");

/// Everything the pages may load: this origin's stylesheet; forms post to this origin only.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A path parameter that must be a UUID.
pub(crate) fn uuid_param(req: &Request, name: &str) -> Option<uuid::Uuid> {
    req.raw_path_param(name)?.parse().ok()
}

/// Whether a form post comes from another site (the browser says so in `Sec-Fetch-Site`):
/// refused, so that no page elsewhere can make its visitors' browsers post our forms.
pub(crate) fn cross_site(req: &Request) -> bool {
    req.header("sec-fetch-site")
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// `GET /assets/style.css`.
pub(crate) fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .body(STYLE)
}

/// A query parameter's value, if the query has it.
pub(crate) fn query_param(req: &Request, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.uri().query()?)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The language of a page: `?lang=` if given, else the `Accept-Language` header's choice.
pub(crate) fn lang(req: &Request) -> Lang {
    match query_param(req, "lang").as_deref() {
        Some("fr") => Lang::Fr,
        Some("en") => Lang::En,
        _ => Lang::negotiate(req.header(header::ACCEPT_LANGUAGE).unwrap_or_default()),
    }
}

/// A whole page: `title` in the tab and as the heading, `org` in the banner beside the
/// switch to the other language (a link back to `here` in it).
pub(crate) fn page(lang: Lang, org: &str, here: &str, title: &str, body: &Markup) -> Markup {
    page_with(lang, org, here, title, None, body)
}

/// As [`page`], with a navigation bar (the console's) under the banner.
pub(crate) fn page_with(
    lang: Lang,
    org: &str,
    here: &str,
    title: &str,
    nav: Option<&Markup>,
    body: &Markup,
) -> Markup {
    let other = match lang {
        Lang::En => Lang::Fr,
        Lang::Fr => Lang::En,
    };
    let words = i18n::words(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — " (org) }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                header {
                    span.org { (org) }
                    a href={ (here) "?lang=" (other.tag()) } lang=(other.tag()) hreflang=(other.tag()) {
                        (words.other_language)
                    }
                }
                @if let Some(nav) = nav {
                    (nav)
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML answer with the pages' headers.
pub(crate) fn respond(status: StatusCode, markup: &Markup) -> Response {
    let mut response = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.clone().into_string());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `303 See Other` to `location` (after a form post: a reload does not post again).
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = Response::builder().status(StatusCode::SEE_OTHER).finish();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
