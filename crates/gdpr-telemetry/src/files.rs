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
    // Readable by the service's user alone (new folders; an existing one keeps its mode).
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(dir)?;
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

/// What [`scan_log_files`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileScan {
    /// Files read.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Lines the redaction would change: personal data that reached a file.
    pub leaks: u64,
}

/// The canary scan: reads the newest `last` daily log files of `dir` and counts the lines that
/// `redaction` would still change (compared as JSON values for JSON lines, so that key order
/// does not count). Written lines went through the same redaction, so a clean file has none.
///
/// # Errors
/// When the folder or a file cannot be read.
pub fn scan_log_files(
    dir: &Path,
    prefix: &str,
    redaction: &crate::LogRedaction,
    last: usize,
) -> std::io::Result<FileScan> {
    let mut days: Vec<(Date, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|path| {
            let day = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| log_file_date(n, prefix))?;
            Some((day, path))
        })
        .collect();
    days.sort();
    let mut scan = FileScan::default();
    for (_, path) in days.iter().rev().take(last) {
        scan.files += 1;
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if std::io::BufRead::read_until(&mut file, b'\n', &mut buf)? == 0 {
                break;
            }
            // A last line without its newline may be one still being written: left for later.
            let Some(line) = buf.strip_suffix(b"\n") else {
                break;
            };
            let line = String::from_utf8_lossy(line).into_owned();
            if line.trim().is_empty() {
                continue;
            }
            scan.lines += 1;
            let redacted = redaction.redact_line(&line);
            let same = match (
                serde_json::from_str::<serde_json::Value>(&line),
                serde_json::from_str::<serde_json::Value>(&redacted),
            ) {
                (Ok(a), Ok(b)) => a == b,
                _ => redacted == line,
            };
            if !same {
                scan.leaks += 1;
            }
        }
    }
    Ok(scan)
}

/// Removes every line holding `needle` (a tenant's id, when it is offboarded) from the daily
/// log files of `dir`; returns how many lines went. Each file is rewritten in place (the
/// writer appends to the same file), so a line appended while a file is rewritten (a few
/// milliseconds) may be lost with it.
///
/// # Errors
/// When the folder or a file cannot be read or written.
pub fn remove_log_lines(dir: &Path, prefix: &str, needle: &str) -> std::io::Result<u64> {
    use std::io::{Seek, Write};
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| log_file_date(n, prefix))
            .is_some();
        if !is_log {
            continue;
        }
        let text = std::fs::read(&path)?;
        let needle = needle.as_bytes();
        let holds = |line: &[u8]| line.windows(needle.len()).any(|w| w == needle);
        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        let gone = lines.iter().filter(|l| holds(l)).count();
        if gone == 0 {
            continue;
        }
        let kept: Vec<u8> = lines
            .into_iter()
            .filter(|l| !holds(l))
            .flatten()
            .copied()
            .collect();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(&kept)?;
        file.sync_all()?;
        removed += gone as u64;
    }
    Ok(removed)
}
