//! The console's reading pages: the overview, finding a subject, the Art. 30 register, the
//! recipients, webhooks (with the replay of failed deliveries), backups, and the
//! audit chain with the attestations.

use std::sync::Arc;

use gdpr_app::{App, AppError, BreachScope, RequestView};
use gdpr_audit::{Attestation, Verdict};
use gdpr_ports::{DeliveryFilter, DeliveryState, Page, Ports};
use gdpr_rights::Clock;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::{Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

use super::requests::{by_due_date, table};
use super::{View, field, posted, posted_by_dpo, thead, view, when};
use crate::web::{query_param, see_other, uuid_param};

/// An enum's name as the API spells it (`snake_case`).
fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// How long ago, in words a glance reads: hours under two days, days after.
fn age(v: &View, at: OffsetDateTime, now: OffsetDateTime) -> String {
    let hours = (now - at).whole_hours().max(0);
    if hours < 48 {
        format!("{hours} {}", v.t("hours ago", "heures"))
    } else {
        format!("{} {}", hours / 24, v.t("days ago", "jours"))
    }
}

macro_rules! signed_in {
    ($app:expr, $req:expr) => {
        match view(&$app, &$req).await {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

/// `GET /console`: what needs the DPO now.
pub(super) async fn overview<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let ctx = v.session.ctx();
    let now = app.now();
    let open: Vec<RequestView> = match app.open_requests(ctx).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let overdue = open.iter().filter(|r| r.overdue).count();
    let open = by_due_date(open);
    let breaches = match app.breaches(BreachScope::Tenant(ctx)).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let running: Vec<_> = breaches
        .iter()
        .filter(|b| matches!(b.clock, Clock::Running { .. } | Clock::Overdue { .. }))
        .collect();
    let backup = match app.list_backups(ctx.tenant).await {
        Ok(list) => list
            .into_iter()
            .filter(|b| b.verified)
            .map(|b| b.created_at)
            .max(),
        Err(e) => return v.failed(&e),
    };
    let attestation = match last_attestation(&app, &v).await {
        Ok(a) => a,
        Err(e) => return v.failed(&e),
    };
    let chain = match app.verify_audit_since_last(Some(ctx.tenant)).await {
        Ok((chain, _)) => chain,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        section aria-labelledby="requests-h" {
            h2 id="requests-h" { (v.t("Requests", "Demandes")) }
            p {
                strong { (open.len()) } " " (v.t("open", "ouvertes")) ", "
                @if overdue > 0 {
                    strong.overdue { (overdue) " " (v.t("overdue", "en retard")) }
                } @else {
                    (v.t("none overdue", "aucune en retard"))
                }
            }
            @if !open.is_empty() {
                (table(&v, &open[..open.len().min(10)]))
                p { a href=(v.link("/requests")) { (v.t("All open requests", "Toutes les demandes ouvertes")) } }
            }
        }
        section aria-labelledby="breaches-h" {
            h2 id="breaches-h" { (v.t("Breach clocks running", "Délais de violation en cours")) }
            @if running.is_empty() {
                p { (v.t("None: every breach recorded was notified.", "Aucun : chaque violation enregistrée a été notifiée.")) }
            } @else {
                ul {
                    @for b in &running {
                        @match b.clock {
                            Clock::Overdue { due_at } => li.overdue {
                                strong { (v.t("Overdue", "En retard")) } " — "
                                a href=(v.link(&format!("/breaches/{}", b.id))) { (b.breach.title) } " ("
                                (v.t("was due", "échéance")) " " (when(due_at)) ")"
                            },
                            Clock::Running { due_at } => li {
                                a href=(v.link(&format!("/breaches/{}", b.id))) { (b.breach.title) }
                                " — " (v.t("notify the authority by", "notifier l'autorité avant le"))
                                " " (when(due_at))
                            },
                            _ => {},
                        }
                    }
                }
            }
        }
        section aria-labelledby="health-h" {
            h2 id="health-h" { (v.t("Safeguards", "Garanties")) }
            dl {
                dt { (v.t("Newest verified backup", "Dernière sauvegarde vérifiée")) }
                @match backup {
                    Some(at) if now - at <= gdpr_app::VERIFIED_BACKUP_MAX_AGE => dd { (age(&v, at, now)) },
                    Some(at) => dd.overdue { strong { (age(&v, at, now)) } " — " (v.t("too old", "trop ancienne")) },
                    None => dd.overdue { strong { (v.t("none", "aucune")) } },
                }
                dt { (v.t("Last attestation", "Dernière attestation")) }
                @match &attestation {
                    Some(a) => {
                        @let failed = a.checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
                        dd.overdue[failed > 0] {
                            (age(&v, a.at, now)) " — "
                            @if failed == 0 {
                                (v.t("every check passed", "tous les contrôles réussis"))
                            } @else {
                                strong { (failed) " " (v.t("check(s) failed", "contrôle(s) en échec")) }
                            }
                        }
                    },
                    None => dd { (v.t("none yet", "aucune pour l'instant")) },
                }
                dt { (v.t("Audit chain", "Journal d'audit")) }
                @match &chain {
                    Ok(head) => dd { (v.t("intact", "intact")) " (" (head.records) " " (v.t("records", "entrées")) ")" },
                    Err(broken) => dd.overdue { strong { (broken.to_string()) } },
                }
            }
        }
    };
    v.render(StatusCode::OK, v.t("Overview", "Vue d'ensemble"), &body)
}

async fn last_attestation<P: Ports>(
    app: &App<P>,
    v: &View,
) -> Result<Option<Attestation>, AppError> {
    // One a day: a page of a thousand reaches years back; the last page holds the newest.
    let mut after = 0;
    let mut last = None;
    loop {
        let page = app.attestations(v.session.ctx(), after, 1000).await?;
        let full = page.len() == 1000;
        if let Some(a) = page.into_iter().last() {
            after = a.seq;
            last = Some(a);
        }
        if !full {
            return Ok(last);
        }
    }
}

fn search_form(v: &View) -> Markup {
    html! {
        form method="post" action=(v.link("/subjects")) {
            (v.csrf())
            label for="email" { (v.t("E-mail address", "Adresse e-mail")) }
            p.hint id="email-hint" {
                (v.t("Found through the keyed blind index: the address is never stored in clear, nor put in a URL.",
                     "Recherchée par index aveugle à clé : l'adresse n'est jamais stockée en clair, ni mise dans une URL."))
            }
            input type="email" id="email" name="email" required aria-describedby="email-hint";
            button type="submit" { (v.t("Find", "Chercher")) }
        }
    }
}

/// `GET /console/subjects`.
pub(super) async fn find_subject<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    v.render(
        StatusCode::OK,
        v.t("Find a subject", "Trouver une personne"),
        &search_form(&v),
    )
}

/// `POST /console/subjects`: the subject an address finds (a post: the address stays out of
/// the URL), with their requests.
pub(super) async fn found_subject<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let (v, fields) = match posted(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let title = v.t("Find a subject", "Trouver une personne");
    let ctx = v.session.ctx();
    let subject = match app
        .find_subject_by_email(ctx, field(&fields, "email"))
        .await
    {
        Ok(s) => s,
        Err(AppError::NotFound(_)) => {
            let body = html! {
                p.error role="alert" { (v.t("No subject has this address.", "Aucune personne n'a cette adresse.")) }
                (search_form(&v))
            };
            return v.render(StatusCode::NOT_FOUND, title, &body);
        }
        Err(e @ AppError::InvalidInput { .. }) => {
            let body = html! { p.error role="alert" { (e.to_string()) } (search_form(&v)) };
            return v.render(StatusCode::UNPROCESSABLE_ENTITY, title, &body);
        }
        Err(e) => return v.failed(&e),
    };
    let requests = match app.subject_requests(ctx, subject.id).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        dl {
            dt { (v.t("Subject", "Personne")) } dd { code { (subject.id) } }
            dt { (v.t("Name", "Nom")) }
            dd.name { @if let Some(name) = &subject.full_name { (name.expose_pii()) } @else { "—" } }
            dt { (v.t("Known since", "Connue depuis")) } dd { (subject.created_at.date()) }
        }
        h2 { (v.t("Their requests", "Ses demandes")) }
        @if requests.is_empty() {
            p { (v.t("No request.", "Aucune demande.")) }
        } @else {
            (table(&v, &by_due_date(requests)))
        }
        h2 { (v.t("Find another", "Chercher une autre")) }
        (search_form(&v))
    };
    v.render(StatusCode::OK, title, &body)
}

/// `GET /console/register`: the Art. 30 register, printable.
pub(super) async fn register<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let r = match app.processing_register(v.session.ctx()).await {
        Ok(r) => r,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        p { (v.t("Controller", "Responsable du traitement")) ": " strong { (r.controller) } " — " (r.privacy_contact) }
        p.hint { (v.t("Generated", "Généré le")) " " (r.generated_at.date()) ". "
            (v.t("Print this page for a paper copy.", "Imprimez cette page pour un exemplaire papier.")) }
        h2 { (v.t("Processing activities", "Activités de traitement")) }
        table {
            (thead(v.lang, &[("Activity", "Activité"), ("Purpose", "Finalité"), ("Lawful basis", "Base légale"), ("Data", "Données"), ("Recipients", "Destinataires"), ("Kept", "Conservation")]))
            tbody {
                @for a in &r.activities {
                    tr {
                        td { (a.name) }
                        td { (a.purpose) }
                        td { @if let Some(basis) = &a.lawful_basis { (wire_name(basis)) } }
                        td { (a.data_categories.iter().map(wire_name).collect::<Vec<_>>().join(", ")) }
                        td { (a.recipients.join(", ")) }
                        td { (a.retention) }
                    }
                }
            }
        }
        h2 { (v.t("Security measures", "Mesures de sécurité")) }
        ul { @for m in &r.security_measures { li { (m) } } }
    };
    v.render(
        StatusCode::OK,
        v.t(
            "Register of processing activities (Art. 30)",
            "Registre des activités de traitement (art. 30)",
        ),
        &body,
    )
}

