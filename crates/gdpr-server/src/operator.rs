//! The operator's backup commands: `gdpr backup`, `gdpr verify`, `gdpr restore` and
//! `gdpr backups`. Each prints its result as JSON on stdout and shows progress on stderr
//! when stderr is a terminal, and the journal replay of a restore also as lines in a log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gdpr_app::Progress;
use gdpr_crypto_openpgp::OpenPgpDecryptor;
use gdpr_pii::TenantId;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::config::Config;
use crate::{StartError, application, open_store};

/// Where a restore's journal replay stands: `journal replay: D of N decisions`, once it has
/// started.
fn replay_line(progress: &Progress) -> Option<(u64, String)> {
    let total = progress.decisions_total.load(Ordering::Relaxed);
    let done = progress.decisions.load(Ordering::Relaxed);
    (total > 0).then(|| {
        (
            done * 10 / total,
            format!("journal replay: {done} of {total} decisions"),
        )
    })
}

/// Runs `work` while a spinner on stderr shows the rows and bytes it has handled (and a
/// restore, its journal replay). The spinner shows on a terminal only; elsewhere (cron, a
/// supervisor's log) the replay, which can take minutes, gets a line as it starts, at each
/// tenth it passes (looked at every 20 ms) and at its end.
async fn with_progress<T>(
    label: &str,
    progress: &Arc<Progress>,
    work: impl std::future::Future<Output = T>,
) -> T {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_prefix(label.to_owned());
    let plain = !std::io::stderr().is_terminal();
    let said = Arc::new(std::sync::Mutex::new(None::<u64>));
    // A line for a tenth not said yet (the first one said, whichever it is).
    let say = {
        let (said, label) = (Arc::clone(&said), label.to_owned());
        move |tenth: u64, line: &str| {
            let mut said = said
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if said.is_none_or(|s| tenth > s) {
                *said = Some(tenth);
                eprintln!("{label}: {line}");
            }
        }
    };
    let ticking = {
        let (bar, progress, say) = (bar.clone(), Arc::clone(progress), say.clone());
        tokio::spawn(async move {
            loop {
                let rows = progress.rows.load(Ordering::Relaxed);
                let bytes = progress.bytes.load(Ordering::Relaxed);
                let mut message = format!("{rows} rows, {}", indicatif::HumanBytes(bytes));
                if let Some((tenth, replay)) = replay_line(&progress) {
                    if plain {
                        say(tenth, &replay);
                    }
                    message = format!("{message}, {replay}");
                }
                bar.set_message(message);
                bar.tick();
                tokio::time::sleep(Duration::from_millis(if plain { 20 } else { 100 })).await;
            }
        })
    };
    let out = work.await;
    ticking.abort();
    bar.finish_and_clear();
    if plain && let Some((tenth, replay)) = replay_line(progress) {
        say(tenth, &replay);
    }
    out
}

/// The decryption key for verify and restore, from the configuration.
///
/// # Errors
/// When no key is configured or it cannot be read or parsed.
pub fn decryptor(config: &Config) -> Result<OpenPgpDecryptor, StartError> {
    let path = config.backups.decryption_key_file.as_ref().ok_or(
        "backups.decryption_key_file is not set: verify and restore need the secret key the backups are encrypted to",
    )?;
    let armored = std::fs::read_to_string(path)
        .map_err(|e| format!("backups.decryption_key_file {}: {e}", path.display()))?;
    let passphrase = config
        .backups
        .decryption_key_passphrase
        .clone()
        .unwrap_or_else(|| SecretString::from(""));
    Ok(OpenPgpDecryptor::new(&armored, passphrase)
        .map_err(|e| format!("backups.decryption_key_file: {e}"))?)
}

/// `gdpr backup [--tenant ID]`: backs up (then prunes) one tenant or every tenant. Returns
/// the summary and whether everything succeeded.
///
/// # Errors
/// Start-up errors; a failure of the only tenant asked for.
pub async fn backup(
    config: &Config,
    tenant: Option<TenantId>,
) -> Result<(Value, bool), StartError> {
    let app = application(config, open_store(config, false).await?)?;
    let progress = Arc::new(Progress::default());
    let results = match tenant {
        Some(t) => {
            let report = with_progress("backup", &progress, app.back_up_tenant(t, &progress))
                .await
                .map_err(|e| format!("cannot back up tenant {t}: {}", e.for_operators()))?;
            app.prune_backups(t, false).await?;
            vec![(t, Ok(report))]
        }
        None => with_progress("backup", &progress, app.back_up_every_tenant(&progress)).await?,
    };
    let ok = results.iter().all(|(_, r)| r.is_ok());
    let summary = results
        .into_iter()
        .map(|(tenant, result)| match result {
            Ok(report) => json!({
                "tenant": tenant,
                "backup": report.manifest.backup_id,
                "rows": report.manifest.rows,
                "keys": report.manifest.keys,
                "payload_bytes": report.manifest.payload.size,
                "sha256": report.manifest.payload.sha256,
            }),
            Err(e) => json!({ "tenant": tenant, "error": e.for_operators() }),
        })
        .collect();
    Ok((Value::Array(summary), ok))
}

