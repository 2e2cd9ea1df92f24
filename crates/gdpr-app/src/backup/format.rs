//! The backup format, version 2, and the decision journal, version 1 (both documented in
//! `docs/backup-format.md`).
//!
//! A backup of a tenant is a folder `backups/<tenant>/<backup id>/` holding:
//! - `payload.ndjson.zst.pgp`: the tenant's rows, one JSON line each
//!   (`{"t":table,"s":subject,"r":row}`), zstd-compressed, then OpenPGP-encrypted;
//! - `keyring/<xx>.json`: the subjects' wrapped data keys, sharded by a random byte of the
//!   subject id (`shard_of`), so that erasing one subject rewrites one small object per backup;
//!   each shard is signed and names its tenant, backup and shard;
//! - `manifest.json`, written last and signed: the backup exists (is listed, restorable,
//!   prunable as a backup) only once its manifest does. It names the schema version, the
//!   tenant, when, the row counts, the payload's size and SHA-256, every keyring shard's
//!   SHA-256 and the decision journal's head;
//! - `VERIFIED`, once a verification pass decrypted it and found it whole.
//!
//! Every small object is a signed [`Envelope`]: object storage is not trusted, so nothing read
//! from it is believed without a signature from a pinned key. Decisions are journaled outside
//! every backup, at `journal/<tenant>/<seq>.json`, signed and hash-chained ([`JournalEntry`]).
//! Tombstones journaled by earlier versions, `tombstones/<tenant>/...`, are still read.

use std::collections::BTreeMap;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use gdpr_pii::{SubjectId, TenantId};
use gdpr_ports::WrappedKey;
use gdpr_rights::{Decision, Tombstone};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The format's name, in every manifest.
pub const FORMAT: &str = "gdpr-backup";
/// The format's version; a reader refuses any other (version 1 was unsigned).
pub const FORMAT_VERSION: u32 = 2;
/// The payload object's name in a backup folder.
pub const PAYLOAD: &str = "payload.ndjson.zst.pgp";
/// The manifest object's name.
pub const MANIFEST: &str = "manifest.json";
/// The folder of keyring shards.
pub const KEYRING: &str = "keyring/";
/// zstd level 1: rows are mostly ciphertext (base64 of random bytes) and ids, which level 3
/// compresses no smaller (1,000,000 records: 163.8 MB at level 1, 166.4 MB at level 3) in twice
/// the time. Any level decodes the same way: the format does not change.
const ZSTD_LEVEL: i32 = 1;
/// Compressed bytes gathered before they are handed on.
const CHUNK: usize = 256 * 1024;

/// What a backup contains and how to check it. No personal data: ids, times, counts, hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for what this code writes.
    pub version: u32,
    /// The storage schema the rows are in.
    pub schema_version: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The backup's id (its folder name).
    pub backup_id: String,
    /// When the snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the backup was complete.
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
    /// Rows in the payload, by table.
    pub rows: BTreeMap<String, u64>,
    /// Data keys in the keyring when it was written.
    pub keys: u64,
    /// The payload object.
    pub payload: PayloadInfo,
    /// The keyring shards written, each with the SHA-256 of its signed content then.
    pub keyring: Vec<ShardRef>,
    /// The decision journal's newest entry when the backup was taken (`None`: empty): a
    /// journal that no longer reaches it lost entries.
    pub journal: Option<JournalMark>,
}

/// A keyring shard as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    /// Its name relative to the backup folder (`keyring/ab.json`).
    pub name: String,
    /// SHA-256 of its signed content as the backup wrote it, hex.
    pub sha256: String,
}

/// A journal entry, by position and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMark {
    /// Its sequence number.
    pub seq: u64,
    /// SHA-256 of its signed content, hex.
    pub sha256: String,
}

/// The payload object's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadInfo {
    /// Its name in the folder.
    pub object: String,
    /// Its size in bytes, as stored.
    pub size: u64,
    /// SHA-256 of the bytes as stored (the encrypted payload), hex.
    pub sha256: String,
    /// `zstd`.
    pub compression: String,
    /// `openpgp`.
    pub encryption: String,
}

