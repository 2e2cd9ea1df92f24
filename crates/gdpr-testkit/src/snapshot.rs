//! Snapshot assertions: a reviewed file in the repository is the expected output.

use std::path::Path;

/// Asserts that `actual` equals the snapshot file at `path`. With `UPDATE_SNAPSHOTS` set, the
/// file is rewritten first, so an intended change is one command and a reviewed diff.
///
/// # Panics
/// When the output differs from the snapshot, naming the file and the command that updates it.
pub fn assert_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is out of date: rerun the test with UPDATE_SNAPSHOTS=1 and review the diff\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
