//! The requests' pages: the list by due date, one request with what can be done to it
//! (verify the requester's identity, extend, export, erase, complete, refuse), and the
//! download of an export. Each action is a form post answered `303 See Other` back to the
//! request, which then says what was done.

use std::sync::Arc;

use gdpr_app::{App, Lang, RequestView};
use gdpr_pii::{RequestId, SubjectId};
use gdpr_ports::{Cursor, Page, Ports};
use gdpr_rights::{RequestKind, RequestStatus, VerificationMethod};
use maud::{Markup, html};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response};

use super::{View, field, posted_by_dpo, thead, tr, view};
use crate::web::{query_param, see_other, uuid_param};

/// Rows a list shows at most (the rest is counted, and reached by the subject's page).
const SHOWN: usize = 200;

/// Requests a page of the full list holds (no more than a list shows).
const HISTORY_PAGE: u32 = 200;

pub(super) fn kind_name(lang: Lang, kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => tr(lang, "Access", "Accès"),
        RequestKind::Portability => tr(lang, "Portability", "Portabilité"),
        RequestKind::Rectification => tr(lang, "Rectification", "Rectification"),
        RequestKind::Erasure => tr(lang, "Erasure", "Effacement"),
        RequestKind::Restriction => tr(lang, "Restriction", "Limitation"),
        RequestKind::Objection => tr(lang, "Objection", "Opposition"),
    }
}

fn status_name(lang: Lang, r: &RequestView) -> &'static str {
    match r.request.status {
        RequestStatus::Open if r.overdue => tr(lang, "Overdue", "En retard"),
        RequestStatus::Open => tr(lang, "Open", "Ouverte"),
        RequestStatus::Completed => tr(lang, "Completed", "Traitée"),
        RequestStatus::Refused => tr(lang, "Refused", "Refusée"),
    }
}

/// A table of requests, overdue ones marked in words and in red.
pub(super) fn table(v: &View, list: &[RequestView]) -> Markup {
    html! {
        table {
            (thead(v.lang, &[("Reference", "Référence"), ("Right", "Droit"), ("Received", "Reçue"), ("Due", "Échéance"), ("Status", "État")]))
            tbody {
                @for r in list.iter().take(SHOWN) {
                    tr.overdue[r.overdue] {
                        td { a href=(v.link(&format!("/requests/{}", r.request.id))) { code { (r.request.id) } } }
                        td { (kind_name(v.lang, r.request.kind)) }
                        td { (r.request.received_at.date()) }
                        td { time datetime=(r.due_date) { (r.due_date) } }
                        td { (status_name(v.lang, r)) }
                    }
                }
            }
        }
        @if list.len() > SHOWN {
            p.hint { (list.len() - SHOWN) " " (v.t("more not shown.", "autres non affichées.")) }
        }
    }
}

/// Open requests first, by due date; then the closed ones, newest first.
pub(super) fn by_due_date(mut list: Vec<RequestView>) -> Vec<RequestView> {
    list.sort_by(|a, b| {
        let open = |r: &RequestView| r.request.status != RequestStatus::Open;
        open(a).cmp(&open(b)).then_with(|| match a.request.status {
            RequestStatus::Open => a.due_date.cmp(&b.due_date),
            _ => b.request.received_at.cmp(&a.request.received_at),
        })
    });
    list
}

