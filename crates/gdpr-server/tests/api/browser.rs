//! Journeys in a real browser: Debian's Chromium, headless, driven through `chromedriver`
//! (WebDriver) by fantoccini, against the real server, with the codes read from a real SMTP
//! server on 127.0.0.1. Each asserts what the page shows; each takes screenshots of the pages
//! it passes through into `target/screenshots/` (and, with `UPDATE_SCREENSHOTS=1`, into
//! `docs/console/`, where the documentation shows them).
//!
//! Without `chromium` and `chromedriver` the journeys say loudly that they were skipped, except
//! under `CI=true`, where they fail (`cargo xtask ci` installs both on Debian).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use gdpr_testkit::smtp::SmtpServer;
use serde_json::json;

use gdpr_rights::RequestKind;

use crate::console::{console_user, old_request};
use crate::helpers::{TestApp, spawn_app_with};
use crate::portal::through;

/// A running chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session and the chromedriver it runs through.
struct Browser {
    client: Client,
    _driver: Driver,
}

fn installed(command: &str) -> bool {
    Command::new(command)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A browser whose `Accept-Language` is `languages`; `None` (said loudly) without Chromium.
async fn browser(languages: &str) -> Option<Browser> {
    if !installed("chromedriver") || !installed("chromium") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the browser journeys: chromium and chromium-driver are missing"
        );
        eprintln!(
            "\n*** SKIPPED: the browser journeys need Debian's chromium and chromium-driver ***\n"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1024,800"],
            "prefs": {"intl.accept_languages": languages},
        }),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen.
    for _ in 0..100 {
        let session = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&webdriver)
            .await;
        if let Ok(client) = session {
            return Some(Browser {
                client,
                _driver: driver,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {webdriver}");
}

impl Browser {
    async fn open(&self, app: &TestApp, path: &str) {
        self.client
            .goto(&format!("{}{path}", app.base))
            .await
            .unwrap();
    }

    /// The visible text of the page's `main`.
    async fn main_text(&self) -> String {
        self.client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks `css` (a submit button, a link), then waits for the next page: the one that
    /// has `next` (an element the page clicked on does not have).
    async fn follow(&self, css: &str, next: &str) {
        self.click(css).await;
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(next))
            .await
            .unwrap_or_else(|e| panic!("no {next} after clicking {css}: {e}"));
    }

    async fn type_in(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Saves a screenshot of the page as `name.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = root.join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            let docs = root.join("docs/console");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

/// The eight digits of the code in a message.
fn code_in(message: &str) -> String {
    let at = message.find("Your code: ").expect("the code's line") + "Your code: ".len();
    message[at..at + 8].to_owned()
}

#[tokio::test]
async fn a_person_files_an_erasure_request_on_the_portal_and_the_dpo_sees_it() {
    let Some(browser) = browser("en-GB,en").await else {
        return;
    };
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(through(&smtp)).await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let subject = app.subject(&key, "ada@example.org").await;

    browser.open(&app, &format!("/portal/{tenant}")).await;
    assert_eq!(
        browser.client.title().await.unwrap(),
        "Your personal data — LogAlto SAS"
    );
    browser.screenshot("portal-ask").await;
    // The label names its radio button: clicking it chooses erasure.
    browser.click("label[for=kind-erasure]").await;
    browser.type_in("#email", "ada@example.org").await;
    browser.follow("button[type=submit]", "#code").await;

    // The code's page, then the code from the message the SMTP server got.
    let text = browser.main_text().await;
    assert!(
        text.contains("an eight-digit code is on its way") && text.contains("15 minutes"),
        "{text}"
    );
    browser.screenshot("portal-code").await;
    let message = smtp.wait_for(1).await.remove(0);
    assert_eq!(message.to, ["ada@example.org"]);
    // A wrong code first: said next to the field, the form still there.
    browser.type_in("#code", "00000000").await;
    let code = code_in(&message.data);
    if code != "00000000" {
        browser.follow("button[type=submit]", "[role=alert]").await;
        let refused = browser
            .client
            .find(Locator::Css("[role=alert]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(refused.contains("not the code we sent"), "{refused}");
    }
    browser.type_in("#code", &code).await;
    browser.follow("button[type=submit]", "main dl").await;
    let answer = browser.main_text().await;
    assert!(answer.contains("Your request is registered"), "{answer}");
    browser.screenshot("portal-answer").await;

    // The DPO sees it: an erasure request of the subject, verified by the code, whose
    // reference the person was shown.
    let requests = app.get("/v1/requests", &key).await;
    let request = requests.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subject"] == subject.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{}", requests.text));
    assert_eq!(request["kind"], "erasure");
    assert_eq!(request["verification"]["method"], "email_code");
    let id = request["id"].as_str().unwrap();
    assert!(answer.contains(id), "{answer}");
    // And in the console: the DPO finds it among the open requests.
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;
    browser
        .sign_in(&app, "dpo@logalto.example", &password)
        .await;
    // The overview has a table of requests too: wait for the list's own words.
    browser
        .follow_to_text(
            "nav a[href^='/console/requests']",
            "Every request, in the order received",
        )
        .await;
    let listed = browser.main_text().await;
    assert!(
        listed.contains(id) && listed.contains("Erasure"),
        "{listed}"
    );
    browser.screenshot("console-requests").await;
    browser.client.clone().close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn the_portal_reads_french_and_a_name_that_is_markup_stays_text() {
    let Some(browser) = browser("fr-FR,fr").await else {
        return;
    };
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(through(&smtp)).await;
    let (tenant, _) = app.tenant("<script>alert(1)</script>").await;
    browser.open(&app, &format!("/portal/{tenant}")).await;
    let lang = browser
        .client
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("lang")
        .await
        .unwrap();
    assert_eq!(lang.as_deref(), Some("fr"));
    let heading = browser.main_text().await;
    assert!(heading.contains("Que demandez-vous ?"), "{heading}");
    // The name is shown as the text it is; no script ran (no alert is open).
    let banner = browser
        .client
        .find(Locator::Css("header .org"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(banner, "<script>alert(1)</script>");
    assert!(browser.client.get_alert_text().await.is_err(), "no alert");
    browser.screenshot("portal-ask-fr").await;
    // The switch to English.
    browser.follow("header a", "html[lang=en]").await;
    assert!(browser.main_text().await.contains("What do you ask for?"));
    browser.client.clone().close().await.unwrap();
    app.stop().await;
}

impl Browser {
    /// Signs in to the console with the form, landing on the overview.
    async fn sign_in(&self, app: &TestApp, email: &str, password: &str) {
        self.open(app, "/console").await;
        // Not signed in: the console sends the browser to its sign-in page.
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#password"))
            .await
            .unwrap();
        self.type_in("#email", email).await;
        self.type_in("#password", password).await;
        self.follow("button[type=submit]", "nav").await;
    }

    /// The text of the first element `css` finds.
    async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Clicks `css`, then waits for the next page to say `text` (where the page clicked on
    /// has the same elements as the next, only its words tell them apart).
    async fn follow_to_text(&self, css: &str, text: &str) {
        self.click(css).await;
        let begun = std::time::Instant::now();
        while !self.main_text_now().await.contains(text) {
            assert!(
                begun.elapsed() < Duration::from_secs(10),
                "no page saying {text:?} after clicking {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of `main`, or nothing while a page loads.
    async fn main_text_now(&self) -> String {
        match self.client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }
}

#[tokio::test]
async fn a_dpo_finds_an_overdue_access_request_verifies_the_identity_exports_and_completes_it() {
    let Some(browser) = browser("en-GB,en").await else {
        return;
    };
    let dpo_key =
        gdpr_testkit::GpgHome::generate("DPO <dpo@logalto.example>", "", "future-default");
    let public = dpo_key.public_key("dpo@logalto.example");
    let app = spawn_app_with(|c| c.export.recipients = vec![public.clone()]).await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let ada = app.subject(&key, "ada@example.org").await;
    let grace = app.subject(&key, "grace@example.org").await;
    let overdue = old_request(&app, &tenant, &ada, RequestKind::Access, 40).await;
    let recent = old_request(&app, &tenant, &grace, RequestKind::Erasure, 2).await;
    let password = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;

    browser.open(&app, "/console/sign-in").await;
    browser.screenshot("console-sign-in").await;
    browser
        .sign_in(&app, "dpo@logalto.example", &password)
        .await;
    // The overview: one request overdue, in words and in red, listed before the other.
    let overview = browser.main_text().await;
    assert!(overview.contains("2 open, 1 overdue"), "{overview}");
    assert_eq!(browser.text_of("tr.overdue a").await, overdue);
    let first = overview.find(&overdue).unwrap();
    assert!(first < overview.find(&recent).unwrap(), "{overview}");
    browser.screenshot("console-overview").await;

    browser.follow("tr.overdue a", "#method").await;
    let page = browser.main_text().await;
    assert!(
        page.contains("not verified yet") && page.contains("overdue"),
        "{page}"
    );
    browser.screenshot("console-request").await;
    browser
        .client
        .find(Locator::Css("#method"))
        .await
        .unwrap()
        .select_by_value("identity_document")
        .await
        .unwrap();
    browser
        .follow("form[action*='/verify'] button", "p.done")
        .await;
    assert_eq!(
        browser.text_of("p.done").await,
        "Identity verification recorded."
    );
    browser
        .follow(
            "form[action*='/export'] button",
            "form[action*='/exports/'] button",
        )
        .await;
    assert!(browser.main_text().await.contains("Export prepared."));
    // The page before has a `p.done` too: wait for the words of the next.
    browser
        .follow_to_text("form[action*='/complete'] button", "Request completed.")
        .await;
    assert_eq!(browser.text_of("p.done").await, "Request completed.");
    assert!(browser.text_of("h1").await.contains("Completed"));
    assert!(!browser.has("form[action*='/complete']").await, "closed");
    browser.screenshot("console-request-done").await;

    let seen = app.get(&format!("/v1/requests/{overdue}"), &key).await;
    assert_eq!(seen.body["status"], "completed");
    assert_eq!(seen.body["verification"]["method"], "identity_document");
    browser.client.clone().close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_cannot_erase_a_form_without_its_token_is_refused_and_markup_stays_text() {
    let Some(browser) = browser("fr-FR,fr").await else {
        return;
    };
    let app = spawn_app_with(|_| {}).await;
    let (tenant, key) = app.tenant("LogAlto SAS").await;
    let made = app
        .post(
            "/v1/subjects",
            &key,
            json!({"email": "mallory@example.org", "full_name": "<script>alert(1)</script>"}),
        )
        .await;
    let subject = made.body["id"].as_str().unwrap().to_owned();
    let request = old_request(&app, &tenant, &subject, RequestKind::Erasure, 5).await;
    let viewer = console_user(&app, &tenant, "viewer@logalto.example", "viewer").await;
    let dpo = console_user(&app, &tenant, "dpo@logalto.example", "dpo").await;

    // The viewer: the request and the name as text, in French, and no erase button.
    browser
        .sign_in(&app, "viewer@logalto.example", &viewer)
        .await;
    browser
        .open(&app, &format!("/console/requests/{request}"))
        .await;
    assert_eq!(
        browser.text_of("span.name").await,
        "<script>alert(1)</script>"
    );
    assert!(browser.client.get_alert_text().await.is_err(), "no alert");
    assert!(browser.main_text().await.contains("pas encore vérifiée"));
    assert!(!browser.has("form[action*='/erase']").await);
    browser.screenshot("console-viewer").await;
    browser.follow("nav button", "#password").await;

    // The DPO's erase form, its token taken out: refused, nothing erased.
    browser.sign_in(&app, "dpo@logalto.example", &dpo).await;
    browser
        .open(&app, &format!("/console/requests/{request}"))
        .await;
    browser
        .client
        .execute(
            "document.querySelectorAll(\"form[action*='/erase'] input[name=csrf]\").forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    browser
        .follow("form[action*='/erase'] button", "p.error")
        .await;
    let refused = browser.text_of("p.error").await;
    assert!(refused.contains("Ce formulaire a expiré"), "{refused}");
    browser.screenshot("console-csrf-refused").await;
    let still = app.get(&format!("/v1/subjects/{subject}"), &key).await;
    assert_eq!(still.status, reqwest::StatusCode::OK);
    let open = app.get(&format!("/v1/requests/{request}"), &key).await;
    assert_eq!(open.body["status"], "open");
    browser.client.clone().close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn the_operator_signs_in_with_the_admin_token_and_gives_a_tenant_its_dpo() {
    let Some(browser) = browser("en-GB,en").await else {
        return;
    };
    let app = spawn_app_with(|_| {}).await;
    app.tenant("LogAlto SAS").await;
    browser.open(&app, "/console/operator").await;
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#token"))
        .await
        .unwrap();
    browser.type_in("#token", crate::helpers::ADMIN).await;
    browser.follow("button[type=submit]", "nav").await;
    assert!(browser.main_text().await.contains("LogAlto SAS"));
    browser.follow("main table a", "#email").await;
    browser.type_in("#email", "dpo@logalto.example").await;
    browser
        .follow("form[action*='/add-user'] button", "code.secret")
        .await;
    let password = browser.text_of("code.secret").await;
    assert_eq!(password.len(), 20);
    assert!(browser.main_text().await.contains("dpo@logalto.example"));
    browser.screenshot("console-operator-tenant").await;
    // The password works: the DPO signs in (another cookie, the same browser).
    browser
        .sign_in(&app, "dpo@logalto.example", &password)
        .await;
    assert!(browser.text_of("header .org").await.contains("LogAlto SAS"));
    browser.client.clone().close().await.unwrap();
    app.stop().await;
}
