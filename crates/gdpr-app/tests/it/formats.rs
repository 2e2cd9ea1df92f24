//! Property tests of the backup format's readers: whatever bytes object storage hands back
//! (damaged, truncated, hostile), reading them fails cleanly or gives back what was written.

use gdpr_app::backup::format::{
    Compressor, Envelope, JournalEntry, KeyringShard, Line, LineDecoder, Manifest, encode_line,
    read_legacy_tombstones,
};
use gdpr_pii::{SubjectId, TenantId};
use gdpr_rights::Tombstone;
use proptest::prelude::*;

/// A row as the dumps write it: a JSON object with awkward strings.
fn row() -> impl Strategy<Value = String> {
    (any::<i64>(), "\\PC{0,40}", any::<bool>()).prop_map(|(id, text, flag)| {
        serde_json::json!({"id": id, "text": text, "flag": flag}).to_string()
    })
}

fn subject() -> impl Strategy<Value = Option<SubjectId>> {
    prop::option::of(any::<u128>().prop_map(|n| SubjectId::from_uuid(uuid::Uuid::from_u128(n))))
}

proptest! {
    #[test]
    fn payload_lines_read_back_whatever_the_chunking(
        lines in prop::collection::vec(("[a-z_]{1,16}", subject(), row()), 0..60),
        piece in 1usize..300,
    ) {
        let mut compressor = Compressor::new().unwrap();
        let mut compressed = Vec::new();
        for (table, subject, row) in &lines {
            if let Some(chunk) = compressor.push(&encode_line(table, *subject, row)).unwrap() {
                compressed.extend_from_slice(&chunk);
            }
        }
        compressed.extend_from_slice(&compressor.finish().unwrap());
        let mut decoder = LineDecoder::new().unwrap();
        let mut read = Vec::new();
        for chunk in compressed.chunks(piece) {
            decoder
                .push::<std::io::Error>(chunk, |line| {
                    let l: Line<'_> = serde_json::from_slice(line).unwrap();
                    read.push((l.t, l.s, l.r.get().to_owned()));
                    Ok(())
                })
                .unwrap();
        }
        prop_assert!(!decoder.has_leftover());
        prop_assert_eq!(read, lines);
    }

    #[test]
    fn damaged_payloads_fail_or_yield_lines_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        flip in any::<(usize, u8)>(),
        piece in 1usize..512,
    ) {
        // Random bytes, and a real payload with one byte changed.
        let mut compressor = Compressor::new().unwrap();
        let mut real = compressor.push(&encode_line("records", None, "{\"id\":1}")).unwrap()
            .map(|b| b.to_vec()).unwrap_or_default();
        real.extend_from_slice(&compressor.finish().unwrap());
        let at = flip.0 % real.len();
        real[at] ^= flip.1.max(1);
        for input in [bytes, real] {
            let mut decoder = LineDecoder::new().unwrap();
            for chunk in input.chunks(piece) {
                let pushed = decoder.push::<std::io::Error>(chunk, |line| {
                    let _ = serde_json::from_slice::<Line<'_>>(line);
                    Ok(())
                });
                if pushed.is_err() {
                    break;
                }
            }
            let _ = decoder.has_leftover();
        }
    }

    #[test]
    fn manifests_keyrings_and_journal_entries_parse_or_refuse_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        text in "\\PC{0,200}",
    ) {
        for input in [bytes.as_slice(), text.as_bytes()] {
            let _ = serde_json::from_slice::<Manifest>(input);
            if let Ok(shard) = serde_json::from_slice::<KeyringShard>(input) {
                let _ = shard.wrapped_keys();
            }
            let _ = read_legacy_tombstones(input);
            if let Ok(stored) = serde_json::from_slice::<Envelope<'_>>(input) {
                let _ = serde_json::from_str::<JournalEntry>(stored.signed.get());
            }
            let _ = serde_json::from_slice::<JournalEntry>(input);
        }
    }

    #[test]
    fn legacy_journal_entries_read_back(
        entries in prop::collection::vec((any::<u128>(), any::<u128>(), 0i64..4_000_000_000), 1..20),
    ) {
        let tenant = TenantId::at(time::OffsetDateTime::UNIX_EPOCH);
        let tombstones: Vec<Tombstone> = entries
            .iter()
            .map(|(s, r, t)| Tombstone {
                tenant,
                subject: SubjectId::from_uuid(uuid::Uuid::from_u128(*s)),
                erased_at: time::OffsetDateTime::from_unix_timestamp(*t).unwrap(),
                receipt: uuid::Uuid::from_u128(*r),
            })
            .collect();
        let stored = if tombstones.len() == 1 {
            serde_json::to_vec(&tombstones[0]).unwrap()
        } else {
            serde_json::to_vec(&tombstones).unwrap()
        };
        prop_assert_eq!(read_legacy_tombstones(&stored), Some(tombstones));
    }
}
