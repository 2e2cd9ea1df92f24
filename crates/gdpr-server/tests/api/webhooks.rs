//! Webhooks end to end: a real receiver on 127.0.0.1 verifies every delivery with the
//! Standard Webhooks reference implementation; a worker killed with SIGKILL mid-delivery
//! loses nothing; endpoints that point inward are refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Request, Response, Route, Server, handler, post};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, apps_with, assert_problem, spawn_app, spawn_app_with};

#[derive(Default)]
struct Receiver {
    secret: Option<String>,
    /// Hold every request this long before answering (a receiver that hangs).
    hang: Option<Duration>,
    /// (webhook-id, verified by the reference implementation, body)
    seen: Vec<(String, bool, String)>,
}

type Shared = Arc<Mutex<Receiver>>;

#[handler]
async fn hook(req: &Request, body: String, state: poem::web::Data<&Shared>) -> Response {
    let (verified, hang) = {
        let mut s = state.lock().unwrap();
        let verified = s.secret.as_ref().is_some_and(|secret| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(body.as_bytes(), req.headers())
                .is_ok()
        });
        let id = req.header("webhook-id").unwrap_or_default().to_owned();
        s.seen.push((id, verified, body));
        (verified, s.hang)
    };
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    let status = if verified {
        poem::http::StatusCode::NO_CONTENT
    } else {
        poem::http::StatusCode::UNAUTHORIZED
    };
    Response::builder().status(status).finish()
}

async fn receiver() -> (String, Shared) {
    let state: Shared = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/hook", post(hook)).data(state.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/hook"), state)
}