/// `gdpr verify [--tenant ID]`: decrypts and checks every retained backup. Returns the
/// outcomes and whether every backup is whole.
///
/// # Errors
/// Start-up errors, no usable decryption key, storage errors.
pub async fn verify(
    config: &Config,
    tenant: Option<TenantId>,
) -> Result<(Value, bool), StartError> {
    let decryptor = decryptor(config)?;
    let app = application(config, open_store(config, false).await?)?;
    let progress = Arc::new(Progress::default());
    let outcomes = with_progress(
        "verify",
        &progress,
        app.verify_backups(tenant, &decryptor, &progress),
    )
    .await?;
    let ok = outcomes.iter().all(|o| o.problem.is_none());
    Ok((serde_json::to_value(&outcomes)?, ok))
}

/// `gdpr restore --tenant T [--backup ID] [--replace]`: restores into the configured database
/// (migrated first: disaster recovery starts from an empty one).
///
/// # Errors
/// Start-up errors, no usable decryption key, and every restore error (nothing changed).
pub async fn restore(
    config: &Config,
    tenant: TenantId,
    backup: Option<&str>,
    replace: bool,
) -> Result<Value, StartError> {
    let decryptor = decryptor(config)?;
    let app = application(config, open_store(config, true).await?)?;
    let progress = Arc::new(Progress::default());
    let report = with_progress(
        "restore",
        &progress,
        app.restore_tenant(tenant, backup, replace, &decryptor, &progress),
    )
    .await
    .map_err(|e| format!("cannot restore tenant {tenant}: {}", e.for_operators()))?;
    Ok(serde_json::to_value(&report)?)
}

/// `gdpr audit verify [--tenant T]`: verifies the tenant's audit chain, or every tenant's and
/// the system chain. Returns one line per chain and whether all are intact.
///
/// # Errors
/// Start-up and storage errors.
pub async fn verify_audit(
    config: &Config,
    tenant: Option<TenantId>,
) -> Result<(Value, bool), StartError> {
    let app = application(config, open_store(config, false).await?)?;
    let chains: Vec<Option<TenantId>> = match tenant {
        Some(t) => {
            app.tenant(t).await?;
            vec![Some(t)]
        }
        None => std::iter::once(None)
            .chain(app.tenants().await?.into_iter().map(|t| Some(t.id)))
            .collect(),
    };
    let mut ok = true;
    let mut lines = Vec::with_capacity(chains.len());
    for chain in chains {
        let name = chain.map_or_else(|| "system".to_owned(), |t| t.to_string());
        lines.push(match app.verify_audit(chain).await? {
            Ok(head) => json!({"chain": name, "valid": true, "records": head.records, "head": head.head.to_string()}),
            Err(broken) => {
                ok = false;
                json!({"chain": name, "valid": false, "problem": broken.to_string()})
            }
        });
    }
    Ok((Value::Array(lines), ok))
}

/// `gdpr backups --tenant T`: the tenant's complete backups, oldest first.
///
/// # Errors
/// Start-up and object storage errors.
pub async fn list(config: &Config, tenant: TenantId) -> Result<Value, StartError> {
    let app = application(config, open_store(config, false).await?)?;
    Ok(serde_json::to_value(app.list_backups(tenant).await?)?)
}

/// `gdpr expire [--tenant T] [--dry-run]`: expires the tenant's (or every tenant's) records
/// and inactive subjects now, as the daily job does; or, with `dry_run`, says what would go.
///
/// # Errors
/// Start-up, storage and journal errors (what was expired before stays expired).
pub async fn expire(
    config: &Config,
    tenant: Option<TenantId>,
    dry_run: bool,
) -> Result<Value, StartError> {
    let app = application(config, open_store(config, false).await?)?;
    let tenants = match tenant {
        Some(t) => vec![app.tenant(t).await?.id],
        None => app.tenants().await?.into_iter().map(|t| t.id).collect(),
    };
    let mut reports = Vec::with_capacity(tenants.len());
    for t in tenants {
        let ctx = gdpr_app::Ctx::new(t, gdpr_audit::Actor::Operator);
        reports.push(if dry_run {
            app.retention_plan(ctx).await?
        } else {
            app.expire(t).await?
        });
    }
    Ok(serde_json::to_value(&reports)?)
}

/// `gdpr offboard`: schedules (`--tenant T [--grace-days N]`) or cancels (`--cancel`) a
/// tenant's offboarding, or (`--run`) deletes every tenant whose grace period is over.
///
/// # Errors
/// Start-up errors, and every error of the use case (nothing of it done, or, for `--run`,
/// the tenants before the failing one done).
pub async fn offboard(
    config: &Config,
    tenant: Option<TenantId>,
    grace_days: Option<u32>,
    cancel: bool,
    run: bool,
) -> Result<Value, StartError> {
    let app = application(config, open_store(config, false).await?)?;
    let actor = gdpr_audit::Actor::Operator;
    Ok(match (tenant, run) {
        (_, true) => serde_json::to_value(app.offboard_due_tenants().await?)?,
        (Some(t), false) if cancel => {
            app.cancel_offboarding(actor, t).await?;
            json!({ "tenant": t, "cancelled": true })
        }
        (Some(t), false) => {
            let o = app.schedule_offboarding(actor, t, grace_days).await?;
            json!({ "tenant": t, "scheduled_at": o.scheduled_at.to_string(), "delete_at": o.delete_at.to_string() })
        }
        (None, false) => return Err("--tenant or --run is required".into()),
    })
}

