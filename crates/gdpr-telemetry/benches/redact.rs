//! `cargo xtask bench redact`: redaction throughput on a synthetic access log (text lines, and
//! the JSON lines the server writes by default), against
//! `grep -E -c` with the same e-mail and IP patterns on the same file in the same run, and peak
//! memory on a small and a large corpus (it must not grow with the input).
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gdpr_pii::PseudonymisationPolicy;
use gdpr_telemetry::LogRedaction;

/// Writes a synthetic log of about `megabytes`: as text lines, or as the JSON lines the server
/// writes by default (structured fields, which the redactor parses and re-serialises).
fn corpus(path: &Path, megabytes: usize, json: bool) -> usize {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut written, mut n) = (0, 0usize);
    while written < megabytes * 1024 * 1024 {
        let (ip4, ip6) = (
            format!("203.0.{}.{}", n % 250, 1 + n % 250),
            format!("2001:db8:{:x}::{:x}", n % 65_000, 1 + n % 4_000),
        );
        let time = format!("2026-11-27T10:{:02}:{:02}Z", n % 60, n % 59);
        let line = match (n % 3, json) {
            (0, false) => format!(
                "{time} GET /v1/subjects/{n:08x} 200 12ms user=person{n}@example.org ip={ip4} ua=\"curl/8.5\"\n"
            ),
            (0, true) => {
                format!(
                    r#"{{"timestamp":"{time}","level":"INFO","fields":{{"message":"request","method":"GET","path":"/v1/subjects/{n:08x}","status":200,"ms":12,"user":"person{n}@example.org","client":"{ip4}"}},"target":"access"}}"#
                ) + "\n"
            }
            (1, false) => {
                format!("{time} POST /v1/records 201 8ms request_id={n:016x} tenant=4f1c2a\n")
            }
            (1, true) => {
                format!(
                    r#"{{"timestamp":"{time}","level":"INFO","fields":{{"message":"request","method":"POST","path":"/v1/records","status":201,"request_id":"{n:016x}","tenant":"4f1c2a"}},"target":"access"}}"#
                ) + "\n"
            }
            (_, false) => format!("{time} WARN login failed from {ip6} for user{n}@example.com\n"),
            (_, true) => {
                format!(
                    r#"{{"timestamp":"{time}","level":"WARN","fields":{{"message":"login failed for user{n}@example.com","source":"{ip6}"}},"target":"security"}}"#
                ) + "\n"
            }
        };
        written += line.len();
        out.write_all(line.as_bytes()).unwrap();
        n += 1;
    }
    out.flush().unwrap();
    written
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn redact_file(path: &Path, redaction: &LogRedaction) -> (Duration, usize) {
    let started = Instant::now();
    let mut sink = std::io::sink();
    let mut changed = 0;
    let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        let out = redaction.redact_line(line.trim_end());
        if out.len() != line.trim_end().len() || out != line.trim_end() {
            changed += 1;
        }
        sink.write_all(out.as_bytes()).unwrap();
        line.clear();
    }
    (started.elapsed(), changed)
}

fn grep(path: &Path) -> Option<(Duration, usize)> {
    let started = Instant::now();
    let out = Command::new("grep")
        .args(["-E", "-c", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|([0-9]{1,3}\.){3}[0-9]{1,3}|[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:]*"])
        .arg(path)
        .output()
        .ok()?;
    let took = started.elapsed();
    let count = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((took, count))
}

fn main() {
    let large: usize = std::env::var("REDACT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let redaction = LogRedaction::new(PseudonymisationPolicy::default(), &["gdpr_"]);
    println!("## Log redaction (release build)\n");
    println!(
        "| corpus | format | ours | grep -E -c (finding only) | ratio (time) | lines changed | peak RSS after |\n|---|---|---|---|---|---|---|"
    );
    for (format, megabytes) in [
        ("text", large / 10),
        ("text", large),
        ("json", large / 10),
        ("json", large),
    ] {
        let path = dir.path().join(format!("access-{megabytes}.{format}"));
        let bytes = corpus(&path, megabytes, format == "json");
        let (ours, changed) = redact_file(&path, &redaction);
        let peak = peak_rss_kib();
        let (base, matched) = grep(&path).unwrap_or((Duration::ZERO, 0));
        let mb = bytes as f64 / 1_048_576.0;
        println!(
            "| {megabytes} MB | {format} | {:.0} MB/s | {:.0} MB/s ({matched} lines) | {:.2}x | {changed} | {} MiB |",
            mb / ours.as_secs_f64(),
            mb / base.as_secs_f64().max(1e-9),
            ours.as_secs_f64() / base.as_secs_f64().max(1e-9),
            peak / 1024
        );
        std::fs::remove_file(&path).unwrap();
    }
}
