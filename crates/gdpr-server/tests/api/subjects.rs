//! Subjects over HTTP: register, read, list, look up, rectify, import.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{apps, assert_problem, spawn_app};

#[tokio::test]
async fn subjects_are_registered_read_listed_found_and_rectified() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        let created = app
            .post("/v1/subjects", &key, json!({"email": " Ada@Example.ORG ", "full_name": "Ada  Lovelace", "ip_address": "203.0.113.7"}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.body["email"], "ada@example.org");
        assert_eq!(created.body["full_name"], "Ada Lovelace");
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get(&format!("/v1/subjects/{id}"), &key).await.body,
            created.body,
            "{}",
            app.backend
        );

        let found = app
            .post(
                "/v1/subjects/lookup",
                &key,
                json!({"email": "ADA@example.org"}),
            )
            .await;
        assert_eq!(found.body["id"], id.as_str());

        let dup = app
            .post("/v1/subjects", &key, json!({"email": "ada@example.org"}))
            .await;
        assert_problem(&dup, StatusCode::CONFLICT, "conflict");

        let fixed = app
            .send(
                Method::PATCH,
                &format!("/v1/subjects/{id}"),
                Some(&key),
                Some(&json!({"full_name": "Augusta Ada King", "ip_address": null})),
            )
            .await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.text);
        assert_eq!(fixed.body["full_name"], "Augusta Ada King");
        assert!(fixed.body["ip_address"].is_null());
        assert_eq!(
            fixed.body["email"], "ada@example.org",
            "absent fields are kept"
        );
        let empty = app
            .send(
                Method::PATCH,
                &format!("/v1/subjects/{id}"),
                Some(&key),
                Some(&json!({})),
            )
            .await;
        // An empty patch changes nothing, as an empty JSON merge patch: nothing is written.
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
        assert_eq!(empty.body, fixed.body);

        for n in 0..4 {
            app.post(
                "/v1/subjects",
                &key,
                json!({"email": format!("s{n}@example.org")}),
            )
            .await;
        }
        let page = app.get("/v1/subjects?offset=1&limit=2", &key).await;
        assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
        assert_eq!(page.body["items"][0]["email"], "s0@example.org");
        assert_eq!(
            (page.body["offset"].as_u64(), page.body["limit"].as_u64()),
            (Some(1), Some(2))
        );
        let too_big = app.get("/v1/subjects?limit=5000", &key).await;
        assert_problem(&too_big, StatusCode::BAD_REQUEST, "invalid-parameter");
        // By a cursor: each page's `next` leads to the one after; the last has none.
        let mut emails = Vec::new();
        let mut url = "/v1/subjects?limit=2".to_owned();
        loop {
            let page = app.get(&url, &key).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            for item in page.body["items"].as_array().unwrap() {
                emails.push(item["email"].as_str().unwrap().to_owned());
            }
            let Some(next) = page.body["next"].as_str() else {
                break;
            };
            url = format!("/v1/subjects?limit=2&after={next}");
        }
        let all = app.get("/v1/subjects", &key).await;
        let expected: Vec<&str> = all.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, expected);
        assert_eq!(emails.len(), 5);
        for query in ["after=garbage", "after=1.2", "after=1.0192"] {
            let r = app.get(&format!("/v1/subjects?{query}"), &key).await;
            assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
        }
        // A cursor and an offset: that many skipped after the cursor.
        let first = app.get("/v1/subjects?limit=1", &key).await;
        let next = first.body["next"].as_str().unwrap();
        let skipped = app
            .get(&format!("/v1/subjects?limit=1&offset=1&after={next}"), &key)
            .await;
        assert_eq!(
            skipped.body["items"][0]["email"], expected[2],
            "{}",
            skipped.text
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_ndjson_import_takes_each_line_whole_or_refuses_it_with_a_reason() {
    for app in apps().await {
        let (_, key) = app.tenant("T").await;
        app.subject(&key, "taken@example.org").await;
        let body = [
            r#"{"email": "one@example.org", "full_name": "One"}"#,
            r#"{"email": "not an address"}"#,
            "",
            r#"{"email": "taken@example.org"}"#,
            r#"{"nickname": "x"}"#,
            r#"not json"#,
            r#"{"email": "two@example.org", "ip_address": "2001:db8::1"}"#,
        ]
        .join("\n");
        let r = app
            .raw(
                Method::POST,
                "/v1/subjects/import",
                Some(&key),
                "application/x-ndjson",
                body.into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["imported"].as_u64(), r.body["failed"].as_u64()),
            (Some(2), Some(4)),
            "{}",
            r.text
        );
        let lines: Vec<u64> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [2, 4, 5, 6]);
        assert_eq!(r.body["errors"][0]["field"], "email");
        assert_eq!(r.body["errors"][2]["field"], "nickname");
        assert!(
            !r.text.contains("not an address") && !r.text.contains("taken@"),
            "{}",
            r.text
        );
        let second = r.body["ids"][1].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/v1/subjects/{second}"), &key).await.body["email"],
            "two@example.org"
        );
        assert_eq!(
            app.get("/v1/subjects", &key).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            3,
            "{}",
            app.backend
        );

        let wrong_type = app
            .raw(
                Method::POST,
                "/v1/subjects/import",
                Some(&key),
                "text/csv",
                b"a,b".to_vec(),
            )
            .await;
        assert_problem(
            &wrong_type,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_over_long_import_line_is_refused() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    let line = format!("{{\"full_name\": \"{}\"}}\n", "x".repeat(70_000));
    let r = app
        .raw(
            Method::POST,
            "/v1/subjects/import",
            Some(&key),
            "application/x-ndjson",
            line.into_bytes(),
        )
        .await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "line-too-long");
    app.stop().await;
}

#[tokio::test]
async fn a_large_import_goes_in_batches_and_only_conflicting_lines_are_refused() {
    let app = spawn_app().await;
    let (_, key) = app.tenant("T").await;
    // 2,500 lines: three batches; line 1,500 repeats line 10's address, so its batch falls back
    // to line-by-line storage and refuses that line alone.
    let body: String = (1..=2_500)
        .map(|n| {
            let n = if n == 1_500 { 10 } else { n };
            format!("{{\"email\": \"bulk{n}@example.org\"}}\n")
        })
        .collect();
    let r = app
        .raw(
            Method::POST,
            "/v1/subjects/import",
            Some(&key),
            "application/x-ndjson",
            body.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["imported"].as_u64(), r.body["failed"].as_u64()),
        (Some(2_499), Some(1))
    );
    assert_eq!(r.body["errors"][0]["line"], 1_500);
    assert_eq!(r.body["ids"].as_array().unwrap().len(), 2_499);
    let page = app.get("/v1/subjects?limit=1000&offset=2000", &key).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 499);
    app.stop().await;
}
