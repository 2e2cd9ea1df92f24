//! Logs that stay useful for security analysis and carry no personal data.
//!
//! This crate owns the last step before a log line is written: [`RedactingMakeWriter`] wraps any
//! `tracing-subscriber` writer and passes every line through [`LogRedaction`] — the rules of
//! `gdpr-pii`'s [`Redactor`] (e-mails, IPs pseudonymised the way the domain does, bearer tokens,
//! API keys, secret assignments) and, for JSON lines, the names of every field the inventory
//! classifies as personal. It also owns log files (daily rotation) and their deletion past the
//! log retention period, and the canary scan of those files behind the attestations' log check
//! (the `LogScanner` port). Nobody keeps a second hand-written list of what is personal.
//!
//! It must not decide what to log: callers log ids; this is the safety net under them.

mod files;
mod redaction;
mod scanner;

pub use files::{
    FileScan, log_file_date, prune_log_files, remove_log_lines, rolling_files, scan_log_files,
};
pub use gdpr_pii::{Redactor, StructuredRedactor};
pub use redaction::{LogRedaction, RedactingMakeWriter, RedactingWriter};
pub use scanner::{LOG_FILE_PREFIX, LogFileScanner};
