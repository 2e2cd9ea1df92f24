//! The redacting writer under a real `tracing` subscriber, and log-file retention on disk.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gdpr_pii::PseudonymisationPolicy;
use gdpr_retention::RetentionPeriod;
use gdpr_telemetry::{LogRedaction, RedactingMakeWriter, prune_log_files, scan_log_files};
use time::macros::date;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fixed set of events with personal data, secrets and identifiers, through the redacting
/// writer in the given format.
fn redacted_lines(json: bool) -> String {
    let buffer = Buffer::default();
    let redaction = Arc::new(LogRedaction::new(
        PseudonymisationPolicy::default(),
        &["gdpr_"],
    ));
    redaction.set_personal_fields(["contractor_phone".to_owned()]);
    let sink = buffer.clone();
    let writer = RedactingMakeWriter::new(move || sink.clone(), redaction);
    let builder = tracing_subscriber::fmt()
        .without_time()
        .with_ansi(false)
        .with_writer(writer);
    let events = || {
        tracing::info!(
            target: "access",
            method = "POST",
            path = "/v1/subjects/lookup?email=ana%40example.com",
            status = 404,
            client = "203.0.113.77",
            "request"
        );
        tracing::info!(
            contractor_phone = "+33 6 12 34 56 78",
            subject = "5b8d5c1e-3f0a-4d47-9a0e-0c6f1f6f2a11",
            "record created"
        );
        tracing::warn!(
            target: "security",
            event = "auth_failed",
            source = "2001:db8:85a3::8a2e:370:7334",
            "rejected key gdpr_0123456789abcdef0123456789abcdef"
        );
        tracing::error!(
            password = "hunter2",
            "smtp refused ana.lopez@example.com: Authorization: Bearer abc.def.ghi"
        );
    };
    if json {
        tracing::subscriber::with_default(builder.json().finish(), events);
    } else {
        tracing::subscriber::with_default(builder.finish(), events);
    }
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn redacted_log_lines_match_the_reviewed_snapshot() {
    let out = format!(
        "# JSON (the default)\n{}# Text\n{}",
        redacted_lines(true),
        redacted_lines(false)
    );
    gdpr_testkit::assert_snapshot(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/snapshots/redacted.log"
        )),
        &out,
    );
}

#[test]
fn events_with_personal_data_are_written_without_it() {
    let buffer = Buffer::default();
    let redaction = Arc::new(LogRedaction::new(
        PseudonymisationPolicy::default(),
        &["gdpr_"],
    ));
    redaction.set_personal_fields(["nickname".to_owned()]);
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(RedactingMakeWriter::new(move || sink.clone(), redaction))
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(
            email = "canary.log@canary-mail.example",
            nickname = "Zzyzx",
            subject = "42",
            "created"
        );
        tracing::warn!("failed login for canary.log@canary-mail.example from 198.51.100.213");
        tracing::error!(
            header = "Authorization: Bearer s3cr3t-t0ken",
            "upstream refused"
        );
    });
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.lines().count(), 3, "{out}");
    for leak in ["canary", "Zzyzx", "198.51.100.213", "s3cr3t"] {
        assert!(!out.contains(leak), "{leak} leaked: {out}");
    }
    assert!(
        out.contains(r#""subject":"42""#) && out.contains("198.51.100.0/24"),
        "{out}"
    );
}

#[test]
fn an_offboarded_tenants_log_lines_are_removed_and_every_other_line_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (gone, kept) = (
        "01a24c64-decc-7246-9331-6f6764d3a425",
        "01a24c64-deb9-750f-b44e-84cfa02e6c4c",
    );
    let day = |tenant: &str, n: u32| {
        format!("{{\"event\":\"api_key_created\",\"tenant\":\"{tenant}\",\"n\":{n}}}\n")
    };
    std::fs::write(
        dir.path().join("gdpr.log.2026-12-05"),
        [day(gone, 1), day(kept, 2), day(gone, 3)].concat(),
    )
    .unwrap();
    std::fs::write(dir.path().join("gdpr.log.2026-12-06"), day(kept, 4)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), day(gone, 5)).unwrap();
    assert_eq!(
        gdpr_telemetry::remove_log_lines(dir.path(), "gdpr.log", gone).unwrap(),
        2
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gdpr.log.2026-12-05")).unwrap(),
        day(kept, 2)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gdpr.log.2026-12-06")).unwrap(),
        day(kept, 4)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        day(gone, 5),
        "only the service's own daily log files"
    );
    assert_eq!(
        gdpr_telemetry::remove_log_lines(dir.path(), "gdpr.log", gone).unwrap(),
        0
    );
}

