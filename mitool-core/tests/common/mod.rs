//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mitool_core::models::Store;
use mitool_core::transcribe::{TranscribeConfig, Transcriber};

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

// One skip helper for both crates' tests (the CLI's include this file too).
#[path = "skip.rs"]
mod skip_log;
pub use skip_log::skip;

/// `../shared/audio` beside the checkout, or `None` (the test skips) where it is absent.
pub fn shared_audio() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/audio");
    if p.is_dir() {
        Some(p)
    } else {
        skip("../shared/audio is absent; this test needs the shared real recordings");
        None
    }
}

/// `../shared/data/annomi/AnnoMI-full.csv`, or `None` (the test skips) where it is absent.
pub fn annomi_csv() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/annomi/AnnoMI-full.csv");
    if p.is_file() {
        Some(p)
    } else {
        skip("../shared/data/annomi is absent; this test needs the AnnoMI transcripts");
        None
    }
}

pub fn store() -> &'static Store {
    static S: OnceLock<Store> = OnceLock::new();
    S.get_or_init(|| Store::open(None).expect("model store"))
}

/// One transcriber per model per test binary (loading Whisper costs time).
pub fn transcriber(model: &str) -> &'static Transcriber {
    static T: OnceLock<std::sync::Mutex<Vec<(String, &'static Transcriber)>>> = OnceLock::new();
    let list = T.get_or_init(Default::default);
    let mut list = list.lock().unwrap();
    if let Some((_, t)) = list.iter().find(|(m, _)| m == model) {
        return t;
    }
    let cfg = TranscribeConfig {
        model: Some(model.to_string()),
        threads: 2,
        ..Default::default()
    };
    let t: &'static Transcriber = Box::leak(Box::new(
        Transcriber::new(store(), cfg)
            .expect("models are installed by scripts/setup.sh (run `bash scripts/test`)"),
    ));
    list.push((model.to_string(), t));
    t
}

/// Lower-case words without punctuation, for comparing transcripts.
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hyp` against `reference` (Levenshtein over words).
pub fn wer(reference: &str, hyp: &str) -> f64 {
    let r = words(reference);
    let h = words(hyp);
    let mut d: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut prev = d[0];
        d[0] = i;
        for j in 1..=h.len() {
            let cur = d[j];
            d[j] = if r[i - 1] == h[j - 1] {
                prev
            } else {
                1 + prev.min(d[j]).min(d[j - 1])
            };
            prev = cur;
        }
    }
    d[h.len()] as f64 / r.len().max(1) as f64
}
