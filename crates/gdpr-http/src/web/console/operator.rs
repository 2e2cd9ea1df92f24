//! The operator's pages (`/console/operator`), behind the admin token: the tenants (and a new
//! one), and for each its API keys, console users, backups and offboarding. Signed in with
//! the admin token typed into a form (never in a URL), for a session of its own in
//! `__Host-gdpr_operator`; every form carries the session's CSRF token. A key's token or a
//! user's password is shown once, on the page that answers the post that made it (not a
//! redirect: nothing of it goes into a URL or a later page).

use std::sync::Arc;

use gdpr_app::{App, AppError, ConsoleRole, OperatorSession};
use gdpr_audit::Actor;
use gdpr_pii::{ApiKeyId, ConsoleUserId, TenantId};
use gdpr_ports::Ports;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::{Request, Response};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Door, SignInPost, cookie, explain, field, set_cookie, sign_in_answer, thead, tr};
use crate::web::{cross_site, lang, page_with, query_param, respond, see_other, uuid_param};

const OPERATOR_COOKIE: &str = "__Host-gdpr_operator";

/// One operator page view.
struct Op {
    lang: gdpr_app::Lang,
    session: OperatorSession,
    here: String,
}

impl Op {
    const fn t(&self, en: &'static str, fr: &'static str) -> &'static str {
        tr(self.lang, en, fr)
    }

    fn link(&self, path: &str) -> String {
        format!("/console/operator{path}?lang={}", self.lang.tag())
    }

    fn csrf(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf.expose_secret()); }
    }

    fn render(&self, status: StatusCode, title: &str, body: &Markup) -> Response {
        let nav = html! {
            nav aria-label=(self.t("Operator", "Opérateur")) {
                ul { li { a href=(self.link("")) { (self.t("Tenants", "Clients")) } } }
                form.signout method="post" action=(self.link("/sign-out")) {
                    (self.csrf())
                    span { (self.t("operator", "opérateur")) }
                    button type="submit" { (self.t("Sign out", "Se déconnecter")) }
                }
            }
        };
        let org = self.t("Operator", "Opérateur");
        respond(
            status,
            &page_with(self.lang, org, &self.here, title, Some(&nav), body),
        )
    }

    fn problem(&self, status: StatusCode, message: &str) -> Response {
        let title = self.t("Something is wrong", "Un problème est survenu");
        self.render(status, title, &html! { p.error role="alert" { (message) } })
    }

    fn failed(&self, e: &AppError) -> Response {
        let (status, message) = explain(self.lang, e);
        self.problem(status, &message)
    }
}

fn to_sign_in(lang: gdpr_app::Lang) -> Response {
    see_other(&format!("/console/operator/sign-in?lang={}", lang.tag()))
}

async fn op<P: Ports>(app: &App<P>, req: &Request) -> Result<Op, Response> {
    let lang = lang(req);
    let Some(token) = cookie(req, OPERATOR_COOKIE) else {
        return Err(to_sign_in(lang));
    };
    let admin_key = req
        .data::<Arc<crate::auth::AuthContext>>()
        .and_then(|a| a.admin_key());
    match app
        .operator_session(&SecretString::from(token), admin_key.as_deref())
        .await
    {
        Ok(session) => Ok(Op {
            lang,
            session,
            here: req.original_uri().path().to_owned(),
        }),
        Err(AppError::Unauthorized) => Err(to_sign_in(lang)),
        Err(e) => {
            let (status, message) = explain(lang, &e);
            let body = html! { p.error role="alert" { (message) } };
            Err(respond(status, &page_with(lang, "", "", "—", None, &body)))
        }
    }
}

/// A form post of the operator's session: same origin, its CSRF token; then its fields.
async fn op_posted<P: Ports>(
    app: &App<P>,
    mut req: Request,
) -> Result<(Op, Vec<(String, String)>), Response> {
    let o = op(app, &req).await?;
    let body = req.take_body().into_string().await.unwrap_or_default();
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    if cross_site(&req) || !o.session.csrf_matches(field(&fields, "csrf")) {
        tracing::warn!(target: "security", event = "csrf_refused", path = req.uri().path(), "operator form without its session's token");
        return Err(o.problem(
            StatusCode::FORBIDDEN,
            o.t(
                "This form has expired or did not come from these pages. Reload the page and try again.",
                "Ce formulaire a expiré ou ne vient pas de ces pages. Rechargez la page et réessayez.",
            ),
        ));
    }
    Ok((o, fields))
}