/// One keyring shard: wrapped data keys, useless without the master secret. It names where it
/// belongs, so that a validly signed shard of another backup, tenant or shard cannot stand in
/// for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyringShard {
    /// `gdpr-keyring`.
    pub format: String,
    /// 2.
    pub version: u32,
    /// The tenant.
    pub tenant: TenantId,
    /// The backup.
    pub backup: String,
    /// Its name in the backup folder.
    pub shard: String,
    /// Once rewritten by crypto-shredding: the SHA-256 the manifest holds for it (its content
    /// as the backup wrote it). `None` while it is that content.
    pub original: Option<String>,
    /// The keys, by subject.
    pub keys: BTreeMap<SubjectId, String>,
}

impl KeyringShard {
    /// An empty shard of a backup.
    #[must_use]
    pub fn new(tenant: TenantId, backup: &str, shard: &str) -> Self {
        Self {
            format: "gdpr-keyring".into(),
            version: 2,
            tenant,
            backup: backup.to_owned(),
            shard: shard.to_owned(),
            original: None,
            keys: BTreeMap::new(),
        }
    }

    /// Whether it is the shard `name` of `tenant`'s backup `backup` that the manifest lists
    /// with `sha256` (its signed content hashing to `content_sha256`).
    #[must_use]
    pub fn belongs(
        &self,
        tenant: TenantId,
        backup: &str,
        listed: &ShardRef,
        content_sha256: &str,
    ) -> bool {
        self.format == "gdpr-keyring"
            && self.version == 2
            && self.tenant == tenant
            && self.backup == backup
            && self.shard == listed.name
            && self.original.as_deref().unwrap_or(content_sha256) == listed.sha256
    }

    /// Adds a key.
    pub fn insert(&mut self, key: &WrappedKey) {
        self.keys.insert(key.subject, B64.encode(&key.wrapped));
    }

    /// The keys, decoded; `None` if one is not base64.
    #[must_use]
    pub fn wrapped_keys(&self) -> Option<Vec<WrappedKey>> {
        self.keys
            .iter()
            .map(|(subject, key)| {
                Some(WrappedKey {
                    subject: *subject,
                    wrapped: B64.decode(key).ok()?,
                })
            })
            .collect()
    }
}

/// The shard a subject's key goes to: a random byte of its id, in hex. That is the last byte of
/// a time-ordered (version 7) id, whose first bytes are a timestamp that would put a whole
/// import into one shard; and the first byte of the random (version 4) ids given before, so
/// that the backups holding those subjects are still searched where their keys are.
#[must_use]
pub fn shard_of(subject: SubjectId) -> String {
    let id = subject.as_uuid();
    let byte = if id.get_version_num() == 7 {
        id.as_bytes()[15]
    } else {
        id.as_bytes()[0]
    };
    format!("{KEYRING}{byte:02x}.json")
}

/// Every shard that may hold a subject's key, for erasure to search: [`shard_of`], and for a
/// version 7 id also its first-byte shard, where a server older than that rule (still running
/// beside newer ones during a rolling upgrade) files every id. Backups do not record which
/// rule filed them, so erasure looks in both; a shard without the key is read, not rewritten.
#[must_use]
pub fn shards_to_search(subject: SubjectId) -> Vec<String> {
    let mut shards = vec![shard_of(subject)];
    let id = subject.as_uuid();
    if id.get_version_num() == 7 {
        let legacy = format!("{KEYRING}{:02x}.json", id.as_bytes()[0]);
        if legacy != shards[0] {
            shards.push(legacy);
        }
    }
    shards
}

/// A signed object as stored: `{"signed": <the JSON content, byte for byte as signed>,
/// "signature": "<detached signature>"}`. The content stays readable; its exact bytes are
/// kept, so the signature checks without any canonical form.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// The content, raw.
    #[serde(borrow)]
    pub signed: &'a serde_json::value::RawValue,
    /// The signature over its bytes.
    pub signature: String,
}

