//! `gdpr`: the compliance core's binary. `gdpr serve` (the default) runs the HTTP service;
//! `migrate`, `keygen`, `openapi`, `backup`, `backups`, `verify`, `restore`, `prune`,
//! `expire`, `attest`, `offboard`, `handover`, `delete-backups` and `audit verify` are operator
//! commands.
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use gdpr_server::config::Config;
use gdpr_server::{StartError, application, open_store};
use secrecy::ExposeSecret;

/// The GDPR compliance core of a multi-tenant SaaS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A configuration file, layered over the embedded defaults (env GDPR_* wins over both).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// Listen on this address instead of the configured one.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a fresh random master key (base64) for security.master_key.
    Keygen,
    /// Print the OpenAPI document.
    Openapi,
    /// Delete backups past retention (never a tenant's newest verified one); prints what was
    /// decided and deleted, per tenant, as JSON.
    Prune {
        /// Only decide and print; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
    /// Back up every tenant (or one), then prune; prints what was written as JSON. For cron
    /// when the in-process daily backup is off.
    Backup {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
    /// List a tenant's complete backups as JSON, oldest first.
    Backups {
        /// The tenant's id.
        #[arg(long)]
        tenant: uuid::Uuid,
    },
    /// Decrypt every retained backup and check it against its manifest (needs
    /// backups.decryption_key_file); exits non-zero if any is damaged.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
    /// Restore a tenant from its newest (or the given) backup into the configured database,
    /// replaying tombstones so that no erased subject comes back.
    Restore {
        /// The tenant's id.
        #[arg(long)]
        tenant: uuid::Uuid,
        /// The backup's id (default: the newest complete one).
        #[arg(long)]
        backup: Option<String>,
        /// Replace the tenant's current data if the database holds it.
        #[arg(long)]
        replace: bool,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Attest every tenant (or one) now, as the daily job does: what was checked and found,
    /// appended to each tenant's hash-chained attestations; prints them as JSON and exits
    /// non-zero if a check failed.
    Attest {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
    /// Expire every tenant's (or one tenant's) records and inactive subjects now, as the daily
    /// job does; prints what was done per tenant as JSON.
    Expire {
        /// Only say what would be expired; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
    /// A tenant's offboarding (the end of its contract): schedule it (its keys refused from
    /// now, its data deleted after the grace period), cancel it, or delete now every tenant
    /// whose grace period is over, as the hourly job does (prints the receipts as JSON).
    Offboard {
        /// The tenant to schedule or cancel.
        #[arg(long, required_unless_present = "run")]
        tenant: Option<uuid::Uuid>,
        /// Days before its data goes (default 30).
        #[arg(long, conflicts_with_all = ["cancel", "run"])]
        grace_days: Option<u32>,
        /// Cancel the scheduled offboarding.
        #[arg(long, conflicts_with = "run")]
        cancel: bool,
        /// Delete every tenant whose grace period is over, now.
        #[arg(long)]
        run: bool,
    },
    /// Hand a tenant's data over (Art. 28(3)(g) "return"): every subject's access export, one
    /// JSON line each after a header line, OpenPGP-encrypted to the keys in a file.
    Handover {
        /// The tenant.
        #[arg(long)]
        tenant: uuid::Uuid,
        /// A file of ASCII-armored OpenPGP public keys to encrypt to.
        #[arg(long)]
        recipients: PathBuf,
        /// Where to write the encrypted bundle (created; an existing file is refused).
        #[arg(long)]
        out: PathBuf,
    },
    /// A tenant's console users (`/console`): add, list, reset a password, remove. Prints
    /// JSON; a password appears once, in this output.
    ConsoleUser {
        #[command(subcommand)]
        action: ConsoleUserCommand,
    },
    /// Delete every backup of a tenant (the customer asked); prints the receipt as JSON.
    DeleteBackups {
        /// The tenant's id.
        #[arg(long)]
        tenant: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum ConsoleUserCommand {
    /// Create a console user; prints them with their password (shown this once).
    Add {
        /// The tenant.
        #[arg(long)]
        tenant: uuid::Uuid,
        /// The address they sign in with.
        #[arg(long)]
        email: String,
        /// `dpo` (works requests, breaches, erasures, exports) or `viewer` (reads).
        #[arg(long, value_parser = ["dpo", "viewer"])]
        role: String,
    },
    /// List a tenant's console users.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: uuid::Uuid,
    },
    /// Give a user a new password (printed this once); their sessions end.
    ResetPassword {
        /// The tenant.
        #[arg(long)]
        tenant: uuid::Uuid,
        /// The user's id.
        #[arg(long)]
        user: uuid::Uuid,
    },
    /// Remove a user; their sessions end at once.
    Remove {
        /// The tenant.
        #[arg(long)]
        tenant: uuid::Uuid,
        /// The user's id.
        #[arg(long)]
        user: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the chains (a tenant's, or every tenant's and the system one): any edited,
    /// removed or reordered record is named; exits non-zero if one is found.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
}

fn init_logging(
    config: &Config,
) -> Result<std::sync::Arc<gdpr_telemetry::LogRedaction>, StartError> {
    let redaction = gdpr_server::logging::init(config)?;
    // A panic's message can hold anything a value was formatted into: log where it happened,
    // through the redacting writer, and never the message itself (the default hook would print
    // it raw on stderr).
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            location,
            "a thread panicked (its message is withheld: it may hold personal data)"
        );
    }));
    Ok(redaction)
}

async fn run(cli: Cli) -> Result<(), StartError> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Keygen => {
            let (_, encoded) = gdpr_store_seaorm::MasterKey::generate();
            println!("{}", encoded.expose_secret());
        }
        Command::Openapi => {
            // The document does not depend on data: an in-memory SQLite store is enough.
            config.database.url = "sqlite::memory:".into();
            config.security.master_key = Some(gdpr_store_seaorm::MasterKey::generate().1);
            // Nor on backups: no folder is created, no bucket needed.
            config.backups.storage = gdpr_server::config::BackupStorage::Local;
            config.backups.directory = std::env::temp_dir();
            let store = open_store(&config, false).await?;
            println!(
                "{}",
                gdpr_http::openapi_json(Arc::new(application(&config, store)?))
            );
        }
        Command::Prune { dry_run, tenant } => {
            let store = open_store(&config, false).await?;
            let app = application(&config, store)?;
            let reports = match tenant {
                Some(id) => {
                    let tenant = gdpr_pii::TenantId::from_uuid(id);
                    app.tenant(tenant).await?;
                    vec![app.prune_backups(tenant, dry_run).await?]
                }
                None => app.prune_every_tenant(dry_run).await?,
            };
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
        Command::DeleteBackups { tenant } => {
            // No log lines: stdout carries the receipt alone; the audit log records the deletion.
            let store = open_store(&config, false).await?;
            let app = application(&config, store)?;
            let tenant = gdpr_pii::TenantId::from_uuid(tenant);
            let receipt = app
                .delete_tenant_backups(gdpr_audit::Actor::Operator, tenant)
                .await
                .map_err(|e| {
                    format!(
                        "cannot delete the backups of tenant {tenant}: {}",
                        e.for_operators()
                    )
                })?;
            println!("{}", serde_json::to_string_pretty(&receipt)?);
        }
        Command::Backup { tenant } => {
            let (summary, ok) =
                gdpr_server::operator::backup(&config, tenant.map(gdpr_pii::TenantId::from_uuid))
                    .await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            if !ok {
                return Err("some backups failed (see above)".into());
            }
        }
        Command::Audit {
            action: AuditCommand::Verify { tenant },
        } => {
            let (chains, ok) = gdpr_server::operator::verify_audit(
                &config,
                tenant.map(gdpr_pii::TenantId::from_uuid),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&chains)?);
            if !ok {
                return Err("an audit chain is broken (see above)".into());
            }
        }
        Command::Attest { tenant } => {
            let (made, holds) =
                gdpr_server::operator::attest(&config, tenant.map(gdpr_pii::TenantId::from_uuid))
                    .await?;
            println!("{}", serde_json::to_string_pretty(&made)?);
            if !holds {
                return Err("a check failed (see the attestations above)".into());
            }
        }
        Command::Expire { dry_run, tenant } => {
            let reports = gdpr_server::operator::expire(
                &config,
                tenant.map(gdpr_pii::TenantId::from_uuid),
                dry_run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
        Command::Offboard {
            tenant,
            grace_days,
            cancel,
            run,
        } => {
            let done = gdpr_server::operator::offboard(
                &config,
                tenant.map(gdpr_pii::TenantId::from_uuid),
                grace_days,
                cancel,
                run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
        }
        Command::Handover {
            tenant,
            recipients,
            out,
        } => {
            let summary = gdpr_server::operator::handover(
                &config,
                gdpr_pii::TenantId::from_uuid(tenant),
                &recipients,
                &out,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Command::ConsoleUser { action } => {
            use gdpr_server::operator::ConsoleUserAction as A;
            let (tenant, action) = match action {
                ConsoleUserCommand::Add {
                    tenant,
                    email,
                    role,
                } => {
                    let role = gdpr_app::ConsoleRole::parse(&role)
                        .ok_or("--role must be dpo or viewer")?;
                    (tenant, A::Add { email, role })
                }
                ConsoleUserCommand::List { tenant } => (tenant, A::List),
                ConsoleUserCommand::ResetPassword { tenant, user } => (
                    tenant,
                    A::ResetPassword(gdpr_pii::ConsoleUserId::from_uuid(user)),
                ),
                ConsoleUserCommand::Remove { tenant, user } => {
                    (tenant, A::Remove(gdpr_pii::ConsoleUserId::from_uuid(user)))
                }
            };
            let done = gdpr_server::operator::console_user(
                &config,
                gdpr_pii::TenantId::from_uuid(tenant),
                action,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
        }
        Command::Backups { tenant } => {
            let list =
                gdpr_server::operator::list(&config, gdpr_pii::TenantId::from_uuid(tenant)).await?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Command::Verify { tenant } => {
            let (outcomes, ok) =
                gdpr_server::operator::verify(&config, tenant.map(gdpr_pii::TenantId::from_uuid))
                    .await?;
            println!("{}", serde_json::to_string_pretty(&outcomes)?);
            if !ok {
                return Err("some backups are damaged (see above)".into());
            }
        }
        Command::Restore {
            tenant,
            backup,
            replace,
        } => {
            let report = gdpr_server::operator::restore(
                &config,
                gdpr_pii::TenantId::from_uuid(tenant),
                backup.as_deref(),
                replace,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Migrate => {
            init_logging(&config)?;
            open_store(&config, true).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let redaction = init_logging(&config)?;
            gdpr_server::serve(&config, redaction).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gdpr: {e}");
            ExitCode::FAILURE
        }
    }
}
