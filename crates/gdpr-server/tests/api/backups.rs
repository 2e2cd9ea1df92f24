//! The disaster-recovery drill on the real adapters (SQLite, and PostgreSQL in CI; local disk;
//! rPGP with a key made by the real `gpg`): back up, lose the database, restore into an empty
//! one and compare every row; then erase a subject, restore the older backup again, and see
//! the subject stay gone while its rows in the backup have no key left.

use std::path::{Path, PathBuf};
use std::process::Command;

use gdpr_pii::TenantId;
use gdpr_server::config::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, FromQueryResult, JsonValue, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};

/// A throwaway gpg home with one Curve25519 key (fast to make); its armored public key and the
/// path of its armored secret key.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let gpg = Self { home };
        let out = gpg
            .cmd()
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args([
                "--quick-gen-key",
                "Ops <ops@example.org>",
                "future-default",
                "default",
                "never",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        gpg
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.home.path());
        cmd
    }

    fn export(&self, what: &str) -> String {
        let out = self
            .cmd()
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--armor", what, "ops@example.org"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    fn secret_key_file(&self) -> PathBuf {
        let path = self.home.path().join("ops.sec.asc");
        std::fs::write(&path, self.export("--export-secret-keys")).unwrap();
        path
    }

    /// `gpg --decrypt | zstd -d` of a payload: what an operator without our binary would run.
    fn open_payload(&self, payload: &Path) -> String {
        let out = self
            .cmd()
            .args(["--batch", "--quiet", "--decrypt"])
            .arg(payload)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut zstd = Command::new("zstd")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut zstd.stdin.take().unwrap(), &out.stdout).unwrap();
        let plain = zstd.wait_with_output().unwrap();
        assert!(plain.status.success());
        String::from_utf8(plain.stdout).unwrap()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

const TABLES: [&str; 15] = [
    "tenants",
    "api_keys",
    "purposes",
    "consent_forms",
    "consent_form_versions",
    "forms",
    "subjects",
    "subject_keys",
    "records",
    "consent_events",
    "requests",
    "legal_holds",
    "tombstones",
    "erasure_receipts",
    "audit_log",
];

/// Every row of every table, sorted, as JSON text: what "the same database" means here. The
/// consent events' global sequence number is left out: a restore renumbers them, in order.
async fn every_row(config: &Config) -> Vec<(String, Vec<String>)> {
    let db = Database::connect(config.database.connect_url().expose_secret())
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for table in TABLES {
        let order = if table == "consent_events" {
            " ORDER BY seq"
        } else {
            ""
        };
        let rows = JsonValue::find_by_statement(Statement::from_string(
            backend,
            format!("SELECT * FROM {table}{order}"),
        ))
        .all(&db)
        .await
        .unwrap();
        let mut rows: Vec<String> = rows
            .into_iter()
            .map(|mut row| {
                if let (Some(map), "consent_events") = (row.as_object_mut(), table) {
                    map.remove("seq");
                }
                row.to_string()
            })
            .collect();
        if table != "consent_events" {
            rows.sort();
        }
        out.push((table.to_owned(), rows));
    }
    db.close().await.unwrap();
    out
}

/// Destroys the database: the SQLite file, or the PostgreSQL database (recreated empty).
async fn destroy_database(app: &TestApp) {
    match app.postgres() {
        Some((admin_url, name)) => {
            let admin = Database::connect(admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(app.dir.path().join(format!("gdpr.db{suffix}")));
            }
        }
    }
}