/// Every backend, its webhooks allowed to reach a receiver on 127.0.0.1, polled often.
async fn local_apps() -> Vec<TestApp> {
    apps_with(|c| {
        c.webhooks.allow_private_addresses = true;
        c.webhooks.allow_http = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await
}

/// Registers an endpoint for `subject.erased` at `url` (`extra` fields merged in: how it
/// confirms erasures, its description), the
/// receiver then verifying with its secret: (endpoint id, secret).
async fn erasure_endpoint(
    app: &TestApp,
    key: &str,
    url: &str,
    state: &Shared,
    extra: serde_json::Value,
) -> (String, String) {
    let mut body = json!({"url": url, "events": ["subject.erased"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = app.post("/v1/webhooks/endpoints", key, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    state.lock().unwrap().secret = Some(secret.clone());
    let endpoint = created.body["endpoint"]["id"].as_str().unwrap().to_owned();
    (endpoint, secret)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let begun = Instant::now();
    while !done() {
        assert!(
            begun.elapsed() < Duration::from_secs(60),
            "{what}: never happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_erasure_reaches_a_real_receiver_signed_verified_and_confirmed() {
    for app in local_apps().await {
        let (url, state) = receiver().await;
        let (_, key) = app.tenant("LogAlto SAS").await;
        let (endpoint, secret) = erasure_endpoint(
            &app,
            &key,
            &url,
            &state,
            json!({"confirms_erasure": true, "description": "CRM"}),
        )
        .await;
        let listed = app.get("/v1/webhooks/endpoints", &key).await;
        assert!(!listed.text.contains(&secret), "the secret is shown once");

        let email = "canary.webhook@canary-mail.example";
        let subject = app.subject(&key, email).await;
        // Erased in answer to the subject's verified request.
        let opened = app
            .post(
                "/v1/requests",
                &key,
                json!({"subject": subject, "kind": "erasure"}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
        let request = opened.body["id"].as_str().unwrap().to_owned();
        let verified = app
            .post(
                &format!("/v1/requests/{request}/verification"),
                &key,
                json!({"method": "account_login"}),
            )
            .await;
        assert!(verified.status.is_success(), "{}", verified.text);
        let erased = app
            .send(
                Method::DELETE,
                &format!("/v1/subjects/{subject}?request={request}"),
                Some(&key),
                None,
            )
            .await;
        assert!(erased.status.is_success(), "{}", erased.text);
        wait_for("the delivery", || !state.lock().unwrap().seen.is_empty()).await;
        let (id, verified, body) = state.lock().unwrap().seen[0].clone();
        assert!(verified, "the reference implementation verifies it: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "subject.erased");
        assert_eq!(body["data"]["subject"], subject);
        assert_eq!(body["data"]["id"], id);
        assert!(!body.to_string().contains("canary"), "ids only: {body}");

        let confirmations = app
            .get(
                &format!("/v1/subjects/{subject}/erasure-confirmations"),
                &key,
            )
            .await;
        wait_for("the delivery's record", || true).await;
        let deliveries = app
            .get("/v1/webhooks/deliveries?state=delivered", &key)
            .await;
        assert_eq!(
            deliveries.body["items"][0]["event_id"], id,
            "{}",
            deliveries.text
        );
        assert_eq!(deliveries.body["items"][0]["last_status"], 204);
        assert_eq!(
            confirmations.status,
            StatusCode::OK,
            "{}",
            confirmations.text
        );
        let states: Vec<&str> = confirmations
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["state"].as_str().unwrap())
            .collect();
        assert!(
            states == ["confirmed"] || states == ["pending"],
            "{}",
            confirmations.text
        );
        // The request shows the same recipient (Art. 19), read alone; not in the list.
        let read = app.get(&format!("/v1/requests/{request}"), &key).await;
        assert_eq!(read.body["status"], "completed", "{}", read.text);
        assert_eq!(
            read.body["erasure_recipients"][0]["endpoint"], endpoint,
            "{}",
            read.text
        );
        assert_eq!(read.body["erasure_recipients"][0]["state"], "confirmed");
        let listed = app.get("/v1/requests", &key).await;
        assert!(listed.body["items"][0].get("erasure_recipients").is_none());

        // Rotated: both secrets sign for a day.
        let rotated = app
            .send(
                Method::POST,
                &format!("/v1/webhooks/endpoints/{endpoint}/rotate-secret"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(
            rotated.body["endpoint"]["signing_secrets"], 2,
            "{}",
            rotated.text
        );
        let bad = app.get("/v1/webhooks/deliveries?state=lost", &key).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        app.stop().await;
    }
}

/// Art. 19 by callback: a recipient that erased the subject on its side says so in a request
/// signed with its endpoint's secret by the Standard Webhooks reference implementation. Its
/// 2xx alone leaves the erasure pending; an unsigned or forged call is refused with a problem
/// and changes nothing; given twice, the first confirmation stands.
#[tokio::test]
async fn a_recipient_confirms_an_erasure_by_a_signed_call_back() {
    for app in local_apps().await {
        let (url, state) = receiver().await;
        let (_, key) = app.tenant("LogAlto SAS").await;
        let by_callback = json!({"erasure_confirmed_by": "callback", "description": "Mailer"});
        let (endpoint, secret) = erasure_endpoint(&app, &key, &url, &state, by_callback).await;
        let read = app
            .get(&format!("/v1/webhooks/endpoints/{endpoint}"), &key)
            .await;
        assert_eq!(
            read.body["erasure_confirmed_by"], "callback",
            "{}",
            read.text
        );
        assert_eq!(
            read.body["confirms_erasure"], true,
            "saying how it confirms makes it confirm"
        );
        let subject = app
            .subject(&key, "canary.callback@canary-mail.example")
            .await;
        let erased = app
            .send(
                Method::DELETE,
                &format!("/v1/subjects/{subject}"),
                Some(&key),
                None,
            )
            .await;
        assert!(erased.status.is_success(), "{}", erased.text);
        wait_for("the delivery", || !state.lock().unwrap().seen.is_empty()).await;
        let confirmations = format!("/v1/subjects/{subject}/erasure-confirmations");
        // Its 2xx recorded, the erasure is still pending on it.
        let begun = Instant::now();
        while app
            .get("/v1/webhooks/deliveries?state=delivered", &key)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            assert!(begun.elapsed() < Duration::from_secs(60), "never delivered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pending = app.get(&confirmations, &key).await;
        assert_eq!(pending.body[0]["state"], "pending", "{}", pending.text);
        assert_eq!(pending.body[0]["confirmed_by"], "callback");
        // A change that says it confirms erasures without saying how keeps how it does.
        let changed = app
            .send(
                Method::PUT,
                &format!("/v1/webhooks/endpoints/{endpoint}"),
                Some(&key),
                Some(&json!({"url": url, "events": ["subject.erased"], "confirms_erasure": true})),
            )
            .await;
        assert_eq!(
            changed.body["erasure_confirmed_by"], "callback",
            "{}",
            changed.text
        );

        let path = format!("/v1/webhooks/endpoints/{endpoint}/erasure-confirmations");
        // Spaced and ended as a hand-written body is: what is signed is these bytes, not the
        // value re-serialised.
        let body = format!("{{ \"subject\" : \"{subject}\" }}\n").into_bytes();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = |secret: &str, body: &[u8]| {
            let signature = standardwebhooks::Webhook::new(secret)
                .unwrap()
                .sign("msg_confirm_1", now, body)
                .unwrap();
            vec![
                ("webhook-id", "msg_confirm_1".to_owned()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", signature),
            ]
        };
        let unsigned = app.post_with_headers(&path, &[], body.clone()).await;
        // A stale call answers the same for this endpoint and for one that does not exist.
        let mut stale = signed(&secret, &body);
        stale[1].1 = (now - 600).to_string();
        let nowhere = format!(
            "/v1/webhooks/endpoints/{}/erasure-confirmations",
            uuid::Uuid::now_v7()
        );
        let stale_here = app.post_with_headers(&path, &stale, body.clone()).await;
        let stale_nowhere = app.post_with_headers(&nowhere, &stale, body.clone()).await;
        assert_problem(&stale_here, StatusCode::UNAUTHORIZED, "bad-signature");
        assert_eq!(stale_here.body["detail"], stale_nowhere.body["detail"]);
        let forged_nowhere = app
            .post_with_headers(&nowhere, &signed(&secret, &body), body.clone())
            .await;
        assert_problem(&forged_nowhere, StatusCode::UNAUTHORIZED, "bad-signature");
        assert_problem(&unsigned, StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(
            unsigned.body["detail"]
                .as_str()
                .unwrap()
                .contains("webhook-id")
        );
        let forger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let forged = app
            .post_with_headers(&path, &signed(forger, &body), body.clone())
            .await;
        assert_problem(&forged, StatusCode::UNAUTHORIZED, "bad-signature");
        assert_eq!(
            forged.body["detail"], forged_nowhere.body["detail"],
            "an unknown endpoint is told what a forger is"
        );
        // Signed for one body, sent with another.
        let other = serde_json::to_vec(&json!({"subject": uuid::Uuid::now_v7()})).unwrap();
        let swapped = app
            .post_with_headers(&path, &signed(&secret, &body), other)
            .await;
        assert_problem(&swapped, StatusCode::UNAUTHORIZED, "bad-signature");
        let still = app.get(&confirmations, &key).await;
        assert_eq!(still.body[0]["state"], "pending", "{}", still.text);

        let confirmed = app
            .post_with_headers(&path, &signed(&secret, &body), body.clone())
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
        assert_eq!(confirmed.body["subject"], subject);
        let again = app
            .post_with_headers(&path, &signed(&secret, &body), body.clone())
            .await;
        assert_eq!(
            again.body["confirmed_at"], confirmed.body["confirmed_at"],
            "{}",
            again.text
        );
        let now_confirmed = app.get(&confirmations, &key).await;
        assert_eq!(
            now_confirmed.body[0]["state"], "confirmed",
            "{}",
            now_confirmed.text
        );
        assert_eq!(
            now_confirmed.body[0]["confirmed_at"],
            confirmed.body["confirmed_at"]
        );
        app.stop().await;
    }
}

/// Forged confirmations count against their source as bad keys do: past its allowance it is
/// answered 429, and even a good signature waits out the minute.
#[tokio::test]
async fn forged_erasure_confirmations_count_against_their_source() {
    let app = spawn_app_with(|c| c.http.auth_failures_per_minute = 3).await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    let created = app
        .post(
            "/v1/webhooks/endpoints",
            &key,
            json!({"url": "https://mailer.example.com/hooks", "erasure_confirmed_by": "callback"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let endpoint = created.body["endpoint"]["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/endpoints/{endpoint}/erasure-confirmations");
    let body = serde_json::to_vec(&json!({"subject": uuid::Uuid::now_v7()})).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let headers = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl".to_owned()),
    ];
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.post_with_headers(&path, &headers, body.clone())
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn endpoints_that_point_inward_or_want_unknown_events_are_refused() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("LogAlto SAS").await;
    // The deployment's policy refuses these (403: well-formed, not allowed here).
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "http://hooks.example.com/x",
    ] {
        let r = app
            .post("/v1/webhooks/endpoints", &key, json!({"url": url}))
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden-by-policy");
        assert!(!r.text.contains(url), "the URL is not echoed: {}", r.text);
    }
    let unknown = app
        .post(
            "/v1/webhooks/endpoints",
            &key,
            json!({"url": "https://hooks.example.com/x", "events": ["subject.viewed"]}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "the schema's enum: {}",
        unknown.text
    );
    let none = app.get("/v1/webhooks/endpoints", &key).await;
    assert_eq!(none.body, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = receiver().await;
    let file = crate::helpers::deployment_file(
        dir.path(),
        "[jobs]\nenabled = false\n[webhooks]\nallow_private_addresses = true\nallow_http = true\ntimeout_seconds = 1\npoll_interval_ms = 50\n",
    );
    let config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Kill SAS").await;
    let issued = app
        .create_webhook_endpoint(
            ctx,
            gdpr_app::NewEndpoint {
                url,
                description: String::new(),
                events: vec![gdpr_webhooks::EventType::SubjectCreated],
                confirms_erasure: None,
            },
        )
        .await
        .unwrap();
    {
        let mut s = state.lock().unwrap();
        s.secret = Some(issued.secret.expose());
        s.hang = Some(Duration::from_secs(30));
    }
    let subject = app
        .register_subject(
            ctx,
            gdpr_app::NewSubject {
                email: Some("kill@example.org".into()),
                ..gdpr_app::NewSubject::default()
            },
        )
        .await
        .unwrap();

    // The worker posts it, the receiver holds the request; the worker dies with it.
    let server = crate::helpers::serve_deployment(&file);
    wait_for("the first attempt", || {
        !state.lock().unwrap().seen.is_empty()
    })
    .await;
    crate::helpers::kill_9(server);
    state.lock().unwrap().hang = None;

    // Restarted, the worker takes the delivery over once the dead one's lease lapsed.
    let mut server = crate::helpers::serve_deployment(&file);
    let ctx_app = &app;
    let begun = Instant::now();
    loop {
        let delivered = ctx_app
            .webhook_deliveries(
                ctx,
                gdpr_ports::DeliveryFilter {
                    state: Some(gdpr_ports::DeliveryState::Delivered),
                    ..gdpr_ports::DeliveryFilter::default()
                },
                gdpr_ports::Page::first(10),
            )
            .await
            .unwrap();
        if !delivered.is_empty() {
            assert_eq!(delivered[0].subject, Some(subject.id));
            break;
        }
        assert!(begun.elapsed() < Duration::from_secs(60), "never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    let seen = state.lock().unwrap().seen.clone();
    assert!(seen.len() >= 2, "tried again: {}", seen.len());
    assert!(
        seen.iter()
            .all(|(id, verified, _)| *verified && *id == seen[0].0)
    );
}

#[tokio::test]
async fn the_operators_endpoint_hears_every_tenant_and_tenants_never_see_it() {
    for app in local_apps().await {
        let (url, state) = receiver().await;
        let created = app
            .post(
                "/v1/admin/webhooks/endpoints",
                crate::helpers::ADMIN,
                json!({"url": url, "events": ["subject.created"], "description": "operator's SIEM"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let secret = created.body["secret"].as_str().unwrap().to_owned();
        state.lock().unwrap().secret = Some(secret);
        let (_, first) = app.tenant("LogAlto SAS").await;
        let (_, second) = app.tenant("Other Corp").await;
        let tenant_only = app
            .post(
                "/v1/admin/webhooks/endpoints",
                &first,
                json!({"url": url, "description": "not the operator"}),
            )
            .await;
        assert_eq!(tenant_only.status, StatusCode::UNAUTHORIZED);
        let (a, b) = (
            app.subject(&first, "ada@example.org").await,
            app.subject(&second, "grace@example.org").await,
        );
        wait_for("both tenants' events", || {
            state.lock().unwrap().seen.len() >= 2
        })
        .await;
        let seen = state.lock().unwrap().seen.clone();
        for subject in [&a, &b] {
            assert!(
                seen.iter()
                    .any(|(_, verified, body)| *verified && body.contains(subject.as_str())),
                "{subject}: {seen:?}"
            );
        }
        // The tenants' logs are their own.
        for key in [&first, &second] {
            let listed = app.get("/v1/webhooks/deliveries", key).await;
            assert_eq!(listed.body["items"], json!([]), "{}", listed.text);
        }
        let mut ours = app
            .get("/v1/admin/webhooks/deliveries", crate::helpers::ADMIN)
            .await;
        for _ in 0..100 {
            if ours.body["items"].as_array().is_some_and(|items| {
                items.len() == 2 && items.iter().all(|d| d["state"] == "delivered")
            }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            ours = app
                .get("/v1/admin/webhooks/deliveries", crate::helpers::ADMIN)
                .await;
        }
        assert_eq!(
            ours.body["items"].as_array().unwrap().len(),
            2,
            "{}",
            ours.text
        );
        app.stop().await;
    }
}
