//! The console over HTTP, as a browser uses it (cookies, form posts, redirects): users made
//! by the operator, sign-in with the issued password, a session cookie the browser keeps to
//! itself, CSRF tokens, roles, and pages that show what the API holds, markup as text.

use std::collections::HashMap;
use std::sync::Mutex;

use gdpr_ports::RequestStore as _;
use gdpr_rights::{RequestKind, SubjectRequest};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use serde_json::json;

use gdpr_testkit::GpgHome;

use crate::helpers::{ADMIN, TestApp, assert_problem, spawn_app, spawn_app_with};

/// A page as the browser got it.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) html: String,
    /// The body as received (a download).
    pub(crate) bytes: Vec<u8>,
}

/// A browser over HTTP: keeps the cookies it is given, follows no redirect.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
    /// `Set-Cookie` lines received, as sent.
    pub(crate) set_cookies: Mutex<Vec<String>>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::default(),
            set_cookies: Mutex::default(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie)
        };
        let resp = req.send().await.unwrap();
        for line in resp.headers().get_all(SET_COOKIE) {
            let line = line.to_str().unwrap().to_owned();
            let (pair, _) = line.split_once(';').unwrap_or((&line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if line.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.lock().unwrap().push(line);
        }
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.bytes().await.unwrap().to_vec();
        Page {
            status,
            location: headers
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            headers,
            html: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.app.base)))
            .await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, "same-origin").await
    }

    /// A form post the browser says comes from `site` (`Sec-Fetch-Site`).
    pub(crate) async fn post_from(&self, path: &str, form: &[(&str, &str)], site: &str) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site)
            .body(serde_urlencoded::to_string(form).unwrap());
        self.send(req).await
    }

    /// Signs in; the page it lands on.
    pub(crate) async fn sign_in(&self, email: &str, password: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        let token = csrf(&form.html);
        self.post(
            "/console/sign-in",
            &[("csrf", &token), ("email", email), ("password", password)],
        )
        .await
    }

    pub(crate) fn forget(&self, cookie: &str) -> Option<String> {
        self.cookies.lock().unwrap().remove(cookie)
    }

    pub(crate) fn set(&self, cookie: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(cookie.to_owned(), value.to_owned());
    }
}

/// The CSRF token of the page's (first) form.
pub(crate) fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("a csrf field in {html}"))
        + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// A console user of `tenant` made through the admin API; their password.
