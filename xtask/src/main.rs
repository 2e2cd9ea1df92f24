//! Repository automation: `cargo xtask ci` runs what CI runs; the tidy tests (in `tidy.rs`,
//! part of `cargo test --workspace`) check the repository's own rules.
#![allow(
    clippy::print_stdout,
    reason = "xtask is a command-line tool: test output and the closing summary go to stdout"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

mod setup;
#[cfg(test)]
mod tidy;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci              cargo fmt --check, cargo clippy -D warnings, cargo doc -D warnings, the
                  whole test suite (doc-tests included), then
                  the API fuzzing (schemathesis from PyPI, .ci/api-fuzz) and a 60 s mixed
                  load (wrk, .ci/load)
  fuzz [SECONDS]  each libFuzzer target in xtask/fuzz for SECONDS (default 15) with
                  cargo-fuzz on stable (--sanitizer none); a crash fails and is kept
  fuzz TARGET [SECONDS]
                  one target (parsers, records, backup_readers, redactor)
  bench           every suite below in turn, one report at target/bench-report.md
  bench storage   encryption-at-rest and HTTP costs against same-run baselines (own load driver)
  bench redact    log redaction throughput against grep on a 200 MB access log
  bench backup    backup and restore of 1,000,000 records on PostgreSQL against pg_dump | zstd | gpg
  bench erasure   batch erasure of 1,000,000 records and a 10,000-record export against raw SQL
  bench lifecycle journaled withdrawals, expiring 1,000,000 records, replaying 100,000 entries
  bench paging    a page of subjects at depth 0 and 999,900, by offset and by cursor
  bench cache     how late a PostgreSQL replica hears of another's change (NOTIFY lag)
  bench import    NDJSON imports of 100,000 then 1,000,000 subjects: rate and server memory
  bench webhooks  deliveries per second to a local receiver; withdrawals with and without endpoints
  bench console   every console page's p50/p99 with 100,000 subjects and 10,000 requests, beside its JSON route";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz_with_seed(&args[1..], None),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// A step of `ci`: its name, cargo's arguments, and environment variables.
