//! The server's own `/metrics` series, beside the HTTP layer's (`gdpr_http::Metrics`): each
//! job kind's runs and durations, each tenant's newest verified backup, the database pool and
//! the error tracker's queue. Labels are job kinds, outcomes and tenant ids: bounded, and
//! never personal data.

use std::time::Duration;

use gdpr_store_seaorm::SeaOrmStore;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::serve::BackupFreshness;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobOutcome {
    kind: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobKind {
    kind: String,
}

/// Job durations from 10 ms to about 3 hours.
fn job_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 21))
}

/// The jobs this process ran.
#[derive(Clone)]
pub(crate) struct JobMetrics {
    runs: Family<JobOutcome, Counter>,
    durations: Family<JobKind, Histogram, fn() -> Histogram>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self {
            runs: Family::default(),
            durations: Family::new_with_constructor(job_histogram),
        }
    }
}

impl JobMetrics {
    /// One job run to its end (done or failed), and how long it took.
    pub(crate) fn ran(&self, kind: &str, failed: bool, took: Duration) {
        self.runs
            .get_or_create(&JobOutcome {
                kind: kind.to_owned(),
                outcome: if failed { "failed" } else { "done" },
            })
            .inc();
        self.durations
            .get_or_create(&JobKind {
                kind: kind.to_owned(),
            })
            .observe(took.as_secs_f64());
    }
}

/// Registers every server series.
pub(crate) fn register(
    registry: &mut Registry,
    jobs: &JobMetrics,
    backups: BackupFreshness,
    store: SeaOrmStore,
    tracker: Option<gdpr_report_rollbar::RollbarReporter>,
) {
    registry.register(
        "job_runs",
        "Background jobs run by this process, by kind and outcome",
        jobs.runs.clone(),
    );
    registry.register_with_unit(
        "job_duration",
        "How long background jobs ran, by kind",
        Unit::Seconds,
        jobs.durations.clone(),
    );
    registry.register_collector(Box::new(Backups(backups)));
    registry.register_collector(Box::new(Pool(store)));
    if let Some(tracker) = tracker {
        registry.register_collector(Box::new(Tracker(tracker)));
    }
}

/// Each tenant's newest verified backup, as last checked.
#[derive(Debug)]
struct Backups(BackupFreshness);

impl Collector for Backups {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(list) = self.0.snapshot() else {
            return Ok(());
        };
        let now = time::OffsetDateTime::now_utc();
        let mut unverified = 0_i64;
        {
            let mut family = encoder.encode_descriptor(
                "backup_verified_age",
                "Age of each tenant's newest verified backup",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?;
            for (tenant, at) in &list {
                match at {
                    Some(at) => ConstGauge::new((now - *at).whole_seconds())
                        .encode(family.encode_family(&[("tenant", tenant.to_string())])?)?,
                    None => unverified += 1,
                }
            }
        }
        let gauge = ConstGauge::new(unverified);
        gauge.encode(encoder.encode_descriptor(
            "backup_unverified_tenants",
            "Tenants without any verified backup",
            None,
            gauge.metric_type(),
        )?)
    }
}

/// The database connection pool.
#[derive(Debug)]
struct Pool(SeaOrmStore);

impl Collector for Pool {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (open, idle, max) = self.0.pool_use();
        for (name, help, value) in [
            (
                "db_pool_connections",
                "Connections the pool holds open",
                open,
            ),
            ("db_pool_idle", "Open connections not in use", idle),
            ("db_pool_max", "Connections the pool may open at most", max),
        ] {
            let gauge = ConstGauge::new(i64::from(value));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The error tracker's queue and what came of what was queued.
struct Tracker(gdpr_report_rollbar::RollbarReporter);

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracker")
    }
}

impl Collector for Tracker {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.0.metrics();
        {
            let mut family = encoder.encode_descriptor(
                "error_reports",
                "Error reports by outcome (dropped: queue full; failed: every attempt failed)",
                None,
                MetricType::Counter,
            )?;
            for (outcome, n) in [
                ("sent", &m.sent),
                ("dropped", &m.dropped),
                ("failed", &m.failed),
            ] {
                ConstCounter::new(n.load(Relaxed))
                    .encode(family.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        let queued = ConstGauge::new(i64::try_from(self.0.queued()).unwrap_or(i64::MAX));
        queued.encode(encoder.encode_descriptor(
            "error_reports_queued",
            "Error reports waiting to be sent",
            None,
            queued.metric_type(),
        )?)
    }
}