/// `GET /console/purposes`: purposes, forms, and consent forms with every version.
pub(super) async fn purposes<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let ctx = v.session.ctx();
    let (purposes, forms, consent_forms) = match (
        app.purposes(ctx).await,
        app.forms(ctx).await,
        app.consent_forms(ctx).await,
    ) {
        (Ok(p), Ok(f), Ok(c)) => (p, f, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return v.failed(&e),
    };
    let body = html! {
        h2 { (v.t("Purposes", "Finalités")) }
        table {
            (thead(v.lang, &[("Purpose", "Finalité"), ("Description", "Description"), ("Lawful basis", "Base légale")]))
            tbody {
                @for p in &purposes {
                    tr { td { code { (p.id) } } td { (p.description) } td { (wire_name(&p.basis)) } }
                }
            }
        }
        h2 { (v.t("Forms", "Formulaires")) }
        table {
            (thead(v.lang, &[("Form", "Formulaire"), ("Purpose", "Finalité"), ("Fields", "Champs"), ("Kept", "Conservation")]))
            tbody {
                @for f in &forms {
                    tr {
                        td { (f.name) }
                        td { code { (f.purpose) } }
                        td { (f.schema.specs().into_iter().map(|s| s.name).collect::<Vec<_>>().join(", ")) }
                        td {
                            @if let Some(r) = f.retention { (r.as_days()) " " (v.t("days", "jours")) }
                            @else { (v.t("the tenant's period", "la durée du client")) }
                        }
                    }
                }
            }
        }
        h2 { (v.t("Consent forms", "Formulaires de consentement")) }
        @for c in &consent_forms {
            section.card {
                h3 { (c.title) " " @if c.retired_at.is_some() { "(" (v.t("retired", "retiré")) ")" } }
                p.hint { (v.t("Purpose", "Finalité")) " " code { (c.purpose) } }
                ol {
                    @for version in c.versions() {
                        li {
                            (v.t("Version", "Version")) " " (version.number) ", " (version.published_at.date())
                            @if version.requires_reconsent { " — " (v.t("consent asked again", "consentement redemandé")) }
                            blockquote { (version.text) }
                        }
                    }
                }
            }
        }
    };
    v.render(
        StatusCode::OK,
        v.t("Purposes and forms", "Finalités et formulaires"),
        &body,
    )
}

