//! The breach register's pages: the list with each 72-hour clock, a breach with what is
//! known of it, and what a `dpo` records there (a new breach, the authority's notification,
//! the decision whether the people affected must be told). The same use cases as
//! `/v1/breaches`.

use std::sync::Arc;

use gdpr_app::{App, AppError, BreachScope, BreachView};
use gdpr_ports::Ports;
use gdpr_rights::{AuthorityNotice, Breach, BreachKind, Clock};
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::{Request, Response};
use time::OffsetDateTime;

use super::{View, explain, field, posted_by_dpo, thead, view, when};
use crate::web::{query_param, see_other, uuid_param};

const KINDS: [(BreachKind, &str, &str, &str); 3] = [
    (
        BreachKind::Confidentiality,
        "confidentiality",
        "Confidentiality: disclosed to, or reached by, someone who should not have it",
        "Confidentialité : divulguées à, ou atteintes par, quelqu'un qui ne devait pas",
    ),
    (
        BreachKind::Integrity,
        "integrity",
        "Integrity: altered without authority",
        "Intégrité : modifiées sans autorisation",
    ),
    (
        BreachKind::Availability,
        "availability",
        "Availability: lost, or out of reach",
        "Disponibilité : perdues, ou hors d'atteinte",
    ),
];

fn clock(v: &View, b: &BreachView) -> Markup {
    html! {
        @match b.clock {
            Clock::Running { due_at } => {
                (v.t("notify the authority by", "notifier l'autorité avant le")) " "
                (when(due_at))
            }
            Clock::Overdue { due_at } => strong {
                (v.t("overdue since", "en retard depuis le")) " "
                (when(due_at))
            },
            Clock::Notified { at, late } => {
                (v.t("notified", "notifiée le")) " " (at.date())
                @if late { " (" (v.t("late", "en retard")) ")" }
            }
        }
    }
}

fn record_form(v: &View) -> Markup {
    html! {
        form method="post" action=(v.link("/breaches")) {
            (v.csrf())
            label for="title" { (v.t("Title", "Titre")) }
            input type="text" id="title" name="title" required maxlength="200";
            label for="detected" { (v.t("Detected at (UTC): the 72-hour clock starts here", "Détectée le (UTC) : le délai de 72 heures part d'ici")) }
            input type="datetime-local" id="detected" name="detected_at" required;
            fieldset {
                legend { (v.t("What it did to the data", "Ce qu'elle a fait aux données")) }
                @for (_, value, en, fr) in KINDS {
                    div.choice {
                        input type="checkbox" id={ "kind-" (value) } name="kind" value=(value);
                        label for={ "kind-" (value) } { (v.t(en, fr)) }
                    }
                }
            }
            label for="nature" { (v.t("Its nature (Art. 33(3)(a)); never the people's names", "Sa nature (art. 33(3)(a)) ; jamais le nom des personnes")) }
            input type="text" id="nature" name="nature" required maxlength="4000";
            label for="subjects" { (v.t("People concerned (approx.)", "Personnes concernées (approx.)")) }
            input type="text" id="subjects" name="subjects_approx" inputmode="numeric" pattern="[0-9]{1,12}" required;
            label for="records" { (v.t("Records concerned (approx.)", "Enregistrements concernés (approx.)")) }
            input type="text" id="records" name="records_approx" inputmode="numeric" pattern="[0-9]{1,12}" required;
            label for="consequences" { (v.t("Likely consequences", "Conséquences probables")) }
            input type="text" id="consequences" name="consequences" maxlength="4000";
            label for="measures" { (v.t("Measures taken or proposed", "Mesures prises ou envisagées")) }
            input type="text" id="measures" name="measures" maxlength="4000";
            button type="submit" { (v.t("Record the breach", "Enregistrer la violation")) }
        }
    }
}

async fn list_page<P: Ports>(
    app: &App<P>,
    v: &View,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let list = match app.breaches(BreachScope::Tenant(v.session.ctx())).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        @if let Some(problem) = problem {
            p.error role="alert" id="problem" { (problem) }
        }
        @if list.is_empty() {
            p { (v.t("No breach recorded.", "Aucune violation enregistrée.")) }
        } @else {
            table {
                (thead(v.lang, &[("Breach", "Violation"), ("Detected", "Détectée"), ("People (approx.)", "Personnes (approx.)"), ("Authority", "Autorité")]))
                tbody {
                    @for b in &list {
                        tr.overdue[matches!(b.clock, Clock::Overdue { .. })] {
                            td { a href=(v.link(&format!("/breaches/{}", b.id))) { (b.breach.title) } }
                            td { (b.breach.detected_at.date()) }
                            td { (b.breach.subjects_approx) }
                            td { (clock(v, b)) }
                        }
                    }
                }
            }
        }
        @if v.dpo() {
            h2 { (v.t("Record a breach", "Enregistrer une violation")) }
            (record_form(v))
        }
    };
    v.render(
        status,
        v.t("Personal data breaches", "Violations de données"),
        &body,
    )
}

