//! How a test says it skipped (shared by the integration tests of both crates).

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