/// `GET /console/recipients`.
pub(super) async fn recipients<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let list = match app.recipients(v.session.ctx()).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        table {
            (thead(v.lang, &[("Name", "Nom"), ("Role", "Rôle"), ("Country", "Pays"), ("Transfer", "Transfert"), ("Kept by", "Tenu par")]))
            tbody {
                @for e in &list {
                    tr.overdue[e.flagged] {
                        td { (e.recipient.name) }
                        td { (wire_name(&e.recipient.role)) }
                        td { @if let Some(c) = &e.recipient.country { (wire_name(c)) } @else { "—" } }
                        td {
                            (wire_name(&e.transfer))
                            @if e.flagged { " — " strong { (v.t("no safeguard", "sans garantie")) } }
                        }
                        td { (wire_name(&e.kept_by)) }
                    }
                }
            }
        }
    };
    v.render(
        StatusCode::OK,
        v.t(
            "Processors and recipients",
            "Sous-traitants et destinataires",
        ),
        &body,
    )
}

/// `GET /console/webhooks`: the endpoints and their latest deliveries.
pub(super) async fn webhooks<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let ctx = v.session.ctx();
    let endpoints = match app.webhook_endpoints(ctx).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let deliveries = match app
        .webhook_deliveries(ctx, DeliveryFilter::default(), Page::first(50))
        .await
    {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    let replayed = query_param(&req, "done").as_deref() == Some("replay");
    let body = html! {
        @if replayed {
            p.done role="status" { (v.t("Failed deliveries queued again.", "Livraisons échouées remises en file.")) }
        }
        h2 { (v.t("Endpoints", "Points de terminaison")) }
        @if endpoints.is_empty() {
            p { (v.t("No endpoint.", "Aucun point de terminaison.")) }
        }
        @for e in &endpoints {
            section.card {
                h3 { code { (e.url) } }
                p {
                    @if e.disabled.is_some() {
                        strong.overdue { (v.t("Disabled after failing", "Désactivé après des échecs")) }
                    } @else {
                        (v.t("Enabled", "Actif"))
                    }
                    " — " (e.events.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "))
                }
                @if v.dpo() {
                    form method="post" action=(v.link(&format!("/webhooks/{}/replay", e.id))) {
                        (v.csrf())
                        button type="submit" { (v.t("Replay its failed deliveries", "Rejouer ses livraisons échouées")) }
                    }
                }
            }
        }
        h2 { (v.t("Latest deliveries", "Dernières livraisons")) }
        table {
            (thead(v.lang, &[("Event", "Événement"), ("State", "État"), ("Attempts", "Essais"), ("Last answer", "Dernière réponse"), ("Created", "Créée")]))
            tbody {
                @for d in &deliveries {
                    tr.overdue[d.state == DeliveryState::Failed] {
                        td { (d.event_type) }
                        td { (d.state.as_str()) }
                        td { (d.attempts) }
                        td { @if let Some(s) = d.last_status { (s) } @else { "—" } }
                        td { (when(d.created_at)) }
                    }
                }
            }
        }
    };
    v.render(StatusCode::OK, v.t("Webhooks", "Webhooks"), &body)
}

/// `POST /console/webhooks/{id}/replay` (a `dpo`'s).
pub(super) async fn replay<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let endpoint = uuid_param(&req, "id");
    let (v, _) = match posted_by_dpo(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let Some(endpoint) = endpoint else {
        return v.failed(&AppError::NotFound("webhook endpoint"));
    };
    match app
        .replay_webhook_deliveries(v.session.ctx(), Some(endpoint), Vec::new())
        .await
    {
        Ok(_) => see_other(&format!("{}&done=replay", v.link("/webhooks"))),
        Err(e) => v.failed(&e),
    }
}

/// `GET /console/backups`.
pub(super) async fn backups<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let mut list = match app.list_backups(v.session.ctx().tenant).await {
        Ok(list) => list,
        Err(e) => return v.failed(&e),
    };
    list.reverse();
    let body = html! {
        @if list.is_empty() {
            p.overdue { strong { (v.t("No backup yet.", "Aucune sauvegarde pour l'instant.")) } }
        } @else {
            table {
                (thead(v.lang, &[("Backup", "Sauvegarde"), ("Taken", "Prise le"), ("Verified", "Vérifiée")]))
                tbody {
                    @for b in &list {
                        tr {
                            td { code { (b.id) } }
                            td { (when(b.created_at)) }
                            td { @if b.verified { (v.t("yes", "oui")) } @else { (v.t("not yet", "pas encore")) } }
                        }
                    }
                }
            }
        }
    };
    v.render(StatusCode::OK, v.t("Backups", "Sauvegardes"), &body)
}