/// `GET /console/requests`: the open requests by due date; with `?all=1`, every request in
/// the order received, a page at a time (`&after=`, the cursor the page before links to), so
/// that the thousandth closed request is as near as the first and a page costs the same at
/// any depth.
pub(super) async fn list<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = match view(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let all = query_param(&req, "all").as_deref() == Some("1");
    let page = Page {
        offset: 0,
        limit: HISTORY_PAGE,
        after: None,
    };
    let page = match (all, query_param(&req, "after")) {
        (true, Some(text)) => match crate::api::parse_cursor(&text) {
            Some(after) => Page {
                after: Some(after),
                ..page
            },
            None => {
                let message = v.t(
                    "This link to a further page is not one the console made.",
                    "Ce lien vers une page suivante ne vient pas de la console.",
                );
                return v.problem(StatusCode::BAD_REQUEST, message);
            }
        },
        _ => page,
    };
    let shown = if all {
        app.requests(v.session.ctx(), false, page).await
    } else {
        app.open_requests(v.session.ctx()).await.map(by_due_date)
    };
    let shown = match shown {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let next = all
        .then(|| {
            let last = shown.last().map(|r| Cursor {
                at: r.request.received_at,
                id: *r.request.id.as_uuid(),
            });
            crate::api::next_page(page, shown.len(), last)
        })
        .flatten();
    let body = html! {
        p {
            @if all {
                a href=(v.link("/requests")) { (v.t("Open requests only", "Demandes ouvertes seulement")) }
            } @else {
                a href={ (v.link("/requests")) "&all=1" } { (v.t("Every request, in the order received", "Toutes les demandes, dans l'ordre de réception")) }
            }
        }
        @if shown.is_empty() {
            p { (v.t("No request.", "Aucune demande.")) }
        } @else {
            (table(&v, &shown))
        }
        @if let Some(next) = next {
            p { a rel="next" href={ (v.link("/requests")) "&all=1&after=" (next) } { (v.t("Next page", "Page suivante")) } }
        }
    };
    v.render(StatusCode::OK, v.t("Requests", "Demandes"), &body)
}

fn request_id(req: &Request) -> Option<RequestId> {
    uuid_param(req, "id").map(RequestId::from_uuid)
}

const METHODS: [(VerificationMethod, &str, &str, &str); 5] = [
    (
        VerificationMethod::EmailCode,
        "email_code",
        "A code sent to their known address",
        "Un code envoyé à leur adresse connue",
    ),
    (
        VerificationMethod::AccountLogin,
        "account_login",
        "Signed in to their account",
        "Connecté à son compte",
    ),
    (
        VerificationMethod::IdentityDocument,
        "identity_document",
        "An identity document (not kept)",
        "Une pièce d'identité (non conservée)",
    ),
    (
        VerificationMethod::InPerson,
        "in_person",
        "In person",
        "En personne",
    ),
    (
        VerificationMethod::Other,
        "other",
        "Other (say how in the note)",
        "Autre (préciser dans la note)",
    ),
];

/// What a finished action says on the request's page (fixed words: nothing of the query is
/// echoed).
fn done_message(v: &View, done: &str) -> Option<&'static str> {
    Some(match done {
        "verify" => v.t(
            "Identity verification recorded.",
            "Vérification d'identité enregistrée.",
        ),
        "extend" => v.t("Deadline extended.", "Délai prolongé."),
        "export" => v.t("Export prepared.", "Export préparé."),
        "erase" => v.t(
            "The subject was erased; the request is closed.",
            "La personne a été effacée ; la demande est close.",
        ),
        "complete" => v.t("Request completed.", "Demande traitée."),
        "refuse" => v.t("Request refused.", "Demande refusée."),
        _ => return None,
    })
}

/// `GET /console/requests/{id}`.
pub(super) async fn detail<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = match view(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let Some(id) = request_id(&req) else {
        return v.failed(&gdpr_app::AppError::NotFound("request"));
    };
    let done = query_param(&req, "done");
    let export = query_param(&req, "export").and_then(|e| uuid::Uuid::try_parse(&e).ok());
    let note = done.as_deref().and_then(|d| done_message(&v, d));
    render_detail(&app, &v, id, StatusCode::OK, note.map(Ok), export).await
}

