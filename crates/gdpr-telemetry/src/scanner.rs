//! The canary scan of the service's own log files, for attestations: the `LogScanner` port
//! on the files this crate writes.

use std::path::PathBuf;
use std::sync::Arc;

use gdpr_ports::{LogScan, LogScanner};

use crate::{LogRedaction, scan_log_files};

/// The file name prefix of daily log files.
pub const LOG_FILE_PREFIX: &str = "gdpr.log";

/// How many daily log files the canary scan reads: today's and yesterday's, the span since the
/// previous daily attestation.
const SCANNED_FILES: usize = 2;

/// The canary scan of the log files a deployment writes: each line is put through the
/// redaction again, and a line it would change held personal data.
pub struct LogFileScanner {
    directory: Option<PathBuf>,
    redaction: Arc<LogRedaction>,
}

impl LogFileScanner {
    /// The scanner of `directory` (none: logs go to stdout only, nothing to scan), with the
    /// redaction the files were written through.
    #[must_use]
    pub const fn new(directory: Option<PathBuf>, redaction: Arc<LogRedaction>) -> Self {
        Self {
            directory,
            redaction,
        }
    }
}

#[async_trait::async_trait]
impl LogScanner for LogFileScanner {
    async fn scan(&self) -> Result<Option<LogScan>, String> {
        let Some(directory) = self.directory.clone() else {
            return Ok(None);
        };
        let redaction = self.redaction.clone();
        let scan = tokio::task::spawn_blocking(move || {
            scan_log_files(&directory, LOG_FILE_PREFIX, &redaction, SCANNED_FILES)
        })
        .await
        .map_err(|e| format!("the scan stopped: {e}"))?
        .map_err(|e| format!("reading the log folder: {}", e.kind()))?;
        Ok(Some(LogScan {
            files: scan.files,
            lines: scan.lines,
            leaks: scan.leaks,
        }))
    }

    async fn forget_tenant(&self, tenant: gdpr_pii::TenantId) -> Result<u64, String> {
        let Some(directory) = self.directory.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || {
            crate::remove_log_lines(&directory, LOG_FILE_PREFIX, &tenant.to_string())
        })
        .await
        .map_err(|e| format!("the clean-up stopped: {e}"))?
        .map_err(|e| format!("rewriting the log files: {}", e.kind()))
    }
}