/// `GET /console/operator/sign-in`.
pub(super) async fn sign_in_page<P: Ports>(_app: Arc<App<P>>, req: Request) -> Response {
    sign_in_answer(lang(&req), Door::Operator, StatusCode::OK, None)
}

/// `POST /console/operator/sign-in`: the admin token, typed into the form.
pub(super) async fn sign_in<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let post = match SignInPost::read(req, Door::Operator).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    if !post.is_admin_token(field(&post.fields, "token")) {
        return post.failed(
            Door::Operator,
            tr(
                post.lang,
                "This is not the admin token (or the admin routes are off).",
                "Ce n'est pas le jeton d'administration (ou les routes d'administration sont fermées).",
            ),
        );
    }
    let Some(key) = post.admin_key() else {
        return post.failed(Door::Operator, "");
    };
    match app.operator_sign_in(&key).await {
        Ok((_, token)) => {
            tracing::info!(target: "security", event = "operator_signed_in", "operator console sign-in");
            post.signed_in("/console/operator", OPERATOR_COOKIE, &token)
        }
        Err(e) => {
            let (status, message) = explain(post.lang, &e);
            sign_in_answer(post.lang, Door::Operator, status, Some(&message))
        }
    }
}

/// `POST /console/operator/sign-out`.
pub(super) async fn sign_out<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let (o, _) = match op_posted(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    if let Err(e) = app.operator_sign_out(&o.session).await {
        return o.failed(&e);
    }
    let mut response = to_sign_in(o.lang);
    set_cookie(&mut response, OPERATOR_COOKIE, "", Some(0));
    response
}

/// `GET /console/operator`: the tenants, and a form for a new one.
pub(super) async fn tenants<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let o = match op(&app, &req).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let list = match app.tenants().await {
        Ok(list) => list,
        Err(e) => return o.failed(&e),
    };
    let body = html! {
        table {
            (thead(o.lang, &[("Tenant", "Client"), ("Privacy contact", "Contact vie privée"), ("Since", "Depuis")]))
            tbody {
                @for t in &list {
                    tr {
                        td { a href=(o.link(&format!("/tenants/{}", t.id))) { (t.name) } }
                        td { (t.privacy_contact) }
                        td { (t.created_at.date()) }
                    }
                }
            }
        }
        h2 { (o.t("A new tenant", "Un nouveau client")) }
        form method="post" action=(o.link("/tenants")) {
            (o.csrf())
            label for="name" { (o.t("Legal name", "Raison sociale")) }
            input type="text" id="name" name="name" required maxlength="200";
            label for="contact" { (o.t("Privacy contact (the DPO's address)", "Contact vie privée (adresse du DPO)")) }
            input type="text" id="contact" name="privacy_contact" required maxlength="200";
            button type="submit" { (o.t("Create the tenant", "Créer le client")) }
        }
    };
    o.render(StatusCode::OK, o.t("Tenants", "Clients"), &body)
}

/// `POST /console/operator/tenants`.
pub(super) async fn create_tenant<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let (o, fields) = match op_posted(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    match app
        .create_tenant(
            Actor::Operator,
            field(&fields, "name"),
            field(&fields, "privacy_contact"),
        )
        .await
    {
        Ok(t) => see_other(&o.link(&format!("/tenants/{}", t.id))),
        Err(e) => o.failed(&e),
    }
}

/// `GET /console/operator/tenants/{id}`.
pub(super) async fn tenant<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let o = match op(&app, &req).await {
        Ok(o) => o,
        Err(response) => return response,
    };
    let Some(id) = uuid_param(&req, "id").map(TenantId::from_uuid) else {
        return o.failed(&AppError::NotFound("tenant"));
    };
    let done = query_param(&req, "done").and_then(|d| done_message(&o, &d));
    tenant_page(&app, &o, id, StatusCode::OK, done.map(Ok), None).await
}

fn done_message(o: &Op, done: &str) -> Option<&'static str> {
    Some(match done {
        "revoke-key" => o.t("The key is revoked.", "La clé est révoquée."),
        "remove-user" => o.t("The user is removed.", "L'utilisateur est supprimé."),
        "delete-backups" => o.t(
            "Every backup of the tenant is deleted.",
            "Toutes les sauvegardes du client sont supprimées.",
        ),
        "offboard" => o.t("Offboarding scheduled.", "Départ programmé."),
        "cancel-offboarding" => o.t("Offboarding cancelled.", "Départ annulé."),
        _ => return None,
    })
}

/// A secret made by the post just answered, shown on this page only.
struct Shown {
    what: &'static str,
    secret: SecretString,
}