/// The request's page, with a line saying what was just done or what went wrong.
async fn render_detail<P: Ports>(
    app: &App<P>,
    v: &View,
    id: RequestId,
    status: StatusCode,
    said: Option<Result<&str, &str>>,
    export: Option<uuid::Uuid>,
) -> Response {
    let ctx = v.session.ctx();
    let r = match app.request(ctx, id).await {
        Ok(r) => r,
        Err(e) => return v.failed(&e),
    };
    // The subject's name, if they are still held (viewing it is audited, as the user).
    let name = match app.subject(ctx, r.request.subject).await {
        Ok(s) => s.full_name.map(|n| n.expose_pii().to_owned()),
        Err(gdpr_app::AppError::NotFound(_)) => None,
        Err(e) => return v.failed(&e),
    };
    let open = r.request.status == RequestStatus::Open;
    let title = format!(
        "{} — {}",
        kind_name(v.lang, r.request.kind),
        status_name(v.lang, &r)
    );
    let action = |a: &str| v.link(&format!("/requests/{id}/{a}"));
    let body = html! {
        (super::said(said))
        @if let (Some(export), true) = (export, v.dpo()) {
            form.done method="post" action=(v.link(&format!("/exports/{export}"))) {
                (v.csrf())
                button type="submit" { (v.t("Download the encrypted export", "Télécharger l'export chiffré")) }
                " " (v.t("(OpenPGP, to the controller's keys; it can be downloaded once)", "(OpenPGP, pour les clés du responsable ; téléchargeable une fois)"))
            }
        }
        dl {
            dt { (v.t("Reference", "Référence")) } dd { code { (r.request.id) } }
            dt { (v.t("Subject", "Personne")) }
            dd {
                code { (r.request.subject) }
                @if let Some(name) = &name { " — " span.name { (name) } }
            }
            dt { (v.t("Received", "Reçue")) } dd { (r.request.received_at.date()) }
            dt { (v.t("Due", "Échéance")) }
            dd.overdue[r.overdue] {
                time datetime=(r.due_date) { (r.due_date) }
                @if r.overdue { " — " strong { (v.t("overdue", "en retard")) } }
            }
            @if let Some(ext) = &r.request.extension {
                dt { (v.t("Extended", "Prolongée")) }
                dd { (ext.months) " " (v.t("month(s): ", "mois : ")) (ext.reason) }
            }
            dt { (v.t("Identity", "Identité")) }
            dd {
                @if let Some(ver) = &r.request.verification {
                    (v.t("verified", "vérifiée")) " (" (method_name(v.lang, ver.method)) ", " (ver.at.date()) ")"
                } @else {
                    strong { (v.t("not verified yet", "pas encore vérifiée")) }
                }
            }
            @if let Some(reason) = &r.request.refusal_reason {
                dt { (v.t("Refused because", "Refusée car")) } dd { (reason) }
            }
        }
        @if let Some(recipients) = r.recipients.as_ref().filter(|l| !l.is_empty()) {
            section aria-labelledby="recipients-h" {
                h2 id="recipients-h" { (v.t("Recipients told of the erasure (Art. 19)", "Destinataires informés de l'effacement (art. 19)")) }
                ul.recipients {
                    @for c in recipients {
                        li.overdue[c.overdue] {
                            code { (c.url) } " — "
                            @if let Some(at) = c.confirmed_at {
                                (v.t("confirmed on ", "confirmé le ")) (at.date())
                                @if c.by == gdpr_webhooks::ConfirmedBy::Callback {
                                    (v.t(", erased on its side", ", effacé de son côté"))
                                }
                            } @else if c.by == gdpr_webhooks::ConfirmedBy::Callback && !c.overdue {
                                (v.t("pending: awaiting its confirmation that it erased", "en attente de sa confirmation d'effacement"))
                            } @else if c.overdue {
                                strong { (v.t("not confirmed: overdue", "non confirmé : en retard")) }
                            } @else {
                                (v.t("pending", "en attente"))
                            }
                        }
                    }
                }
            }
        }
        @if open && v.dpo() {
            @if r.request.verification.is_none() {
                section aria-labelledby="verify-h" {
                    h2 id="verify-h" { (v.t("Verify the requester's identity", "Vérifier l'identité du demandeur")) }
                    form method="post" action=(action("verify")) {
                        (v.csrf())
                        label for="method" { (v.t("How", "Comment")) }
                        select id="method" name="method" {
                            @for (_, value, en, fr) in METHODS {
                                option value=(value) { (v.t(en, fr)) }
                            }
                        }
                        label for="note" { (v.t("Note (optional)", "Note (facultative)")) }
                        input type="text" id="note" name="note" maxlength="500";
                        button type="submit" { (v.t("Record the verification", "Enregistrer la vérification")) }
                    }
                }
            }
            section aria-labelledby="answer-h" {
                h2 id="answer-h" { (v.t("Answer", "Répondre")) }
                @if matches!(r.request.kind, RequestKind::Access | RequestKind::Portability)
                    && r.request.verification.is_some() {
                    form method="post" action=(action("export")) {
                        (v.csrf())
                        button type="submit" { (v.t("Prepare the export", "Préparer l'export")) }
                    }
                }
                @if r.request.kind == RequestKind::Erasure {
                    form method="post" action=(action("erase")) {
                        (v.csrf())
                        button.danger type="submit" { (v.t("Erase the subject everywhere", "Effacer la personne partout")) }
                    }
                }
                form method="post" action=(action("complete")) {
                    (v.csrf())
                    button type="submit" { (v.t("Mark as completed", "Marquer comme traitée")) }
                }
            }
            @if r.request.extension.is_none() {
                section aria-labelledby="extend-h" {
                    h2 id="extend-h" { (v.t("Extend the deadline", "Prolonger le délai")) }
                    form method="post" action=(action("extend")) {
                        (v.csrf())
                        label for="months" { (v.t("By", "De")) }
                        select id="months" name="months" {
                            option value="1" { (v.t("one month", "un mois")) }
                            option value="2" { (v.t("two months", "deux mois")) }
                        }
                        label for="extend-reason" { (v.t("Reason (told to the requester)", "Motif (communiqué au demandeur)")) }
                        input type="text" id="extend-reason" name="reason" required maxlength="2000";
                        button type="submit" { (v.t("Extend", "Prolonger")) }
                    }
                }
            }
            section aria-labelledby="refuse-h" {
                h2 id="refuse-h" { (v.t("Refuse", "Refuser")) }
                form method="post" action=(action("refuse")) {
                    (v.csrf())
                    label for="refuse-reason" { (v.t("Reasons (told to the requester, Art. 12(4))", "Motifs (communiqués au demandeur, art. 12(4))")) }
                    input type="text" id="refuse-reason" name="reason" required maxlength="2000";
                    button.danger type="submit" { (v.t("Refuse the request", "Refuser la demande")) }
                }
            }
        }
    };
    v.render(status, &title, &body)
}

