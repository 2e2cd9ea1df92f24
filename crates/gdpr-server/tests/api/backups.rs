//! The disaster-recovery drill on the real adapters (SQLite, and PostgreSQL in CI; local disk;
//! rPGP with a key made by the real `gpg`): back up, lose the database, restore into an empty
//! one and compare every row; then erase a subject, restore the older backup again, and see
//! the subject stay gone while its rows in the backup have no key left.

use std::process::Command;

use gdpr_pii::TenantId;
use gdpr_ports::BackupStore;
use gdpr_server::config::{BackupStorage, Config};
use gdpr_testkit::GpgHome;
use gdpr_testkit::s3::{S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, S3Server, s3_server};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, FromQueryResult, JsonValue, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_on_postgres_with, spawn_app_with};

const OPS: &str = "ops@example.org";

/// The operators' key: Curve25519, fast to make.
pub(crate) fn ops_key() -> GpgHome {
    GpgHome::generate("Ops <ops@example.org>", "", "future-default")
}

/// `gpg --decrypt | zstd -d` of a payload: what an operator without our binary would run. The
/// payload must carry a good signature by the deployment's signing key (here the same key).
fn open_payload(gpg: &GpgHome, payload: &[u8]) -> String {
    let (plain, status) = gpg.decrypt_with_status(payload);
    assert!(status.contains("GOODSIG"), "{status}");
    let mut zstd = Command::new("zstd")
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut zstd.stdin.take().unwrap(), &plain).unwrap();
    let out = zstd.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Every row of every table, sorted, as JSON text: what "the same database" means here. The
/// consent events' global sequence number is left out: a restore renumbers them, in order.
async fn every_row(config: &Config) -> Vec<(String, Vec<String>)> {
    let db = Database::connect(config.database.connect_url().expose_secret())
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for table in gdpr_store_seaorm::backed_up_tables() {
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
        Some(db) => db.recreate_empty().await,
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(app.dir.path().join(format!("gdpr.db{suffix}")));
            }
        }
    }
}

