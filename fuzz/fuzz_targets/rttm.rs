#![no_main]

use libfuzzer_sys::fuzz_target;
use mitool_core::eval::{self, Rttm};

/// DER is computed on 10 ms frames, so its cost grows with the recording's
/// length and the speakers' number: only inputs a short real session could
/// be are scored, or every long one would be a "timeout".
fn small(r: &Rttm) -> bool {
    r.labels.len() <= 10 && r.turns.iter().all(|t| t.end <= 120.0)
}

fuzz_target!(|data: &[u8]| {
    // `read_rttm` and `read_rttm_set` read the file as UTF-8 text first.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let one = eval::parse_rttm(text);
    let Ok(files) = eval::parse_rttm_files(text) else {
        assert!(one.is_err(), "the two RTTM readers disagree");
        return;
    };
    let one = one.expect("the two RTTM readers disagree");
    // `mitool der` scores what was read; a file against itself is perfect
    // (where the speakers are matched exhaustively, up to 8).
    for r in files.values().chain([&one]).filter(|r| small(r)) {
        let d = eval::der(&r.turns, &r.turns, 0.25);
        assert!(
            r.labels.len() > 8 || d.der == 0.0,
            "a file scored against itself has DER {}",
            d.der
        );
        if small(&one) {
            let _ = eval::der(&one.turns, &r.turns, 0.0);
        }
    }
});
