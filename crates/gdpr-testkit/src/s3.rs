//! A real S3-protocol server on 127.0.0.1 (`s3s-fs`, in-process, checking request signatures),
//! storing into a temporary folder: for the tests of everything that talks to S3. It can be
//! stopped (even in the middle of a write) and started again on the same address, for the
//! fault tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::Method;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::task::AbortHandle;

/// The access key the server accepts.
pub const S3_ACCESS_KEY: &str = "test-access-key";
/// Its secret.
pub const S3_SECRET_KEY: &str = "test-secret-key-0123456789";
/// The one bucket it holds.
pub const S3_BUCKET: &str = "backups";

/// A running server; it stops with the runtime.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The folder its buckets are folders of.
    pub root: tempfile::TempDir,
    control: Arc<Control>,
}

struct Control {
    service: S3Service,
    addr: SocketAddr,
    /// The accept loop and every connection: aborting them is stopping the server.
    tasks: Mutex<Vec<AbortHandle>>,
    /// Write requests (PUT, POST) received.
    writes: AtomicUsize,
    /// The write request at which to stop (0: never).
    stop_at: AtomicUsize,
    /// Answer writes with a version id, as a bucket that keeps old versions does.
    versioned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Control {
    fn track(&self, task: AbortHandle) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    /// Counts a write; whether it is the one to stop at.
    fn stops_at(&self, method: &Method) -> bool {
        if method != Method::PUT && method != Method::POST {
            return false;
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.stop_at.load(Ordering::SeqCst)
    }

    fn serve(self: &Arc<Self>, listener: tokio::net::TcpListener) {
        let control = Arc::clone(self);
        let accept = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let c = Arc::clone(&control);
                let service = hyper::service::service_fn(move |req| {
                    let c = Arc::clone(&c);
                    async move {
                        if c.stops_at(req.method()) {
                            // Cut everything, this request included, before it is handled.
                            c.stop();
                            std::future::pending::<()>().await;
                        }
                        let write = req.method() == Method::PUT;
                        let mut response = hyper::service::Service::call(&c.service, req).await?;
                        if write && c.versioned.load(Ordering::SeqCst) {
                            let version = c.writes.load(Ordering::SeqCst).to_string();
                            if let Ok(value) = hyper::header::HeaderValue::from_str(&version) {
                                response.headers_mut().insert("x-amz-version-id", value);
                            }
                        }
                        Ok::<_, s3s::HttpError>(response)
                    }
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), service)
                    .into_owned();
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                control.track(task.abort_handle());
            }
        });
        self.track(accept.abort_handle());
    }
}

/// Starts a server with the bucket [`S3_BUCKET`].
///
/// # Panics
/// When no port or folder can be had.
pub async fn s3_server() -> S3Server {
    let root = tempfile::tempdir().expect("a temporary folder");
    std::fs::create_dir(root.path().join(S3_BUCKET)).expect("a writable folder");
    let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs over the folder");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(S3_ACCESS_KEY, S3_SECRET_KEY));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("an address");
    let control = Arc::new(Control {
        service: builder.build(),
        addr,
        tasks: Mutex::default(),
        writes: AtomicUsize::new(0),
        stop_at: AtomicUsize::new(0),
        versioned: std::sync::atomic::AtomicBool::new(false),
    });
    control.serve(listener);
    S3Server {
        endpoint: format!("http://{addr}"),
        root,
        control,
    }
}

impl S3Server {
    /// Stops at once: the port is closed and every open connection cut, requests in flight
    /// left unanswered. What is stored stays.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Listens again on the same address, over the same folder.
    ///
    /// # Panics
    /// When the address cannot be bound again.
    pub async fn restart(&self) {
        self.control.stop();
        self.control.stop_at.store(0, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind(self.control.addr)
            .await
            .expect("the same port again");
        self.control.serve(listener);
    }

    /// Stops the server when the `n`-th write request (PUT or POST) from now arrives, before
    /// that request is handled: a fault in the middle of an upload.
    pub fn stop_at_write(&self, n: usize) {
        let now = self.control.writes.load(Ordering::SeqCst);
        self.control.stop_at.store(now + n, Ordering::SeqCst);
    }

    /// Answers every write with an `x-amz-version-id`, as S3 does for a bucket with
    /// versioning (or object lock) on: old versions of what is overwritten are kept.
    pub fn keep_old_versions(&self) {
        self.control.versioned.store(true, Ordering::SeqCst);
    }

    /// How many write requests (PUT or POST) the server has received.
    #[must_use]
    pub fn writes(&self) -> usize {
        self.control.writes.load(Ordering::SeqCst)
    }
}
