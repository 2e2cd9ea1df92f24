//! A closed-loop HTTP/1.1 load driver, in place of `wrk`: `connections` keep-alive connections,
//! each sending its next request as soon as the answer to the last one is read, for
//! `duration`, on one thread of its own (as `wrk -t1`), so that the server under test keeps
//! the other core. Each request's latency is kept; nothing but the status is read from the
//! answers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// What a run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Answers per second (every status).
    pub(crate) rps: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Answers whose status was not the one expected.
    pub(crate) unexpected: u64,
}

impl Measured {
    /// `| rps | p50 | p99 |` cells.
    pub(crate) fn cells(&self) -> String {
        format!(
            "{:.0} | {:.2} ms | {:.2} ms",
            self.rps,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        )
    }
}

/// One kind of request: its method, path and query, and a body made from a counter (unique
/// per request).
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) method: hyper::Method,
    pub(crate) path: String,
    pub(crate) token: Option<String>,
    pub(crate) body: Option<fn(u64) -> String>,
    pub(crate) expect: u16,
}

/// Runs `target` over `connections` connections for `duration`.
pub(crate) fn drive(target: &Target, connections: usize, duration: Duration) -> Measured {
    let target = target.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(target, connections, duration))
    })
    .join()
    .unwrap()
}

async fn run(target: Target, connections: usize, duration: Duration) -> Measured {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(target.addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut unexpected = 0;
            let mut n = c as u64 * 1_000_000_000;
            while Instant::now() < deadline {
                n += 1;
                let mut request = hyper::Request::builder()
                    .method(target.method.clone())
                    .uri(&target.path)
                    .header(hyper::header::HOST, "bench");
                if let Some(token) = &target.token {
                    request =
                        request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let body = target.body.map(|make| make(n)).unwrap_or_default();
                if target.body.is_some() {
                    request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                }
                let request = request.body(Full::new(Bytes::from(body))).unwrap();
                let sent = Instant::now();
                let answer = send.send_request(request).await.unwrap();
                let status = answer.status().as_u16();
                answer.into_body().collect().await.unwrap();
                latencies.push(sent.elapsed());
                unexpected += u64::from(status != target.expect);
            }
            (latencies, unexpected)
        }));
    }
    let mut all = Vec::new();
    let mut unexpected = 0;
    for task in tasks {
        let (latencies, bad) = task.await.unwrap();
        all.extend(latencies);
        unexpected += bad;
    }
    let elapsed = started.elapsed();
    all.sort();
    let at = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
    Measured {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
        unexpected,
    }
}