pub(crate) async fn populate(app: &TestApp, key: &str) -> Vec<String> {
    let (form, consent_form) = app.contractors(key).await;
    let mut subjects = Vec::new();
    for n in 0..3 {
        let s = app.subject(key, &format!("drill-{n}@example.org")).await;
        app.consent(key, &s, &consent_form).await;
        for rate in [400, 500] {
            let values = json!({
                "email": format!("drill-{n}@example.org"), "full_name": "Grace Hopper", "day_rate": rate
            });
            app.record(key, &form, &s, values).await;
        }
        subjects.push(s);
    }
    let limited = app
        .post(
            &format!("/v1/subjects/{}/limits", subjects[1]),
            key,
            json!({"kind": "restriction", "reason": "contested"}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::CREATED, "{}", limited.text);
    subjects
}

async fn drill(mut app: TestApp, gpg: &GpgHome) {
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
    let storage = gdpr_server::backup_storage(&app.config).unwrap();
    let folder = format!("backups/{tenant}/{older}/");
    // What left is ciphertext: no e-mail in the object, readable only with the key.
    let raw = object(&storage, &format!("{folder}payload.ndjson.zst.pgp")).await;
    assert!(!raw.windows(8).any(|w| w == b"drill-0@"));
    let lines = open_payload(gpg, &raw);
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
    // Decisions after the backup, besides the erasure: a withdrawal, a record deleted.
    let changed = subjects[2].clone();
    let consent_form = app.get("/v1/consent-forms", &key).await.body[0]["id"].clone();
    let withdrawn = app
        .post(
            &format!("/v1/subjects/{changed}/consents/withdraw"),
            &key,
            json!({"consent_form": consent_form, "method": "api"}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.text);
    let theirs = app.records_of(&key, &changed, "legal_claims").await;
    let dropped = theirs.body["items"][0]["id"].as_str().unwrap().to_owned();
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/v1/records/{dropped}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
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
    assert_eq!(
        report["decisions_replayed"], 2,
        "the withdrawal and the deletion: {report}"
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
    for kept in &subjects[1..2] {
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
    let mut keyrings = String::new();
    for shard in storage.list(&format!("{folder}keyring/")).await.unwrap() {
        keyrings.push_str(std::str::from_utf8(&object(&storage, &shard.key).await).unwrap());
    }
    assert!(!keyrings.is_empty());
    assert!(
        !keyrings.contains(&erased),
        "its key is shredded from the backup"
    );
    assert!(keyrings.contains(&subjects[1]));
    // The database kept its audit chain, which shows the erasure: not recorded twice. Lost
    // again, the chain goes with it, and the restore records the erasure again, for the
    // webhook endpoints to hear of it (Art. 17(2), 19).
    assert_eq!(report["erasures_announced"], 0, "{report}");
    destroy_database(&app).await;
    let lost = gdpr_server::operator::restore(&app.config, t, Some(&older), false)
        .await
        .unwrap();
    assert_eq!(
        (&lost["subjects_left_out"], &lost["erasures_announced"]),
        (&json!(1), &json!(1)),
        "{lost}"
    );
    let announced: Vec<String> = every_row(&app.config)
        .await
        .into_iter()
        .filter(|(table, _)| table == "audit_log")
        .flat_map(|(_, rows)| rows)
        .filter(|row| row.contains("announced_after_restore"))
        .collect();
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(
        announced[0].contains("subject_erased") && announced[0].contains(&erased),
        "{announced:?}"
    );
    app.resume().await;
    let lookup = app.get(&format!("/v1/subjects/{erased}"), &key).await;
    assert_eq!(lookup.status, StatusCode::NOT_FOUND);
    // The older backup predates both decisions; the API shows them in force.
    let check = app
        .get(
            &format!("/v1/subjects/{changed}/consent-check?purpose=contractors"),
            &key,
        )
        .await;
    assert_eq!(check.body["consented"], false, "{}", check.text);
    let theirs = app.records_of(&key, &changed, "legal_claims").await;
    let ids: Vec<&str> = theirs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{}", theirs.text);
    assert!(!ids.contains(&dropped.as_str()));
    let verify = app.get("/v1/audit/verify", &key).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text);
    assert_eq!(verify.body["valid"], Value::Bool(true), "{}", verify.text);

    // Pruning on this storage: a backup past retention goes, the fresh one stays.
    let old =
        gdpr_app::BackupLayout::new_id(time::OffsetDateTime::now_utc() - time::Duration::days(40));
    for name in ["manifest.json", "payload.ndjson.zst.pgp"] {
        let body: gdpr_ports::ByteStream = Box::pin(futures_util::stream::iter([Ok(
            bytes::Bytes::from_static(b"{}"),
        )]));
        storage
            .put(&format!("backups/{tenant}/{old}/{name}"), body)
            .await
            .unwrap();
    }
    let operator = gdpr_server::application(
        &app.config,
        gdpr_server::open_store(&app.config, false).await.unwrap(),
    )
    .unwrap();
    let pruned = operator.prune_backups(t, false).await.unwrap();
    assert_eq!(pruned.plan.delete, vec![old.clone()]);
    let left = storage.list(&format!("backups/{tenant}/")).await.unwrap();
    assert!(left.iter().all(|o| !o.key.contains(&old)));
    assert!(left.iter().any(|o| o.key.contains(&older)));

    // The customer asks for all of their backups to go: the receipt lists every object.
    let receipt = app
        .send(
            Method::DELETE,
            &format!("/v1/admin/tenants/{tenant}/backups"),
            Some(crate::helpers::ADMIN),
            None,
        )
        .await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.text);
    let deleted = receipt.body["deleted_objects"].as_array().unwrap();
    assert_eq!(deleted.len(), left.len(), "{}", receipt.text);
    assert!(
        storage
            .list(&format!("backups/{tenant}/"))
            .await
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

async fn object(storage: &impl BackupStore, key: &str) -> Vec<u8> {
    let mut stream = storage.get(key).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

pub(crate) fn with_keys(gpg: &GpgHome) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.backups.recipients = vec![gpg.public_key(OPS)];
        let secret = gpg.path().join("ops.sec.asc");
        std::fs::write(&secret, gpg.secret_key(OPS, "")).unwrap();
        c.signing.key_file = Some(secret.clone());
        c.backups.decryption_key_file = Some(secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_drill_on_sqlite() {
    let gpg = ops_key();
    drill(spawn_app_with(with_keys(&gpg)).await, &gpg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_drill_on_postgres() {
    let gpg = ops_key();
    if let Some(app) = spawn_app_on_postgres_with(with_keys(&gpg)).await {
        drill(app, &gpg).await;
    }
}

/// The operators' keys and backups on the test S3 server.
pub(crate) fn with_keys_on_s3<'a>(
    gpg: &'a GpgHome,
    server: &'a S3Server,
) -> impl FnOnce(&mut Config) + 'a {
    move |c: &mut Config| {
        with_keys(gpg)(c);
        on_s3(c, server);
    }
}

/// Backups on the test S3 server.
fn on_s3(c: &mut Config, server: &S3Server) {
    c.backups.storage = BackupStorage::S3;
    c.backups.s3.bucket = S3_BUCKET.into();
    c.backups.s3.endpoint = Some(server.endpoint.clone());
    c.backups.s3.path_style = true;
    c.backups.s3.allow_http = true;
    c.backups.s3.access_key_id = Some(S3_ACCESS_KEY.to_owned().into());
    c.backups.s3.secret_access_key = Some(S3_SECRET_KEY.to_owned().into());
}

/// The same drill with the backups on an S3-protocol server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_recovery_drill_with_backups_on_s3() {
    let gpg = ops_key();
    let server = s3_server().await;
    let app = spawn_app_with(with_keys_on_s3(&gpg, &server)).await;
    drill(app, &gpg).await;
    // Everything went to the bucket, nothing to the local folder.
    assert!(server.root.path().join(S3_BUCKET).join("backups").is_dir());
}

/// A configuration file with absolute paths, shared by this test and the `gdpr` processes it
/// starts.
fn config_file(dir: &std::path::Path, gpg: &GpgHome) -> std::path::PathBuf {
    let secret = dir.join("ops.sec.asc");
    std::fs::write(&secret, gpg.secret_key(OPS, "")).unwrap();
    let extra = format!(
        "[jobs]\nenabled = false\n[backups]\ndirectory = \"{}\"\nrecipients = ['''{}''']\ndecryption_key_file = \"{}\"\n",
        dir.join("backups").display(),
        gpg.public_key(OPS),
        secret.display(),
    );
    crate::helpers::deployment_file(dir, &extra)
}

fn gdpr(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gdpr"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("GDPR_TEST_POSTGRES_URL")
        .output()
        .unwrap()
}

/// A command that must succeed; its JSON output.
fn gdpr_json(config: &std::path::Path, args: &[&str]) -> Value {
    let out = gdpr(config, args);
    assert!(
        out.status.success(),
        "gdpr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_mid_write_leaves_nothing_listed_and_the_next_one_succeeds() {
    let gpg = ops_key();
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), &gpg);
    let config = Config::load(Some(&file)).unwrap();
    // A tenant big enough that its backup takes a while.
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Crash SAS").await;
    let tenant = app.tenant(ctx.tenant).await.unwrap();
    for batch in 0..10 {
        let emails = (0..2_000).map(|n| format!("crash-{batch}-{n}@example.org"));
        let name = Some("Katherine Johnson");
        crate::helpers::import_in_process(&app, ctx, emails, name, Some("198.51.100.7")).await;
    }
    drop(app);
    let t = tenant.id.to_string();

    // Kill -9 once the payload is being written (its staging file exists), before it is done.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gdpr"))
        .arg("--config")
        .arg(&file)
        .args(["backup", "--tenant", &t])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tenant_dir = dir.path().join("backups/backups").join(&t);
    let started = std::time::Instant::now();
    let staging = loop {
        let found = std::fs::read_dir(&tenant_dir).ok().and_then(|backups| {
            backups.flatten().find_map(|b| {
                std::fs::read_dir(b.path()).ok()?.flatten().find(|f| {
                    f.file_name()
                        .to_string_lossy()
                        .starts_with("payload.ndjson.zst.pgp#")
                })
            })
        });
        if let Some(found) = found {
            break found.path();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it could be killed"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no backup started"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    let folder = staging.parent().unwrap().to_owned();
    assert!(
        !folder.join("manifest.json").exists(),
        "killed before its manifest"
    );

    // Nothing listed, nothing to verify or restore.
    assert_eq!(gdpr_json(&file, &["backups", "--tenant", &t]), json!([]));
    assert_eq!(gdpr_json(&file, &["verify", "--tenant", &t]), json!([]));
    let restore = gdpr(&file, &["restore", "--tenant", &t, "--replace"]);
    assert!(!restore.status.success());
    assert!(String::from_utf8_lossy(&restore.stderr).contains("backup not found"));

    // The next run succeeds, and that backup verifies.
    let summary = gdpr_json(&file, &["backup", "--tenant", &t]);
    assert_eq!(summary[0]["rows"]["subjects"], 20_000, "{summary}");
    let listed = gdpr_json(&file, &["backups", "--tenant", &t]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], summary[0]["backup"]);
    let outcomes = gdpr_json(&file, &["verify", "--tenant", &t]);
    assert_eq!(outcomes[0]["problem"], Value::Null, "{outcomes}");
    // The killed backup's leftovers are still there, unlisted, for pruning to remove later.
    assert!(folder.exists());
}

/// Whoever can write to the bucket can sign with a key of their own: `gdpr verify` and `gdpr
/// restore` check every signature against the deployment's pinned key (real OpenPGP here), say
/// which object failed, and restore nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_restore_refuse_a_backup_signed_by_another_key() {
    use gdpr_app::backup::format::{Envelope, envelope};
    use gdpr_ports::Signer as _;
    use secrecy::ExposeSecret as _;

    let gpg = ops_key();
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), &gpg);
    let config = Config::load(Some(&file)).unwrap();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Signed SAS").await;
    crate::helpers::import_in_process(&app, ctx, ["s@example.org".to_owned()], None, None).await;
    drop(app);
    let t = ctx.tenant.to_string();
    let summary = gdpr_json(&file, &["backup", "--tenant", &t]);
    let backup = summary[0]["backup"].as_str().unwrap().to_owned();
    let manifest = dir
        .path()
        .join("backups/backups")
        .join(&t)
        .join(&backup)
        .join("manifest.json");
    assert_eq!(
        gdpr_json(&file, &["verify", "--tenant", &t])[0]["problem"],
        Value::Null
    );

    // The same manifest, re-signed by an attacker's key.
    let (attacker, _) =
        gdpr_crypto_openpgp::generate_signing_key("Mallory <m@example.org>").unwrap();
    let attacker = gdpr_crypto_openpgp::OpenPgpSigner::new(
        Some((attacker.expose_secret(), secrecy::SecretString::from(""))),
        &[],
    )
    .unwrap();
    let stored = std::fs::read(&manifest).unwrap();
    let content = serde_json::from_slice::<Envelope<'_>>(&stored)
        .unwrap()
        .signed
        .get()
        .as_bytes()
        .to_vec();
    let forged = attacker.sign(content.clone().into()).await.unwrap();
    std::fs::write(&manifest, envelope(&content, &forged)).unwrap();

    let verify = gdpr(&file, &["verify", "--tenant", &t]);
    assert!(
        !verify.status.success(),
        "a backup that fails its signature fails verify"
    );
    let outcomes: Value = serde_json::from_slice(&verify.stdout).unwrap();
    let problem = outcomes[0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("manifest.json") && problem.contains("not trusted"),
        "{problem}"
    );
    // The database is lost; the restore refuses and leaves it empty.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("gdpr.db{suffix}")));
    }
    let restore = gdpr(&file, &["restore", "--tenant", &t]);
    assert!(!restore.status.success());
    let err = String::from_utf8_lossy(&restore.stderr);
    assert!(
        err.contains("manifest.json") && err.contains("not trusted"),
        "{err}"
    );
    let store = gdpr_server::open_store(&config, true).await.unwrap();
    let app = gdpr_server::application(&config, store).unwrap();
    assert!(
        matches!(
            app.tenant(ctx.tenant).await,
            Err(gdpr_app::AppError::NotFound(_))
        ),
        "nothing restored"
    );
}

/// Crypto-shredding overwrites keyring shards: a bucket that keeps old versions would keep an
/// erased subject's key. The service refuses to start on one, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_bucket_that_keeps_old_versions_is_refused_at_start() {
    let gpg = ops_key();
    let server = s3_server().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("gdpr.db").display());
    let mut config = crate::helpers::config(&dir, url);
    with_keys_on_s3(&gpg, &server)(&mut config);
    let running = gdpr_server::start(&config).await.unwrap();
    running.stop().await.unwrap();

    server.keep_old_versions();
    let Err(refused) = gdpr_server::start(&config).await else {
        panic!("started on a bucket that keeps old versions");
    };
    let refused = refused.to_string();
    assert!(refused.contains("keeps old versions"), "{refused}");
}

