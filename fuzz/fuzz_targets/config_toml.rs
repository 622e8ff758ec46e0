#![no_main]

use libfuzzer_sys::fuzz_target;
use mitool_core::batch::BatchOptions;

// `mitool batch` reads `mitool.toml` as exactly this: TOML into
// `BatchOptions`, then `validate` (mitool-cli/src/batch_cmd.rs).
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(options) = toml::from_str::<BatchOptions>(text) else {
        return;
    };
    if options.validate().is_ok() {
        // Every session's JSON and content hash hold the options.
        serde_json::to_value(&options).expect("valid options serialise");
    }
});