type Step = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// Runs each step in turn and stops at the first failure, saying which. The test step's
/// output is passed through and its per-binary results are added up into one closing line.
fn ci() -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // How long each step took, printed at the end: CI must stay well under 30 minutes on two
    // cores, and this says where the time goes when it does not.
    let mut clock = StepClock::default();
    if let Err(missing) = setup::ensure(&cargo) {
        eprintln!("==> xtask ci: {missing}");
        return ExitCode::FAILURE;
    }
    clock.lap("set-up");
    let steps: [Step; 4] = [
        ("format", &["fmt", "--all", "--", "--check"], &[]),
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
            &[],
        ),
        // The library crates are documented for embedders: a broken link or a missing doc
        // fails here, as a warning would in the lint step.
        (
            "docs",
            &["doc", "--workspace", "--no-deps", "--locked"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        ),
        // Doc-tests included: the examples in the crates' docs run.
        ("test", &["test", "--workspace", "--locked"], &[]),
    ];
    let mut totals = Totals::default();
    for (name, args, env) in steps {
        eprintln!("==> xtask ci: {name}: cargo {}", args.join(" "));
        let child = Command::new(&cargo)
            .args(args)
            .envs(env.iter().copied())
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
            Ok(s) if s.success() => clock.lap(name),
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
    if totals.passed == 0 {
        eprintln!("==> xtask ci: no test ran");
        return ExitCode::FAILURE;
    }
    println!("tests: {}", totals.summary());
    eprintln!("==> xtask ci: fuzz: each libFuzzer target for {CI_FUZZ_SECONDS} s");
    // A fixed seed: from a fresh clone (the committed seeds only) the same inputs come in the
    // same order, so a red run replays; new ground is for longer runs by hand.
    if fuzz_with_seed(&[CI_FUZZ_SECONDS.to_string()], Some(CI_FUZZ_SEED)) != ExitCode::SUCCESS {
        eprintln!("==> xtask ci: fuzz FAILED");
        return ExitCode::FAILURE;
    }
    clock.lap("fuzz");
    // Last, against the served binary: the API fuzzing (schemathesis against the served
    // document) and the 60-second mixed load (gdpr-load, our own driver); see each script.
    for (name, script) in [("api fuzz", "api-fuzz"), ("load", "load")] {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.ci")
            .join(script);
        eprintln!("==> xtask ci: {name}: bash {}", script.display());
        match Command::new("bash").arg(&script).status() {
            Ok(s) if s.success() => clock.lap(name),
            Ok(s) => {
                eprintln!("==> xtask ci: {name} FAILED ({s})");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("==> xtask ci: {name} could not start bash: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("==> xtask ci: all steps passed; {}", clock.summary());
    // The test results again, last: the fuzzing and the load print a lot after them, and a
    // reader (or a tool) looking at the end of a CI log should find them there.
    println!("{}", totals.closing_line());
    ExitCode::SUCCESS
}

/// The wall-clock time of each step of `ci`, in the order they ran.
struct StepClock {
    since: Instant,
    steps: Vec<(&'static str, u64)>,
}

impl Default for StepClock {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            steps: Vec::new(),
        }
    }
}

impl StepClock {
    /// Ends the step `name` (begun when the last one ended) and says how long it took.
    fn lap(&mut self, name: &'static str) {
        let took = self.since.elapsed().as_secs();
        self.since = Instant::now();
        eprintln!("==> xtask ci: {name} passed in {took} s");
        self.steps.push((name, took));
    }

    /// `"2710 s in all: set-up 95 s, format 2 s, ..."`.
    fn summary(&self) -> String {
        let total: u64 = self.steps.iter().map(|(_, s)| s).sum();
        let each: Vec<String> = self
            .steps
            .iter()
            .map(|(name, s)| format!("{name} {s} s"))
            .collect();
        format!("{total} s in all: {}", each.join(", "))
    }
}

/// The libFuzzer targets of `xtask/fuzz`.
const FUZZ_TARGETS: [&str; 4] = ["parsers", "records", "backup_readers", "redactor"];

/// How long CI runs each fuzz target: a smoke run (a crash found in that time fails CI);
/// longer runs are for `cargo xtask fuzz 600` by hand.
const CI_FUZZ_SECONDS: u32 = 15;

/// libFuzzer's seed in CI.
const CI_FUZZ_SEED: u32 = 20_261_128;

/// Runs every fuzz target (or the one named) for some seconds with cargo-fuzz, from the
/// committed seeds plus what earlier runs found (`target/fuzz/corpus`), with libFuzzer's
/// `seed` if given (a random one otherwise). Without the sanitizer,
/// which needs a nightly toolchain: libFuzzer still guides by coverage and catches panics,
/// failed assertions, timeouts and runaway memory.
fn fuzz_with_seed(args: &[String], seed: Option<u32>) -> ExitCode {
    let (targets, seconds): (Vec<&str>, Option<&String>) = match args.first() {
        Some(name) if FUZZ_TARGETS.contains(&name.as_str()) => (vec![name.as_str()], args.get(1)),
        Some(n) if n.parse::<u32>().is_err() => {
            eprintln!("unknown fuzz target '{n}'\n{USAGE}");
            return ExitCode::FAILURE;
        }
        first => (FUZZ_TARGETS.to_vec(), first),
    };
    // At most [TARGET] [SECONDS]; 0 seconds would be "no limit" to libFuzzer.
    let at_most = if targets.len() == 1 { 2 } else { 1 };
    let seconds = seconds.map_or(Ok(15), |s| s.parse::<u32>());
    let (Ok(seconds @ 1..), true) = (seconds, args.len() <= at_most) else {
        eprintln!("usage: cargo xtask fuzz [TARGET] [SECONDS > 0]\n{USAGE}");
        return ExitCode::FAILURE;
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .to_owned();
    let found = Command::new(&cargo).args(["fuzz", "--version"]).output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("==> xtask fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked");
        return ExitCode::FAILURE;
    }
    for target in targets {
        let corpus = root.join("target/fuzz/corpus").join(target);
        let artifacts = root.join("target/fuzz/artifacts").join(target);
        for dir in [&corpus, &artifacts] {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("==> xtask fuzz: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        // libFuzzer prints a line per finding (thousands in 15 s): they go to a log file, and
        // only its closing lines are shown, so that a CI log's tail still holds the test
        // results above it. A failure shows the log's tail.
        let log_path = root.join("target/fuzz/logs").join(format!("{target}.log"));
        let log = log_path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&log_path))
            .and_then(|f| Ok((f.try_clone()?, f)));
        let (log_out, log_err) = match log {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("==> xtask fuzz: cannot create {}: {e}", log_path.display());
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "==> xtask fuzz: {target} for {seconds} s (output in {})",
            log_path.display()
        );
        let status = Command::new(&cargo)
            .current_dir(&root)
            .args([
                "fuzz",
                "run",
                "--fuzz-dir",
                "xtask/fuzz",
                "--sanitizer",
                "none",
            ])
            .args(["--target-dir", "target/fuzz/build", target])
            .arg(&corpus)
            .arg(root.join("xtask/fuzz/seeds").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-rss_limit_mb=2048")
            // One input taking this long is a finding, not something to wait 20 minutes for.
            .arg("-timeout=10")
            .args(seed.map(|s| format!("-seed={s}")))
            .stdout(log_out)
            .stderr(log_err)
            .status();
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        match status {
            Ok(s) if s.success() => {
                for line in fuzz_summary(&text) {
                    eprintln!("==> xtask fuzz: {target}: {line}");
                }
            }
            Ok(s) => {
                let lines: Vec<&str> = text.lines().collect();
                for line in &lines[lines.len().saturating_sub(FAILURE_TAIL)..] {
                    eprintln!("{line}");
                }
                eprintln!(
                    "==> xtask fuzz: {target} FAILED ({s}): above, the last lines of {} (a \
                     crashing input is saved in {})",
                    log_path.display(),
                    artifacts.display()
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("==> xtask fuzz: could not start cargo fuzz: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Lines of a failed step's log shown: enough for a panic and its backtrace.
const FAILURE_TAIL: usize = 80;

/// What a fuzz run's log says in the end: libFuzzer's last status line (coverage, corpus,
/// speed) and its count of runs.
fn fuzz_summary(log: &str) -> Vec<&str> {
    let status = log.lines().rev().find(|l| l.contains("\tDONE "));
    let runs = log.lines().rev().find(|l| l.starts_with("Done "));
    status.into_iter().chain(runs).map(str::trim).collect()
}

/// Every benchmark suite: its name, package and bench target.
const SUITES: [(&str, &str, &str); 10] = [
    ("storage", "gdpr-server", "storage"),
    ("redact", "gdpr-telemetry", "redact"),
    ("backup", "gdpr-server", "backup"),
    ("erasure", "gdpr-server", "erasure"),
    ("lifecycle", "gdpr-server", "lifecycle"),
    ("paging", "gdpr-server", "paging"),
    ("cache", "gdpr-server", "cache"),
    ("import", "gdpr-server", "import"),
    ("webhooks", "gdpr-server", "webhooks"),
    ("console", "gdpr-server", "console"),
];

/// Where `cargo xtask bench` writes the report of all suites: `bench-report.md` in the
/// workspace's target directory (`CARGO_TARGET_DIR` if set), wherever the command is run from.
fn report_path() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."))
                .join("target")
        },
        std::path::PathBuf::from,
    );
    target.join("bench-report.md")
}

/// Runs one benchmark suite in release mode (its report goes to stdout), or, without a name,
/// every suite in turn, their output passed through and gathered into one report at
/// [`report_path`]. A suite that fails is marked so in the report; the others still run.
fn bench(which: Option<&str>) -> ExitCode {
    let suites: Vec<_> = match which {
        None | Some("all") => SUITES.to_vec(),
        Some(name) => match SUITES.iter().find(|s| s.0 == name) {
            Some(suite) => vec![*suite],
            None => {
                eprintln!("unknown benchmark '{name}'\n{USAGE}");
                return ExitCode::FAILURE;
            }
        },
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut sections = Vec::new();
    for (name, package, target) in &suites {
        eprintln!("==> xtask bench: {name}");
        let child = Command::new(&cargo)
            .args(["bench", "--locked", "-p", package, "--bench", target])
            .stdout(Stdio::piped())
            .spawn();
        let mut output = String::new();
        let ok = match child {
            Ok(mut child) => {
                if let Some(stdout) = child.stdout.take() {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        println!("{line}");
                        output.push_str(&line);
                        output.push('\n');
                    }
                }
                child.wait().is_ok_and(|s| s.success())
            }
            Err(e) => {
                eprintln!("==> xtask bench: {name} could not start cargo: {e}");
                false
            }
        };
        sections.push(Section { name, output, ok });
    }
    let all_ok = sections.iter().all(|s| s.ok);
    if suites.len() > 1 {
        let text = report(&header(), &sections);
        let path = report_path();
        match std::fs::write(&path, text) {
            Ok(()) => eprintln!("==> xtask bench: report written to {}", path.display()),
            Err(e) => {
                eprintln!("==> xtask bench: could not write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One suite's run.
struct Section<'a> {
    name: &'a str,
    output: String,
    ok: bool,
}

/// When, on what and at which commit: the figures only compare within one run.
fn header() -> String {
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "date {}, commit {}, {} cores",
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        run("git", &["rev-parse", "--short", "HEAD"]),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    )
}

/// The report: a header line, then each suite's output as it printed it (its tables are
/// Markdown), a failed suite marked as such.
fn report(header: &str, sections: &[Section<'_>]) -> String {
    let mut text = format!(
        "# Benchmark report\n\n{header}. Each ratio compares with a baseline measured in the \
         same run (see docs/performance.md).\n"
    );
    for s in sections {
        let status = if s.ok { "" } else { " — FAILED" };
        text.push_str(&format!("\n## {}{status}\n\n{}", s.name, s.output));
    }
    text
}

/// Test counts added up over every `test result:` line cargo prints.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// `test result:` lines seen: one per test binary and per crate's doc tests.
    runs: u64,
}

impl Totals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        self.runs += 1;
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

    /// The whole test step in cargo's own words, added up over its runs.
    fn closing_line(&self) -> String {
        let verdict = if self.failed == 0 { "ok" } else { "FAILED" };
        format!(
            "test result: {verdict}. {} passed; {} failed; {} ignored (cargo test --workspace: \
             {} test runs added up)",
            self.passed, self.failed, self.skipped, self.runs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Section, Totals, report};

    #[test]
    fn the_bench_report_holds_every_suite_and_names_the_failures() {
        let sections = [
            Section {
                name: "storage",
                output: "| measure | ours |\n| a | 1 |\n".into(),
                ok: true,
            },
            Section {
                name: "backup",
                output: "no PostgreSQL\n".into(),
                ok: false,
            },
        ];
        let text = report("date d, commit c, 2 cores", &sections);
        assert!(text.contains("date d, commit c, 2 cores"));
        assert!(text.contains("## storage\n\n| measure | ours |\n| a | 1 |\n"));
        assert!(text.contains("## backup — FAILED\n\nno PostgreSQL\n"));
        assert!(!text.contains("storage — FAILED"));
    }

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
                skipped: 1,
                runs: 2,
            }
        );
        assert_eq!(t.summary(), "40 passed, 2 failed, 1 skipped");
        assert_eq!(
            t.closing_line(),
            "test result: FAILED. 40 passed; 2 failed; 1 ignored (cargo test --workspace: 2 test \
             runs added up)"
        );
        // The closing line reads back as the totals it sums up.
        let mut again = Totals::default();
        again.add(&t.closing_line());
        assert_eq!((again.passed, again.failed, again.skipped), (40, 2, 1));
    }

    #[test]
    fn a_fuzz_log_is_summed_up_by_its_closing_lines() {
        let log = "INFO: Seed: 1\n#2\tINITED cov: 10 ft: 10 corp: 1/1b\n#300\tREDUCE cov: 758 \
                   ft: 3959\n#302625\tDONE   cov: 758 ft: 3960 corp: 711/47Kb exec/s: 18914\n\
                   ###### Recommended dictionary. ######\n\"ab\" # Uses: 1\nDone 302625 runs in \
                   16 second(s)\n";
        assert_eq!(
            super::fuzz_summary(log),
            [
                "#302625\tDONE   cov: 758 ft: 3960 corp: 711/47Kb exec/s: 18914",
                "Done 302625 runs in 16 second(s)"
            ]
        );
        assert!(super::fuzz_summary("no run at all\n").is_empty());
    }
}
