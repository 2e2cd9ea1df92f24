//! The `gdpr` binary itself: its commands (including `delete-backups`), its embedded default, its refusal to run in
//! production without a master key, and a graceful stop on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GDPR: &str = env!("CARGO_BIN_EXE_gdpr");

fn gdpr(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(GDPR);
    cmd.current_dir(dir)
        .env_remove("GDPR_TEST_POSTGRES_URL")
        .env("RUST_LOG", "info");
    cmd
}

#[test]
fn keygen_prints_a_fresh_32_byte_key() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        || String::from_utf8(gdpr(dir.path()).arg("keygen").output().unwrap().stdout).unwrap();
    let (a, b) = (out(), out());
    assert_eq!(a.trim().len(), 44, "{a}");
    assert_ne!(a, b);
}

#[test]
fn a_short_admin_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdpr(dir.path())
        .env("GDPR_SECURITY__ADMIN_TOKEN", "short")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at least 16 characters") && !err.contains("short"),
        "{err}"
    );
}

#[test]
fn s3_backups_without_a_bucket_are_refused_at_start_and_the_secret_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdpr(dir.path())
        .env("GDPR_BACKUPS__STORAGE", "s3")
        .env(
            "GDPR_BACKUPS__S3__SECRET_ACCESS_KEY",
            "s3-secret-never-printed",
        )
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backups.s3.bucket is required"), "{err}");
    let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("s3-secret-never-printed"), "{all}");
}

