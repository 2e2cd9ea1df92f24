//! Log files: one per UTC day, deleted once past the log retention period.

use std::path::{Path, PathBuf};

use gdpr_retention::{RetentionPeriod, log_file_expired};
use time::Date;
use time::macros::format_description;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

/// A writer to `dir/<prefix>.YYYY-MM-DD`, starting a new file every UTC day.
///
/// # Errors
/// When the folder cannot be created or written.
pub fn rolling_files(dir: &Path, prefix: &str) -> std::io::Result<RollingFileAppender> {
    std::fs::create_dir_all(dir)?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(prefix)
        .build(dir)
        .map_err(std::io::Error::other)
}

/// The day a log file named `<prefix>.YYYY-MM-DD` holds, if the name is one.
#[must_use]
pub fn log_file_date(name: &str, prefix: &str) -> Option<Date> {
    let day = name.strip_prefix(prefix)?.strip_prefix('.')?;
    Date::parse(day, format_description!("[year]-[month]-[day]")).ok()
}

/// Deletes the log files of `dir` past `retention` on `today`; returns what it deleted.
/// Files that are not this prefix's daily logs are left alone.
///
/// # Errors
/// When the folder cannot be read or a file cannot be deleted.
pub fn prune_log_files(
    dir: &Path,
    prefix: &str,
    retention: RetentionPeriod,
    today: Date,
) -> std::io::Result<Vec<PathBuf>> {
    let mut deleted = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(day) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| log_file_date(n, prefix))
        else {
            continue;
        };
        if log_file_expired(day, retention, today) {
            match std::fs::remove_file(&path) {
                Ok(()) => deleted.push(path),
                // Another process sharing the folder got there first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    deleted.sort();
    Ok(deleted)
}
