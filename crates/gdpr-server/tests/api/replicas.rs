//! Two `gdpr serve` processes on one PostgreSQL database, the scheduler and a worker on in
//! both: the daily backup and a batch erasure each run exactly once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gdpr_audit::AuditAction;
use gdpr_rights::BatchSelector;
use gdpr_testkit::GpgHome;
use sea_orm::{ConnectionTrait, Database};

use crate::helpers::{deployment_file, fresh_postgres_database};

/// A replica process, killed when dropped (a failing test leaves none behind).
struct Replica(std::process::Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replica(config: &std::path::Path, url: &str) -> Replica {
    Replica(
        Command::new(env!("CARGO_BIN_EXE_gdpr"))
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("GDPR_TEST_POSTGRES_URL")
            .env("GDPR_DATABASE__URL", url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_the_daily_backup_and_a_batch_erasure_once() {
    let Some(db) = fresh_postgres_database("gdpr_replicas").await else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let gpg = GpgHome::generate("Ops <ops@example.org>", "", "future-default");
    // The daily backup's slot is always due at start (the current one): both replicas queue it.
    let file = deployment_file(
        dir.path(),
        &format!(
            "[jobs]\nenabled = true\npoll_interval_seconds = 1\n[backups]\ndirectory = \"{}\"\nrecipients = ['''{}''']\ndaily_at = \"00:00\"\n",
            dir.path().join("backups").display(),
            gpg.public_key("ops@example.org"),
        ),
    );
    let mut config = gdpr_server::config::Config::load(Some(&file)).unwrap();
    let url = db.url.clone();
    config.database.url = url.clone();
    let (app, ctx) = crate::helpers::tenant_in_process(&config, "Replica SAS").await;
    let emails = (0..200).map(|n| format!("r{n}@example.org"));
    let ids = crate::helpers::import_in_process(&app, ctx, emails, None, None).await;
    let selector = BatchSelector::Subjects {
        ids: ids.iter().copied().collect(),
    };
    let (job, _) = app.start_batch_erasure(ctx, selector).await.unwrap();

    let replicas = [replica(&file, &url), replica(&file, &url)];
    let begun = Instant::now();
    loop {
        let erasure = app.batch_erasure(ctx, job).await.unwrap();
        let backups = app.list_backups(ctx.tenant).await.unwrap();
        if erasure.state == "done" && !backups.is_empty() {
            break;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "the replicas did not finish: {erasure:?}, {} backups",
            backups.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Give both replicas more polls to run anything twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut replicas = replicas;
    for r in &mut replicas {
        assert!(r.0.try_wait().unwrap().is_none(), "a replica stopped early");
    }
    drop(replicas);

    assert_eq!(app.list_backups(ctx.tenant).await.unwrap().len(), 1);
    let erasure = app.batch_erasure(ctx, job).await.unwrap();
    assert_eq!((erasure.attempts, erasure.done), (1, 200), "{erasure:?}");
    let audit = app.audit_log(ctx, 0, 10_000).await.unwrap();
    let count = |action| audit.iter().filter(|r| r.event.action == action).count();
    assert_eq!(count(AuditAction::BatchErasureCompleted), 1);
    assert_eq!(count(AuditAction::SubjectErased), 200);
    assert_eq!(count(AuditAction::BackupCreated), 1);
    let jobs = Database::connect(&url).await.unwrap();
    let runs = jobs
        .query_all_raw(sea_orm::Statement::from_string(
            jobs.get_database_backend(),
            "SELECT kind, attempts FROM jobs WHERE kind IN ('daily-backup', 'batch-erasure')",
        ))
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    for row in &runs {
        let attempts: i32 = row.try_get_by_index(1).unwrap();
        assert_eq!(attempts, 1);
    }
    jobs.close().await.unwrap();
    drop(app);
    db.drop_database().await;
}
