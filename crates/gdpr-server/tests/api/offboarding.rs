//! A customer leaves: the operator schedules its offboarding over the admin API, its keys are
//! refused with a problem that says why (until cancelled), and once the grace period is over
//! `gdpr offboard --run` deletes every row of the tenant, on SQLite and PostgreSQL, leaving
//! the other tenant whole and a receipt in the system audit chain.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{ADMIN, apps, assert_problem};

/// Rows of the tenant left in every table that has a `tenant_id` column.
async fn rows_of(config: &gdpr_server::config::Config, tenant: &str) -> i64 {
    let db = Database::connect(config.database.connect_url().expose_secret())
        .await
        .unwrap();
    let mut total = 0;
    for table in gdpr_store_seaorm::backed_up_tables() {
        let column = match table {
            "tenants" => "id",
            "audit_log" | "consent_form_versions" => continue,
            _ => "tenant_id",
        };
        let backend = db.get_database_backend();
        let placeholder = if backend == sea_orm::DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT COUNT(*) FROM {table} WHERE {column} = {placeholder}"),
                [uuid::Uuid::parse_str(tenant).unwrap().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        total += row.try_get_by_index::<i64>(0).unwrap();
    }
    db.close().await.unwrap();
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offboarded_tenant_is_refused_then_deleted_and_the_operator_keeps_a_receipt() {
    for app in apps().await {
        let (tenant, key) = app.tenant("Leaving SAS").await;
        let (form, consent) = app.contractors(&key).await;
        let s = app.subject(&key, "leaving@example.org").await;
        app.consent(&key, &s, &consent).await;
        app.record(&key, &form, &s, json!({"email": "leaving@example.org"}))
            .await;
        let (other, other_key) = app.tenant("Staying SAS").await;
        app.subject(&other_key, "staying@example.org").await;

        let path = format!("/v1/admin/tenants/{tenant}/offboarding");
        let scheduled = app
            .send(
                Method::POST,
                &path,
                Some(ADMIN),
                Some(&json!({"grace_days": 1})),
            )
            .await;
        assert_eq!(scheduled.status, StatusCode::OK, "{}", scheduled.text);
        // Its keys are refused, saying why; the other tenant's work.
        let refused = app.get("/v1/subjects", &key).await;
        assert_problem(&refused, StatusCode::CONFLICT, "tenant-offboarding");
        assert!(refused.text.contains("deleted at"), "{}", refused.text);
        assert_eq!(
            app.get("/v1/subjects", &other_key).await.status,
            StatusCode::OK
        );
        // Cancelled, they work again; scheduled twice is a conflict.
        let again = app
            .send(Method::POST, &path, Some(ADMIN), Some(&json!({})))
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "conflict");
        let cancelled = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
        assert_eq!(
            cancelled.status,
            StatusCode::NO_CONTENT,
            "{}",
            cancelled.text
        );
        assert_eq!(app.get("/v1/subjects", &key).await.status, StatusCode::OK);
        let bad = app
            .send(
                Method::POST,
                &path,
                Some(ADMIN),
                Some(&json!({"grace_days": 400})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
        let none = app.get(&path, ADMIN).await;
        assert_problem(&none, StatusCode::NOT_FOUND, "not-found");

        // Handed over first: every subject's export, which the operator's `gpg` opens.
        let gpg = crate::backups::ops_key();
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("ops.asc");
        std::fs::write(&keys, gpg.public_key("ops@example.org")).unwrap();
        let out = dir.path().join("handover.pgp");
        let t = gdpr_pii::TenantId::from_uuid(tenant.parse().unwrap());
        gdpr_server::operator::handover(&app.config, t, &keys, &out)
            .await
            .unwrap();
        let plain = String::from_utf8(gpg.decrypt_file(&out)).unwrap();
        let lines: Vec<serde_json::Value> = plain
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "a header and the one subject");
        assert_eq!(lines[1]["subject"]["email"], "leaving@example.org");
        assert!(
            gdpr_server::operator::handover(&app.config, t, &keys, &out)
                .await
                .is_err(),
            "an existing file is never overwritten"
        );

        // Scheduled with no grace, then run as the hourly job does.
        app.send(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(&json!({"grace_days": 0})),
        )
        .await;
        // Its grace period is over at once: too late to cancel.
        let late = app.send(Method::DELETE, &path, Some(ADMIN), None).await;
        assert_problem(&late, StatusCode::CONFLICT, "conflict");
        assert!(
            late.text.contains("can no longer be cancelled"),
            "{}",
            late.text
        );
        assert!(rows_of(&app.config, &tenant).await > 0);
        let receipts = gdpr_server::operator::offboard(&app.config, None, None, false, true)
            .await
            .unwrap();
        assert_eq!(receipts[0]["tenant"], tenant, "{receipts}");
        assert_eq!(receipts[0]["rows"]["records"], 1, "{receipts}");
        assert_eq!(rows_of(&app.config, &tenant).await, 0, "{}", app.backend);
        assert!(rows_of(&app.config, &other).await > 0);
        assert_problem(
            &app.get(&format!("/v1/admin/tenants/{tenant}/api-keys"), ADMIN)
                .await,
            StatusCode::NOT_FOUND,
            "not-found",
        );
        let (chains, ok) = gdpr_server::operator::verify_audit(&app.config, None)
            .await
            .unwrap();
        assert!(ok, "{chains}");
        app.stop().await;
    }
}
