//! Criterion benchmarks of the audio stages on fixed clips.
//!
//! Real-time factor = time per iteration / audio length; criterion prints the
//! time, and the bench prints the clip length so the factor is one division away.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mitool_core::audio::{decode, AudioConfig};
use mitool_core::code::{Coder, CoderConfig};
use mitool_core::models::Store;
use mitool_core::progress::NullSink;
use mitool_core::transcribe::{TranscribeConfig, Transcriber};
use mitool_core::utterance;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// jfk.wav (11 s, real speech) where ../shared is present, else the fixture sentence.
fn clip() -> PathBuf {
    let jfk = root().join("../shared/audio/jfk.wav");
    if jfk.is_file() {
        jfk
    } else {
        root().join("fixtures/audio/speech.wav")
    }
}

fn decode_resample(c: &mut Criterion) {
    let path = root().join("fixtures/audio/speech-44k1-stereo.wav");
    let secs = decode(&path, &AudioConfig::default()).unwrap().duration_s();
    eprintln!(
        "decode+resample clip: {} ({secs:.2} s of 44.1 kHz stereo)",
        path.display()
    );
    c.bench_function("decode+resample 44.1k stereo → 16k", |b| {
        b.iter(|| decode(&path, &AudioConfig::default()).unwrap())
    });
}

fn transcription(c: &mut Criterion) {
    let store = Store::open(None).unwrap();
    let audio = decode(&clip(), &AudioConfig::default()).unwrap();
    eprintln!(
        "transcription clip: {} ({:.2} s)",
        audio.path.display(),
        audio.duration_s()
    );
    let mut g = c.benchmark_group("transcribe");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (model, threads) in [
        ("whisper-tiny.en-q8_0", 2),
        ("whisper-tiny.en", 2),
        ("whisper-tiny.en-q8_0", 1),
    ] {
        let t = Transcriber::new(
            &store,
            TranscribeConfig {
                model: Some(model.into()),
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        g.bench_function(format!("{model} threads={threads}"), |b| {
            b.iter(|| t.transcribe(&audio, &NullSink).unwrap())
        });
    }
    g.finish();
}

/// Utterances per second of the int8 coder with 1 and 2 sessions, on the
/// demo sessions' utterances (our own text) repeated to 256.
fn coder_throughput(c: &mut Criterion) {
    let store = Store::open(None).unwrap();
    let mut utts = Vec::new();
    for f in ["good-mi", "poor-mi"] {
        utts.extend(utterance::read_csv(&root().join(format!("fixtures/coded/{f}.csv"))).unwrap());
    }
    let session: Vec<_> = utts.iter().cycle().take(256).cloned().collect();
    let mut g = c.benchmark_group("coder");
    g.throughput(Throughput::Elements(session.len() as u64));
    g.sample_size(10);
    // Each utterance runs alone (see `Coder`); threads = sessions side by side.
    for threads in [1, 2] {
        let coder = Coder::new(&store, CoderConfig { threads }).unwrap();
        g.bench_function(
            format!("int8, 256 utterances, {threads} single-threaded session(s)"),
            |b| {
                b.iter(|| {
                    let mut s = session.clone();
                    coder
                        .code_session(&mut s, Path::new("bench"), &NullSink)
                        .unwrap();
                    s
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, decode_resample, transcription, coder_throughput);
criterion_main!(benches);
