//! `cargo xtask bench backup`: backups and restores of a tenant with 1,000,000 records on
//! PostgreSQL, each against the standard tools on the same rows in the same run.
//!
//! 1. `gdpr backup` (dump, zstd, OpenPGP, object storage on disk) against
//!    `pg_dump | zstd | gpg -e` of the database, which holds only that tenant.
//! 2. `gdpr restore` into an empty database against `gpg -d | zstd -d | psql` into another.
//! 3. Our OpenPGP encryption of a 100 MB stream against `gpg -e` of the same bytes (both
//!    without compression: the bytes are incompressible), and rPGP alone (in memory, on one
//!    thread, into a sink): the floor our streaming encryptor stands on.
//! 4. Peak memory (max RSS) of `gdpr backup` and of `gdpr restore` against the same for a
//!    tenant ten times smaller: flat means the same.
//!
//! Everything runs as child processes timed by this one (and `/usr/bin/time` for memory).
//! The restore and the encryption run in `BENCH_ROUNDS` rounds (3 by default), which side goes
//! first alternating, each restore into freshly created databases; each side's median is
//! reported, with every round's ratio. `BENCH_RECORDS` makes a smaller run; `BENCH_GDPR` names
//! another build of the `gdpr` binary to measure (to compare two builds on one machine in one
//! sitting); the PostgreSQL server is `GDPR_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).
#![allow(clippy::print_stdout, reason = "a benchmark prints its report")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gdpr_app::{Ctx, NewSubject};
use gdpr_audit::Actor;
use gdpr_consent::LawfulBasis;
use gdpr_ports::{ByteStream, Encryptor, Recipients};
use gdpr_testkit::GpgHome;
use pgp::composed::{Deserializable as _, MessageBuilder, SignedPublicKey};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use sea_orm::{ConnectionTrait, Database};

use common::{
    Databases, create_database, db_url, drop_database, keep, median, per_round, ratio, records,
    rounds,
};
use secrecy::ExposeSecret;

const OPS: &str = "ops@example.org";
const SUBJECTS: usize = 2_000;
const STREAM_MB: usize = 100;

/// A configuration file for the `gdpr` binary on database `db`.
fn config_file(
    dir: &Path,
    name: &str,
    db: &str,
    master: &str,
    gpg: &GpgHome,
) -> std::path::PathBuf {
    let secret = dir.join("ops.sec.asc");
    std::fs::write(&secret, gpg.secret_key(OPS, "")).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"profile = "production"
[database]
url = "{url}"
[security]
master_key = "{master}"
[jobs]
enabled = false
[logging]
level = "warn"
[signing]
key_file = "{signing}"
[backups]
directory = "{backups}"
recipients = ['''{public}''']
decryption_key_file = "{secret}"
{relay}"#,
            relay = common::LOCAL_RELAY,
            signing = common::signing_key_file(dir).display(),
            url = db_url(db),
            backups = dir.join("backups").display(),
            public = gpg.public_key(OPS),
            secret = secret.display(),
        ),
    )
    .unwrap();
    path
}

/// Runs a shell pipeline under `/usr/bin/time`; wall time and max RSS (KiB).
fn timed(script: &str, gnupghome: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M", "bash", "-o", "pipefail", "-c", script])
        .env("GNUPGHOME", gnupghome)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script}: {stderr}");
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (took, rss)
}