async fn populate(app: &TestApp, key: &str) -> Vec<String> {
    let (form, consent_form) = app.contractors(key).await;
    let mut subjects = Vec::new();
    for n in 0..3 {
        let s = app.subject(key, &format!("drill-{n}@example.org")).await;
        let c = app
            .post(
                &format!("/v1/subjects/{s}/consents"),
                key,
                json!({"consent_form": consent_form, "method": "api"}),
            )
            .await;
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.text);
        for rate in [400, 500] {
            let r = app
                .post(
                    "/v1/records",
                    key,
                    json!({"form": form, "subject": s, "values": {
                        "email": format!("drill-{n}@example.org"), "full_name": "Grace Hopper", "day_rate": rate
                    }}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        subjects.push(s);
    }
    subjects
}

async fn drill(mut app: TestApp, gpg: &Gpg) {
    let (tenant, key) = app.tenant("Drill SAS").await;
    let subjects = populate(&app, &key).await;
    let t = TenantId::from_uuid(tenant.parse().unwrap());
    app.halt().await;
    let before = every_row(&app.config).await;
    assert_eq!(
        before.iter().find(|(t, _)| t == "records").unwrap().1.len(),
        6
    );

    let (summary, ok) = gdpr_server::operator::backup(&app.config, Some(t))
        .await
        .unwrap();
    assert!(ok, "{summary}");
    let older = summary[0]["backup"].as_str().unwrap().to_owned();
    let folder = app
        .config
        .backups
        .directory
        .join(format!("backups/{tenant}/{older}"));
    let payload = folder.join("payload.ndjson.zst.pgp");
    // What left is ciphertext: no e-mail in the object, readable only with the key.
    let raw = std::fs::read(&payload).unwrap();
    assert!(!raw.windows(8).any(|w| w == b"drill-0@"));
    let lines = gpg.open_payload(&payload);
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with(r#"{"t":"records""#))
            .count(),
        6
    );
    assert!(
        !lines.contains("drill-0@example.org"),
        "personal fields stay AEAD ciphertext"
    );

    // The database is lost; disaster recovery into an empty one.
    destroy_database(&app).await;
    let report = gdpr_server::operator::restore(&app.config, t, None, false)
        .await
        .unwrap();
    assert_eq!(report["subjects_left_out"], 0, "{report}");
    let restored = every_row(&app.config).await;
    for ((table, was), (_, now)) in before.iter().zip(&restored) {
        if table == "audit_log" {
            // The chain as backed up, plus the restore's own entry.
            assert_eq!(now.len(), was.len() + 1, "audit_log");
            assert!(was.iter().all(|row| now.contains(row)), "audit_log");
            assert_eq!(
                now.iter().filter(|r| r.contains("backup_restored")).count(),
                1
            );
        } else {
            assert!(
                now == was,
                "{table}: {} rows before, {} after, or different",
                was.len(),
                now.len()
            );
        }
    }

    // The service runs on the restored database and reads the ciphertext back.
    app.resume().await;
    let found = app
        .post(
            "/v1/subjects/lookup",
            &key,
            json!({"email": "drill-1@example.org"}),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let erased = subjects[0].clone();
    let gone = app
        .send(
            Method::DELETE,
            &format!("/v1/subjects/{erased}"),
            Some(&key),
            None,
        )
        .await;
    assert!(gone.status.is_success(), "{}", gone.text);
    let backups = gone.body["places"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["place"] == "backups")
        .unwrap();
    assert_eq!(backups["outcome"], "done", "{}", gone.text);
    assert_eq!(
        backups["count"], 1,
        "one backup's keyring held the key: {}",
        gone.text
    );
    app.halt().await;

    // Restoring the older backup again: the erased subject does not come back.
    let report = gdpr_server::operator::restore(&app.config, t, Some(&older), true)
        .await
        .unwrap();
    assert_eq!(report["subjects_left_out"], 1, "{report}");
    assert_eq!(
        report["rows_left_out"], 4,
        "profile, two records, one consent: {report}"
    );
    let after = every_row(&app.config).await;
    for (table, rows) in &after {
        if ["subjects", "subject_keys", "records", "consent_events"].contains(&table.as_str()) {
            assert!(
                !rows.iter().any(|r| r.contains(&erased)),
                "{table} still holds the subject"
            );
        }
    }
    for kept in &subjects[1..] {
        let rows = |all: &[(String, Vec<String>)]| -> Vec<String> {
            all.iter()
                .filter(|(t, _)| t == "records" || t == "subjects")
                .flat_map(|(_, rows)| rows.iter().filter(|r| r.contains(kept.as_str())).cloned())
                .collect()
        };
        assert_eq!(rows(&after), rows(&before), "the other subjects are intact");
    }
    // The old backup still holds the erased subject's rows, but no key to read them.
    assert!(lines.contains(&format!(r#""s":"{erased}""#)));
    let keyrings: String = std::fs::read_dir(folder.join("keyring"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        !keyrings.contains(&erased),
        "its key is shredded from the backup"
    );
    assert!(keyrings.contains(&subjects[1]));
    app.resume().await;
    let lookup = app.get(&format!("/v1/subjects/{erased}"), &key).await;
    assert_eq!(lookup.status, StatusCode::NOT_FOUND);
    let verify = app.get("/v1/audit/verify", &key).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text);
    assert_eq!(verify.body["valid"], Value::Bool(true), "{}", verify.text);
    app.stop().await;
}

fn with_keys(gpg: &Gpg) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.backups.recipients = vec![gpg.export("--export")];
        c.backups.decryption_key_file = Some(gpg.secret_key_file());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_drill_on_sqlite() {
    let gpg = Gpg::new();
    drill(spawn_app_with(with_keys(&gpg)).await, &gpg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_drill_on_postgres() {
    let gpg = Gpg::new();
    if let Some(app) = spawn_app_on_postgres_with(with_keys(&gpg)).await {
        drill(app, &gpg).await;
    }
}