pub(crate) async fn console_user(app: &TestApp, tenant: &str, email: &str, role: &str) -> String {
    let made = app
        .post(
            &format!("/v1/admin/tenants/{tenant}/console-users"),
            ADMIN,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.body["password"].as_str().unwrap().to_owned()
}

/// A request of `subject` received `days` ago, written straight into the database (the
/// server's clock is the real one; nothing else can make a request old).
pub(crate) async fn old_request(
    app: &TestApp,
    tenant: &str,
    subject: &str,
    kind: RequestKind,
    days: i64,
) -> String {
    let store = gdpr_server::open_store(&app.config, false).await.unwrap();
    let request = SubjectRequest::open(
        gdpr_pii::TenantId::from_uuid(tenant.parse().unwrap()),
        gdpr_pii::SubjectId::from_uuid(subject.parse().unwrap()),
        kind,
        time::OffsetDateTime::now_utc() - time::Duration::days(days),
    );
    store.insert_request(&request).await.unwrap();
    request.id.to_string()
}

#[tokio::test]
async fn the_operator_creates_lists_resets_and_removes_console_users() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let path = format!("/v1/admin/tenants/{tenant}/console-users");
    let made = app
        .post(
            &path,
            ADMIN,
            json!({"email": "DPO@logalto.example", "role": "dpo"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["user"]["email"], "dpo@logalto.example");
    assert_eq!(made.body["user"]["role"], "dpo");
    let id = made.body["user"]["id"].as_str().unwrap().to_owned();
    let password = made.body["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 20);

    // Listed, never with a password or its hash.
    let listed = app.get(&path, ADMIN).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(&password) && !listed.text.contains("argon2"));

    // The same address again, anywhere: 409; a tenant's key is not the operator; an
    // unknown tenant is 404.
    let again = app
        .post(
            &path,
            ADMIN,
            json!({"email": "dpo@logalto.example", "role": "viewer"}),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict");
    let not_admin = app
        .post(
            &path,
            &key,
            json!({"email": "x@logalto.example", "role": "viewer"}),
        )
        .await;
    assert_eq!(not_admin.status, StatusCode::UNAUTHORIZED);
    let nowhere = app
        .post(
            &format!("/v1/admin/tenants/{}/console-users", uuid::Uuid::new_v4()),
            ADMIN,
            json!({"email": "x@logalto.example", "role": "viewer"}),
        )
        .await;
    assert_problem(&nowhere, StatusCode::NOT_FOUND, "not-found");

    // A reset gives a new password; the old one stops working.
    let reset = app
        .post(&format!("{path}/{id}/password"), ADMIN, json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let new_password = reset.body["password"].as_str().unwrap();
    assert_ne!(new_password, password);
    let browser = Browser::new(&app);
    let refused = browser.sign_in("dpo@logalto.example", &password).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let signed_in = browser.sign_in("dpo@logalto.example", new_password).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );

    // Removed: its session ends at once.
    let removed = app
        .send(
            reqwest::Method::DELETE,
            &format!("{path}/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let after = browser.get("/console").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location.as_deref(), Some("/console/sign-in?lang=en"));
    let gone = app
        .send(
            reqwest::Method::DELETE,
            &format!("{path}/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn a_dpo_signs_in_verifies_exports_and_completes_an_overdue_request_then_signs_out() {
    // The controller's key: exports the console prepares are encrypted to it.
    let dpo_key = GpgHome::generate("DPO <dpo@logalto.example>", "", "future-default");
    let public = dpo_key.public_key("dpo@logalto.example");
    let app = spawn_app_with(|c| c.export.recipients = vec![public.clone()]).await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let subject = app.subject(&key, "ada@example.org").await;
    let request = old_request(&app, &tenant, &subject, RequestKind::Access, 40).await;
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let browser = Browser::new(&app);

    // Not signed in: to the sign-in page.
    let away = browser.get("/console").await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(away.location.as_deref(), Some("/console/sign-in?lang=en"));

    let landed = browser.sign_in("dpo@logalto.example", &password).await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER, "{}", landed.html);
    assert_eq!(landed.location.as_deref(), Some("/console?lang=en"));
    let session_cookie = browser
        .set_cookies
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.starts_with("__Host-gdpr_console=") && !l.contains("Max-Age=0"))
        .cloned()
        .unwrap();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }

    // The overview: the overdue request first, said overdue in words.
    let overview = browser.get("/console").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.html.contains("LogAlto SAS"));
    assert!(overview.html.contains("1 overdue"), "{}", overview.html);
    assert!(overview.html.contains(&request));
    let csp = overview.headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(overview.headers[CACHE_CONTROL], "no-store");

    // The request: verify, then complete.
    let page = browser.get(&format!("/console/requests/{request}")).await;
    assert!(page.html.contains("not verified yet"), "{}", page.html);
    let token = csrf(&page.html);
    let verified = browser
        .post(
            &format!("/console/requests/{request}/verify"),
            &[
                ("csrf", &token),
                ("method", "identity_document"),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.html);
    let page = browser.get(verified.location.as_deref().unwrap()).await;
    assert!(page.html.contains("Identity verification recorded."));
    // The export: prepared, then downloaded once, and the real gpg opens it.
    let exported = browser
        .post(
            &format!("/console/requests/{request}/export"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(exported.status, StatusCode::SEE_OTHER, "{}", exported.html);
    let page = browser.get(exported.location.as_deref().unwrap()).await;
    assert!(page.html.contains("Export prepared."), "{}", page.html);
    // The download is a post with the session's token (it deletes the export).
    let at = page.html.find("/console/exports/").unwrap();
    let link = page.html[at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(page.html[..at].ends_with("action=\""), "a form's action");
    let unsigned = browser.post(&link, &[]).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    let download = browser.post(&link, &[("csrf", &token)]).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(
        download.headers["content-type"],
        "application/pgp-encrypted"
    );
    let bundle = dpo_key.decrypt(&download.bytes);
    let bundle: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    assert_eq!(bundle["subject"]["id"], subject.as_str(), "{bundle}");
    let again = browser.post(&link, &[("csrf", &token)]).await;
    assert_ne!(again.status, StatusCode::OK, "an export leaves once");
    assert_eq!(
        browser.get(&link).await.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "no download by a link"
    );
    let done = browser
        .post(
            &format!("/console/requests/{request}/complete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);

    // The API sees what the console did, by whom.
    let seen = app.get(&format!("/v1/requests/{request}"), &key).await;
    assert_eq!(seen.body["status"], "completed");
    assert_eq!(seen.body["verification"]["method"], "identity_document");
    assert!(
        seen.body["verification"]["by"]
            .as_str()
            .unwrap()
            .starts_with("console_user:")
    );
    let audit = app.get("/v1/audit?limit=1000", &key).await;
    assert!(
        audit
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["event"]["action"] == "request_closed"
                && r["event"]["actor"]["type"] == "console_user"),
        "{}",
        audit.text
    );

    // Signed out: the cookie is cleared and, kept anyway, opens nothing.
    let kept = browser.forget("__Host-gdpr_console").unwrap();
    browser.set("__Host-gdpr_console", &kept);
    let out = browser.post("/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    browser.set("__Host-gdpr_console", &kept);
    let after = browser.get("/console").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let subject = app.subject(&key, "ada@example.org").await;
    let request = old_request(&app, &tenant, &subject, RequestKind::Erasure, 2).await;
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let browser = Browser::new(&app);
    browser.sign_in("dpo@logalto.example", &password).await;
    let token = csrf(
        &browser
            .get(&format!("/console/requests/{request}"))
            .await
            .html,
    );
    let refuse = format!("/console/requests/{request}/refuse");

    // Another session's token is no token for this one.
    let other = Browser::new(&app);
    let second = console_user(&app, &tenant, "second@logalto.example", "dpo").await;
    other.sign_in("second@logalto.example", &second).await;
    let theirs = csrf(&other.get("/console").await.html);
    assert_ne!(theirs, token);
    for (form, site) in [
        (
            vec![("csrf", theirs.as_str()), ("reason", "no")],
            "same-origin",
        ),
        (vec![("reason", "no")], "same-origin"),
        (vec![("csrf", "0123"), ("reason", "no")], "same-origin"),
        (
            vec![("csrf", token.as_str()), ("reason", "no")],
            "cross-site",
        ),
        (
            vec![("csrf", token.as_str()), ("reason", "no")],
            "same-site",
        ),
    ] {
        let refused = browser.post_from(&refuse, &form, site).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{site} {form:?}");
        assert!(refused.html.contains("role=\"alert\""));
    }
    let unchanged = app.get(&format!("/v1/requests/{request}"), &key).await;
    assert_eq!(unchanged.body["status"], "open");

    // The sign-in form has its own token, bound to a cookie of the browser that got it.
    let other = Browser::new(&app);
    let forged = other
        .post(
            "/console/sign-in",
            &[
                ("csrf", &token),
                ("email", "dpo@logalto.example"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(other.forget("__Host-gdpr_console").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_erase_or_download() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let subject = app.subject(&key, "ada@example.org").await;
    let request = old_request(&app, &tenant, &subject, RequestKind::Erasure, 3).await;
    let password = console_user(&app, &tenant, "viewer@logalto.example", "viewer").await;
    let browser = Browser::new(&app);
    browser.sign_in("viewer@logalto.example", &password).await;

    let page = browser.get(&format!("/console/requests/{request}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(&subject));
    assert!(!page.html.contains("/erase"), "no erase form for a viewer");
    // Posting it anyway, with the session's own token: refused, nothing erased.
    let token = csrf(&page.html);
    let refused = browser
        .post(
            &format!("/console/requests/{request}/erase"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.html.contains("viewer"), "{}", refused.html);
    let still = app.get(&format!("/v1/subjects/{subject}"), &key).await;
    assert_eq!(still.status, StatusCode::OK);
    let download = browser
        .post(
            &format!("/console/exports/{}", uuid::Uuid::new_v4()),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(download.status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_then_the_source_waits() {
    let app = spawn_app_with(|c| c.http.auth_failures_per_minute = 5).await;
    let (tenant, _) = app.tenant("LogAlto SAS").await;
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let browser = Browser::new(&app);
    let wrong = browser.sign_in("dpo@logalto.example", "not it").await;
    let unknown = browser.sign_in("nobody@logalto.example", &password).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let said = |p: &Page| {
        let at = p.html.find("role=\"alert\"").unwrap();
        p.html[at..].split('<').next().unwrap().to_owned()
    };
    assert_eq!(said(&wrong), said(&unknown), "one answer for both");
    for _ in 0..3 {
        browser.sign_in("dpo@logalto.example", "not it").await;
    }
    // Five failures from this source: even the right password waits for the minute.
    let limited = browser.sign_in("dpo@logalto.example", &password).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
    assert!(browser.forget("__Host-gdpr_console").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_subject_is_found_by_a_posted_address_and_markup_in_a_name_stays_text() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let made = app
        .post(
            "/v1/subjects",
            &key,
            json!({"email": "mallory@example.org", "full_name": "<script>alert(1)</script>"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let subject = made.body["id"].as_str().unwrap().to_owned();
    let password = console_user(&app, &tenant, "viewer@logalto.example", "viewer").await;
    let browser = Browser::new(&app);
    browser.sign_in("viewer@logalto.example", &password).await;

    let form = browser.get("/console/subjects").await;
    let token = csrf(&form.html);
    let found = browser
        .post(
            "/console/subjects",
            &[("csrf", &token), ("email", "Mallory@Example.org")],
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.html);
    assert!(found.html.contains(&subject));
    assert!(
        found.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        found.html
    );
    assert!(!found.html.contains("<script>"), "no markup from data");
    let missing = browser
        .post(
            "/console/subjects",
            &[("csrf", &token), ("email", "nobody@example.org")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // The look-up is in the chain, by the console user.
    let audit = app.get("/v1/audit?limit=1000", &key).await;
    assert!(audit.body.as_array().unwrap().iter().any(|r| {
        r["event"]["action"] == "subject_looked_up" && r["event"]["actor"]["type"] == "console_user"
    }));

    // Every reading page answers, in both languages, with the pages' headers.
    for path in [
        "/console",
        "/console/requests",
        "/console/register",
        "/console/purposes",
        "/console/recipients",
        "/console/breaches",
        "/console/webhooks",
        "/console/backups",
        "/console/audit",
    ] {
        for lang in ["en", "fr"] {
            let page = browser.get(&format!("{path}?lang={lang}")).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
            assert!(
                page.html.contains(&format!("<html lang=\"{lang}\"")),
                "{path}"
            );
            assert_eq!(page.headers[CACHE_CONTROL], "no-store", "{path}");
        }
    }
    let register = browser.get("/console/register?lang=fr").await;
    assert!(
        register
            .html
            .contains("Registre des activités de traitement")
    );
    // What the API defined shows: the activity in the register, the form, the consent text.
    app.contractors(&key).await;
    let register = browser.get("/console/register").await;
    assert!(register.html.contains("Contractors"), "{}", register.html);
    let purposes = browser.get("/console/purposes").await;
    for shown in [
        "Managing contractors",
        "Contractors",
        "email, full_name, day_rate",
        "I agree.",
    ] {
        assert!(purposes.html.contains(shown), "{shown}: {}", purposes.html);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_operator_pages_open_with_the_admin_token_and_do_what_the_admin_api_does() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let away = browser.get("/console/operator").await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(
        away.location.as_deref(),
        Some("/console/operator/sign-in?lang=en")
    );
    // A wrong token: refused, counted like a wrong API key.
    let form = browser.get("/console/operator/sign-in").await;
    let wrong = browser
        .post(
            "/console/operator/sign-in",
            &[
                ("csrf", &csrf(&form.html)),
                ("token", "not-the-admin-token"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let form = browser.get("/console/operator/sign-in").await;
    let signed = browser
        .post(
            "/console/operator/sign-in",
            &[("csrf", &csrf(&form.html)), ("token", ADMIN)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    assert!(
        browser
            .set_cookies
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("__Host-gdpr_operator=") && l.contains("HttpOnly"))
    );

    // A tenant, made on the page.
    let home = browser.get("/console/operator").await;
    let token = csrf(&home.html);
    let made = browser
        .post(
            "/console/operator/tenants",
            &[
                ("csrf", &token),
                ("name", "LogAlto SAS"),
                ("privacy_contact", "dpo@logalto.example"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    let page_path = made.location.unwrap();
    let tenant = page_path
        .trim_start_matches("/console/operator/tenants/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let act = |action: &str| format!("/console/operator/tenants/{tenant}/{action}");

    // A key: its token shown once, on the answer itself, and it works.
    let issued = browser.post(&act("issue-key"), &[("csrf", &token)]).await;
    assert_eq!(issued.status, StatusCode::OK);
    let at = issued.html.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let key = issued.html[at..].split('<').next().unwrap().to_owned();
    assert!(key.starts_with("gdpr_"), "{key}");
    assert_eq!(app.get("/v1/purposes", &key).await.status, StatusCode::OK);
    let page = browser.get(&page_path).await;
    assert!(!page.html.contains(&key), "shown once");

    // A console user: the password shown once, and it signs in.
    let added = browser
        .post(
            &act("add-user"),
            &[
                ("csrf", &token),
                ("email", "dpo@logalto.example"),
                ("role", "dpo"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.html);
    let at = added.html.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let password = added.html[at..].split('<').next().unwrap().to_owned();
    let staff = Browser::new(&app);
    assert_eq!(
        staff.sign_in("dpo@logalto.example", &password).await.status,
        StatusCode::SEE_OTHER
    );
    // The staff's session does not open the operator's pages.
    assert_eq!(
        staff.get("/console/operator").await.status,
        StatusCode::SEE_OTHER
    );

    // A form without the operator's token changes nothing.
    let key_id = app
        .get(&format!("/v1/admin/tenants/{tenant}/api-keys"), ADMIN)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = browser.post(&act("revoke-key"), &[("key", &key_id)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/purposes", &key).await.status, StatusCode::OK);
    let revoked = browser
        .post(&act("revoke-key"), &[("csrf", &token), ("key", &key_id)])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/v1/purposes", &key).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Backups deleted only with the box ticked; offboarding scheduled then cancelled.
    let unticked = browser
        .post(&act("delete-backups"), &[("csrf", &token)])
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ticked = browser
        .post(
            &act("delete-backups"),
            &[("csrf", &token), ("confirm", "1")],
        )
        .await;
    assert_eq!(ticked.status, StatusCode::SEE_OTHER);
    let offboard = browser
        .post(&act("offboard"), &[("csrf", &token), ("grace_days", "30")])
        .await;
    assert_eq!(offboard.status, StatusCode::SEE_OTHER);
    let state = app
        .get(&format!("/v1/admin/tenants/{tenant}/offboarding"), ADMIN)
        .await;
    assert_eq!(state.status, StatusCode::OK, "{}", state.text);
    // The tenant's staff are refused while it is offboarded.
    let refused = staff.get("/console").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let cancelled = browser
        .post(&act("cancel-offboarding"), &[("csrf", &token)])
        .await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(staff.get("/console").await.status, StatusCode::OK);

    // Signed out: the pages are closed again.
    let out = browser
        .post("/console/operator/sign-out", &[("csrf", &token)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get("/console/operator").await.status,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dpo_records_a_breach_and_its_notification_and_a_viewer_cannot() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let dpo = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let viewer = console_user(&app, &tenant, "viewer@logalto.example", "viewer").await;
    let browser = Browser::new(&app);
    browser.sign_in("dpo@logalto.example", &dpo).await;
    let page = browser.get("/console/breaches").await;
    let token = csrf(&page.html);
    let detected = (time::OffsetDateTime::now_utc() - time::Duration::hours(80))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]"
        ))
        .unwrap();
    let form = |kind: Option<&'static str>| {
        let mut f = vec![
            ("csrf", token.clone()),
            ("title", "Laptop stolen".to_owned()),
            ("detected_at", detected.clone()),
            ("nature", "An unencrypted laptop with an export".to_owned()),
            ("subjects_approx", "120".to_owned()),
            ("records_approx", "300".to_owned()),
            ("consequences", "Phishing".to_owned()),
            ("measures", "Passwords reset".to_owned()),
        ];
        if let Some(kind) = kind {
            f.push(("kind", kind.to_owned()));
        }
        f
    };
    let as_refs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let browser = &browser;
    let post = |f: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post("/console/breaches", &pairs).await
    };
    // No kind named: said, nothing recorded.
    let refused = post(as_refs(&form(None))).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("kinds"), "{}", refused.html);
    assert!(
        app.get("/v1/breaches", &key)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );

    let recorded = post(as_refs(&form(Some("confidentiality")))).await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.html);
    let page = browser.get(recorded.location.as_deref().unwrap()).await;
    // Detected 80 hours ago: the clock is past, said so; a late notice needs its reason.
    assert!(page.html.contains("overdue since"), "{}", page.html);
    let id = recorded
        .location
        .unwrap()
        .trim_start_matches("/console/breaches/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let notify = format!("/console/breaches/{id}/notify-authority");
    let without_reason = browser
        .post(&notify, &[("csrf", &token), ("reference", "CNIL-42")])
        .await;
    assert_eq!(
        without_reason.status,
        StatusCode::CONFLICT,
        "{}",
        without_reason.html
    );
    let notified = browser
        .post(
            &notify,
            &[
                ("csrf", &token),
                ("reference", "CNIL-42"),
                ("late_reason", "found on a weekend"),
            ],
        )
        .await;
    assert_eq!(notified.status, StatusCode::SEE_OTHER, "{}", notified.html);
    let decided = browser
        .post(
            &format!("/console/breaches/{id}/decide"),
            &[
                ("csrf", &token),
                ("notify", "yes"),
                ("reason", "passwords exposed"),
            ],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.html);

    // The API holds what the console recorded.
    let seen = app.get(&format!("/v1/breaches/{id}"), &key).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["authority"]["reference"], "CNIL-42");
    assert_eq!(seen.body["subjects_decision"]["notify"], true);

    // A viewer reads it and has no form; a post anyway is refused.
    let other = Browser::new(&app);
    other.sign_in("viewer@logalto.example", &viewer).await;
    let list = other.get("/console/breaches").await;
    assert!(list.html.contains("Laptop stolen"));
    assert!(
        !list.html.contains("name=\"nature\""),
        "no form for a viewer"
    );
    let token = csrf(&list.html);
    let pairs = [("csrf", token.as_str()), ("title", "x")];
    let refused = other.post("/console/breaches", &pairs).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/v1/breaches", &key)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dpo_extends_refuses_and_erases_from_the_console_and_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let ada = app.subject(&key, "ada@example.org").await;
    let grace = app.subject(&key, "grace@example.org").await;
    let access = old_request(&app, &tenant, &ada, RequestKind::Access, 10).await;
    let erasure = old_request(&app, &tenant, &grace, RequestKind::Erasure, 3).await;
    // A recipient that must confirm erasures (Art. 19); unreachable from here: it stays
    // pending.
    let crm = app
        .post(
            "/v1/webhooks/endpoints",
            &key,
            serde_json::json!({"url": "https://crm.logalto.example/hooks", "events": ["subject.erased"],
                "confirms_erasure": true, "description": "CRM"}),
        )
        .await;
    assert_eq!(crm.status, StatusCode::CREATED, "{}", crm.text);
    // And one that confirms by calling back once it has erased on its side.
    let mailer = app
        .post(
            "/v1/webhooks/endpoints",
            &key,
            serde_json::json!({"url": "https://mailer.logalto.example/hooks", "events": ["subject.erased"],
                "confirms_erasure": true, "erasure_confirmed_by": "callback", "description": "Mailer"}),
        )
        .await;
    assert_eq!(mailer.status, StatusCode::CREATED, "{}", mailer.text);
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let browser = Browser::new(&app);
    browser.sign_in("dpo@logalto.example", &password).await;
    let token = csrf(
        &browser
            .get(&format!("/console/requests/{access}"))
            .await
            .html,
    );
    let post = |request: &str, action: &str, extra: &[(&'static str, &'static str)]| {
        let mut form = vec![("csrf", token.clone())];
        form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let path = format!("/console/requests/{request}/{action}");
        let browser = &browser;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post(&path, &pairs).await
        }
    };

    // Three months, or no reason: said on the page, nothing changed.
    let bad = post(&access, "extend", &[("months", "3"), ("reason", "busy")]).await;
    assert_eq!(bad.status, StatusCode::CONFLICT, "{}", bad.html);
    let blank = post(&access, "extend", &[("months", "1"), ("reason", "  ")]).await;
    assert!(blank.status.is_client_error(), "{}", blank.html);
    assert!(blank.html.contains("role=\"alert\""));
    let before = app.get(&format!("/v1/requests/{access}"), &key).await;
    assert!(before.body["extension"].is_null(), "{}", before.text);
    let extended = post(
        &access,
        "extend",
        &[("months", "2"), ("reason", "many requests")],
    )
    .await;
    assert_eq!(extended.status, StatusCode::SEE_OTHER, "{}", extended.html);
    let after = app.get(&format!("/v1/requests/{access}"), &key).await;
    assert_eq!(after.body["extension"]["months"], 2);
    let refused = post(&access, "refuse", &[("reason", "manifestly unfounded")]).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "{}", refused.html);
    let closed = app.get(&format!("/v1/requests/{access}"), &key).await;
    assert_eq!(closed.body["status"], "refused");

    // An erasure waits for the requester's identity; then it erases and closes the request.
    let early = post(&erasure, "erase", &[]).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.html);
    assert_eq!(
        app.get(&format!("/v1/subjects/{grace}"), &key).await.status,
        StatusCode::OK
    );
    post(&erasure, "verify", &[("method", "email_code")]).await;
    let erased = post(&erasure, "erase", &[]).await;
    assert_eq!(erased.status, StatusCode::SEE_OTHER, "{}", erased.html);
    assert_eq!(
        app.get(&format!("/v1/subjects/{grace}"), &key).await.status,
        StatusCode::NOT_FOUND
    );
    let done = app.get(&format!("/v1/requests/{erasure}"), &key).await;
    assert_eq!(done.body["status"], "completed", "{}", done.text);
    let page = browser.get(erased.location.as_deref().unwrap()).await;
    assert!(
        page.html.contains("The subject was erased"),
        "{}",
        page.html
    );
    // The request names the recipient still to confirm.
    assert!(
        page.html
            .contains("Recipients told of the erasure (Art. 19)")
            && page.html.contains("https://crm.logalto.example/hooks")
            && page.html.contains("pending"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("https://mailer.logalto.example/hooks")
            && page
                .html
                .contains("pending: awaiting its confirmation that it erased"),
        "{}",
        page.html
    );
    app.stop().await;
}

#[tokio::test]
async fn an_operator_session_ends_when_the_admin_token_changes() {
    let mut app = spawn_app().await;
    let cookie = {
        let browser = Browser::new(&app);
        let form = browser.get("/console/operator/sign-in").await;
        let signed = browser
            .post(
                "/console/operator/sign-in",
                &[("csrf", &csrf(&form.html)), ("token", ADMIN)],
            )
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER);
        assert_eq!(
            browser.get("/console/operator").await.status,
            StatusCode::OK
        );
        browser.forget("__Host-gdpr_operator").unwrap()
    };
    // The token leaked and was rotated: the session opened with the old one is over.
    app.halt().await;
    app.config.security.admin_token =
        Some(secrecy::SecretString::from("a-new-admin-token-9876543210"));
    app.resume().await;
    let browser = Browser::new(&app);
    browser.set("__Host-gdpr_operator", &cookie);
    let refused = browser.get("/console/operator").await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refused.location.as_deref(),
        Some("/console/operator/sign-in?lang=en")
    );
    app.stop().await;
}

#[tokio::test]
async fn every_request_is_reached_a_page_at_a_time_and_a_forged_page_link_is_refused() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let subject = app.subject(&key, "ada@example.org").await;
    // 205 requests received a minute apart, the oldest refused: more than a page holds.
    let store = gdpr_server::open_store(&app.config, false).await.unwrap();
    let first = time::OffsetDateTime::now_utc() - time::Duration::days(20);
    let mut ids = Vec::new();
    for i in 0..205 {
        let mut request = SubjectRequest::open(
            gdpr_pii::TenantId::from_uuid(tenant.parse().unwrap()),
            gdpr_pii::SubjectId::from_uuid(subject.parse().unwrap()),
            RequestKind::Access,
            first + time::Duration::minutes(i),
        );
        store.insert_request(&request).await.unwrap();
        if i == 0 {
            let before = request.clone();
            request
                .refuse("manifestly unfounded", time::OffsetDateTime::now_utc())
                .unwrap();
            store.update_request(&before, &request).await.unwrap();
        }
        ids.push(request.id.to_string());
    }
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    let browser = Browser::new(&app);
    browser.sign_in("dpo@logalto.example", &password).await;

    // The open requests: not the refused one.
    let open = browser.get("/console/requests").await;
    assert_eq!(open.status, StatusCode::OK);
    assert!(!open.html.contains(&ids[0]) && open.html.contains(&ids[1]));
    assert!(open.html.contains("/console/requests?lang=en&amp;all=1"));

    // Every request, oldest first, 200 a page, then a link to the rest.
    let next_link = |page: &Page| {
        let (_, after) = page.html.split_once("rel=\"next\" href=\"")?;
        Some(after.split('"').next()?.replace("&amp;", "&"))
    };
    let one = browser.get("/console/requests?all=1").await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(
        ids[..200].iter().all(|id| one.html.contains(id)),
        "{}",
        one.html
    );
    assert!(ids[200..].iter().all(|id| !one.html.contains(id)));
    let two = browser.get(&next_link(&one).unwrap()).await;
    assert_eq!(two.status, StatusCode::OK, "{}", two.html);
    assert!(
        ids[200..].iter().all(|id| two.html.contains(id)),
        "{}",
        two.html
    );
    assert!(ids[..200].iter().all(|id| !two.html.contains(id)));
    assert_eq!(next_link(&two), None);

    // A page link the console did not make: refused, saying so.
    let forged = browser.get("/console/requests?all=1&after=1.2").await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(
        forged.html.contains("not one the console made"),
        "{}",
        forged.html
    );
    app.stop().await;
}