/// What `gdpr console-user` does.
#[derive(Debug, Clone)]
pub enum ConsoleUserAction {
    /// Create one with this address and role; its password is printed once.
    Add {
        /// The address.
        email: String,
        /// The role.
        role: gdpr_app::ConsoleRole,
    },
    /// List the tenant's users.
    List,
    /// Give one a new password (printed once); their sessions end.
    ResetPassword(gdpr_pii::ConsoleUserId),
    /// Remove one; their sessions end.
    Remove(gdpr_pii::ConsoleUserId),
}

fn console_user_json(user: &gdpr_app::ConsoleUser) -> Value {
    json!({
        "id": user.id,
        "tenant": user.tenant,
        "email": user.email,
        "role": user.role.as_str(),
        "created_at": user.created_at.to_string(),
    })
}

/// `gdpr console-user add|list|reset-password|remove --tenant T ...`: a tenant's console
/// users, as the admin API manages them. A password appears once, in this output.
///
/// # Errors
/// Start-up errors; the use case's (unknown tenant or user, an address already in use).
pub async fn console_user(
    config: &Config,
    tenant: TenantId,
    action: ConsoleUserAction,
) -> Result<Value, StartError> {
    use secrecy::ExposeSecret as _;
    let app = application(config, open_store(config, false).await?)?;
    let actor = gdpr_audit::Actor::Operator;
    let issued = |i: gdpr_app::IssuedConsoleUser| json!({ "user": console_user_json(&i.user), "password": i.password.expose_secret() });
    Ok(match action {
        ConsoleUserAction::Add { email, role } => {
            issued(app.create_console_user(actor, tenant, &email, role).await?)
        }
        ConsoleUserAction::List => Value::Array(
            app.console_users(tenant)
                .await?
                .iter()
                .map(console_user_json)
                .collect(),
        ),
        ConsoleUserAction::ResetPassword(user) => {
            issued(app.reset_console_password(actor, tenant, user).await?)
        }
        ConsoleUserAction::Remove(user) => {
            app.remove_console_user(actor, tenant, user).await?;
            json!({ "tenant": tenant, "removed": user })
        }
    })
}

/// `gdpr handover --tenant T --recipients FILE --out FILE`: the tenant's data, encrypted to
/// the keys in the file, written to a new file. Returns what was written (no content).
///
/// # Errors
/// Start-up errors; an unreadable key file or an existing output file; encryption and
/// storage errors (a partial output file is removed).
pub async fn handover(
    config: &Config,
    tenant: TenantId,
    recipients: &std::path::Path,
    out: &std::path::Path,
) -> Result<Value, StartError> {
    use futures_util::StreamExt as _;
    use std::io::Write as _;
    let armored = std::fs::read_to_string(recipients)
        .map_err(|e| format!("--recipients {}: {e}", recipients.display()))?;
    let keys: Vec<String> = armored
        .split_inclusive("-----END PGP PUBLIC KEY BLOCK-----")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let app = application(config, open_store(config, false).await?)?;
    let mut stream = app
        .handover(
            gdpr_audit::Actor::Operator,
            tenant,
            gdpr_ports::Recipients::Armored(keys),
        )
        .await?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| format!("--out {}: {e}", out.display()))?;
    let mut bytes = 0;
    let written: Result<(), StartError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            file.write_all(&chunk)?;
            bytes += chunk.len();
        }
        file.sync_all()?;
        Ok(())
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    Ok(json!({ "tenant": tenant, "out": out.display().to_string(), "bytes": bytes }))
}

/// `gdpr attest [--tenant T]`: attests the tenant (or every tenant) now, as the daily job does.
/// Returns the attestations and whether every check of every one held.
///
/// # Errors
/// Start-up and storage errors.
pub async fn attest(
    config: &Config,
    tenant: Option<TenantId>,
) -> Result<(Value, bool), StartError> {
    let app = application(config, open_store(config, false).await?)?;
    let made = match tenant {
        Some(t) => {
            app.tenant(t).await?;
            vec![app.attest_tenant(t).await?]
        }
        None => {
            let mut made = Vec::new();
            for (tenant, result) in app.attest_every_tenant(|_, _| async { Ok(()) }).await? {
                made.push(result.map_err(|e| format!("tenant {tenant}: {e}"))?);
            }
            made
        }
    };
    let holds = made.iter().all(gdpr_audit::Attestation::holds);
    Ok((serde_json::to_value(&made)?, holds))
}