#[test]
fn log_files_past_retention_are_deleted_and_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "gdpr.log.2026-01-01",
        "gdpr.log.2026-05-30",
        "gdpr.log.2026-11-27",
        "notes.txt",
        "gdpr.log.bad",
    ] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    let deleted = prune_log_files(
        dir.path(),
        "gdpr.log",
        RetentionPeriod::days(180).unwrap(),
        date!(2026 - 11 - 27),
    )
    .unwrap();
    let names: Vec<String> = deleted
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["gdpr.log.2026-01-01", "gdpr.log.2026-05-30"]);
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["gdpr.log.2026-11-27", "gdpr.log.bad", "notes.txt"]);
}

#[test]
fn rolling_files_are_named_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = gdpr_telemetry::rolling_files(dir.path(), "gdpr.log").unwrap();
    writer.write_all(b"line\n").unwrap();
    writer.flush().unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(
        gdpr_telemetry::log_file_date(&names[0], "gdpr.log").is_some(),
        "{names:?}"
    );
}

#[test]
fn the_canary_scan_finds_personal_data_only_where_redaction_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let redaction = LogRedaction::new(PseudonymisationPolicy::default(), &["gdpr_"]);
    // What the redacting writer wrote, in both formats: clean, whatever its key order.
    let clean = format!("{}{}", redacted_lines(true), redacted_lines(false));
    std::fs::write(dir.path().join("gdpr.log.2026-11-27"), &clean).unwrap();
    let scan = scan_log_files(dir.path(), "gdpr.log", &redaction, 7).unwrap();
    assert_eq!((scan.files, scan.leaks), (1, 0), "{clean}");
    assert_eq!(scan.lines, clean.lines().count() as u64);

    // A line written around the redaction (an e-mail, a client address, a form's personal
    // field the redaction has learned) is a leak; a last line still being written is not read.
    redaction.set_personal_fields(["contractor_phone".to_owned()]);
    std::fs::write(
        dir.path().join("gdpr.log.2026-11-28"),
        "{\"message\":\"sent to ana.lopez@example.com\"}\nclient 203.0.113.77 connected\nok\n\
         {\"contractor_phone\":\"+33 6 12 34 56 78\"}\n{\"message\":\"torn",
    )
    .unwrap();
    let scan = scan_log_files(dir.path(), "gdpr.log", &redaction, 7).unwrap();
    assert_eq!((scan.files, scan.leaks), (2, 3));
    // Only the newest files are read.
    let newest = scan_log_files(dir.path(), "gdpr.log", &redaction, 1).unwrap();
    assert_eq!((newest.files, newest.lines, newest.leaks), (1, 4, 3));
}

/// The `LogScanner` port on the log files: the two newest daily files of the folder, through
/// the redaction they were written with; no folder configured, nothing to report.
#[tokio::test]
async fn the_log_scanner_port_reports_the_newest_files_of_its_folder() {
    use gdpr_ports::LogScanner as _;
    use gdpr_telemetry::{LOG_FILE_PREFIX, LogFileScanner};
    let dir = tempfile::tempdir().unwrap();
    let redaction = std::sync::Arc::new(LogRedaction::new(
        PseudonymisationPolicy::default(),
        &["gdpr_"],
    ));
    for (day, line) in [
        (
            "2026-11-26",
            "{\"message\":\"old leak ana.lopez@example.com\"}\n",
        ),
        ("2026-11-27", "{\"message\":\"clean\"}\n"),
        (
            "2026-11-28",
            "{\"message\":\"sent to ana.lopez@example.com\"}\nok\n",
        ),
    ] {
        std::fs::write(dir.path().join(format!("{LOG_FILE_PREFIX}.{day}")), line).unwrap();
    }
    let scanner = LogFileScanner::new(Some(dir.path().to_owned()), redaction.clone());
    let scan = scanner.scan().await.unwrap().expect("a folder to scan");
    assert_eq!((scan.files, scan.lines, scan.leaks), (2, 3, 1));
    assert!(
        LogFileScanner::new(None, redaction)
            .scan()
            .await
            .unwrap()
            .is_none()
    );
}
