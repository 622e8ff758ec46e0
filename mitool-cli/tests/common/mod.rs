//! Helpers shared by the command's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Says that the running test skipped and why: on stderr, and as a line in
/// `$MITOOL_SKIP_LOG` where set, so `scripts/test` counts it as skipped, not passed.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    eprintln!("SKIP {test}: {reason}");
    if let Some(log) = std::env::var_os("MITOOL_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{}\t{test}\t{reason}", env!("CARGO_CRATE_NAME"));
        }
    }
}

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