/// `GET /console/breaches`.
pub(super) async fn list<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    match view(&app, &req).await {
        Ok(v) => list_page(&app, &v, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// A `datetime-local` field's value (`2026-12-07T09:30`), read as UTC.
fn utc(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(value.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn count(fields: &[(String, String)], name: &'static str) -> Result<u64, AppError> {
    field(fields, name)
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(name, "a whole number"))
}

/// `POST /console/breaches` (a `dpo`'s).
pub(super) async fn record<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let (v, fields) = match posted_by_dpo(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let facts = (|| {
        let detected_at = utc(field(&fields, "detected_at"))
            .ok_or_else(|| AppError::invalid("detected_at", "a date and time"))?;
        Ok::<_, AppError>(Breach {
            title: field(&fields, "title").to_owned(),
            detected_at,
            occurred_at: None,
            kinds: fields
                .iter()
                .filter(|(k, _)| k == "kind")
                .filter_map(|(_, value)| KINDS.iter().find(|k| k.1 == value).map(|k| k.0))
                .collect(),
            nature: field(&fields, "nature").to_owned(),
            categories: Vec::new(),
            subjects_approx: count(&fields, "subjects_approx")?,
            records_approx: count(&fields, "records_approx")?,
            consequences: field(&fields, "consequences").to_owned(),
            measures: field(&fields, "measures").to_owned(),
            authority: None,
            subjects: None,
            subjects_notified_at: None,
            affected: None,
        })
    })();
    let recorded = match facts {
        Ok(facts) => {
            app.record_breach(BreachScope::Tenant(v.session.ctx()), facts)
                .await
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(b) => see_other(&format!(
            "{}&done=recorded",
            v.link(&format!("/breaches/{}", b.id))
        )),
        Err(e) => {
            let (status, message) = explain(v.lang, &e);
            list_page(&app, &v, status, Some(&message)).await
        }
    }
}

async fn detail_page<P: Ports>(
    app: &App<P>,
    v: &View,
    id: uuid::Uuid,
    status: StatusCode,
    said: Option<Result<&str, &str>>,
) -> Response {
    let b = match app.breach(BreachScope::Tenant(v.session.ctx()), id).await {
        Ok(b) => b,
        Err(e) => return v.failed(&e),
    };
    let action = |a: &str| v.link(&format!("/breaches/{id}/{a}"));
    let late = matches!(b.clock, Clock::Overdue { .. });
    let body = html! {
        (super::said(said))
        dl {
            dt { (v.t("Detected", "Détectée")) }
            dd { (when(b.breach.detected_at)) }
            dt { (v.t("The authority", "L'autorité")) } dd.overdue[late] { (clock(v, &b)) }
            dt { (v.t("What it did", "Ce qu'elle a fait")) }
            dd { (b.breach.kinds.iter().map(|k| KINDS.iter().find(|x| x.0 == *k).map_or("", |x| x.1)).collect::<Vec<_>>().join(", ")) }
            dt { (v.t("Nature", "Nature")) } dd { (b.breach.nature) }
            dt { (v.t("People, records (approx.)", "Personnes, enregistrements (approx.)")) }
            dd { (b.breach.subjects_approx) ", " (b.breach.records_approx) }
            dt { (v.t("Likely consequences", "Conséquences probables")) } dd { (b.breach.consequences) }
            dt { (v.t("Measures", "Mesures")) } dd { (b.breach.measures) }
            @if let Some(notice) = &b.breach.authority {
                @if let Some(reference) = &notice.reference {
                    dt { (v.t("Authority's reference", "Référence de l'autorité")) } dd { (reference) }
                }
                @if let Some(reason) = &notice.late_reason {
                    dt { (v.t("Why late", "Motif du retard")) } dd { (reason) }
                }
            }
            dt { (v.t("Telling the people (Art. 34)", "Informer les personnes (art. 34)")) }
            dd {
                @match &b.breach.subjects {
                    Some(d) if d.notify => { (v.t("they must be told: ", "elles doivent être informées : ")) (d.reason) }
                    Some(d) => { (v.t("they need not be told: ", "elles n'ont pas à être informées : ")) (d.reason) }
                    None => strong { (v.t("not decided yet", "pas encore décidé")) },
                }
            }
        }
        @if v.dpo() {
            @if b.breach.authority.is_none() {
                section aria-labelledby="notify-h" {
                    h2 id="notify-h" { (v.t("The authority was notified (now)", "L'autorité a été notifiée (maintenant)")) }
                    form method="post" action=(action("notify-authority")) {
                        (v.csrf())
                        label for="reference" { (v.t("Its reference (optional)", "Sa référence (facultative)")) }
                        input type="text" id="reference" name="reference" maxlength="200";
                        @if late {
                            label for="late-reason" { (v.t("Why after 72 hours (required, Art. 33(1))", "Pourquoi après 72 heures (obligatoire, art. 33(1))")) }
                            input type="text" id="late-reason" name="late_reason" required maxlength="2000";
                        }
                        button type="submit" { (v.t("Record the notification", "Enregistrer la notification")) }
                    }
                }
            }
            @if b.breach.subjects_notified_at.is_none() {
                section aria-labelledby="decide-h" {
                    h2 id="decide-h" { (v.t("Must the people be told?", "Faut-il informer les personnes ?")) }
                    form method="post" action=(action("decide")) {
                        (v.csrf())
                        fieldset {
                            legend { (v.t("Decision", "Décision")) }
                            div.choice {
                                input type="radio" id="notify-yes" name="notify" value="yes" required;
                                label for="notify-yes" { (v.t("Yes: a high risk to their rights (Art. 34(1))", "Oui : un risque élevé pour leurs droits (art. 34(1))")) }
                            }
                            div.choice {
                                input type="radio" id="notify-no" name="notify" value="no";
                                label for="notify-no" { (v.t("No: an exemption of Art. 34(3) applies", "Non : une exception de l'art. 34(3) s'applique")) }
                            }
                        }
                        label for="decide-reason" { (v.t("Why", "Pourquoi")) }
                        input type="text" id="decide-reason" name="reason" required maxlength="2000";
                        button type="submit" { (v.t("Record the decision", "Enregistrer la décision")) }
                    }
                }
            }
        }
    };
    v.render(status, &b.breach.title, &body)
}

/// `GET /console/breaches/{id}`.
pub(super) async fn detail<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = match view(&app, &req).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let Some(id) = uuid_param(&req, "id") else {
        return v.failed(&AppError::NotFound("breach"));
    };
    let done = query_param(&req, "done").is_some();
    let note = done.then(|| v.t("Recorded.", "Enregistré."));
    detail_page(&app, &v, id, StatusCode::OK, note.map(Ok)).await
}

/// `POST /console/breaches/{id}/{action}` (a `dpo`'s).
pub(super) async fn act<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let id = uuid_param(&req, "id");
    let action = req.raw_path_param("action").unwrap_or_default().to_owned();
    let (v, fields) = match posted_by_dpo(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let Some(id) = id else {
        return v.failed(&AppError::NotFound("breach"));
    };
    let scope = BreachScope::Tenant(v.session.ctx());
    let optional =
        |name: &str| Some(field(&fields, name).to_owned()).filter(|t| !t.trim().is_empty());
    let outcome = match action.as_str() {
        "notify-authority" => {
            let notice = AuthorityNotice {
                at: app.now(),
                reference: optional("reference"),
                late_reason: optional("late_reason"),
            };
            app.notify_authority(scope, id, notice).await
        }
        "decide" => match field(&fields, "notify") {
            "yes" | "no" => {
                app.decide_breach_subjects(
                    scope,
                    id,
                    field(&fields, "notify") == "yes",
                    field(&fields, "reason"),
                )
                .await
            }
            _ => Err(AppError::invalid("notify", "choose yes or no")),
        },
        _ => return v.failed(&AppError::NotFound("action")),
    };
    match outcome {
        Ok(_) => see_other(&format!(
            "{}&done={action}",
            v.link(&format!("/breaches/{id}"))
        )),
        Err(AppError::NotFound(what)) => v.failed(&AppError::NotFound(what)),
        Err(e) => {
            let (status, message) = explain(v.lang, &e);
            detail_page(&app, &v, id, status, Some(Err(&message))).await
        }
    }
}
