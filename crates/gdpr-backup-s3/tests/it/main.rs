//! The adapter against a real S3-protocol server on 127.0.0.1 (`s3s-fs`, started in-process,
//! checking request signatures) and against the local disk: the same checks run on both.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use gdpr_backup_s3::{ObjectBackupStore, S3Settings};
use gdpr_ports::{BackupError, BackupStore, ByteStream};
use gdpr_testkit::s3::{
    S3_ACCESS_KEY as ACCESS_KEY, S3_BUCKET as BUCKET, S3_SECRET_KEY as SECRET_KEY, S3Server,
    s3_server,
};

fn settings(server: &S3Server, secret: &str) -> S3Settings {
    S3Settings {
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(server.endpoint.clone()),
        path_style: true,
        allow_http: true,
        access_key_id: Some(ACCESS_KEY.to_owned().into()),
        secret_access_key: Some(secret.to_owned().into()),
    }
}

/// A store under test, the folder its bytes end up in, and what keeps it alive.
struct Case {
    store: ObjectBackupStore,
    root: std::path::PathBuf,
    _guard: Box<dyn std::any::Any>,
}

/// Both stores: the S3 server and a local folder.
async fn stores() -> Vec<Case> {
    let server = s3_server().await;
    let s3 = Case {
        store: ObjectBackupStore::s3(&settings(&server, SECRET_KEY)).unwrap(),
        root: server.root.path().to_owned(),
        _guard: Box::new(server),
    };
    let dir = tempfile::tempdir().unwrap();
    let local = Case {
        store: ObjectBackupStore::local(&dir.path().join("backups")).unwrap(),
        root: dir.path().to_owned(),
        _guard: Box::new(dir),
    };
    vec![s3, local]
}

/// Upload leftovers under `root`: S3 parts and upload records, local staging files.
fn leftovers(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else if name.contains('#') || name.starts_with(".upload") {
                found.push(name);
            }
        }
    }
    found
}

/// `chunks` chunks of `size` bytes, each filled with its index.
fn body(chunks: usize, size: usize) -> ByteStream {
    Box::pin(stream::iter(
        (0..chunks).map(move |i| Ok(Bytes::from(vec![(i % 251) as u8; size]))),
    ))
}

async fn read(store: &ObjectBackupStore, key: &str) -> Vec<u8> {
    store
        .get(key)
        .await
        .unwrap()
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_large_streamed_object_reads_back_byte_for_byte() {
    for Case { store, .. } in stores().await {
        // 12 MiB in 64 KiB chunks: three multipart parts on S3.
        let meta = store
            .put("tenant-a/backup-1.pgp", body(192, 64 * 1024))
            .await
            .unwrap();
        assert_eq!(meta.size, 12 * 1024 * 1024, "{}", store.kind());
        assert_eq!(meta.key, "tenant-a/backup-1.pgp");
        let back = read(&store, "tenant-a/backup-1.pgp").await;
        let expected: Vec<u8> = (0..192)
            .flat_map(|i| vec![(i % 251) as u8; 64 * 1024])
            .collect();
        assert!(back == expected, "{}: content differs", store.kind());
        // An empty object is an object too.
        let empty = store.put("tenant-a/empty", body(0, 0)).await.unwrap();
        assert_eq!(empty.size, 0, "{}", store.kind());
        assert!(read(&store, "tenant-a/empty").await.is_empty());
    }
}

#[tokio::test]
async fn list_is_by_string_prefix_and_sorted_and_delete_is_idempotent() {
    for Case { store, .. } in stores().await {
        for key in [
            "tenant-b/2026-11-02.pgp",
            "tenant-a/2026-11-02.pgp",
            "tenant-a/2026-11-01.pgp",
            "tenant-a/2026-11-01.keyring",
            "tenant-ab/2026-11-01.pgp",
        ] {
            store.put(key, body(1, 10)).await.unwrap();
        }
        let keys = |list: Vec<gdpr_ports::ObjectMeta>| -> Vec<String> {
            list.into_iter().map(|m| m.key).collect()
        };
        assert_eq!(
            keys(store.list("tenant-a/").await.unwrap()),
            [
                "tenant-a/2026-11-01.keyring",
                "tenant-a/2026-11-01.pgp",
                "tenant-a/2026-11-02.pgp"
            ],
            "{}",
            store.kind()
        );
        assert_eq!(
            keys(store.list("tenant-a/2026-11-01").await.unwrap()),
            ["tenant-a/2026-11-01.keyring", "tenant-a/2026-11-01.pgp"],
            "{}",
            store.kind()
        );
        assert_eq!(store.list("").await.unwrap().len(), 5);
        store.delete("tenant-a/2026-11-01.pgp").await.unwrap();
        store.delete("tenant-a/2026-11-01.pgp").await.unwrap();
        assert!(matches!(
            store.get("tenant-a/2026-11-01.pgp").await.err(),
            Some(BackupError::NotFound(_))
        ));
        assert_eq!(store.list("tenant-a/").await.unwrap().len(), 2);
        assert!(store.list("tenant-ab").await.unwrap().len() == 1);
    }
}

#[tokio::test]
async fn a_failing_body_leaves_no_object_and_keeps_the_previous_one() {
    for Case { store, root, .. } in stores().await {
        store.put("t/keep", body(1, 5)).await.unwrap();
        // 6 MiB arrive (one part is uploaded), then the source fails.
        let failing: ByteStream = Box::pin(body(96, 64 * 1024).chain(stream::iter([Err(
            std::io::Error::other("disk read failed"),
        )])));
        assert!(matches!(
            store.put("t/new", failing).await,
            Err(BackupError::Source(_))
        ));
        let failing: ByteStream = Box::pin(body(2, 10).chain(stream::iter([Err(
            std::io::Error::other("disk read failed"),
        )])));
        assert!(store.put("t/keep", failing).await.is_err());
        let keys: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["t/keep"], "{}", store.kind());
        assert_eq!(read(&store, "t/keep").await, vec![0u8; 5]);
        // The aborted uploads left no parts or staging files behind.
        assert_eq!(leftovers(&root), Vec::<String>::new(), "{}", store.kind());
    }
}

