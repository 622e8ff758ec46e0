//! Whisper transcription end to end, on real recordings and on the project's
//! own fixtures in every input format, with the converted models.

mod common;

use common::*;
use mitool_core::audio::{decode, AudioConfig};
use mitool_core::progress::NullSink;

#[test]
fn jfk_is_transcribed_word_for_word_by_the_converted_models() {
    let Some(shared) = shared_audio() else { return };
    let reference = std::fs::read_to_string(shared.join("jfk.txt")).unwrap();
    let audio = decode(&shared.join("jfk.wav"), &AudioConfig::default()).unwrap();
    for model in ["whisper-tiny.en", "whisper-tiny.en-q8_0"] {
        let t = transcriber(model).transcribe(&audio, &NullSink).unwrap();
        assert_eq!(words(&t.text()), words(&reference), "{model}: {}", t.text());
        assert_eq!(t.model.name, model);
        assert_eq!(t.model.sha256.len(), 64);
        // Word timestamps are ordered and inside the recording.
        let ws: Vec<_> = t.segments.iter().flat_map(|s| &s.words).collect();
        assert!(ws.len() >= 20);
        assert!(ws.windows(2).all(|w| w[0].start <= w[1].start + 1e-6));
        assert!(ws
            .iter()
            .all(|w| w.start >= 0.0 && w.end <= audio.duration_s() + 0.5));
        // "country" is said last, near 10 s.
        let last = ws.last().unwrap();
        assert!(
            last.text.to_lowercase().contains("country") && last.start > 8.0,
            "{last:?}"
        );
    }
}

#[test]
fn every_input_format_transcribes_the_same_sentence() {
    let dir = fixtures().join("audio");
    let reference = std::fs::read_to_string(dir.join("speech.txt")).unwrap();
    let base = decode(&dir.join("speech.wav"), &AudioConfig::default()).unwrap();
    for f in [
        "speech.wav",
        "speech-44k1-stereo.wav",
        "speech-48k-24bit.wav",
        "speech-float.wav",
        "speech-22k-8bit.wav",
        "speech.flac",
        "speech.mp3",
        "speech.m4a",
        "speech.ogg",
        "speech.opus",
        "speech.webm",
        "speech-opus.mp4",
        "speech-vorbis.mkv",
        "speech-video.mp4",
    ] {
        let a = decode(&dir.join(f), &AudioConfig::default()).unwrap();
        // Same length as the 16 kHz original, within encoder padding.
        assert!(
            (a.duration_s() - base.duration_s()).abs() < 0.08,
            "{f}: {} s vs {} s",
            a.duration_s(),
            base.duration_s()
        );
        let t = transcriber("whisper-tiny.en-q8_0")
            .transcribe(&a, &NullSink)
            .unwrap();
        let e = wer(&reference, &t.text());
        assert!(e <= 0.1, "{f}: WER {e:.2}: {}", t.text());
    }
    let stereo = decode(&dir.join("speech-44k1-stereo.wav"), &AudioConfig::default()).unwrap();
    assert_eq!(stereo.channels.len(), 2);
}

#[test]
fn two_speaker_meeting_audio_in_float_wav_transcribes() {
    let Some(shared) = shared_audio() else { return };
    let audio = decode(&shared.join("ami-dev00.wav"), &AudioConfig::default()).unwrap();
    assert!(audio.format.contains("float"));
    let t = transcriber("whisper-tiny.en-q8_0")
        .transcribe(&audio, &NullSink)
        .unwrap();
    assert!(words(&t.text()).len() > 30, "{}", t.text());
    assert!(t.speech_s > 10.0 && t.speech_s <= 30.5);
}

#[test]
fn words_do_not_depend_on_the_number_of_threads() {
    use mitool_core::audio::Audio;
    use mitool_core::transcribe::{TranscribeConfig, Transcriber};
    // The demo played backwards: Whisper's text on it looks degenerate, so
    // it falls back to sampling on two of its five chunks. While a state
    // carried its sampler from chunk to chunk, one thread and two gave
    // different words here.
    let audio = decode(
        &fixtures().join("demo").join("good-mi.wav"),
        &AudioConfig::default(),
    )
    .unwrap();
    let mono = audio.mono();
    let mut backwards: Vec<f32> = mono.iter_range(0..mono.len()).collect();
    backwards.reverse();
    let audio = Audio {
        channels: vec![backwards.into()],
        ..audio
    };
    let words = |threads| {
        let config = TranscribeConfig {
            threads,
            ..Default::default()
        };
        let t = Transcriber::new(store(), config).unwrap();
        t.transcribe(&audio, &NullSink).unwrap().segments
    };
    let one = words(1);
    assert!(!one.is_empty());
    assert_eq!(one, words(2));
}

#[test]
fn speech_found_in_lanes_matches_the_one_stream_pass() {
    use mitool_core::vad::{regions_from_probabilities, Vad, VadConfig};
    // 80 s: three pieces side by side.
    let audio = decode(
        &fixtures().join("demo").join("good-mi.wav"),
        &AudioConfig::default(),
    )
    .unwrap();
    let mono = audio.mono();
    mitool_core::onnx::init(store()).unwrap();
    let mut vad = Vad::new(
        &store().require("silero-vad").unwrap(),
        VadConfig::default(),
    )
    .unwrap();
    let one = vad.probabilities_in_lanes(&mono, 1, |_| {}).unwrap();
    let lanes = vad.probabilities(&mono, |_| {}).unwrap();
    assert_eq!(one.len(), lanes.len());
    // The first piece starts where the one stream does: the same numbers.
    let piece = one.len().div_ceil(3);
    assert!(one[..piece]
        .iter()
        .zip(&lanes[..piece])
        .all(|(a, b)| (a - b).abs() < 1e-4));
    // Later pieces start from a fresh state after a warm-up: Silero's state
    // never settles to the same numbers, but to the same decisions.
    let agree = one
        .iter()
        .zip(&lanes)
        .filter(|(a, b)| (**a > 0.5) == (**b > 0.5))
        .count();
    assert!(
        agree as f64 >= 0.99 * one.len() as f64,
        "{agree} of {}",
        one.len()
    );
    let speech = |p: &[f32]| -> usize {
        regions_from_probabilities(p, mono.len(), &VadConfig::default())
            .iter()
            .map(|r| r.len())
            .sum()
    };
    let (a, b) = (speech(&one) as f64, speech(&lanes) as f64);
    assert!((a - b).abs() <= 0.02 * a, "speech {a} vs {b} samples");
}