fn method_name(lang: Lang, method: VerificationMethod) -> &'static str {
    METHODS
        .iter()
        .find(|m| m.0 == method)
        .map_or("", |m| tr(lang, m.2, m.3))
}

/// `POST /console/requests/{id}/{action}` (a `dpo`'s).
pub(super) async fn act<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let id = request_id(&req);
    let action = req.raw_path_param("action").unwrap_or_default().to_owned();
    let (v, fields) = match posted_by_dpo(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let Some(id) = id else {
        return v.failed(&gdpr_app::AppError::NotFound("request"));
    };
    let ctx = v.session.ctx();
    let subject = |r: RequestView| -> SubjectId { r.request.subject };
    let outcome: Result<Option<uuid::Uuid>, gdpr_app::AppError> = match action.as_str() {
        "verify" => {
            let method = METHODS
                .iter()
                .find(|m| m.1 == field(&fields, "method"))
                .map(|m| m.0);
            match method {
                Some(method) => {
                    let note = Some(field(&fields, "note")).filter(|n| !n.trim().is_empty());
                    app.verify_request_identity(ctx, id, method, note)
                        .await
                        .map(|_| None)
                }
                None => Err(gdpr_app::AppError::invalid(
                    "method",
                    "choose how the identity was verified",
                )),
            }
        }
        "extend" => match field(&fields, "months").parse::<u8>() {
            Ok(months) => app
                .extend_request(ctx, id, months, field(&fields, "reason"))
                .await
                .map(|_| None),
            Err(_) => Err(gdpr_app::AppError::invalid("months", "one or two")),
        },
        "complete" => app.complete_request(ctx, id).await.map(|_| None),
        "refuse" => app
            .refuse_request(ctx, id, field(&fields, "reason"))
            .await
            .map(|_| None),
        "export" => app
            .export_for_request(ctx, id)
            .await
            .map(|ticket| Some(ticket.id)),
        "erase" => match app.request(ctx, id).await {
            Ok(r) => app
                .erase_subject(ctx, subject(r), Some(id))
                .await
                .map(|_| None),
            Err(e) => Err(e),
        },
        _ => return v.failed(&gdpr_app::AppError::NotFound("action")),
    };
    match outcome {
        Ok(export) => {
            let mut to = format!("{}&done={action}", v.link(&format!("/requests/{id}")));
            if let Some(export) = export {
                to.push_str(&format!("&export={export}"));
            }
            see_other(&to)
        }
        Err(gdpr_app::AppError::NotFound(what)) if what == "request" => {
            v.failed(&gdpr_app::AppError::NotFound(what))
        }
        Err(e) => {
            let (status, message) = super::explain(v.lang, &e);
            render_detail(&app, &v, id, status, Some(Err(&message)), None).await
        }
    }
}

/// `POST /console/exports/{id}`: the encrypted export, once (a `dpo`'s). A post, with the
/// session's token: downloading deletes it, which no link, prefetch or scanner may do.
pub(super) async fn download<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let id = uuid_param(&req, "id");
    let (v, _) = match posted_by_dpo(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let Some(id) = id else {
        return v.failed(&gdpr_app::AppError::NotFound("export"));
    };
    match app.download_export(v.session.ctx(), id).await {
        Ok((ticket, bytes)) => {
            let mut response = Response::builder()
                .content_type("application/pgp-encrypted")
                .body(bytes);
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&format!(
                "attachment; filename=\"export-{}.pgp\"",
                ticket.id
            )) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => v.failed(&e),
    }
}