/// Creates a tenant with `SUBJECTS` subjects and `n` records; its id.
async fn seed(config: &gdpr_server::config::Config, name: &str, n: usize) -> String {
    let app =
        gdpr_server::application(config, gdpr_server::open_store(config, true).await.unwrap())
            .unwrap();
    let tenant = app
        .create_tenant(Actor::Operator, name, "dpo@bench.example")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant.id, Actor::Operator);
    app.define_purpose(ctx, "staff", "Managing contractors", LawfulBasis::Contract)
        .await
        .unwrap();
    let form = app
        .define_form(
            ctx,
            "Contractors",
            gdpr_testkit::fake::contractors_schema().specs(),
            "staff",
        )
        .await
        .unwrap();
    let subjects = n.min(SUBJECTS);
    let mut ids = Vec::with_capacity(subjects);
    for start in (0..subjects).step_by(1_000) {
        let batch = (start..(start + 1_000).min(subjects))
            .map(|i| NewSubject {
                email: Some(format!("{name}-{i}@example.org")),
                full_name: Some(format!("Person {i}")),
                ip_address: Some("198.51.100.7".into()),
            })
            .collect();
        for s in app.import_subjects(ctx, batch).await.unwrap() {
            ids.push(s.unwrap().id);
        }
    }
    for (i, s) in ids.iter().enumerate() {
        let values = serde_json::json!({
            "email": format!("{name}-{i}@example.org"),
            "full_name": format!("Person {i}"),
            "phone": "+33 1 23 45 67 89",
            "day_rate": 500 + i % 300,
        });
        app.submit_record(ctx, form.id, *s, &values).await.unwrap();
    }
    // The rest are copies of those real records under new ids, with fresh random bytes in
    // place of the ciphertext (ciphertext is random, so neither side can compress it away):
    // the same shape and size, made in seconds instead of hours.
    let copies = n.saturating_sub(subjects).div_ceil(subjects.max(1));
    if copies > 0 {
        let db = Database::connect(&config.database.connect_url().expose_secret().to_owned())
            .await
            .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO records (id, tenant_id, form_id, subject_id, plain, sealed, created_at)
             SELECT gen_random_uuid(), r.tenant_id, r.form_id, r.subject_id, r.plain,
                 'v2:' || {random},
                 r.created_at + g
             FROM records r CROSS JOIN generate_series(1, {copies}) g
             WHERE r.tenant_id = '{}'",
            tenant.id,
            // About the size of a real record's ciphertext (its personal fields as one JSON
            // object, nonce and tag: ~130 bytes).
            random = "replace(encode(sha512(random()::text::bytea) || sha512(random()::text::bytea), 'base64'), E'\\n', '')",
        ))
        .await
        .unwrap();
        db.close().await.unwrap();
    }
    tenant.id.to_string()
}

/// Per round: our encryptor's times (SEIPDv1, to a gpg key), `gpg -e`'s, rPGP's alone, and
/// ours to a key that reads SEIPDv2 (AES-256/OCB).
struct Encryptions {
    ours: Vec<Duration>,
    gpg: Vec<Duration>,
    alone: Vec<Duration>,
    ours_v2: Vec<Duration>,
}

async fn encrypt_100mb(gpg: &GpgHome, dir: &Path) -> Encryptions {
    let block: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let chunks = STREAM_MB * 16;
    let file = dir.join("stream.bin");
    {
        let mut all = Vec::with_capacity(chunks * block.len());
        for i in 0..chunks {
            // Different bytes per chunk: nothing for a compressor to find.
            all.extend(block.iter().map(|b| b ^ (i as u8)));
        }
        std::fs::write(&file, all).unwrap();
    }
    let encryptor = gdpr_crypto_openpgp::OpenPgpEncryptor::new(&[gpg.public_key(OPS)]).unwrap();
    let data = Bytes::from(std::fs::read(&file).unwrap());
    let (public, _) = SignedPublicKey::from_string(&gpg.public_key(OPS)).unwrap();
    let (_, v2_key) = gdpr_crypto_openpgp::generate_recipient_key("V2 <v2@example.org>").unwrap();
    let v2 = gdpr_crypto_openpgp::OpenPgpEncryptor::new(&[v2_key]).unwrap();
    let mut e = Encryptions {
        ours: Vec::new(),
        gpg: Vec::new(),
        alone: Vec::new(),
        ours_v2: Vec::new(),
    };
    for round in 0..rounds(3) {
        let gpg_first = round % 2 == 1;
        if gpg_first {
            e.gpg.push(gpg_encrypt(gpg, &file));
        }
        e.ours.push(our_encrypt(&encryptor, &data, chunks).await);
        e.ours_v2.push(our_encrypt(&v2, &data, chunks).await);
        e.alone.push(rpgp_alone(&public, &data));
        if !gpg_first {
            e.gpg.push(gpg_encrypt(gpg, &file));
        }
    }
    e
}

/// The encryption rows.
fn print_encryptions(e: Encryptions) {
    for (what, ours, target) in [
        (
            "OpenPGP encryption, SEIPDv1 (a gpg key)",
            &e.ours,
            "<= 1.15",
        ),
        (
            "OpenPGP encryption, SEIPDv2 AES-256/OCB (a key that reads it)",
            &e.ours_v2,
            "reported",
        ),
        (
            "the floor: rPGP alone, SEIPDv1, in memory on one thread",
            &e.alone,
            "(the library's own speed)",
        ),
    ] {
        let (per_round, median_ratio) = per_round(ours, &e.gpg);
        println!(
            "| {what}, {STREAM_MB} MB (median of {} rounds; per round: {per_round}; their median {median_ratio:.2}) | {:.2} s | gpg -e (no compression): {:.2} s | {:.2} | {target} |",
            ours.len(),
            median(ours.clone()).as_secs_f64(),
            median(e.gpg.clone()).as_secs_f64(),
            ratio(median(ours.clone()), median(e.gpg.clone())),
        );
    }
}

