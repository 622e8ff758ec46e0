#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mitool_core::utterance;

fuzz_target!(|data: &[u8]| {
    // Coded CSVs reach the reader as raw bytes (`mitool score`, `mitool agree`)...
    let path = Path::new("fuzz.csv");
    match utterance::read_csv_from(path, data) {
        Ok(utts) => mitool_fuzz::round_trip(&utts),
        Err(e) => mitool_fuzz::names_the_file(&e, path),
    }
    // ...and transcripts through `transcripts::read`, after its UTF-8 check.
    mitool_fuzz::transcript("csv", data);
});
