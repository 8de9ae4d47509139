//! The real provider answers in `../shared/reference/samples`, for the parser tests. Beside a
//! clone without `../shared` those tests skip with a message; with
//! `CANDLEKEEP_TEST_REQUIRE_SAMPLES` set (CI sets it when the folder is there) a missing sample
//! fails the test instead, so the real answers are always parsed where they can be.

use std::path::PathBuf;

/// The samples folder, beside the repository.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/samples")
}

/// The bytes of sample `name`, or `None` (after saying so) when `../shared` is not there.
///
/// # Panics
/// When the sample cannot be read and `CANDLEKEEP_TEST_REQUIRE_SAMPLES` is set.
pub(crate) fn read(name: &str) -> Option<Vec<u8>> {
    let path = dir().join(name);
    match std::fs::read(&path) {
        Ok(body) => Some(body),
        Err(e) => {
            assert!(
                std::env::var_os("CANDLEKEEP_TEST_REQUIRE_SAMPLES").is_none(),
                "CANDLEKEEP_TEST_REQUIRE_SAMPLES is set but {} cannot be read: {e}",
                path.display()
            );
            eprintln!("skipped: {} not present ({e})", path.display());
            None
        }
    }
}