/// The stored bytes of `content` (a JSON document) signed with `signature`.
#[must_use]
pub fn envelope(content: &[u8], signature: &str) -> Bytes {
    let signature =
        serde_json::to_string(signature).unwrap_or_else(|_| unreachable!("a string serialises"));
    let mut out = Vec::with_capacity(content.len() + signature.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(content);
    out.extend_from_slice(b",\"signature\":");
    out.extend_from_slice(signature.as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// SHA-256 of signed content, hex: how manifests and journal entries refer to objects.
#[must_use]
pub fn content_sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// The journal's name, in every entry.
pub const JOURNAL_FORMAT: &str = "gdpr-journal";
/// The journal's version; a reader refuses any other.
pub const JOURNAL_VERSION: u32 = 1;
/// What the first entry of a journal links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of a tenant's decision journal: the decisions written together, numbered
/// without gaps and chained to the entry before, so that a removed, altered, reordered or
/// foreign entry shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// [`JOURNAL_FORMAT`].
    pub format: String,
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The tenant.
    pub tenant: TenantId,
    /// Its position, from 1.
    pub seq: u64,
    /// SHA-256 of the previous entry's signed content ([`GENESIS`] for the first).
    pub prev: String,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: OffsetDateTime,
    /// The decisions.
    pub decisions: Vec<Decision>,
}

/// The name of a journal checkpoint, in every one.
pub const CHECKPOINT_FORMAT: &str = "gdpr-journal-checkpoint";

/// Where a pruned journal starts: entries up to `seq` were deleted with the backups they
/// outlived, and entry `seq + 1` must follow the one whose content hashed to `sha256`.
/// Signed like the entries, so that nobody without the signing key can move it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalCheckpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The tenant.
    pub tenant: TenantId,
    /// The last entry pruned.
    pub seq: u64,
    /// SHA-256 of that entry's signed content.
    pub sha256: String,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: OffsetDateTime,
}

/// The object key of a tenant's journal checkpoint.
#[must_use]
pub fn journal_checkpoint_key(tenant: TenantId) -> String {
    format!("{}checkpoint.json", journal_prefix(tenant))
}

/// The prefix of a tenant's decision journal.
#[must_use]
pub fn journal_prefix(tenant: TenantId) -> String {
    format!("journal/{tenant}/")
}

/// The object key of a tenant's journal entry `seq` (zero-padded: keys sort by number).
#[must_use]
pub fn journal_key(tenant: TenantId, seq: u64) -> String {
    format!("{}{seq:020}.json", journal_prefix(tenant))
}

/// The sequence number a journal object's key names, if it is an entry's.
#[must_use]
pub fn journal_seq(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?.strip_suffix(".json")?;
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// A legacy (version 1, unsigned) tombstone journal entry as earlier versions wrote it: one
/// tombstone (a single erasure) or an array of them (one chunk of a batch erasure).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum LegacyEntry {
    One(Tombstone),
    Many(Vec<Tombstone>),
}

/// The tombstones of a legacy journal entry; `None` when it does not parse.
#[must_use]
pub fn read_legacy_tombstones(bytes: &[u8]) -> Option<Vec<Tombstone>> {
    match serde_json::from_slice(bytes).ok()? {
        LegacyEntry::One(t) => Some(vec![t]),
        LegacyEntry::Many(ts) => Some(ts),
    }
}

/// The prefix of a tenant's legacy tombstone journal.
#[must_use]
pub fn legacy_tombstone_prefix(tenant: TenantId) -> String {
    format!("tombstones/{tenant}/")
}

/// One payload line, as written.
#[must_use]
pub fn encode_line(table: &str, subject: Option<SubjectId>, row: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(row.len() + 64);
    line.extend_from_slice(b"{\"t\":");
    line.extend_from_slice(
        serde_json::to_string(table)
            .unwrap_or_else(|_| unreachable!("a string serialises"))
            .as_bytes(),
    );
    if let Some(subject) = subject {
        line.extend_from_slice(b",\"s\":\"");
        line.extend_from_slice(subject.to_string().as_bytes());
        line.push(b'"');
    }
    line.extend_from_slice(b",\"r\":");
    line.extend_from_slice(row.as_bytes());
    line.extend_from_slice(b"}\n");
    line
}

/// One payload line, as read: the row stays raw JSON.
#[derive(Debug, Deserialize)]
pub struct Line<'a> {
    /// Table.
    pub t: String,
    /// Subject, for rows holding their personal data.
    pub s: Option<SubjectId>,
    /// The row.
    #[serde(borrow)]
    pub r: &'a serde_json::value::RawValue,
}