async fn tenant_page<P: Ports>(
    app: &App<P>,
    o: &Op,
    id: TenantId,
    status: StatusCode,
    said: Option<Result<&str, &str>>,
    shown: Option<Shown>,
) -> Response {
    let t = match app.tenant(id).await {
        Ok(t) => t,
        Err(e) => return o.failed(&e),
    };
    let (keys, users, backups, offboarding) = match (
        app.api_keys(id).await,
        app.console_users(id).await,
        app.list_backups(id).await,
        app.offboarding(id).await,
    ) {
        (Ok(k), Ok(u), Ok(b), Ok(off)) => (k, u, b, off),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return o.failed(&e),
    };
    let action = |a: &str| o.link(&format!("/tenants/{id}/{a}"));
    let body = html! {
        (super::said(said))
        @if let Some(shown) = &shown {
            div.done role="status" {
                p { (shown.what) }
                p.hint { (o.t("It is shown this once: copy it now.", "Il n'est affiché qu'une fois : copiez-le maintenant.")) }
                p { code.secret { (shown.secret.expose_secret()) } }
            }
        }
        p { (o.t("Privacy contact", "Contact vie privée")) ": " (t.privacy_contact) " — " code { (t.id) } }
        section aria-labelledby="keys-h" {
            h2 id="keys-h" { (o.t("API keys", "Clés d'API")) }
            table {
                (thead(o.lang, &[("Key", "Clé"), ("Access", "Accès"), ("Created", "Créée"), ("State", "État")]))
                tbody {
                    @for k in &keys {
                        tr {
                            td { code { (k.id) } }
                            td { @if k.read_only { (o.t("read only", "lecture seule")) } @else { (o.t("read and write", "lecture et écriture")) } }
                            td { (k.created_at.date()) }
                            td {
                                @if let Some(at) = k.revoked_at {
                                    (o.t("revoked", "révoquée")) " " (at.date())
                                } @else {
                                    form method="post" action=(action("revoke-key")) {
                                        (o.csrf())
                                        input type="hidden" name="key" value=(k.id);
                                        button.danger type="submit" { (o.t("Revoke", "Révoquer")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action=(action("issue-key")) {
                (o.csrf())
                div.choice {
                    input type="checkbox" id="read_only" name="read_only" value="1";
                    label for="read_only" { (o.t("Read only", "Lecture seule")) }
                }
                button type="submit" { (o.t("Issue a key", "Émettre une clé")) }
            }
        }
        section aria-labelledby="users-h" {
            h2 id="users-h" { (o.t("Console users", "Utilisateurs de la console")) }
            table {
                (thead(o.lang, &[("Address", "Adresse"), ("Role", "Rôle"), ("Since", "Depuis"), ("Actions", "Actions")]))
                tbody {
                    @for u in &users {
                        tr {
                            td { (u.email) }
                            td { (u.role.as_str()) }
                            td { (u.created_at.date()) }
                            td {
                                form method="post" action=(action("reset-user")) {
                                    (o.csrf())
                                    input type="hidden" name="user" value=(u.id);
                                    button type="submit" { (o.t("New password", "Nouveau mot de passe")) }
                                }
                                form method="post" action=(action("remove-user")) {
                                    (o.csrf())
                                    input type="hidden" name="user" value=(u.id);
                                    button.danger type="submit" { (o.t("Remove", "Supprimer")) }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action=(action("add-user")) {
                (o.csrf())
                label for="email" { (o.t("Address", "Adresse")) }
                input type="email" id="email" name="email" required;
                label for="role" { (o.t("Role", "Rôle")) }
                select id="role" name="role" {
                    option value="dpo" { "dpo" }
                    option value="viewer" { "viewer" }
                }
                button type="submit" { (o.t("Add the user", "Ajouter l'utilisateur")) }
            }
        }
        section aria-labelledby="backups-h" {
            h2 id="backups-h" { (o.t("Backups", "Sauvegardes")) }
            p { (backups.len()) " " (o.t("complete backups held.", "sauvegardes complètes conservées.")) }
            form method="post" action=(action("delete-backups")) {
                (o.csrf())
                div.choice {
                    input type="checkbox" id="confirm-backups" name="confirm" value="1" required;
                    label for="confirm-backups" { (o.t("The customer asked: delete every backup of this tenant", "Le client l'a demandé : supprimer toutes les sauvegardes de ce client")) }
                }
                button.danger type="submit" { (o.t("Delete every backup", "Supprimer toutes les sauvegardes")) }
            }
        }
        section aria-labelledby="offboarding-h" {
            h2 id="offboarding-h" { (o.t("Offboarding", "Départ")) }
            @if let Some(off) = &offboarding {
                p.overdue { strong { (o.t("Scheduled: its data is deleted on", "Programmé : ses données sont supprimées le")) " " (off.delete_at.date()) } }
                form method="post" action=(action("cancel-offboarding")) {
                    (o.csrf())
                    button type="submit" { (o.t("Cancel the offboarding", "Annuler le départ")) }
                }
            } @else {
                form method="post" action=(action("offboard")) {
                    (o.csrf())
                    label for="grace" { (o.t("Days before its data is deleted", "Jours avant la suppression de ses données")) }
                    input type="text" id="grace" name="grace_days" inputmode="numeric" pattern="[0-9]{1,3}" value="30" required;
                    button.danger type="submit" { (o.t("Schedule the offboarding", "Programmer le départ")) }
                }
            }
        }
    };
    o.render(status, &t.name, &body)
}

/// `POST /console/operator/tenants/{id}/{action}`.
pub(super) async fn act<P: Ports>(app: Arc<App<P>>, req: Request) -> Response {
    let id = uuid_param(&req, "id").map(TenantId::from_uuid);
    let action = req.raw_path_param("action").unwrap_or_default().to_owned();
    let (o, fields) = match op_posted(&app, req).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let Some(id) = id else {
        return o.failed(&AppError::NotFound("tenant"));
    };
    let actor = Actor::Operator;
    let uuid_field = |name: &str| uuid::Uuid::try_parse(field(&fields, name)).ok();
    let shown = |what, secret| Ok(Some(Shown { what, secret }));
    let outcome: Result<Option<Shown>, AppError> = match action.as_str() {
        "issue-key" => match app
            .create_api_key(actor, id, field(&fields, "read_only") == "1")
            .await
        {
            Ok(issued) => shown(
                o.t("The new key's token:", "Le jeton de la nouvelle clé :"),
                issued.token,
            ),
            Err(e) => Err(e),
        },
        "revoke-key" => match uuid_field("key") {
            Some(key) => app
                .revoke_api_key(actor, id, ApiKeyId::from_uuid(key))
                .await
                .map(|()| None),
            None => Err(AppError::NotFound("api key")),
        },
        "add-user" => match ConsoleRole::parse(field(&fields, "role")) {
            Some(role) => match app
                .create_console_user(actor, id, field(&fields, "email"), role)
                .await
            {
                Ok(issued) => shown(
                    o.t(
                        "The new user's password:",
                        "Le mot de passe du nouvel utilisateur :",
                    ),
                    issued.password,
                ),
                Err(e) => Err(e),
            },
            None => Err(AppError::invalid("role", "dpo or viewer")),
        },
        "reset-user" => match uuid_field("user") {
            Some(user) => match app
                .reset_console_password(actor, id, ConsoleUserId::from_uuid(user))
                .await
            {
                Ok(issued) => shown(
                    o.t(
                        "The user's new password:",
                        "Le nouveau mot de passe de l'utilisateur :",
                    ),
                    issued.password,
                ),
                Err(e) => Err(e),
            },
            None => Err(AppError::NotFound("console user")),
        },
        "remove-user" => match uuid_field("user") {
            Some(user) => app
                .remove_console_user(actor, id, ConsoleUserId::from_uuid(user))
                .await
                .map(|()| None),
            None => Err(AppError::NotFound("console user")),
        },
        "delete-backups" if field(&fields, "confirm") == "1" => {
            app.delete_tenant_backups(actor, id).await.map(|_| None)
        }
        "delete-backups" => Err(AppError::invalid(
            "confirm",
            "tick the box to confirm the customer asked",
        )),
        "offboard" => match field(&fields, "grace_days").parse::<u32>() {
            Ok(days) => app
                .schedule_offboarding(actor, id, Some(days))
                .await
                .map(|_| None),
            Err(_) => Err(AppError::invalid("grace_days", "a number of days")),
        },
        "cancel-offboarding" => app.cancel_offboarding(actor, id).await.map(|()| None),
        _ => return o.failed(&AppError::NotFound("action")),
    };
    match outcome {
        // A secret: this page, once.
        Ok(Some(shown)) => tenant_page(&app, &o, id, StatusCode::OK, None, Some(shown)).await,
        Ok(None) => see_other(&format!(
            "{}&done={action}",
            o.link(&format!("/tenants/{id}"))
        )),
        Err(AppError::NotFound("tenant")) => o.failed(&AppError::NotFound("tenant")),
        Err(e) => {
            let (status, message) = explain(o.lang, &e);
            tenant_page(&app, &o, id, status, Some(Err(&message)), None).await
        }
    }
}
