//! What object storage hands back, damaged or hostile: manifests, keyring shards and journal
//! entries parse or are refused, and a payload is decompressed into lines (in chunks whose
//! size the input chooses) or refused, never with a panic.
#![no_main]

use gdpr_app::backup::format::{KeyringShard, Line, LineDecoder, Manifest, read_journal_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Manifest>(data);
    if let Ok(shard) = serde_json::from_slice::<KeyringShard>(data) {
        let _ = shard.wrapped_keys();
    }
    let _ = read_journal_entry(data);

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
