//! Repository automation: `cargo xtask ci` runs what CI runs; the tidy tests (in `tidy.rs`,
//! part of `cargo test --workspace`) check the repository's own rules.

use std::process::{Command, ExitCode};

#[cfg(test)]
mod tidy;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci      cargo fmt --check, cargo clippy -D warnings, then the whole test suite";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// Runs each step in turn and stops at the first failure, saying which.
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
    for (name, args) in steps {
        eprintln!("==> xtask ci: {name}: cargo {}", args.join(" "));
        let status = Command::new(&cargo).args(args).status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("==> xtask ci: {name} FAILED ({s})");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("==> xtask ci: {name} could not start cargo: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("==> xtask ci: all steps passed");
    ExitCode::SUCCESS
}
