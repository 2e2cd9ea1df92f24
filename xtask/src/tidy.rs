//! Tidy tests: the repository's own rules, checked by `cargo test` rather than by a reviewer.
//!
//! - The dependency rule of `docs/architecture.md`, from `cargo metadata`: domain crates pull no
//!   runtime, ORM, HTTP or object-store crate and no other layer; adapters depend on ports and
//!   the domain only; only the server knows adapters.
//! - The domain crates read no clock: time comes from the `Clock` port, as an argument.
//! - Every `.rs` file starts with a `//!` line.
//! - Every manifest has a description, `publish = false`, workspace lints, and takes each
//!   dependency from `[workspace.dependencies]`.
//! - Every HTTP request type refuses unknown fields and takes text as `Text` (JSON strings
//!   only), as the served OpenAPI document says.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Crates that do I/O or bring a runtime: never under the domain, ports or app.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "sea-orm",
    "sqlx",
    "poem",
    "poem-openapi",
    "object_store",
    "reqwest",
    "hyper",
    "async-std",
    "mio",
    "pgp",
    "lettre",
    "maud",
    "tracing-subscriber",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Domain,
    Ports,
    App,
    Testkit,
    Migrations,
    Adapter,
    Http,
    Server,
    Tooling,
}

fn layer(name: &str) -> Layer {
    match name {
        "gdpr-pii" | "gdpr-consent" | "gdpr-retention" | "gdpr-rights" | "gdpr-audit"
        | "gdpr-webhooks" => Layer::Domain,
        "gdpr-ports" => Layer::Ports,
        "gdpr-app" => Layer::App,
        "gdpr-testkit" => Layer::Testkit,
        "gdpr-migrations" => Layer::Migrations,
        "gdpr-http" => Layer::Http,
        "gdpr-server" => Layer::Server,
        n if n.starts_with("gdpr-store-")
            || n.starts_with("gdpr-backup-")
            || n.starts_with("gdpr-crypto-")
            || n.starts_with("gdpr-report-")
            || n.starts_with("gdpr-webhook-")
            || n == "gdpr-mail"
            || n == "gdpr-telemetry" =>
        {
            Layer::Adapter
        }
        _ => Layer::Tooling,
    }
}

/// Which workspace layers a layer may depend on (normal dependencies).
fn allowed(from: Layer, to: Layer) -> bool {
    use Layer::*;
    match from {
        Domain => to == Domain,
        Ports => to == Domain,
        App => matches!(to, Domain | Ports),
        Testkit => matches!(to, Domain | Ports),
        Migrations => false,
        // The storage adapter runs the schema migrations it needs.
        Adapter => matches!(to, Domain | Ports | Migrations),
        Http => matches!(to, Domain | Ports | App),
        Server | Tooling => true,
    }
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the root")
        .to_path_buf()
}

/// Every violation of the dependency rule in a `cargo metadata` document.
fn dependency_violations(meta: &Value) -> Vec<String> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    // Normal and build edges only: dev-dependencies never ship.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build")
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let mut violations = Vec::new();
    for member in &members {
        let from_name = name_of.get(member).copied().unwrap_or_default();
        let from = layer(from_name);
        // Direct edges between workspace crates must follow the layering.
        for dep in edges.get(member).into_iter().flatten() {
            if members.contains(dep) {
                let to_name = name_of.get(dep).copied().unwrap_or_default();
                if !allowed(from, layer(to_name)) {
                    violations.push(format!(
                        "{from_name} ({from:?}) must not depend on {to_name}"
                    ));
                }
            }
        }
        // Core layers must not reach an I/O crate, however indirectly.
        if matches!(from, Layer::Domain | Layer::Ports | Layer::App) {
            let mut seen = BTreeSet::new();
            let mut stack = vec![*member];
            while let Some(id) = stack.pop() {
                if !seen.insert(id) {
                    continue;
                }
                let name = name_of.get(id).copied().unwrap_or_default();
                if id != *member && FORBIDDEN_IN_CORE.contains(&name) {
                    violations.push(format!("{from_name} ({from:?}) pulls in {name}"));
                }
                stack.extend(edges.get(id).into_iter().flatten());
            }
        }
    }
    violations.sort();
    violations.dedup();
    violations
}

#[test]
fn the_dependency_rule_holds() {
    let violations = dependency_violations(&metadata());
    assert!(
        violations.is_empty(),
        "dependency rule broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_dependency_check_catches_a_domain_crate_reaching_tokio_or_an_adapter() {
    let meta = serde_json::json!({
        "workspace_members": ["pii", "store", "app"],
        "packages": [
            {"id": "pii", "name": "gdpr-pii"},
            {"id": "store", "name": "gdpr-store-seaorm"},
            {"id": "app", "name": "gdpr-app"},
            {"id": "mid", "name": "some-helper"},
            {"id": "tokio", "name": "tokio"},
        ],
        "resolve": {"nodes": [
            {"id": "pii", "deps": [{"pkg": "mid", "dep_kinds": [{"kind": null}]}]},
            {"id": "mid", "deps": [{"pkg": "tokio", "dep_kinds": [{"kind": null}]}]},
            {"id": "app", "deps": [
                {"pkg": "store", "dep_kinds": [{"kind": null}]},
                {"pkg": "tokio", "dep_kinds": [{"kind": "dev"}]},
            ]},
            {"id": "store", "deps": []},
            {"id": "tokio", "deps": []},
        ]},
    });
    assert_eq!(
        dependency_violations(&meta),
        [
            "gdpr-app (App) must not depend on gdpr-store-seaorm",
            "gdpr-pii (Domain) pulls in tokio",
        ]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Calls that read the system clock.
const CLOCK_READS: [&str; 5] = [
    "now_v7(",
    "OffsetDateTime::now",
    "SystemTime::now",
    "Instant::now",
    "Utc::now",
];

/// Lines of `source` that read the system clock.
fn clock_reads(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| CLOCK_READS.iter().any(|call| line.contains(call)))
        .map(|line| line.trim().to_owned())
        .collect()
}

#[test]
fn the_domain_reads_no_clock() {
    let mut files = Vec::new();
    for krate in [
        "gdpr-pii",
        "gdpr-consent",
        "gdpr-retention",
        "gdpr-rights",
        "gdpr-audit",
    ] {
        rust_files(&root().join("crates").join(krate), &mut files);
    }
    assert!(files.len() > 10, "the walk found the domain's sources");
    let reads: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            clock_reads(&text)
                .into_iter()
                .map(move |line| format!("{}: {line}", f.display()))
        })
        .collect();
    assert!(
        reads.is_empty(),
        "the domain reads the clock:\n{}",
        reads.join("\n")
    );
}