/// `/readyz` and `/metrics` once the freshness watch has looked the backups up.
async fn readiness_and_metrics(app: &TestApp, expected: &str) -> (String, String) {
    let started = std::time::Instant::now();
    loop {
        let ready = app.send(Method::GET, "/readyz", None, None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        if ready.text.contains(expected) {
            let metrics = app.send(Method::GET, "/metrics", None, None).await.text;
            return (ready.text, metrics);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{}",
            ready.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Backups cannot stop without anyone seeing: `/readyz` and `/metrics` say how old each
/// tenant's newest verified backup is, from a watch that runs off the request path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_say_how_old_the_newest_verified_backups_are() {
    let gpg = ops_key();
    let mut app = spawn_app_with(with_keys(&gpg)).await;
    let (tenant, _) = app.tenant("Watched SAS").await;
    app.halt().await;
    app.resume().await;
    let (ready, metrics) =
        readiness_and_metrics(&app, "1 of 1 tenants have no verified backup").await;
    assert!(ready.starts_with("ready\n"), "{ready}");
    assert!(
        metrics.contains("gdpr_backup_unverified_tenants 1\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("gdpr_backup_verified_age_seconds{"),
        "{metrics}"
    );

    let t = TenantId::from_uuid(tenant.parse().unwrap());
    app.halt().await;
    let (summary, ok) = gdpr_server::operator::backup(&app.config, Some(t))
        .await
        .unwrap();
    assert!(ok, "{summary}");
    // Taken but not verified: still none.
    app.resume().await;
    readiness_and_metrics(&app, "1 of 1 tenants have no verified backup").await;
    app.halt().await;
    let (outcomes, ok) = gdpr_server::operator::verify(&app.config, Some(t))
        .await
        .unwrap();
    assert!(ok, "{outcomes}");
    app.resume().await;
    let (ready, metrics) = readiness_and_metrics(&app, "backups: ok:").await;
    assert!(ready.contains("is 0 h old (limit 26 h)"), "{ready}");
    assert!(
        !ready.contains(&tenant),
        "readiness names no tenant: {ready}"
    );
    assert!(
        metrics.contains(&format!(
            "gdpr_backup_verified_age_seconds{{tenant=\"{tenant}\"}} "
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("gdpr_backup_unverified_tenants 0\n"),
        "{metrics}"
    );
    app.stop().await;
}

/// Production does not run without backups by accident: no recipient and no explicit
/// `backups.enabled = false` is a refusal that says what to do.
#[tokio::test]
async fn production_refuses_to_start_when_no_backup_would_be_taken() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::helpers::deployment_file(
        dir.path(),
        &format!(
            "[jobs]\nenabled = false\n[backups]\ndirectory = \"{}\"\n",
            dir.path().join("backups").display()
        ),
    );
    let mut config = Config::load(Some(&file)).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let Err(refused) = gdpr_server::start(&config).await else {
        panic!("started in production without any backup");
    };
    let refused = refused.to_string();
    assert!(
        refused.contains("backups.recipients is empty")
            && refused.contains("backups.enabled = false"),
        "{refused}"
    );
    // Said on purpose, it starts.
    config.backups.enabled = false;
    let running = gdpr_server::start(&config).await.unwrap();
    running.stop().await.unwrap();
}

/// Waits for `restore`'s first stderr line saying its journal replay applied a decision
/// ("restore: journal replay: 450 of 1500 decisions"), then kills it with SIGKILL; what
/// happened. A restore that ends first must have succeeded.
fn replay_seen(log: &std::path::Path, mut restore: std::process::Child) -> String {
    let said = || std::fs::read_to_string(log).unwrap_or_default();
    let started = std::time::Instant::now();
    loop {
        let done = said().lines().rev().find_map(|line| {
            let (done, total) = line
                .strip_prefix("restore: journal replay: ")?
                .strip_suffix(" decisions")?
                .split_once(" of ")?;
            Some((done.parse::<usize>().ok()?, total.parse::<usize>().ok()?))
        });
        if let Some((done, total)) = done {
            assert_eq!(total, RESTRICTED, "{}", said());
            if done > 0 {
                // It may have ended on its own since it said that line.
                let _ = restore.kill();
                let status = restore.wait().unwrap();
                if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
                    return format!("killed once it said {done} of {total}");
                }
                assert!(status.success(), "the restore failed: {}", said());
                return format!("ended once it said {done} of {total}");
            }
        }
        if let Some(status) = restore.try_wait().unwrap() {
            assert!(status.success(), "the restore failed: {}", said());
            return "ended before its replay was seen".to_owned();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no replay started: {}",
            said()
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Restrictions placed after the backup, so many that replaying them takes a while.
const RESTRICTED: usize = 1_500;

/// A restore killed with SIGKILL in the middle of its replay of the decision journal: run
/// again, it finishes, and every decision is in force once (none lost, none twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_mid_replay_is_finished_by_restoring_again() {
    let gpg = ops_key();
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), &gpg);
    let config = Config::load(Some(&file)).unwrap();
    let url = config.database.connect_url().expose_secret().to_owned();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Replay SAS").await;
    let emails = (0..RESTRICTED).map(|n| format!("replay-{n}@example.org"));
    let subjects = crate::helpers::import_in_process(&app, ctx, emails, None, None).await;
    let t = ctx.tenant.to_string();
    let summary = gdpr_json(&file, &["backup", "--tenant", &t]);
    assert_eq!(summary[0]["rows"]["subjects"], RESTRICTED, "{summary}");
    // After the backup: a restriction for everyone, journaled (concurrent ones share an entry).
    // Eight at once, as many as the pool has connections: more would only queue for one, and
    // on a loaded machine outwait the pool's timeout.
    for chunk in subjects.chunks(8) {
        let placed = futures_util::future::join_all(chunk.iter().map(|s| {
            app.place_limit(
                ctx,
                *s,
                gdpr_rights::LimitKind::Restriction,
                None,
                "contested",
            )
        }))
        .await;
        // The refusal itself, if any, for whoever reads a failure.
        if let Some(Err(e)) = placed.iter().find(|p| p.is_err()) {
            panic!("a restriction was refused: {e:?}");
        }
    }
    drop(app);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("gdpr.db{suffix}")));
    }
    // The restore is watched through what it says on stderr (a line at each tenth of the
    // replay, looked at every 20 ms), not through its database: nothing but the restore
    // touches that until it dies. It is killed at the first line saying a decision was
    // applied. On a fast disk the whole replay can end between that line and the kill: such
    // an attempt proves nothing, and the restore is run again from the backup to be killed.
    let count = async |sql: &str| -> i64 {
        let mut options = sea_orm::ConnectOptions::new(url.clone());
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        let n = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        db.close().await.unwrap();
        n
    };
    let mut attempts = Vec::new();
    for attempt in 1..=5 {
        let log = dir.path().join(format!("restore-{attempt}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_gdpr"))
            .arg("--config")
            .arg(&file)
            // Over nothing the first time, over what the killed one left afterwards.
            .args(["restore", "--tenant", &t, "--replace"])
            .env_remove("GDPR_TEST_POSTGRES_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let seen = replay_seen(&log, child);
        let in_force = count("SELECT COUNT(*) FROM processing_limits").await;
        if seen.starts_with("killed") && in_force > 0 && in_force < RESTRICTED as i64 {
            attempts.push(format!("{seen}, with {in_force} in force: half-way"));
            break;
        }
        attempts.push(format!("{seen}, with {in_force} in force: again"));
    }
    eprintln!("{attempts:#?}");
    assert!(
        attempts.last().unwrap().ends_with("half-way"),
        "never killed half-way: {attempts:#?}"
    );

    // Restored again, over what the killed run left: every restriction in force, once.
    let report = gdpr_json(&file, &["restore", "--tenant", &t, "--replace"]);
    assert_eq!(report["decisions_replayed"], RESTRICTED, "{report}");
    assert_eq!(
        count("SELECT COUNT(*) FROM processing_limits").await,
        RESTRICTED as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM subjects").await,
        RESTRICTED as i64
    );
}
