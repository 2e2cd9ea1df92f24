//! Repository automation: `cargo xtask ci` runs what CI runs; the tidy tests (in `tidy.rs`,
//! part of `cargo test --workspace`) check the repository's own rules.
#![allow(
    clippy::print_stdout,
    reason = "xtask is a command-line tool: test output and the closing summary go to stdout"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

#[cfg(test)]
mod tidy;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci              cargo fmt --check, cargo clippy -D warnings, then the whole test suite
  bench storage   encryption-at-rest and HTTP costs against same-run baselines (needs wrk)
  bench redact    log redaction throughput against grep on a 200 MB access log
  bench backup    backup and restore of 1,000,000 records on PostgreSQL against pg_dump | zstd | gpg
  bench erasure   batch erasure of 1,000,000 records and a 10,000-record export against raw SQL";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// Runs each step in turn and stops at the first failure, saying which. The test step's
/// output is passed through and its per-binary results are added up into one closing line.
fn ci() -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--all", "--", "--check"]),
        (
            "lint",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("test", &["test", "--workspace", "--locked"]),
    ];
    let mut totals = Totals::default();
    for (name, args) in steps {
        eprintln!("==> xtask ci: {name}: cargo {}", args.join(" "));
        let child = Command::new(&cargo)
            .args(args)
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                eprintln!("==> xtask ci: {name} could not start cargo: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                totals.add(&line);
                println!("{line}");
            }
        }
        match child.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("==> xtask ci: {name} FAILED ({s})");
                println!("tests: {}", totals.summary());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("==> xtask ci: {name} did not finish: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("==> xtask ci: all steps passed");
    if totals.passed == 0 {
        eprintln!("==> xtask ci: no test ran");
        return ExitCode::FAILURE;
    }
    println!("tests: {}", totals.summary());
    ExitCode::SUCCESS
}

/// Runs a benchmark suite in release mode; its report goes to stdout.
fn bench(which: Option<&str>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = match which {
        Some("storage") | None => ("gdpr-server", "storage"),
        Some("redact") => ("gdpr-telemetry", "redact"),
        Some("backup") => ("gdpr-server", "backup"),
        Some("erasure") => ("gdpr-server", "erasure"),
        Some(other) => {
            eprintln!("unknown benchmark '{other}'\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let status = Command::new(cargo)
        .args(["bench", "--locked", "-p", target.0, "--bench", target.1])
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Test counts added up over every `test result:` line cargo prints.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Totals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.skipped += n,
                _ => {}
            }
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn results_of_every_test_binary_are_added_up() {
        let mut t = Totals::default();
        t.add("test result: ok. 37 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.06s");
        t.add("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        t.add("running 3 tests");
        assert_eq!(
            t,
            Totals {
                passed: 40,
                failed: 2,
                skipped: 1
            }
        );
        assert_eq!(t.summary(), "40 passed, 2 failed, 1 skipped");
    }
}
