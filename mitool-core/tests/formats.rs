//! Every input format decodes to the same recording as the WAV it was made
//! from: the same length, the same sound, at the same times. Needs no models.

mod common;

use common::fixtures;
use mitool_core::audio::{decode, Audio, AudioConfig, SAMPLE_RATE};

fn load(name: &str) -> Audio {
    let path = fixtures().join("audio").join(name);
    decode(&path, &AudioConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Energy in 1 ms steps (2 ms windows), so that codecs that keep the
/// spectrum but not the waveform (Opus, AAC) still compare.
fn envelope(x: &[f32]) -> Vec<f32> {
    let hop = SAMPLE_RATE as usize / 1000;
    (0..x.len() / hop)
        .map(|i| {
            let w = &x[i * hop..((i + 2) * hop).min(x.len())];
            (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt()
        })
        .collect()
}

/// Normalised correlation of `a` and `b` shifted by `lag` (b later when positive).
fn correlation(a: &[f32], b: &[f32], lag: isize) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in a.iter().enumerate() {
        let j = i as isize + lag;
        if j < 0 || j as usize >= b.len() {
            continue;
        }
        let y = b[j as usize];
        ab += (x * y) as f64;
        aa += (x * x) as f64;
        bb += (y * y) as f64;
    }
    (ab / (aa * bb).sqrt().max(1e-12)) as f32
}

/// The shift of `b` against `a`, in samples, where their waveforms match
/// best within ±50 ms, and how well they match there.
fn best_lag(a: &[f32], b: &[f32]) -> (isize, f32) {
    let max = SAMPLE_RATE as isize / 20;
    (-max..=max)
        .map(|lag| (lag, correlation(a, b, lag)))
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap()
}

/// Time of the first 1 ms step whose energy reaches a tenth of the loudest.
fn onset_ms(env: &[f32]) -> usize {
    let peak = env.iter().cloned().fold(0.0, f32::max);
    env.iter().position(|&e| e >= 0.1 * peak).unwrap()
}

/// How a decoded file lines up with the WAV it was made from.
#[derive(Debug)]
struct Timing {
    /// Shift of the best waveform match (positive: later than the WAV).
    lag_ms: f64,
    waveform_match: f32,
    /// Correlation of the 1 ms energy envelopes, unshifted.
    envelope_match: f32,
    /// Speech onset against the WAV's (1 ms resolution).
    onset_ms: isize,
    duration_ms: f64,
}

fn timing(name: &str) -> Timing {
    let base = load("speech.wav");
    let a = load(name);
    let (x, y) = (base.mono().to_vec(), a.mono().to_vec());
    let (lag, waveform_match) = best_lag(&x, &y);
    let (ex, ey) = (envelope(&x), envelope(&y));
    Timing {
        lag_ms: lag as f64 * 1000.0 / SAMPLE_RATE as f64,
        waveform_match,
        envelope_match: correlation(&ex, &ey, 0),
        onset_ms: onset_ms(&ey) as isize - onset_ms(&ex) as isize,
        duration_ms: (a.duration_s() - base.duration_s()) * 1000.0,
    }
}

/// Lossy formats made from `speech.wav`'s source, and the label each decodes with.
const FORMATS: &[(&str, &str)] = &[
    ("speech.flac", "FLAC (FLAC)"),
    ("speech.mp3", "MP3 (MP3)"),
    ("speech.m4a", "M4A/MP4 (AAC)"),
    ("speech.ogg", "Ogg (Vorbis)"),
    ("speech.opus", "Ogg (Opus)"),
    ("speech.webm", "WebM (Opus)"),
    ("speech-opus.mp4", "M4A/MP4 (Opus)"),
    ("speech-vorbis.mkv", "Matroska (Vorbis)"),
    ("speech-video.mp4", "M4A/MP4 (AAC)"),
];

#[test]
fn every_format_matches_the_wav_in_time_and_sound() {
    for &(f, label) in FORMATS {
        let t = timing(f);
        eprintln!("{f}: {t:?}");
        // Encoder delay (AAC priming, Opus pre-skip) is cut: no shift at all.
        assert!(t.lag_ms.abs() <= 1.0, "{f}: {t:?}");
        assert!(t.onset_ms.abs() <= 10, "{f}: {t:?}");
        // Padding is cut where the container says how much (not Matroska).
        assert!(t.duration_ms.abs() <= 30.0, "{f}: {t:?}");
        assert!(
            t.waveform_match > 0.95 && t.envelope_match > 0.99,
            "{f}: {t:?}"
        );
        assert_eq!(load(f).format, label);
    }
}

#[test]
fn the_sound_of_a_video_and_stereo_opus_decode() {
    let video = load("speech-video.mp4");
    assert_eq!((video.source_rate, video.channels.len()), (48_000, 1));
    let webm = load("speech.webm");
    assert_eq!((webm.source_rate, webm.channels.len()), (48_000, 2));
    let (l, r) = (&webm.channels[0].to_vec(), &webm.channels[1].to_vec());
    assert!(correlation(l, r, 0) > 0.99);
}

#[test]
fn cut_recordings_decode_what_is_there_or_fail_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for &(f, _) in FORMATS {
        let whole = std::fs::read(fixtures().join("audio").join(f)).unwrap();
        for cut in [40, 300, whole.len() / 3, whole.len() - 100] {
            let p = dir.path().join(format!("cut-{cut}-{f}"));
            std::fs::write(&p, &whole[..cut]).unwrap();
            match decode(&p, &AudioConfig::default()) {
                Ok(a) => assert!(a.duration_s() < 4.7, "{}", p.display()),
                Err(e) => assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}"),
            }
        }
    }
}

#[test]
fn a_video_without_sound_says_so() {
    // The video track of the meeting fixture alone: its audio `trak` renamed
    // to a box type readers skip.
    let mut bytes = std::fs::read(fixtures().join("audio/speech-video.mp4")).unwrap();
    let soun = bytes.windows(4).position(|w| w == b"soun").unwrap();
    let trak = bytes[..soun]
        .windows(4)
        .rposition(|w| w == b"trak")
        .unwrap();
    bytes[trak..trak + 4].copy_from_slice(b"free");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("screen-share.mp4");
    std::fs::write(&p, bytes).unwrap();
    let msg = decode(&p, &AudioConfig::default()).unwrap_err().to_string();
    assert!(
        msg.contains("screen-share.mp4") && msg.contains("no audio track"),
        "{msg}"
    );
}