#[test]
fn delete_backups_refuses_an_unknown_tenant_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(gdpr(dir.path()).arg("migrate").status().unwrap().success());
    let staged = dir
        .path()
        .join("data/backups/backups/x/20261126T020000Z-aaaaaaaa/manifest.json");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"x").unwrap();
    let tenant = uuid::Uuid::new_v4().to_string();
    let out = gdpr(dir.path())
        .args(["delete-backups", "--tenant", &tenant])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot delete the backups of tenant") && err.contains("not found"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no receipt for a refusal");
    assert!(staged.exists());
    let bad = gdpr(dir.path())
        .args(["delete-backups", "--tenant", "not-a-uuid"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 exchange with a server on 127.0.0.1, or `None` while nothing listens.
fn http(port: u16, request: &str) -> Option<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Runs the server in `dir` just long enough to create a tenant over HTTP; its id.
fn tenant_created_through_the_server(dir: &std::path::Path) -> String {
    let port = free_port();
    let admin = "binary-test-admin-token-0123";
    let mut server = gdpr(dir)
        .env("GDPR_SECURITY__ADMIN_TOKEN", admin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let body = r#"{"name":"T","privacy_contact":"dpo@t.example"}"#;
    let request = format!(
        "POST /v1/admin/tenants HTTP/1.0\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    let created = loop {
        if let Some(answer) = http(port, &request) {
            break answer;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        std::thread::sleep(Duration::from_millis(100));
    };
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(created.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    json["id"].as_str().unwrap().to_owned()
}

/// Writes a backup object as the local store keeps it; its folder.
fn stage_backup(dir: &std::path::Path, tenant: &str, id: &str) -> std::path::PathBuf {
    let backup = dir.join(format!("data/backups/backups/{tenant}/{id}"));
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::write(backup.join("manifest.json"), b"x").unwrap();
    backup
}

#[test]
fn prune_deletes_only_expired_backups_and_a_dry_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_created_through_the_server(dir.path());
    let now = time::OffsetDateTime::now_utc();
    let id = |days: i64| {
        let at = now - time::Duration::days(days);
        format!(
            "{:04}{:02}{:02}T000000Z-aaaaaaaa",
            at.year(),
            u8::from(at.month()),
            at.day()
        )
    };
    let (newest, fresh, expired) = (id(0), id(1), id(90));
    let folder = |b: &str| {
        dir.path()
            .join(format!("data/backups/backups/{tenant}/{b}"))
    };
    for b in [&newest, &fresh, &expired] {
        stage_backup(dir.path(), &tenant, b);
    }
    let prune = |extra: &[&str]| {
        let out = gdpr(dir.path()).arg("prune").args(extra).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let dry = prune(&["--dry-run", "--tenant", &tenant]);
    assert_eq!(
        dry[0]["plan"]["delete"],
        serde_json::json!([expired]),
        "{dry}"
    );
    assert_eq!(dry[0]["deleted_objects"], serde_json::json!([]));
    assert!(
        folder(&expired).join("manifest.json").exists(),
        "a dry run deletes nothing"
    );
    let done = prune(&[]);
    assert_eq!(
        done[0]["plan"]["delete"],
        serde_json::json!([expired]),
        "{done}"
    );
    assert!(!folder(&expired).join("manifest.json").exists());
    for kept in [&newest, &fresh] {
        assert!(
            folder(kept).join("manifest.json").exists(),
            "{kept} is kept"
        );
    }
}

#[test]
fn delete_backups_removes_a_tenants_backups_and_prints_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_created_through_the_server(dir.path());
    let backup = stage_backup(dir.path(), &tenant, "20261126T020000Z-aaaaaaaa");

    let out = gdpr(dir.path())
        .args(["delete-backups", "--tenant", &tenant])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        receipt["deleted_objects"],
        serde_json::json!([format!(
            "backups/{tenant}/20261126T020000Z-aaaaaaaa/manifest.json"
        )])
    );
    assert!(!backup.join("manifest.json").exists());
}

#[test]
fn the_production_profile_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdpr(dir.path())
        .env("GDPR_PROFILE", "production")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("security.master_key"), "{err}");
    assert!(
        !dir.path().join("data/master.key").exists(),
        "no key is generated in production"
    );
}

#[test]
fn migrate_creates_the_schema_and_the_cli_prints_the_published_contract() {
    let dir = tempfile::tempdir().unwrap();
    let out = gdpr(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/gdpr.db").exists());
    let spec = gdpr(dir.path()).arg("openapi").output().unwrap();
    let snapshot = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8(spec.stdout).unwrap().trim_end(),
        snapshot.trim_end()
    );
}

#[test]
fn serve_runs_on_the_embedded_default_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = gdpr(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Some(body) = http(port, "GET /healthz HTTP/1.0\r\n\r\n") {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        health.starts_with("HTTP/1.0 200") && health.ends_with("ok"),
        "{health}"
    );
    for file in [
        "data/gdpr.db",
        "data/master.key",
        "data/admin.token",
        "data/backups",
    ] {
        assert!(
            dir.path().join(file).exists(),
            "{file} created by the embedded profile"
        );
    }
    // Readable by the service's user alone: the data folder, the database and its WAL, keys,
    // the token, the backups.
    {
        use std::os::unix::fs::PermissionsExt as _;
        for (file, mode) in [
            ("data", 0o700),
            ("data/gdpr.db", 0o600),
            ("data/gdpr.db-wal", 0o600),
            ("data/master.key", 0o600),
            ("data/admin.token", 0o600),
            ("data/signing.key", 0o600),
            ("data/backups", 0o700),
        ] {
            let meta = std::fs::metadata(dir.path().join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        log.contains("master_key_generated") && log.contains("admin_token_generated"),
        "{log}"
    );
    // Without recipients, the embedded default runs but says loudly that nothing is backed up.
    assert!(log.contains("backups_off"), "{log}");
    let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
    assert!(
        !log.contains(token.trim()),
        "the admin token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_record_edited_or_removed_in_the_table_itself() {
    use sea_orm::{ConnectionTrait, Database};
    use secrecy::ExposeSecret;

    let dir = tempfile::tempdir().unwrap();
    let file = crate::helpers::deployment_file(dir.path(), "[jobs]\nenabled = false\n");
    let config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Chain SAS").await;
    let tenant = app.tenant(ctx.tenant).await.unwrap();
    for n in 0..4 {
        let new = gdpr_app::NewSubject {
            email: Some(format!("chain{n}@example.org")),
            full_name: None,
            ip_address: None,
        };
        app.register_subject(ctx, new).await.unwrap();
    }
    drop(app);
    let verify = || {
        let out = gdpr(dir.path())
            .arg("--config")
            .arg(&file)
            .args(["audit", "verify", "--tenant", &tenant.id.to_string()])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.success(), json)
    };
    let (ok, chains) = verify();
    assert!(ok, "{chains}");
    assert_eq!(chains[0]["records"], 5);

    let db = Database::connect(config.database.connect_url().expose_secret())
        .await
        .unwrap();
    let chain = tenant.id.to_string();
    db.execute_unprepared(&format!(
        "UPDATE audit_log SET body = replace(body, 'subject_created', 'subject_viewed') \
         WHERE chain = '{chain}' AND seq = 3"
    ))
    .await
    .unwrap();
    let (ok, chains) = verify();
    assert!(!ok);
    assert_eq!(
        chains[0]["problem"],
        "audit record 3 was altered: its content does not match its hash"
    );
    db.execute_unprepared(&format!(
        "UPDATE audit_log SET body = replace(body, 'subject_viewed', 'subject_created') \
         WHERE chain = '{chain}' AND seq = 3"
    ))
    .await
    .unwrap();
    assert!(verify().0, "restored, it verifies again");
    db.execute_unprepared(&format!(
        "DELETE FROM audit_log WHERE chain = '{chain}' AND seq = 2"
    ))
    .await
    .unwrap();
    let (ok, chains) = verify();
    assert!(!ok);
    assert!(
        chains[0]["problem"]
            .as_str()
            .unwrap()
            .contains("record 3 stands where record 2"),
        "{chains}"
    );
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attest_prints_the_chained_attestations_and_fails_when_a_check_does() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = crate::backups::ops_key();
    let file = crate::helpers::deployment_file(
        dir.path(),
        &format!(
            "[jobs]\nenabled = false\n[backups]\ndirectory = \"{}\"\nrecipients = ['''{}''']\n",
            dir.path().join("backups").display(),
            gpg.public_key("ops@example.org")
        ),
    );
    let config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Attest SAS").await;
    drop(app);
    let attest = || {
        let out = gdpr(dir.path())
            .arg("--config")
            .arg(&file)
            .args(["attest", "--tenant", &ctx.tenant.to_string()])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.success(), json)
    };
    let (ok, first) = attest();
    // Backups are on, but none was taken: the newest-backup check fails, and so does the run.
    assert!(!ok, "{first}");
    assert_eq!(first[0]["checks"].as_array().unwrap().len(), 8, "{first}");
    assert_eq!(first[0]["checks"][1]["kind"], "newest_backup_verified");
    assert_eq!(first[0]["checks"][1]["verdict"], "fail");
    let (_, second) = attest();
    assert_eq!(second[0]["seq"], 2);
    assert_eq!(second[0]["prev_hash"], first[0]["hash"]);
}
