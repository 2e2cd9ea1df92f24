//! Logging set-up: JSON (or pretty) lines on stdout and, optionally, daily files; every line
//! redacted by `gdpr-telemetry` before it is written.

use std::sync::Arc;

use gdpr_app::{App, TOKEN_PREFIX};
use gdpr_ports::Ports;
use gdpr_telemetry::{LOG_FILE_PREFIX, LogFileScanner, LogRedaction, RedactingMakeWriter};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

use crate::config::Config;

/// Installs the global subscriber. Returns the redaction, so that the server can teach it the
/// personal fields of every tenant's forms.
///
/// # Errors
/// When the log folder cannot be created.
pub fn init(config: &Config) -> std::io::Result<Arc<LogRedaction>> {
    let redaction = Arc::new(LogRedaction::new(config.pseudonymisation, &[TOKEN_PREFIX]));
    // The canary scan re-reads the files with the very redaction that wrote them, personal
    // fields of the forms included.
    let _ = INSTALLED.set(redaction.clone());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.logging.level));
    let files = config
        .logging
        .directory
        .as_deref()
        .map(|dir| gdpr_telemetry::rolling_files(dir, LOG_FILE_PREFIX))
        .transpose()?;
    let stdout = RedactingMakeWriter::new(std::io::stdout, redaction.clone());
    macro_rules! install {
        ($writer:expr) => {
            if config.logging.format == "pretty" {
                tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_ansi(false)
                    .with_writer($writer)
                    .init();
            } else {
                tracing_subscriber::fmt()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_env_filter(filter)
                    .with_writer($writer)
                    .init();
            }
        };
    }
    match files {
        Some(files) => install!(stdout.and(RedactingMakeWriter::new(files, redaction.clone()))),
        None => install!(stdout),
    }
    Ok(redaction)
}

/// Teaches the redaction the personal field names of every tenant's forms.
///
/// # Errors
/// Storage errors.
pub async fn learn_personal_fields<P: Ports>(
    app: &App<P>,
    redaction: &LogRedaction,
) -> Result<usize, gdpr_app::AppError> {
    let mut names = std::collections::BTreeSet::new();
    for tenant in app.tenants().await? {
        let ctx = gdpr_app::Ctx::new(tenant.id, gdpr_audit::Actor::System);
        for form in app.forms(ctx).await? {
            names.extend(
                form.schema
                    .classification()
                    .filter(|(_, c)| c.is_personal())
                    .map(|(name, _)| name.to_owned()),
            );
        }
    }
    let count = names.len();
    redaction.set_personal_fields(names);
    Ok(count)
}

/// The redaction the installed subscriber writes through (none in tests and in commands
/// that install no logging).
static INSTALLED: std::sync::OnceLock<Arc<LogRedaction>> = std::sync::OnceLock::new();

/// The canary scan of `config`'s log folder (none configured: logs go to stdout only), with
/// the redaction logging writes through (the product's rules alone when none is installed).
/// Each replica scans the folder it writes to.
#[must_use]
pub fn log_scanner(config: &Config) -> LogFileScanner {
    LogFileScanner::new(
        config.logging.directory.clone(),
        INSTALLED.get().cloned().unwrap_or_else(|| {
            Arc::new(LogRedaction::new(config.pseudonymisation, &[TOKEN_PREFIX]))
        }),
    )
}
