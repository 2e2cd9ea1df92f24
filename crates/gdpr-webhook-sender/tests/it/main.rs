//! The sender against a real HTTP server on 127.0.0.1: what it posts, and the network rules
//! it keeps (internal addresses, redirects, timeouts, answers too large).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gdpr_ports::WebhookSender;
use gdpr_webhook_sender::HttpWebhookSender;
use gdpr_webhooks::AddressPolicy;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Body, EndpointExt, Request, Response, Route, Server, handler, post};

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

#[handler]
async fn ok(req: &Request, body: String, seen: poem::web::Data<&Seen>) -> Response {
    let sig = req
        .header("webhook-signature")
        .unwrap_or_default()
        .to_owned();
    let kind = req.header("content-type").unwrap_or_default().to_owned();
    seen.lock().unwrap().push((sig, kind, body));
    Response::builder()
        .status(poem::http::StatusCode::NO_CONTENT)
        .finish()
}

#[handler]
async fn moved() -> Response {
    Response::builder()
        .status(poem::http::StatusCode::TEMPORARY_REDIRECT)
        .header("location", "/ok")
        .finish()
}

#[handler]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

#[handler]
async fn huge() -> Body {
    Body::from(vec![b'x'; 8 * 1024 * 1024])
}

/// A receiver on 127.0.0.1: its base URL and what `/ok` saw.
async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new()
        .at("/ok", post(ok))
        .at("/moved", post(moved))
        .at("/slow", post(slow))
        .at("/huge", post(huge))
        .data(seen.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), seen)
}

const LOCAL: AddressPolicy = AddressPolicy {
    allow_private: true,
    allow_http: true,
};

#[tokio::test]
async fn a_delivery_is_posted_as_json_with_its_headers_and_the_status_comes_back() {
    let (base, seen) = receiver().await;
    let sender = HttpWebhookSender::new(LOCAL, Duration::from_secs(2)).unwrap();
    let status = sender
        .post(
            &format!("{base}/ok"),
            vec![("webhook-signature", "v1,abc".into())],
            r#"{"type":"subject.erased"}"#.into(),
        )
        .await;
    assert_eq!(status, Ok(204));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            "v1,abc".to_owned(),
            "application/json".to_owned(),
            r#"{"type":"subject.erased"}"#.to_owned()
        )]
    );
}

#[tokio::test]
async fn internal_addresses_are_refused_before_anything_is_sent() {
    let (base, seen) = receiver().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let strict = HttpWebhookSender::new(
        AddressPolicy {
            allow_private: false,
            allow_http: true,
        },
        Duration::from_secs(2),
    )
    .unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        // A name that resolves inward is refused at resolution.
        format!("http://localhost:{port}/ok"),
    ] {
        let refused = strict.post(&url, Vec::new(), "{}".into()).await;
        let err = refused.expect_err(&url);
        assert!(err.contains("forbids"), "{url}: {err}");
        assert!(!err.contains(&port), "the URL is not echoed: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn no_redirect_is_followed_a_slow_receiver_times_out_and_a_huge_answer_is_cut() {
    let (base, seen) = receiver().await;
    let sender = HttpWebhookSender::new(LOCAL, Duration::from_millis(500)).unwrap();
    let redirected = sender
        .post(&format!("{base}/moved"), Vec::new(), "{}".into())
        .await;
    assert_eq!(redirected, Ok(307));
    assert!(
        seen.lock().unwrap().is_empty(),
        "the target of the redirect was not called"
    );
    let timed_out = sender
        .post(&format!("{base}/slow"), Vec::new(), "{}".into())
        .await;
    assert_eq!(timed_out, Err("no answer within the timeout".to_owned()));
    let cut = sender
        .post(&format!("{base}/huge"), Vec::new(), "{}".into())
        .await;
    assert_eq!(cut, Ok(200), "the status, without reading 8 MiB");
}