#[tokio::test]
async fn keys_that_could_escape_are_refused_before_any_request() {
    // No server listens on port 9: an answer other than InvalidKey would mean a request went out.
    let mut nowhere = settings(&s3_server().await, SECRET_KEY);
    nowhere.endpoint = Some("http://127.0.0.1:9".to_owned());
    let dir = tempfile::tempdir().unwrap();
    for store in [
        ObjectBackupStore::s3(&nowhere).unwrap(),
        ObjectBackupStore::local(dir.path()).unwrap(),
    ] {
        for key in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a/b#1"] {
            assert!(
                matches!(
                    store.put(key, body(1, 1)).await,
                    Err(BackupError::InvalidKey(_))
                ),
                "{key:?} on {}",
                store.kind()
            );
            assert!(matches!(
                store.delete(key).await,
                Err(BackupError::InvalidKey(_))
            ));
            assert!(matches!(
                store.get(key).await.err(),
                Some(BackupError::InvalidKey(_))
            ));
        }
        // A prefix no valid key can have lists nothing, without asking the store.
        assert!(store.list("a//").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn wrong_credentials_or_no_server_are_unavailable_and_say_nothing_secret() {
    let server = s3_server().await;
    let wrong = ObjectBackupStore::s3(&settings(&server, "not-the-secret")).unwrap();
    let err = wrong.put("t/x", body(1, 1)).await.unwrap_err();
    assert!(matches!(err, BackupError::Unavailable(_)), "{err:?}");
    let shown = format!("{err} {err:?} {:?}", wrong);
    assert!(!shown.contains("not-the-secret"), "{shown}");
    // The server signs with the right key only: nothing was stored.
    let right = ObjectBackupStore::s3(&settings(&server, SECRET_KEY)).unwrap();
    assert!(right.list("").await.unwrap().is_empty());

    let mut gone = settings(&server, SECRET_KEY);
    gone.endpoint = Some("http://127.0.0.1:9".to_owned());
    let gone = ObjectBackupStore::s3(&gone).unwrap();
    let listed = tokio::time::timeout(Duration::from_secs(60), gone.list("")).await;
    assert!(matches!(listed, Ok(Err(BackupError::Unavailable(_)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_only_write_succeeds_once_and_never_overwrites() {
    for case in stores().await {
        let store = &case.store;
        store
            .put_new(
                "journal/t/00000000000000000001.json",
                Bytes::from_static(b"first"),
            )
            .await
            .unwrap();
        let again = store
            .put_new(
                "journal/t/00000000000000000001.json",
                Bytes::from_static(b"second"),
            )
            .await;
        assert!(
            matches!(again, Err(BackupError::AlreadyExists(_))),
            "{}: {again:?}",
            store.kind()
        );
        let kept: Vec<Bytes> = store
            .get("journal/t/00000000000000000001.json")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(kept.concat(), b"first", "{}", store.kind());
        assert!(matches!(
            store.put_new("../escape", Bytes::new()).await,
            Err(BackupError::InvalidKey(_))
        ));
        // Racing writers of one new key: exactly one wins. (On the local disk, a hard link;
        // S3 itself makes `If-None-Match: *` atomic, which the test server checks only
        // request by request.)
        if store.kind() != "local" {
            continue;
        }
        let racers = (0..8).map(|n| {
            let store = store.clone();
            async move {
                store
                    .put_new(
                        "journal/t/00000000000000000002.json",
                        Bytes::from(vec![n; 4]),
                    )
                    .await
            }
        });
        let won = futures_util::future::join_all(racers)
            .await
            .into_iter()
            .filter(Result::is_ok)
            .count();
        assert_eq!(won, 1, "{}", store.kind());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_keeps_old_versions_is_found_out() {
    let server = s3_server().await;
    let store = ObjectBackupStore::s3(&settings(&server, SECRET_KEY)).unwrap();
    assert!(!store.keeps_old_versions().await.unwrap());
    server.keep_old_versions();
    assert!(store.keeps_old_versions().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let local = ObjectBackupStore::local(dir.path()).unwrap();
    assert!(!local.keeps_old_versions().await.unwrap());
}
