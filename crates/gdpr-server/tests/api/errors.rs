//! Bad input: every error is an RFC 7807 problem naming what is wrong, nothing changes, and
//! no error body ever repeats the personal data that was sent.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

const CANARY_EMAIL: &str = "canary.errors@canary-mail.example";
const CANARY_NAME: &str = "Canaryname Zzyzx";

#[tokio::test]
async fn malformed_wrong_unknown_and_oversized_bodies_are_problems_that_change_nothing() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "application/json",
            br#"{"email": "x@example.org""#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        (
            "application/json",
            br#"{"full_name": ["Canaryname Zzyzx"]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        // Text must be a JSON string: a boolean or a number is refused, not turned into text.
        (
            "application/json",
            br#"{"full_name": false}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        (
            "application/json",
            br#"{"email": 3355512345}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        (
            "application/json",
            format!(r#"{{"email": "{CANARY_EMAIL}", "Canaryname Zzyzx": 1}}"#).into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed-body",
        ),
        (
            "application/json",
            format!(r#"{{"email": "{CANARY_NAME}"}}"#).into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
        ),
        (
            "application/json",
            br#"{"ip_address": "999.1.1.1"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
        ),
        (
            "text/plain",
            b"hello".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "application/json",
            format!(r#"{{"full_name": "{}"}}"#, "x".repeat(70_000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
    ];
    for (content_type, body, status, kind) in cases {
        let r = app
            .raw(Method::POST, "/v1/subjects", Some(&key), content_type, body)
            .await;
        assert_problem(&r, status, kind);
        assert!(
            !r.text.contains("canary")
                && !r.text.contains("Canaryname")
                && !r.text.contains("3355512345"),
            "personal data echoed: {}",
            r.text
        );
    }
    // A body without a declared length (HTTP/1.1 chunked) is read up to the limit: a small one
    // is taken, a large one refused as soon as it goes over.
    let chunked = |body: Vec<u8>| {
        let chunks = futures_util::stream::iter(
            body.chunks(4096)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        app.client
            .post(format!("{}/v1/subjects", app.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
    };
    // (Read and parsed, so its field is checked: an e-mail without a domain, nothing stored.)
    let small = chunked(br#"{"email": "chunked-without-domain"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(small.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let large = format!(r#"{{"full_name": "{}"}}"#, "x".repeat(200_000)).into_bytes();
    let refused = chunked(large.clone()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // HTTP/2 has no chunked encoding: a body without Content-Length is bounded the same way.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let over_h2 = h2
        .post(format!("{}/v1/subjects", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            large
                .chunks(8192)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(over_h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(over_h2.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bad_id = app.get("/v1/subjects/not-a-uuid", &key).await;
    assert_problem(&bad_id, StatusCode::BAD_REQUEST, "invalid-parameter");
    for query in ["offset=-1", "offset=1000000000000001", "limit=0"] {
        let r = app.get(&format!("/v1/subjects?{query}"), &key).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }
    // Elsewhere too: a purpose given as a number is no purpose id.
    let r = app
        .post(
            "/v1/purposes",
            &key,
            json!({"id": "billing", "description": 42, "lawful_basis": "contract"}),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "malformed-body");
    assert!(
        app.get("/v1/purposes", &key)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "no purpose was stored"
    );
    assert_problem(
        &app.get("/v1/nothing-here", &key).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );
    assert!(
        app.get("/v1/subjects", &key).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_records_are_refused_field_by_field_without_their_values() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let (form, consent) = app.contractors(&key).await;
    let subject = app.subject(&key, "ada@example.org").await;
    app.post(
        &format!("/v1/subjects/{subject}/consents"),
        &key,
        json!({"consent_form": consent, "method": "api"}),
    )
    .await;
    let r = app
        .post(
            "/v1/records",
            &key,
            json!({"form": form, "subject": subject, "values": {"email": CANARY_NAME, "day_rate": "lots", "secret_field": CANARY_EMAIL}}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-record");
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["secret_field", "email", "day_rate"]);
    assert!(!r.text.contains("anary"), "{}", r.text);
    assert!(
        app.get("/v1/records", &key).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_method_a_route_does_not_accept_is_a_405_listing_the_ones_it_does() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let subject = app.subject(&key, "allow@example.org").await;
    for (method, path, allow) in [
        (Method::PUT, "/v1/subjects".to_owned(), "GET, POST"),
        (
            Method::POST,
            format!("/v1/subjects/{subject}"),
            "GET, DELETE, PATCH",
        ),
        (Method::GET, "/v1/subjects/lookup".to_owned(), "POST"),
        (Method::TRACE, "/v1/audit/verify".to_owned(), "GET"),
    ] {
        let r = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            r.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:gdpr:problem:method-not-allowed");
    }
    // A subject without an e-mail, name or address leaves them out rather than sending null,
    // as the published schema says.
    let bare = app.post("/v1/subjects", &key, json!({})).await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.text);
    for field in ["email", "full_name", "ip_address"] {
        assert!(bare.body.get(field).is_none(), "{field}: {}", bare.text);
    }
    app.stop().await;
}
