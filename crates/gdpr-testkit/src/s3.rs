//! A real S3-protocol server on 127.0.0.1 (`s3s-fs`, in-process, checking request signatures),
//! storing into a temporary folder: for the tests of everything that talks to S3.

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

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
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        while let Ok((socket, _)) = listener.accept().await {
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    S3Server { endpoint, root }
}