/// The `pgp` crate's own SEIPD v1 AES-256 encryption of `data` to the key's encryption
/// subkeys, from memory into a sink on this thread: no hand-off, no I/O.
fn rpgp_alone(key: &SignedPublicKey, data: &Bytes) -> Duration {
    let started = Instant::now();
    let mut rng = rand::thread_rng();
    let mut message = MessageBuilder::from_reader("", &data[..])
        .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    for sub in &key.public_subkeys {
        message.encrypt_to_key(&mut rng, sub).unwrap();
    }
    let mut out = CountingSink(0);
    message.to_writer(&mut rng, &mut out).unwrap();
    let took = started.elapsed();
    assert!(out.0 > data.len());
    took
}

/// Counts what it is given and keeps nothing.
struct CountingSink(usize);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn our_encrypt(
    encryptor: &gdpr_crypto_openpgp::OpenPgpEncryptor,
    data: &Bytes,
    chunks: usize,
) -> Duration {
    let data = data.clone();
    let started = Instant::now();
    let input: ByteStream = Box::pin(futures_util::stream::iter(
        (0..chunks).map(move |i| Ok(data.slice(i * 65_536..(i + 1) * 65_536))),
    ));
    let mut out = encryptor
        .encrypt(Recipients::Configured, input)
        .await
        .unwrap();
    let mut size = 0;
    while let Some(chunk) = out.next().await {
        size += chunk.unwrap().len();
    }
    let took = started.elapsed();
    assert!(size > STREAM_MB * 1_000_000);
    took
}

fn gpg_encrypt(gpg: &GpgHome, file: &Path) -> Duration {
    timed(
        &format!(
            "gpg --batch --trust-model always --compress-algo none -e -r {OPS} -o /dev/null {}",
            file.display()
        ),
        gpg.path(),
    )
    .0
}

