#![no_main]

use std::path::PathBuf;
use std::sync::{Once, OnceLock};

use libfuzzer_sys::fuzz_target;
use mitool_core::audio::{self, AudioConfig};

/// `decode` takes a path, so each input is written to a file in one
/// temporary folder (kept for the whole run).
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
}

// The extension matters where the first bytes say nothing (the file is then
// handed to symphonia with the extension as a hint, or refused): the last
// byte picks one, so the magic numbers at the start stay the input's own.
const EXTENSIONS: &[&str] = &["wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "txt", ""];

/// libfuzzer-sys aborts on every panic, even one that is caught. A panic in
/// a decoder (a dependency) is caught by `audio::decode`, which must turn it
/// into an error naming the file (checked below); a panic in mitool-core's
/// own code is still a crash to fix.
fn panics_in_dependencies_are_errors() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|l| l.file().contains("mitool-core"))
            {
                abort(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    panics_in_dependencies_are_errors();
    let ext = EXTENSIONS[data.last().map_or(0, |&b| b as usize) % EXTENSIONS.len()];
    let path: PathBuf = dir().path().join("input").with_extension(ext);
    std::fs::write(&path, data).expect("writing the input");
    match audio::decode(&path, &AudioConfig::default()) {
        Err(e) => mitool_fuzz::names_the_file(&e, &path),
        Ok(a) => {
            assert!(!a.channels.is_empty(), "decoded audio without channels");
            assert!(
                a.channels.iter().all(|c| c.len() == a.len()),
                "channels of different lengths"
            );
            // Held as 16-bit PCM: every sample reads back finite and within [-1, 1].
            assert!(
                a.channels
                    .iter()
                    .flat_map(|c| c.iter())
                    .all(|s| (-1.0..=1.0).contains(&s)),
                "a sample out of range"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
});
