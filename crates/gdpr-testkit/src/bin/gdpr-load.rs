//! `gdpr-load PLAN.json`: drives a mixed HTTP load from a plan, and prints one summary line
//! (`LOAD requests=… seconds=… connect=… read=… write=0 status=… timeout=… p50_ms=… p90_ms=…
//! p99_ms=… max_ms=…`), as `.ci/load` reads it.
//!
//! The plan: `base` (`http://127.0.0.1:PORT`), `token`, `seconds`, `connections`,
//! `timeout_seconds`, `cycle` (request templates sent in turn: `method`, `path`, `body`),
//! `items` (one object of values per subject) and `vars` (values for all). Request `n` is
//! `cycle[n % len]` filled from `items[(n / len) % items]`, `vars` and `{n}`: every item gets
//! every kind of request in turn.
#![allow(clippy::print_stdout, reason = "a command-line tool prints its result")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gdpr_testkit::load::{Load, Request, drive};
use serde::Deserialize;

#[derive(Deserialize)]
struct Template {
    method: String,
    path: String,
    body: Option<String>,
}

#[derive(Deserialize)]
struct Plan {
    base: String,
    token: Option<String>,
    seconds: u64,
    connections: usize,
    timeout_seconds: u64,
    cycle: Vec<Template>,
    items: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

fn fill(template: &str, values: &[&BTreeMap<String, String>], n: u64) -> String {
    let mut out = template.replace("{n}", &n.to_string());
    for map in values {
        for (k, v) in *map {
            out = out.replace(&format!("{{{k}}}"), v);
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: gdpr-load PLAN.json");
        return std::process::ExitCode::FAILURE;
    };
    let plan: Plan = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("gdpr-load: {path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Some(addr) = plan
        .base
        .strip_prefix("http://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
    else {
        eprintln!("gdpr-load: base must be http://ADDRESS:PORT");
        return std::process::ExitCode::FAILURE;
    };
    if plan.cycle.is_empty() || plan.items.is_empty() {
        eprintln!("gdpr-load: the plan needs a cycle and items");
        return std::process::ExitCode::FAILURE;
    }
    let load = Load {
        addr,
        token: plan.token.clone(),
        connections: plan.connections.max(1),
        duration: Duration::from_secs(plan.seconds),
        timeout: Duration::from_secs(plan.timeout_seconds.max(1)),
    };
    let plan = Arc::new(plan);
    let requests = {
        let plan = Arc::clone(&plan);
        Arc::new(move |n: u64| {
            let kinds = plan.cycle.len() as u64;
            let template = &plan.cycle[(n % kinds) as usize];
            let item = &plan.items[((n / kinds) % plan.items.len() as u64) as usize];
            let values = [item, &plan.vars];
            Request {
                method: template.method.parse().unwrap_or(hyper::Method::GET),
                path: fill(&template.path, &values, n),
                body: template.body.as_deref().map(|b| fill(b, &values, n)),
            }
        })
    };
    let m = drive(&load, requests);
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "LOAD requests={} seconds={:.3} connect={} read={} write=0 status={} timeout={} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        m.requests,
        m.elapsed.as_secs_f64(),
        m.connect_errors,
        m.io_errors,
        m.not_2xx,
        m.timeouts,
        ms(m.p50),
        ms(m.p90),
        ms(m.p99),
        ms(m.max),
    );
    std::process::ExitCode::SUCCESS
}
