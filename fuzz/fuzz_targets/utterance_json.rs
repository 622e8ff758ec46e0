#![no_main]

use libfuzzer_sys::fuzz_target;

// The utterance JSON that `mitool diarize` writes and `mitool code` reads.
fuzz_target!(|data: &[u8]| mitool_fuzz::transcript("json", data));