#[tokio::main]
async fn main() {
    let n = records();
    let gpg = GpgHome::generate("Ops <ops@example.org>", "", "future-default");
    let dir = tempfile::tempdir().unwrap();
    if std::env::var("BENCH_ONLY").as_deref() == Ok("openpgp") {
        println!("| measure | ours | baseline | ratio | target |");
        println!("| --- | --- | --- | --- | --- |");
        print_encryptions(encrypt_100mb(&gpg, dir.path()).await);
        return;
    }
    if keep() {
        eprintln!("BENCH_KEEP: files kept in {}", dir.path().display());
    }
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (src, ours_db, psql_db) = (
        format!("gdpr_bench_src_{suffix}"),
        format!("gdpr_bench_ours_{suffix}"),
        format!("gdpr_bench_psql_{suffix}"),
    );
    let _drop = Databases(vec![src.clone(), ours_db.clone(), psql_db.clone()]);
    for db in [&src, &ours_db, &psql_db] {
        create_database(db, None).await;
    }
    let master = gdpr_store_seaorm::MasterKey::generate().1;
    let master = master.expose_secret();
    let src_file = config_file(dir.path(), "src", &src, master, &gpg);
    let ours_file = config_file(dir.path(), "ours", &ours_db, master, &gpg);
    let config = gdpr_server::config::Config::load(Some(&src_file)).unwrap();
    println!("seeding a tenant with {n} records ({SUBJECTS} subjects) in PostgreSQL...");
    let tenant = seed(&config, "big", n).await;
    let gdpr = std::env::var("BENCH_GDPR").unwrap_or_else(|_| env!("CARGO_BIN_EXE_gdpr").into());

    // 1. Backup, in rounds (each of ours adds a backup; the restores read the newest).
    let dump = dir.path().join("pg_dump.zst.pgp");
    let ours = || {
        timed(
            &format!(
                "{gdpr} --config {} backup --tenant {tenant} > {}/backup.json",
                src_file.display(),
                dir.path().display()
            ),
            gpg.path(),
        )
    };
    let theirs = || {
        timed(
            &format!(
                "pg_dump -d {} | zstd -3 -q | gpg --batch --yes --trust-model always -e -r {OPS} -o {}",
                db_url(&src),
                dump.display()
            ),
            gpg.path(),
        )
        .0
    };
    let (mut ours_backups, mut pg_backups, mut ours_rss) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds(3) {
        if round % 2 == 1 {
            pg_backups.push(theirs());
        }
        let (took, rss) = ours();
        ours_backups.push(took);
        ours_rss = ours_rss.max(rss);
        if round % 2 == 0 {
            pg_backups.push(theirs());
        }
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("backup.json")).unwrap()).unwrap();
    let our_size = summary[0]["payload_bytes"].as_u64().unwrap_or(0);
    let pg_size = std::fs::metadata(&dump).unwrap().len();

    // 2. Restore into empty databases, fresh ones each round.
    let (mut ours_restores, mut pg_restores, mut restore_rss) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds(3) {
        for db in [&ours_db, &psql_db] {
            drop_database(db).await;
            create_database(db, None).await;
        }
        let ours = |restore_rss: &mut u64| {
            let (took, rss) = timed(
                &format!(
                    "{gdpr} --config {} restore --tenant {tenant} > /dev/null",
                    ours_file.display()
                ),
                gpg.path(),
            );
            *restore_rss = (*restore_rss).max(rss);
            took
        };
        let theirs = || {
            timed(
                &format!(
                    "gpg --batch -q -d {} | zstd -d -q | psql -q -v ON_ERROR_STOP=1 -d {} > /dev/null",
                    dump.display(),
                    db_url(&psql_db)
                ),
                gpg.path(),
            )
            .0
        };
        if round % 2 == 0 {
            ours_restores.push(ours(&mut restore_rss));
            pg_restores.push(theirs());
        } else {
            pg_restores.push(theirs());
            ours_restores.push(ours(&mut restore_rss));
        }
    }

    // 3. OpenPGP on 100 MB.
    let encryptions = encrypt_100mb(&gpg, dir.path()).await;

    // 4. Memory: the same backup and restore for a tenant ten times smaller.
    let small = seed(&config, "small", n / 10).await;
    let (_, small_rss) = timed(
        &format!(
            "{gdpr} --config {} backup --tenant {small} > /dev/null",
            src_file.display()
        ),
        gpg.path(),
    );
    drop_database(&ours_db).await;
    create_database(&ours_db, None).await;
    let (_, small_restore_rss) = timed(
        &format!(
            "{gdpr} --config {} restore --tenant {small} > /dev/null",
            ours_file.display()
        ),
        gpg.path(),
    );

    println!();
    println!("| measure | ours | baseline | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    let (backup_rounds, backup_median) = per_round(&ours_backups, &pg_backups);
    let (ours_backup, pg_backup) = (median(ours_backups), median(pg_backups));
    println!(
        "| backup, {n} records (median of {} rounds; per round: {backup_rounds}; their median {backup_median:.2}) | {:.1} s ({} MB) | pg_dump \\| zstd \\| gpg -e: {:.1} s ({} MB) | {:.2} | <= 1.0 |",
        rounds(3),
        ours_backup.as_secs_f64(),
        our_size / 1_000_000,
        pg_backup.as_secs_f64(),
        pg_size / 1_000_000,
        ratio(ours_backup, pg_backup)
    );
    let (restore_rounds, restore_median) = per_round(&ours_restores, &pg_restores);
    let (ours_restore, pg_restore) = (median(ours_restores), median(pg_restores));
    println!(
        "| restore into an empty database (median of {} rounds; per round: {restore_rounds}; their median {restore_median:.2}) | {:.1} s | gpg -d \\| zstd -d \\| psql: {:.1} s | {:.2} | <= 1.0 |",
        rounds(3),
        ours_restore.as_secs_f64(),
        pg_restore.as_secs_f64(),
        ratio(ours_restore, pg_restore)
    );
    print_encryptions(encryptions);
    println!(
        "| peak memory of gdpr backup | {} MiB at {n} records | {} MiB at {} records | {:.2} | flat (about 1) |",
        ours_rss / 1024,
        small_rss / 1024,
        n / 10,
        ours_rss as f64 / small_rss.max(1) as f64
    );
    println!(
        "| peak memory of gdpr restore | {} MiB at {n} records | {} MiB at {} records | {:.2} | flat (about 1) |",
        restore_rss / 1024,
        small_restore_rss / 1024,
        n / 10,
        restore_rss as f64 / small_restore_rss.max(1) as f64
    );
    if keep() {
        let _ = dir.keep();
    }
}
