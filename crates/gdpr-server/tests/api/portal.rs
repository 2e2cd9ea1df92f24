//! The request portal over HTTP, as a browser uses it (form posts, redirects, pages), with
//! the codes sent through a real SMTP server on 127.0.0.1 (or written to the outbox folder
//! on the embedded default) and read from the message received.

use gdpr_server::config::{MailTransport, SmtpConfig, SmtpTls};
use gdpr_testkit::smtp::SmtpServer;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_SECURITY_POLICY, LOCATION};

use crate::helpers::{TestApp, apps_with, spawn_app, spawn_app_with};

/// A page as a browser got it.
struct Page {
    status: StatusCode,
    location: Option<String>,
    csp: Option<String>,
    content_type: String,
    html: String,
}

/// A browser that does not follow redirects (the tests look at each).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn read(resp: reqwest::Response) -> Page {
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, csp) = (header(LOCATION), header(CONTENT_SECURITY_POLICY));
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    Page {
        status: resp.status(),
        location,
        csp,
        content_type,
        html: resp.text().await.unwrap(),
    }
}

async fn get(app: &TestApp, path: &str, lang: Option<&str>) -> Page {
    let mut req = browser().get(format!("{}{path}", app.base));
    if let Some(lang) = lang {
        req = req.header(ACCEPT_LANGUAGE, lang);
    }
    read(req.send().await.unwrap()).await
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Page {
    let req = browser()
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    read(req.send().await.unwrap()).await
}

/// The portal's first form, posted: `kind` asked for `email`.
async fn ask(app: &TestApp, start: &str, kind: &str, email: &str) -> Page {
    post(app, start, &[("kind", kind), ("email", email)]).await
}

/// The service sending through `smtp`.
pub(crate) fn through(smtp: &SmtpServer) -> impl Fn(&mut gdpr_server::config::Config) + '_ {
    move |c| {
        c.mail.transport = MailTransport::Smtp;
        c.mail.smtp = Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp.addr.port(),
            tls: SmtpTls::None,
            username: None,
            password: None,
            timeout_seconds: 5,
        });
    }
}

/// The eight-digit code in a message (its body is plain ASCII in English: 7bit or
/// quoted-printable, either way the digits read as they are).
fn code_in(message: &str) -> String {
    let at = message.find("Your code: ").expect("the code's line") + "Your code: ".len();
    let code = message[at..at + 8].to_owned();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{message}");
    code
}

