//! Helpers shared by the command's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[path = "../../../mitool-core/tests/common/skip.rs"]
mod skip_log;
pub use skip_log::skip;

/// `../shared/audio` beside the checkout, or `None` (the test skips) where it is absent.
pub fn shared_audio() -> Option<PathBuf> {
    let p = root().join("../shared/audio");
    if p.is_dir() {
        Some(p)
    } else {
        skip("../shared/audio is absent; this test needs the shared real recordings");
        None
    }
}
