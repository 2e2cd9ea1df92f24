//! What `cargo xtask ci` needs besides Rust, set up by itself: what comes from crates.io is
//! installed with cargo (cargo-fuzz), schemathesis goes into a virtualenv from PyPI (in
//! `.ci/api-fuzz`), the load comes from our own driver (`gdpr-load`, built by `.ci/load`), and
//! what only the system has (`gpg`, `zstd`, Python's venv, Chromium and its WebDriver) is
//! installed with apt-get when
//! running as root on Debian, or named in one line that says which package to install.

use std::process::{Command, Stdio};

/// cargo-fuzz, pinned: the version the fuzz step was written for.
const CARGO_FUZZ: &str = "cargo-fuzz@0.13.2";

/// System tools: a command that must run, and the Debian package that brings it.
const SYSTEM: [(&str, &[&str], &str); 6] = [
    ("gpg", &["gpg", "--version"], "gnupg"),
    ("gpgconf", &["gpgconf", "--version"], "gnupg"),
    ("zstd", &["zstd", "--version"], "zstd"),
    (
        "python3 -m venv",
        &["python3", "-m", "venv", "--help"],
        "python3-venv",
    ),
    // The browser journeys (gdpr-server's tests/api/browser.rs): headless Chromium through
    // WebDriver.
    ("chromium", &["chromium", "--version"], "chromium"),
    (
        "chromedriver",
        &["chromedriver", "--version"],
        "chromium-driver",
    ),
];

fn runs(command: &[&str]) -> bool {
    Command::new(command[0])
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether apt-get may install here: root on Debian (or a derivative).
fn can_apt() -> bool {
    std::path::Path::new("/etc/debian_version").exists()
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn apt_install(packages: &[&str]) -> bool {
    let install = |update: bool| {
        if update && !runs(&["apt-get", "update", "-qq"]) {
            return false;
        }
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    install(false) || install(true)
}

/// Makes sure everything is here; the one line saying what is missing otherwise.
pub(crate) fn ensure(cargo: &str) -> Result<(), String> {
    let mut missing: Vec<&str> = SYSTEM
        .iter()
        .filter(|(_, command, _)| !runs(command))
        .map(|(_, _, package)| *package)
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        if can_apt() {
            eprintln!("==> xtask ci: setup: apt-get install {}", missing.join(" "));
            apt_install(&missing);
        }
        let still: Vec<&str> = SYSTEM
            .iter()
            .filter(|(_, command, _)| !runs(command))
            .map(|(name, _, package)| if name.contains(' ') { *package } else { *name })
            .collect();
        if !still.is_empty() {
            return Err(format!(
                "missing: {} (Debian: apt-get install {}; the tests decrypt with the real gpg, decompress with zstd, fuzz the API from a Python venv, and drive the pages in Chromium)",
                still.join(", "),
                missing.join(" ")
            ));
        }
    }
    if !runs(&[cargo, "fuzz", "--version"]) {
        eprintln!("==> xtask ci: setup: cargo install --locked {CARGO_FUZZ}");
        let installed = Command::new(cargo)
            .args(["install", "--quiet", "--locked", CARGO_FUZZ])
            .status()
            .is_ok_and(|s| s.success());
        if !installed || !runs(&[cargo, "fuzz", "--version"]) {
            return Err(format!(
                "cargo-fuzz could not be installed (cargo install --locked {CARGO_FUZZ})"
            ));
        }
    }
    Ok(())
}