/// zstd compression fed piece by piece, giving compressed chunks as they fill.
pub struct Compressor(zstd::stream::write::Encoder<'static, Vec<u8>>);

impl Compressor {
    /// A compressor at the format's level.
    ///
    /// # Errors
    /// When zstd cannot allocate its context.
    pub fn new() -> std::io::Result<Self> {
        zstd::stream::write::Encoder::new(Vec::with_capacity(CHUNK * 2), ZSTD_LEVEL).map(Self)
    }

    /// Compresses `data`; returns a chunk once enough compressed bytes are gathered.
    ///
    /// # Errors
    /// zstd errors.
    pub fn push(&mut self, data: &[u8]) -> std::io::Result<Option<Bytes>> {
        self.0.write_all(data)?;
        Ok(
            (self.0.get_ref().len() >= CHUNK)
                .then(|| Bytes::from(std::mem::take(self.0.get_mut()))),
        )
    }

    /// Ends the frame and returns what is left.
    ///
    /// # Errors
    /// zstd errors.
    pub fn finish(self) -> std::io::Result<Bytes> {
        self.0.finish().map(Bytes::from)
    }
}

/// zstd decompression fed piece by piece, giving complete lines.
pub struct LineDecoder {
    decoder: zstd::stream::write::Decoder<'static, Vec<u8>>,
    /// Decompressed bytes after the last complete line.
    start: usize,
}

impl LineDecoder {
    /// A decoder.
    ///
    /// # Errors
    /// When zstd cannot allocate its context.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            decoder: zstd::stream::write::Decoder::new(Vec::with_capacity(CHUNK * 2))?,
            start: 0,
        })
    }

    /// Decompresses `data` and hands every complete line to `each`.
    ///
    /// # Errors
    /// zstd errors (corrupt data), or `each`'s.
    pub fn push<E: From<std::io::Error>>(
        &mut self,
        data: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.decoder.write_all(data)?;
        self.decoder.flush()?;
        let buf = self.decoder.get_mut();
        let mut start = self.start;
        while let Some(end) = memchr::memchr(b'\n', &buf[start..]) {
            each(&buf[start..start + end])?;
            start += end + 1;
        }
        buf.drain(..start);
        self.start = 0;
        Ok(())
    }

    /// Whether bytes are left over after the last line (a truncated payload).
    #[must_use]
    pub fn has_leftover(&mut self) -> bool {
        !self.decoder.get_mut().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_subjects_created_together_spread_over_the_shards() {
        // A thousand ids of the same few milliseconds share their first bytes (a timestamp):
        // sharded by those, they would all land in one shard.
        let shards: std::collections::BTreeSet<String> = (0..1_000)
            .map(|_| shard_of(SubjectId::at(time::OffsetDateTime::UNIX_EPOCH)))
            .collect();
        assert!(shards.len() > 200, "{} shards", shards.len());
    }

    #[test]
    fn a_random_id_of_earlier_versions_keeps_its_shard() {
        let v4 = uuid::Uuid::parse_str("a1b2c3d4-0000-4000-8000-0000000000ff").unwrap();
        assert_eq!(
            shard_of(SubjectId::from_uuid(v4)),
            format!("{KEYRING}a1.json")
        );
    }

    #[test]
    fn erasure_searches_a_time_ordered_id_under_both_rules() {
        let v7 = uuid::Uuid::parse_str("0193a1b2-0000-7000-8000-0000000000ff").unwrap();
        assert_eq!(
            shards_to_search(SubjectId::from_uuid(v7)),
            [format!("{KEYRING}ff.json"), format!("{KEYRING}01.json")]
        );
        let same = uuid::Uuid::parse_str("0193a1b2-0000-7000-8000-000000000001").unwrap();
        assert_eq!(
            shards_to_search(SubjectId::from_uuid(same)),
            [format!("{KEYRING}01.json")]
        );
        let v4 = uuid::Uuid::parse_str("a1b2c3d4-0000-4000-8000-0000000000ff").unwrap();
        assert_eq!(
            shards_to_search(SubjectId::from_uuid(v4)),
            [format!("{KEYRING}a1.json")]
        );
    }

    #[test]
    fn lines_round_trip_through_compression() {
        let s = SubjectId::at(time::OffsetDateTime::UNIX_EPOCH);
        let mut c = Compressor::new().unwrap();
        let mut compressed = Vec::new();
        for i in 0..2000 {
            let row = format!("{{\"id\":{i},\"text\":\"quote \\\" and newline \\n\"}}");
            let subject = (i % 2 == 0).then_some(s);
            if let Some(chunk) = c.push(&encode_line("records", subject, &row)).unwrap() {
                compressed.extend_from_slice(&chunk);
            }
        }
        compressed.extend_from_slice(&c.finish().unwrap());
        let mut d = LineDecoder::new().unwrap();
        let mut seen = 0;
        // Fed in odd-sized pieces, as a network would.
        for piece in compressed.chunks(777) {
            d.push::<std::io::Error>(piece, |line| {
                let parsed: Line<'_> = serde_json::from_slice(line).unwrap();
                assert_eq!(parsed.t, "records");
                assert_eq!(parsed.s, (seen % 2 == 0).then_some(s));
                let row: serde_json::Value = serde_json::from_str(parsed.r.get()).unwrap();
                assert_eq!(row["id"], seen);
                assert_eq!(row["text"], "quote \" and newline \n");
                seen += 1;
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(seen, 2000);
        assert!(!d.has_leftover());
    }

    #[test]
    fn a_legacy_journal_entry_holds_one_tombstone_or_a_batch() {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let tombstone = |n: u128| Tombstone {
            tenant,
            subject: SubjectId::from_uuid(uuid::Uuid::from_u128(n)),
            erased_at: time::macros::datetime!(2026-11-27 10:00 UTC),
            receipt: uuid::Uuid::from_u128(n + 100),
        };
        let one = [tombstone(1)];
        let single = serde_json::to_vec(&one[0]).unwrap();
        assert_eq!(read_legacy_tombstones(&single).unwrap(), one);
        let batch = [tombstone(1), tombstone(2), tombstone(3)];
        let many = serde_json::to_vec(&batch).unwrap();
        assert_eq!(read_legacy_tombstones(&many).unwrap(), batch);
        assert!(read_legacy_tombstones(b"{\"tenant\": 1}").is_none());
        assert!(read_legacy_tombstones(b"not json").is_none());
    }

    #[test]
    fn an_envelope_keeps_the_signed_bytes_exactly() {
        // Odd spacing and key order: the signature is over these bytes, not a re-encoding.
        let content = br#"{ "b":1,  "a":"x\u00e9" }"#;
        let stored = envelope(content, "sig\"with quote");
        let read: Envelope<'_> = serde_json::from_slice(&stored).unwrap();
        assert_eq!(read.signed.get().as_bytes(), content);
        assert_eq!(read.signature, "sig\"with quote");
        assert_eq!(content_sha256(b"abc").len(), 64);
    }

    #[test]
    fn journal_keys_sort_by_number_and_read_back() {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let (nine, ten) = (journal_key(tenant, 9), journal_key(tenant, 10));
        assert!(nine < ten, "{nine} {ten}");
        assert_eq!(journal_seq(&ten), Some(10));
        assert_eq!(
            journal_seq(&format!("{}START.json", journal_prefix(tenant))),
            None
        );
        assert_eq!(journal_seq("journal/x/12.json"), None);
    }

    #[test]
    fn keyring_shards_follow_the_first_byte_and_round_trip() {
        let s = SubjectId::from_uuid(uuid::Uuid::from_u128(
            0xab00_0000_0000_0000_0000_0000_0000_0001,
        ));
        assert_eq!(shard_of(s), "keyring/ab.json");
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let mut shard = KeyringShard::new(tenant, "b1", "keyring/ab.json");
        shard.insert(&WrappedKey {
            subject: s,
            wrapped: vec![0, 1, 2, 255],
        });
        let bytes = serde_json::to_vec(&shard).unwrap();
        let back: KeyringShard = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.wrapped_keys().unwrap()[0].wrapped, vec![0, 1, 2, 255]);
        let listed = ShardRef {
            name: "keyring/ab.json".into(),
            sha256: content_sha256(&bytes),
        };
        assert!(back.belongs(tenant, "b1", &listed, &content_sha256(&bytes)));
        assert!(!back.belongs(tenant, "b2", &listed, &content_sha256(&bytes)));
        let renamed = ShardRef {
            name: "keyring/cd.json".into(),
            ..listed.clone()
        };
        assert!(!back.belongs(tenant, "b1", &renamed, &content_sha256(&bytes)));
        // Rewritten by shredding: its content changed, it names what the manifest holds.
        let mut rewritten = back.clone();
        rewritten.keys.clear();
        rewritten.original = Some(listed.sha256.clone());
        let bytes2 = serde_json::to_vec(&rewritten).unwrap();
        assert!(rewritten.belongs(tenant, "b1", &listed, &content_sha256(&bytes2)));
    }
}
