#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mitool_core::utterance;

fuzz_target!(|data: &[u8]| {
    // Coded CSVs reach the reader as raw bytes (`mitool score`, `mitool agree`)...
    if let Ok(utts) = utterance::read_csv_from(Path::new("fuzz.csv"), data) {
        mitool_fuzz::round_trip(&utts);
    }
    // ...and transcripts through `transcripts::read`, after its UTF-8 check.
    mitool_fuzz::transcript("csv", data);
});
