//! A closed-loop HTTP/1.1 load driver, in place of `wrk`: `connections` keep-alive
//! connections, each sending its next request as soon as the answer to the last one is read,
//! for a set time, on one thread of its own (as `wrk -t1`), so that a server under test on the
//! same machine keeps the other core. Used by the benchmarks and by `.ci/load` (through the
//! `gdpr-load` binary, which reads a plan).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: hyper::Method,
    /// Path and query.
    pub path: String,
    /// A JSON body, if any.
    pub body: Option<String>,
}

/// Makes the `n`th request (numbered from 1, one count shared by every connection, as wrk's:
/// connections do not send the same request in lockstep).
pub type Requests = Arc<dyn Fn(u64) -> Request + Send + Sync>;

/// What a run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// Answers read.
    pub requests: u64,
    /// How long the run took.
    pub elapsed: Duration,
    /// Latency percentiles of the answers read.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
    /// Answers whose status was not 2xx.
    pub not_2xx: u64,
    /// Connections that could not be made.
    pub connect_errors: u64,
    /// Requests that failed on the wire (the connection is made again).
    pub io_errors: u64,
    /// Requests not answered within the timeout.
    pub timeouts: u64,
}

impl Measured {
    /// Answers per second.
    #[must_use]
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// How to drive: where, with what token, how hard and how long.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// A bearer token for every request.
    pub token: Option<String>,
    /// Concurrent connections.
    pub connections: usize,
    /// How long.
    pub duration: Duration,
    /// How long one answer may take before it counts as a timeout.
    pub timeout: Duration,
}

/// Runs `requests` against the server as `load` says, on a thread of its own.
///
/// # Panics
/// When the thread or its runtime cannot be started.
#[must_use]
pub fn drive(load: &Load, requests: Requests) -> Measured {
    let load = load.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the load driver")
            .block_on(run(load, requests))
    })
    .join()
    .expect("the load driver's thread")
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    not_2xx: u64,
    connect_errors: u64,
    io_errors: u64,
    timeouts: u64,
}

async fn connection(
    load: Arc<Load>,
    requests: Requests,
    count: Arc<std::sync::atomic::AtomicU64>,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    // Made once: the driver must cost as little per request as it can.
    let host = hyper::header::HeaderValue::from_str(&load.addr.to_string()).ok();
    let auth = load
        .token
        .as_ref()
        .and_then(|t| hyper::header::HeaderValue::from_str(&format!("Bearer {t}")).ok());
    'connect: while Instant::now() < deadline {
        let Ok(stream) = tokio::net::TcpStream::connect(load.addr).await else {
            tally.connect_errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut send, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            tally.connect_errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < deadline {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let made = requests(n);
            let mut request = hyper::Request::builder()
                .method(made.method)
                .uri(&made.path);
            if let Some(host) = &host {
                request = request.header(hyper::header::HOST, host.clone());
            }
            if let Some(auth) = &auth {
                request = request.header(hyper::header::AUTHORIZATION, auth.clone());
            }
            if made.body.is_some() {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let Ok(request) = request.body(Full::new(Bytes::from(made.body.unwrap_or_default())))
            else {
                tally.io_errors += 1;
                continue;
            };
            let sent = Instant::now();
            let answered = tokio::time::timeout(load.timeout, async {
                let answer = send.send_request(request).await?;
                let status = answer.status();
                answer.into_body().collect().await?;
                Ok::<_, hyper::Error>(status)
            })
            .await;
            match answered {
                Ok(Ok(status)) => {
                    tally.latencies.push(sent.elapsed());
                    tally.not_2xx += u64::from(!status.is_success());
                }
                Ok(Err(_)) => {
                    tally.io_errors += 1;
                    continue 'connect;
                }
                Err(_) => {
                    tally.timeouts += 1;
                    continue 'connect;
                }
            }
        }
    }
    tally
}

async fn run(load: Load, requests: Requests) -> Measured {
    let load = Arc::new(load);
    let started = Instant::now();
    let deadline = started + load.duration;
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..load.connections)
        .map(|_| {
            tokio::spawn(connection(
                Arc::clone(&load),
                Arc::clone(&requests),
                Arc::clone(&count),
                deadline,
            ))
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let Ok(t) = task.await else { continue };
        all.latencies.extend(t.latencies);
        all.not_2xx += t.not_2xx;
        all.connect_errors += t.connect_errors;
        all.io_errors += t.io_errors;
        all.timeouts += t.timeouts;
    }
    let elapsed = started.elapsed();
    all.latencies.sort();
    let at = |p: f64| {
        all.latencies
            .get(((all.latencies.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Measured {
        requests: all.latencies.len() as u64,
        elapsed,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
        not_2xx: all.not_2xx,
        connect_errors: all.connect_errors,
        io_errors: all.io_errors,
        timeouts: all.timeouts,
    }
}