/// `GET /console/audit`: the chain's check, the latest records and attestations.
pub(super) async fn audit<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let v = signed_in!(app, req);
    let ctx = v.session.ctx();
    let chain = match app.verify_audit_since_last(Some(ctx.tenant)).await {
        Ok((chain, _)) => chain,
        Err(e) => return v.failed(&e),
    };
    // The latest records of an intact chain (a broken one is named above them, not listed).
    let records = match &chain {
        Ok(head) => match app
            .audit_log(ctx, head.records.saturating_sub(50), 50)
            .await
        {
            Ok(mut list) => {
                list.reverse();
                list
            }
            Err(e) => return v.failed(&e),
        },
        Err(_) => Vec::new(),
    };
    let attestations = match app.verify_attestation_chain(ctx).await {
        Ok(verified) => verified,
        Err(e) => return v.failed(&e),
    };
    let attestation = match last_attestation(&app, &v).await {
        Ok(a) => a,
        Err(e) => return v.failed(&e),
    };
    let body = html! {
        p {
            @match &chain {
                Ok(h) => { (v.t("The chain verifies", "La chaîne est vérifiée")) " (" (h.records) " " (v.t("records", "entrées")) ")." },
                Err(broken) => strong.overdue { (broken.to_string()) },
            }
        }
        h2 { (v.t("Latest records", "Dernières entrées")) }
        table {
            (thead(v.lang, &[("#", "#"), ("When (UTC)", "Quand (UTC)"), ("Action", "Action"), ("By", "Par")]))
            tbody {
                @for r in &records {
                    tr {
                        td { (r.seq) }
                        td { (when(r.event.at)) }
                        td { (wire_name(&r.event.action)) }
                        td { (actor(&r.event.actor)) }
                    }
                }
            }
        }
        h2 { (v.t("Last attestation", "Dernière attestation")) }
        p {
            @match &attestations {
                Ok(h) => { (v.t("The attestations' chain verifies", "La chaîne des attestations est vérifiée")) " (" (h.records) ")." },
                Err(broken) => strong.overdue { (broken.to_string()) },
            }
        }
        @if let Some(a) = &attestation {
            p { "#" (a.seq) ", " (a.at.date()) }
            ul {
                @for c in &a.checks {
                    li.overdue[c.verdict == Verdict::Fail] {
                        (wire_name(&c.kind)) ": " strong { (wire_name(&c.verdict)) } " — " (c.detail)
                    }
                }
            }
        } @else {
            p { (v.t("None yet: the first is made by tonight's job.", "Aucune : la première est faite par la tâche de cette nuit.")) }
        }
    };
    v.render(StatusCode::OK, v.t("Audit", "Audit"), &body)
}

fn actor(actor: &gdpr_audit::Actor) -> String {
    match actor {
        gdpr_audit::Actor::Operator => "operator".into(),
        gdpr_audit::Actor::ApiKey(key) => format!("api key {key}"),
        gdpr_audit::Actor::System => "system".into(),
        gdpr_audit::Actor::Portal => "portal".into(),
        gdpr_audit::Actor::ConsoleUser(user) => format!("console user {user}"),
    }
}
