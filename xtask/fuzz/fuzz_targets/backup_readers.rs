//! What object storage hands back, damaged or hostile: signed envelopes, manifests, keyring
//! shards, decision-journal entries and legacy tombstones parse or are refused, and a payload
//! is decompressed into lines (in chunks whose size the input chooses) or refused, never with
//! a panic.
#![no_main]

use gdpr_app::backup::format::{
    Envelope, JournalEntry, KeyringShard, Line, LineDecoder, Manifest, journal_seq,
    read_legacy_tombstones,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Manifest>(data);
    if let Ok(shard) = serde_json::from_slice::<KeyringShard>(data) {
        let _ = shard.wrapped_keys();
    }
    let _ = read_legacy_tombstones(data);
    let _ = serde_json::from_slice::<JournalEntry>(data);
    if let Ok(stored) = serde_json::from_slice::<Envelope<'_>>(data) {
        let _ = serde_json::from_str::<Manifest>(stored.signed.get());
        let _ = serde_json::from_str::<KeyringShard>(stored.signed.get());
        let _ = serde_json::from_str::<JournalEntry>(stored.signed.get());
    }
    if let Ok(key) = std::str::from_utf8(data) {
        let _ = journal_seq(key);
    }

    let Some((&chunk, payload)) = data.split_first() else {
        return;
    };
    let mut decoder = LineDecoder::new().expect("a zstd context");
    for piece in payload.chunks(usize::from(chunk).max(1)) {
        let pushed = decoder.push::<std::io::Error>(piece, |line| {
            let _ = serde_json::from_slice::<Line<'_>>(line);
            Ok(())
        });
        if pushed.is_err() {
            return;
        }
    }
    let _ = decoder.has_leftover();
});
