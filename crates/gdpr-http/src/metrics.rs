//! `/metrics`, in the OpenMetrics text format, from a `prometheus-client` registry.
//!
//! Every series has the `gdpr_` prefix. Label values are route templates
//! (`/v1/subjects/:param0`), methods, status classes, job kinds and tenant ids (one per customer,
//! bounded): never a subject, a path with an id in it, or anything a person typed.
//!
//! The HTTP layer's own series are counted here as requests pass; what the server adds (jobs
//! run, backups' age, the database pool, the error tracker) it registers at start through
//! [`crate::HttpOptions::register_metrics`]; what is read at scrape time (overdue requests,
//! the jobs queue, the cache) is refreshed by the scrape itself.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of the OpenMetrics text format, which Prometheus reads.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A request's route template, method and status class.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    route: String,
    method: &'static str,
    class: &'static str,
}

/// An attestation check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Check {
    check: String,
}

/// A route template and method.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
    method: &'static str,
}

/// Latency buckets from 0.5 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Everything `/metrics` shows.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    answered: Family<Answered, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    pub(crate) auth_failures: Counter,
    pub(crate) rate_limited: Counter,
    overdue: Gauge,
    failing: Family<Check, Gauge>,
    jobs_due: Gauge,
    jobs_oldest_due: Gauge<f64, AtomicU64>,
    jobs_running: Gauge,
    jobs_failed: Gauge,
    cache_entries: Gauge,
    cache_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(|_| {})
    }
}

impl Metrics {
    /// The HTTP layer's series, and whatever `register` adds to the registry.
    pub fn new(register: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::with_prefix("gdpr");
        let metrics = Self {
            answered: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            auth_failures: Counter::default(),
            rate_limited: Counter::default(),
            overdue: Gauge::default(),
            failing: Family::default(),
            jobs_due: Gauge::default(),
            jobs_oldest_due: Gauge::default(),
            jobs_running: Gauge::default(),
            jobs_failed: Gauge::default(),
            cache_entries: Gauge::default(),
            cache_up: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            metrics.answered.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer, by route template and method",
            Unit::Seconds,
            metrics.latency.clone(),
        );
        for (name, help, counter) in [
            (
                "auth_failures",
                "Failed authentications",
                &metrics.auth_failures,
            ),
            (
                "rate_limited",
                "Requests refused after too many failed authentications",
                &metrics.rate_limited,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "attestation_failing",
            "Tenants whose latest daily attestation fails this check (audit_chain_verified: \
             the audit chain is broken)",
            metrics.failing.clone(),
        );
        registry.register_with_unit(
            "jobs_oldest_due_age",
            "How long the longest-waiting due job has waited (0: none waits)",
            Unit::Seconds,
            metrics.jobs_oldest_due.clone(),
        );
        for (name, help, gauge) in [
            (
                "requests_overdue",
                "Data-subject requests open past their due date (every tenant)",
                &metrics.overdue,
            ),
            (
                "jobs_due",
                "Background jobs due and not taken by a worker",
                &metrics.jobs_due,
            ),
            (
                "jobs_running",
                "Background jobs held by a worker now",
                &metrics.jobs_running,
            ),
            (
                "jobs_failed",
                "Background jobs given up on after every attempt",
                &metrics.jobs_failed,
            ),
            (
                "hot_cache_entries",
                "Entries of the in-process cache of API keys and processing checks",
                &metrics.cache_entries,
            ),
            (
                "hot_cache_up",
                "1 while the cache answers (its watcher of other replicas' changes is up), else 0",
                &metrics.cache_up,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        register(&mut registry);
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts one answer to `method` on the route template `route` (`None`: no route matched).
    pub(crate) fn answered(
        &self,
        route: Option<&str>,
        method: &str,
        status: u16,
        took: std::time::Duration,
    ) {
        let route = route.unwrap_or("unmatched").to_owned();
        // Any token is a method to HTTP: only the standard ones become label values. Static
        // strings: nothing is allocated for them on each request.
        let method = match method {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        let class =
            ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from((status / 100).clamp(1, 5)) - 1];
        self.answered
            .get_or_create(&Answered {
                route: route.clone(),
                method,
                class,
            })
            .inc();
        self.latency
            .get_or_create(&Route { route, method })
            .observe(took.as_secs_f64());
    }

    /// The scrape-time readings.
    pub(crate) fn refresh(&self, reading: &Reading, slow: &Slow) {
        let gauge = |g: &Gauge, n: u64| g.set(i64::try_from(n).unwrap_or(i64::MAX));
        if let Some(n) = slow.overdue {
            gauge(&self.overdue, n as u64);
        }
        for (check, n) in slow.failing.iter().flatten() {
            gauge(
                &self.failing.get_or_create(&Check {
                    check: check.clone(),
                }),
                *n as u64,
            );
        }
        if let Some(depth) = &reading.jobs {
            gauge(&self.jobs_due, depth.due);
            gauge(&self.jobs_running, depth.running);
            gauge(&self.jobs_failed, depth.failed);
            self.jobs_oldest_due.set(
                depth
                    .oldest_due
                    .map_or(0.0, |at| (reading.now - at).as_seconds_f64().max(0.0)),
            );
        }
        gauge(&self.cache_entries, reading.cache_entries as u64);
        self.cache_up.set(i64::from(reading.cache_up));
    }

    /// The OpenMetrics text of every series.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What a scrape reads from every tenant, at most once a minute.
#[derive(Debug, Clone)]
pub(crate) struct Slow {
    pub(crate) overdue: Option<usize>,
    /// Per attestation check, the tenants whose latest attestation fails it.
    pub(crate) failing: Option<Vec<(String, usize)>>,
}

/// A check's name, as attestations spell it (`audit_chain_verified`).
pub(crate) fn check_name(kind: gdpr_audit::CheckKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What a scrape reads from the application each time.
pub(crate) struct Reading {
    pub(crate) now: time::OffsetDateTime,
    pub(crate) jobs: Option<gdpr_ports::QueueDepth>,
    pub(crate) cache_entries: usize,
    pub(crate) cache_up: bool,
}