#[tokio::test]
async fn a_person_asks_on_the_portal_and_the_code_from_the_smtp_server_opens_the_request() {
    let smtp = SmtpServer::start().await;
    for app in apps_with(through(&smtp)).await {
        let before = smtp.received().len();
        let (tenant, key) = app.tenant("LogAlto SAS").await;
        let subject = app.subject(&key, "ada@example.org").await;
        let start = format!("/portal/{tenant}");

        let form = get(&app, &start, None).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.html);
        assert!(form.content_type.starts_with("text/html"));
        assert!(form.html.contains("LogAlto SAS") && form.html.contains(r#"name="email""#));
        assert!(form.html.contains(r#"value="erasure""#) && form.html.contains("<label"));
        let csp = form.csp.unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!form.html.contains("<script"), "no script at all");

        // The known address and an unknown one: the same answer, a message each.
        let known = ask(&app, &start, "erasure", "ada@example.org").await;
        let unknown = ask(&app, &start, "erasure", "nobody@example.org").await;
        assert_eq!(known.status, StatusCode::SEE_OTHER, "{}", known.html);
        assert_eq!(unknown.status, StatusCode::SEE_OTHER);
        let (here_a, here_b) = (known.location.unwrap(), unknown.location.unwrap());
        assert!(
            here_a.starts_with(&format!("{start}/")) && !here_a.contains('@'),
            "{here_a}"
        );
        assert!(known.html.is_empty() && unknown.html.is_empty());
        // This backend's messages (the server serves them all in turn).
        let mail = smtp.wait_for(before + 2).await.split_off(before);
        let to_known = mail.iter().find(|m| m.to == ["ada@example.org"]).unwrap();
        let to_unknown = mail
            .iter()
            .find(|m| m.to == ["nobody@example.org"])
            .unwrap();

        let code_page = get(&app, &here_a, None).await;
        assert_eq!(code_page.status, StatusCode::OK);
        assert!(code_page.html.contains(r#"autocomplete="one-time-code""#));

        // A wrong code is said, and costs a try.
        let code = code_in(&to_known.data);
        let wrong = if code == "00000000" {
            "00000001"
        } else {
            "00000000"
        };
        let refused = post(&app, &here_a, &[("code", wrong)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.html.contains("not the code we sent"),
            "{}",
            refused.html
        );

        let answered = post(&app, &here_a, &[("code", &code)]).await;
        assert_eq!(answered.status, StatusCode::OK, "{}", answered.html);
        assert!(answered.html.contains("Your request is registered"));
        // The DPO sees it: the subject's erasure request, verified by the code.
        let requests = app.get("/v1/requests", &key).await;
        let list = requests.body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let request = list
            .iter()
            .find(|r| r["subject"] == subject.as_str())
            .unwrap_or_else(|| panic!("{}", requests.text));
        assert_eq!(request["kind"], "erasure");
        assert_eq!(request["verification"]["method"], "email_code");
        assert!(answered.html.contains(request["id"].as_str().unwrap()));
        // A code works once.
        let again = post(&app, &here_a, &[("code", &code)]).await;
        assert_eq!(again.status, StatusCode::CONFLICT);

        let nothing = post(&app, &here_b, &[("code", &code_in(&to_unknown.data))]).await;
        assert_eq!(nothing.status, StatusCode::OK);
        assert!(
            nothing.html.contains("holds no personal data"),
            "{}",
            nothing.html
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_codes_posted_at_once_take_a_try_each_and_the_last_ends_the_inquiry() {
    let smtp = SmtpServer::start().await;
    for app in apps_with(through(&smtp)).await {
        let before = smtp.received().len();
        let (tenant, key) = app.tenant("LogAlto SAS").await;
        app.subject(&key, "ada@example.org").await;
        let start = format!("/portal/{tenant}");
        let here = ask(&app, &start, "erasure", "ada@example.org")
            .await
            .location
            .unwrap();
        let code = code_in(&smtp.wait_for(before + 1).await[before].data);
        // Twelve wrong codes at once, as a guesser would send them: five tries in all.
        let wrong: Vec<String> = (0..12)
            .map(|i| {
                format!(
                    "{:08}",
                    (code.parse::<u32>().unwrap() + 1 + i) % 100_000_000
                )
            })
            .collect();
        let answers = futures_util::future::join_all(
            wrong
                .iter()
                .map(|w| async { post(&app, &here, &[("code", w.as_str())]).await }),
        )
        .await;
        let said = |status| answers.iter().filter(|a| a.status == status).count();
        let (refused, ended) = (
            said(StatusCode::UNPROCESSABLE_ENTITY),
            said(StatusCode::GONE),
        );
        assert_eq!(
            refused,
            4,
            "{:?}",
            answers.iter().map(|a| a.status).collect::<Vec<_>>()
        );
        assert_eq!(refused + ended + said(StatusCode::NOT_FOUND), 12);
        assert!(ended >= 1);
        // The right code comes too late: the inquiry is gone, and no request was opened.
        let late = post(&app, &here, &[("code", &code)]).await;
        assert_eq!(late.status, StatusCode::NOT_FOUND, "{}", late.html);
        let requests = app.get("/v1/requests", &key).await;
        assert_eq!(
            requests.body["items"],
            serde_json::json!([]),
            "{}",
            requests.text
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_portal_speaks_french_when_asked_and_bad_input_changes_nothing() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(through(&smtp)).await;
    let (tenant, key) = app.tenant("<script>alert(1)</script>").await;
    let start = format!("/portal/{tenant}");
    let fr = get(&app, &start, Some("fr-FR,fr;q=0.9,en;q=0.5")).await;
    assert!(fr.html.contains(r#"<html lang="fr">"#), "{}", fr.html);
    assert!(fr.html.contains("Que demandez-vous ?") && fr.html.contains("Effacement"));
    // The switch to the other language, and the choice made in the address.
    assert!(fr.html.contains(&format!(r#"href="{start}?lang=en""#)));
    let en = get(&app, &format!("{start}?lang=en"), Some("fr")).await;
    assert!(en.html.contains(r#"<html lang="en">"#));
    // A name that is markup renders as text.
    assert!(!fr.html.contains("<script>alert(1)</script>"));
    assert!(fr.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    let no_kind = post(
        &app,
        &format!("{start}?lang=fr"),
        &[("email", "ada@example.org")],
    )
    .await;
    assert_eq!(no_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_kind.html.contains("Choisissez ce que vous demandez"),
        "{}",
        no_kind.html
    );
    let bad = ask(&app, &start, "access", "not-an-address").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !bad.html.contains("not-an-address"),
        "the input is not echoed"
    );
    // A post another site's page makes the browser send is refused.
    let forged = browser()
        .post(format!("{}{start}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body("kind=access&email=ada%40example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let nowhere = get(&app, "/portal/00000000-0000-7000-8000-000000000000", None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    let garbage = get(&app, "/portal/not-a-tenant", None).await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
    // Nothing was sent, nothing opened.
    assert!(smtp.received().is_empty());
    let requests = app.get("/v1/requests", &key).await;
    assert_eq!(
        requests.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        requests.text
    );

    // The fourth code for one address within the hour is refused.
    for _ in 0..3 {
        let sent = ask(&app, &start, "access", "ada@example.org").await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER);
    }
    let limited = ask(&app, &start, "access", "ada@example.org").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(smtp.wait_for(3).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn on_the_embedded_default_the_code_waits_in_the_outbox_folder() {
    let app = spawn_app().await;
    let (tenant, _) = app.tenant("LogAlto SAS").await;
    let start = format!("/portal/{tenant}");
    let sent = ask(&app, &start, "access", "ada@example.org").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let outbox = app.dir.path().join("outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let message = std::fs::read_to_string(&files[0]).unwrap();
    assert!(message.contains("To: ada@example.org"), "{message}");
    let here = sent.location.unwrap();
    let answered = post(&app, &here, &[("code", &code_in(&message))]).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.html);
    assert!(answered.html.contains("No personal data held"));
    app.stop().await;
}

#[tokio::test]
async fn the_stylesheet_is_served_and_pages_are_never_cached() {
    let app = spawn_app().await;
    let css = browser()
        .get(format!("{}/assets/style.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.text().await.unwrap().contains("outline"),
        "focus is shown"
    );
    let (tenant, _) = app.tenant("LogAlto SAS").await;
    let page = browser()
        .get(format!("{}/portal/{tenant}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    app.stop().await;
}