#[test]
fn the_clock_check_catches_a_fresh_v7_id_and_a_system_time() {
    let source = "// Uuid::now_v7() in a comment is fine\nlet id = Uuid::now_v7();\n\
                  let t = OffsetDateTime::now_utc();\nlet ok = SubjectId::at(now);\n";
    assert_eq!(
        clock_reads(source),
        [
            "let id = Uuid::now_v7();",
            "let t = OffsetDateTime::now_utc();"
        ]
    );
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["crates", "migrations", "xtask"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "the walk found the sources");
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line:\n{}",
        missing.join("\n")
    );
}

/// Problems with one member manifest's text.
fn manifest_problems(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.contains("\ndescription = ") {
        problems.push(format!("{name}: no description"));
    }
    if !text.contains("publish.workspace = true") && !text.contains("publish = false") {
        problems.push(format!("{name}: publish is not false"));
    }
    if !text.contains("[lints]\nworkspace = true") {
        problems.push(format!("{name}: does not use the workspace lints"));
    }
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let is_dep_section = section.ends_with("dependencies]");
        if is_dep_section
            && !line.is_empty()
            && !line.starts_with('#')
            && !line.contains("workspace = true")
        {
            problems.push(format!(
                "{name}: `{line}` does not come from [workspace.dependencies]"
            ));
        }
    }
    problems
}

#[test]
fn every_manifest_follows_the_workspace_rules() {
    let mut problems = Vec::new();
    let mut manifests = vec![
        root().join("xtask/Cargo.toml"),
        root().join("migrations/Cargo.toml"),
    ];
    for entry in std::fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
    {
        manifests.push(entry.path().join("Cargo.toml"));
    }
    for manifest in &manifests {
        let text = std::fs::read_to_string(manifest).expect("member manifests are readable");
        problems.extend(manifest_problems(&manifest.display().to_string(), &text));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_manifest_check_catches_a_local_version_and_missing_lints() {
    let text = "[package]\nname = \"x\"\ndescription = \"d\"\npublish.workspace = true\n\n\
                [dependencies]\ntokio = \"1\"\nserde.workspace = true\n";
    assert_eq!(
        manifest_problems("x", text),
        [
            "x: does not use the workspace lints",
            "x: `tokio = \"1\"` does not come from [workspace.dependencies]"
        ]
    );
}

/// Request types of the HTTP API (`#[derive(Object)]` structs named `…In` in `dto/`) that
/// do not refuse unknown fields, or take text as `String` (which also accepts numbers and
/// booleans, turned into text) instead of `Text`. The served OpenAPI document promises both
/// (`additionalProperties: false`, `type: string`).
fn request_dto_problems(source: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut attributes = String::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        let line = line.trim();
        if let Some(name) = current.as_ref() {
            if line == "}" {
                current = None;
            } else if line.contains(": String") || line.contains("<String>") {
                problems.push(format!("{name}: `{line}` takes String, not Text"));
            }
            continue;
        }
        if line.starts_with("#[") {
            attributes.push_str(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub(crate) struct ") {
            let name = rest
                .split([' ', '{', '<'])
                .next()
                .unwrap_or_default()
                .to_owned();
            if name.ends_with("In") && attributes.contains("Object") {
                if !attributes.contains("deny_unknown_fields") {
                    problems.push(format!("{name}: no #[oai(deny_unknown_fields)]"));
                }
                current = Some(name);
            }
        }
        if !line.starts_with("///") {
            attributes.clear();
        }
    }
    problems
}

#[test]
fn request_types_refuse_unknown_fields_and_non_string_text() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/gdpr-http/src/dto"), &mut files);
    assert!(files.len() > 5, "the walk found the wire types");
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        checked += source.matches("#[oai(deny_unknown_fields)]").count();
        problems.extend(request_dto_problems(&source));
    }
    assert!(checked > 15, "the request types were found ({checked})");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_request_type_check_catches_an_open_struct_and_a_string_field() {
    let source = "#[derive(Object)]\npub(crate) struct OpenIn {\n    pub(crate) a: Text,\n}\n\
                  /// Doc.\n#[derive(Object)]\n#[oai(deny_unknown_fields)]\n\
                  pub(crate) struct LooseIn {\n    pub(crate) b: Option<String>,\n}\n\
                  #[derive(Object)]\npub(crate) struct ThingOut {\n    pub(crate) c: String,\n}\n";
    assert_eq!(
        request_dto_problems(source),
        [
            "OpenIn: no #[oai(deny_unknown_fields)]",
            "LooseIn: `pub(crate) b: Option<String>,` takes String, not Text"
        ]
    );
}
