//! Diarization end to end: real meeting audio (AMI) and the project's own
//! synthetic sessions, scored by DER against their RTTM references.

mod common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use common::*;
use mitool_core::audio::{decode, Audio, AudioConfig};
use mitool_core::diarize::{Diarization, DiarizeConfig, Diarizer, Turn};
use mitool_core::eval::{der, read_rttm, DerReport};
use mitool_core::progress::NullSink;
use mitool_core::roles::{assign_roles, attribute, RoleEvidence, UtteranceConfig};
use mitool_core::transcript::{ModelInfo, Segment, SourceInfo, Transcript, Word};
use mitool_core::utterance::Role;

fn diarizer() -> &'static Diarizer {
    static D: OnceLock<Diarizer> = OnceLock::new();
    D.get_or_init(|| {
        Diarizer::new(
            store(),
            DiarizeConfig {
                threads: 2,
                ..Default::default()
            },
        )
        .expect("diarization models are installed (run `bash scripts/test`)")
    })
}

/// Diarizes `wav` and scores it against the RTTM beside it (±0.25 s collar).
fn score(wav: &Path) -> (Diarization, DerReport, Vec<String>, Vec<Turn>) {
    let audio = decode(wav, &AudioConfig::default()).unwrap();
    let t0 = Instant::now();
    let d = diarizer().diarize(&audio, &NullSink).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let reference = read_rttm(&wav.with_extension("rttm")).unwrap();
    let hyp = d.turns.clone();

    let r = der(&reference.turns, &hyp, 0.25);
    eprintln!(
        "{}: {} speakers ({} in reference), DER {:.2}% (missed {:.2} s, false alarm {:.2} s, confusion {:.2} s of {:.2} s), {:.2} s for {:.1} s audio (RTF {:.3})",
        wav.file_name().unwrap().to_string_lossy(),
        d.speakers.len(),
        reference.labels.len(),
        r.der * 100.0,
        r.missed,
        r.false_alarm,
        r.confusion,
        r.total_ref,
        secs,
        audio.duration_s(),
        secs / audio.duration_s()
    );
    (d, r, reference.labels, reference.turns)
}

#[test]
fn ami_clips_have_two_speakers_and_low_der() {
    let Some(shared) = shared_audio() else { return };
    // ami-dev00 (two similar voices trading short, overlapping turns) was
    // 23.5% before the short-window refinement; it measures ~6.8% now.
    for (name, max_der) in [("ami-sample.wav", 0.12), ("ami-dev00.wav", 0.12)] {
        let (d, r, labels, _) = score(&shared.join(name));
        assert_eq!(labels.len(), 2);
        assert_eq!(d.speakers.len(), 2, "{name}");
        assert!(r.der <= max_der, "{name}: DER {:.3}", r.der);
        assert_eq!(d.method, "neural");
    }
}

#[test]
fn jfk_is_one_speaker() {
    let Some(shared) = shared_audio() else { return };
    let audio = decode(&shared.join("jfk.wav"), &AudioConfig::default()).unwrap();
    let d = diarizer().diarize(&audio, &NullSink).unwrap();
    assert_eq!(d.speakers.len(), 1, "{:?}", d.turns);
    let speech: f64 = d.turns.iter().map(Turn::duration).sum();
    assert!(speech > 6.0, "{speech}");
}

/// A transcript made from a fixture's reference turns, words spread evenly
/// over each turn (so role tests need no Whisper run).
fn reference_transcript(ref_json: &Path) -> (Transcript, Vec<(String, Role)>) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ref_json).unwrap()).unwrap();
    let mut words = Vec::new();
    let mut roles = Vec::new();
    for t in v["turns"].as_array().unwrap() {
        let (s, e) = (t["start"].as_f64().unwrap(), t["end"].as_f64().unwrap());
        let text: Vec<&str> = t["text"].as_str().unwrap().split_whitespace().collect();
        let step = (e - s) / text.len() as f64;
        for (i, w) in text.iter().enumerate() {
            words.push(Word {
                text: format!(" {w}"),
                start: s + i as f64 * step,
                end: s + (i as f64 + 0.9) * step,
                p: 1.0,
            });
        }
        let spk = t["speaker"].as_str().unwrap().to_string();
        let role: Role = t["role"].as_str().unwrap().parse().unwrap();
        if !roles.iter().any(|(s, _)| *s == spk) {
            roles.push((spk, role));
        }
    }
    let t = Transcript {
        schema: "mitool-transcript".into(),
        version: 1,
        source: SourceInfo {
            path: ref_json.display().to_string(),
            format: "test".into(),
            duration_s: 0.0,
            channels: 1,
        },
        model: ModelInfo {
            name: "reference".into(),
            sha256: String::new(),
        },
        vad_model: None,
        language: "en".into(),
        speech_s: 0.0,
        segments: vec![Segment {
            start: 0.0,
            end: 0.0,
            text: String::new(),
            words,
        }],
    };
    (t, roles)
}

/// The hypothesis label that the reference speaker `label` maps to.
fn mapped(d: &Diarization, ref_labels: &[String], ref_turns: &[Turn], label: &str) -> String {
    let shared: Vec<Vec<f64>> = (0..ref_labels.len())
        .map(|r| {
            (0..d.speakers.len())
                .map(|h| {
                    let mut s = 0.0;
                    for a in ref_turns.iter().filter(|t| t.speaker == r) {
                        for b in d.turns.iter().filter(|t| t.speaker == h) {
                            s += (a.end.min(b.end) - a.start.max(b.start)).max(0.0);
                        }
                    }
                    s
                })
                .collect()
        })
        .collect();
    let map = mitool_core::eval::best_mapping(&shared);
    let r = ref_labels.iter().position(|l| l == label).unwrap();
    d.label(map[r].expect("reference speaker mapped"))
        .to_string()
}

#[test]
fn demo_sessions_are_diarized_and_the_practitioner_found() {
    for (name, speakers) in [("good-mi", 2), ("poor-mi", 3)] {
        let wav = fixtures().join(format!("demo/{name}.wav"));
        let (d, r, labels, ref_turns) = score(&wav);
        assert_eq!(d.speakers.len(), speakers, "{name}");
        assert!(r.der <= 0.05, "{name}: DER {:.3}", r.der);

        let (t, roles) = reference_transcript(&wav.with_extension("ref.json"));
        let mut utts = attribute(&t, &d, name, &UtteranceConfig::default());
        let a = assign_roles(&mut utts, &d, &RoleEvidence::default()).unwrap();
        let p = mapped(&d, &labels, &ref_turns, "P");
        assert_eq!(a.practitioner, p, "{name}: {a:?}");
        assert!(a.confidence > 0.3, "{name}: {a:?}");
        // Every utterance of the practitioner's turns carries the practitioner role.
        let p_role = roles.iter().find(|(s, _)| s == "P").unwrap().1;
        assert_eq!(p_role, Role::Practitioner);
        let wrong = utts
            .iter()
            .filter(|u| (u.speaker == p) != (u.role == Role::Practitioner))
            .count();
        assert_eq!(wrong, 0);
    }
}

#[test]
fn stereo_with_one_voice_per_channel_uses_the_channels() {
    let flac = fixtures().join("stereo/good-mi-stereo.flac");
    let audio = decode(&flac, &AudioConfig::default()).unwrap();
    assert_eq!(audio.channels.len(), 2);
    let t0 = Instant::now();
    let d = diarizer().diarize(&audio, &NullSink).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(d.method, "channels");
    assert_eq!(d.speakers.len(), 2);
    let reference = read_rttm(&fixtures().join("demo/good-mi.rttm")).unwrap();
    let r = der(&reference.turns, &d.turns, 0.25);
    eprintln!(
        "good-mi-stereo (channels): DER {:.2}% (missed {:.2}, FA {:.2}, confusion {:.2} s), RTF {:.3}",
        r.der * 100.0,
        r.missed,
        r.false_alarm,
        r.confusion,
        secs / audio.duration_s()
    );
    assert!(r.der <= 0.05, "{r:?}");
    // The left channel is the practitioner.
    let p = mapped(&d, &reference.labels, &reference.turns, "P");
    let first_left = d.turns.iter().find(|t| d.label(t.speaker) == p).unwrap();
    let l = &audio.channels[0];
    let a = (first_left.start * 16_000.0) as usize;
    let b = (first_left.end * 16_000.0) as usize;
    let e = |c: &mitool_core::audio::Samples| c.iter_range(a..b).map(|x| x * x).sum::<f32>();
    assert!(e(l) > e(&audio.channels[1]));
}

#[test]
fn silence_and_noise_give_no_speakers_without_panicking() {
    let silent = Audio::from_samples("silence.wav", vec![vec![0.0; 16_000 * 12]]);
    let d = diarizer().diarize(&silent, &NullSink).unwrap();
    assert!(d.turns.is_empty() && d.speakers.is_empty());
    let stereo = Audio::from_samples("silence.wav", vec![vec![0.0; 16_000 * 3]; 2]);
    assert!(diarizer()
        .diarize(&stereo, &NullSink)
        .unwrap()
        .turns
        .is_empty());
    let empty = Audio::from_samples("empty.wav", vec![Vec::new()]);
    let e = diarizer()
        .diarize(&empty, &NullSink)
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty.wav"), "{e}");
    // Very short speech-like input: no panic, at most one speaker.
    let blip: Vec<f32> = (0..4000).map(|n| 0.3 * (n as f32 * 0.07).sin()).collect();
    let d = diarizer()
        .diarize(&Audio::from_samples("blip.wav", vec![blip]), &NullSink)
        .unwrap();
    assert!(d.speakers.len() <= 1);
}

/// Writes the stretches of `label` in `wav` (per its RTTM) as a voice sample.
fn voice_sample(wav: &Path, label: &str, out: &Path) {
    let audio = decode(wav, &AudioConfig::default()).unwrap();
    let mono = audio.mono();
    let reference = read_rttm(&wav.with_extension("rttm")).unwrap();
    let k = reference.labels.iter().position(|l| l == label).unwrap();
    let mut own = Vec::new();
    for t in reference.turns.iter().filter(|t| t.speaker == k) {
        let (a, b) = ((t.start * 16_000.0) as usize, (t.end * 16_000.0) as usize);
        own.extend(mono.iter_range(a..b));
    }
    write_wav16(out, &own);
}

/// 16 kHz mono 16-bit WAV of `samples`.
fn write_wav16(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &x in samples {
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn practitioner_voice_picks_the_enrolled_speaker() {
    // Enrol a voice from one session (good-mi) and find it in another
    // (poor-mi, same Festival voices, other words). Enrolling the client's
    // voice must pick the client: the choice comes from the voice, not
    // from how the speakers talk.
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures().join("demo/good-mi.wav");
    let poor = fixtures().join("demo/poor-mi.wav");
    let (d, _, labels, ref_turns) = score(&poor);
    let (t, _) = reference_transcript(&poor.with_extension("ref.json"));
    for who in ["P", "C"] {
        let sample = dir.path().join(format!("{who}.wav"));
        voice_sample(&good, who, &sample);
        let mut utts = attribute(&t, &d, "poor-mi", &UtteranceConfig::default());
        let voice = diarizer()
            .embed_voice(&decode(&sample, &AudioConfig::default()).unwrap())
            .unwrap();
        let evidence = RoleEvidence {
            voice: Some(&voice),
            ..Default::default()
        };
        let a = assign_roles(&mut utts, &d, &evidence).unwrap();
        eprintln!(
            "voice sample {who}: {} ({:.2}) {:?}",
            a.practitioner, a.confidence, a.scores
        );
        assert_eq!(a.method, "voice");
        assert_eq!(
            a.practitioner,
            mapped(&d, &labels, &ref_turns, who),
            "{who}: {a:?}"
        );
        assert!(a.confidence > 0.5, "{who}: {a:?}");
    }
    // A sample without speech is refused, naming the problem.
    let silent = dir.path().join("silent.wav");
    write_wav16(&silent, &[0.0; 32_000]);
    let e = diarizer()
        .embed_voice(&decode(&silent, &AudioConfig::default()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("silent.wav"), "{e}");
}

#[test]
fn a_known_speaker_count_does_as_well_as_a_found_one() {
    // Forcing the count used to run k-means straight into k groups:
    // ami-dev00 forced to its true 2 speakers scored 17.8% (6.8% found).
    let forced = |k: usize| {
        Diarizer::new(
            store(),
            DiarizeConfig {
                speakers: Some(k),
                threads: 2,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let mut cases = vec![(fixtures().join("demo/poor-mi.wav"), 3, 0.05)];
    if let Some(shared) = shared_audio() {
        cases.push((shared.join("ami-dev00.wav"), 2, 0.12));
        cases.push((shared.join("ami-sample.wav"), 2, 0.12));
    }
    for (wav, k, max_der) in cases {
        let audio = decode(&wav, &AudioConfig::default()).unwrap();
        let d = forced(k).diarize(&audio, &NullSink).unwrap();
        let reference = read_rttm(&wav.with_extension("rttm")).unwrap();
        let r = der(&reference.turns, &d.turns, 0.25);
        eprintln!("{} forced to {k}: DER {:.2}%", wav.display(), 100.0 * r.der);
        assert_eq!(d.speakers.len(), k);
        assert!(r.der <= max_der, "{}: {r:?}", wav.display());
    }
}

/// CAM++ runs in two parts (frames, then pooling; `models/diarize/split.py`):
/// pooling every frame of an input must give the whole model's embedding,
/// as recorded in `models/diarize/parity.json` from the exported model.
#[test]
fn split_campplus_gives_the_whole_models_embeddings() {
    let parity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/diarize/parity.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let want = |key: &str| -> Vec<f32> {
        parity["embedding"][key]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    // The float models are the exported ones; the int8 ones (the default,
    // `models/diarize/quantize.py`) must stay close to them.
    let float = Diarizer::new(
        store(),
        DiarizeConfig {
            int8: false,
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let check = |samples: &[f32], key: &str| {
        let got = float.embed(samples).unwrap().expect("long enough");
        let cos = mitool_core::diarize::cosine(&got, &want(key));
        assert!(cos > 0.9999, "{key}: cosine {cos}");
        let int8 = diarizer().embed(samples).unwrap().expect("long enough");
        let cos = mitool_core::diarize::cosine(&int8, &want(key));
        assert!(cos > 0.97, "{key}: int8 cosine {cos}");
    };
    let tone: Vec<f32> = (0..16000)
        .map(|n| {
            let t = n as f64 / 16000.0;
            (0.1 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 0.05 * (2.0 * std::f64::consts::PI * 1234.0 * t).sin()) as f32
        })
        .collect();
    check(&tone, "synthetic");
    let Some(shared) = shared_audio() else { return };
    let audio = decode(&shared.join("ami-sample.wav"), &AudioConfig::default()).unwrap();
    let mono = audio.mono();
    check(&mono.read(32000..80000), "ami_2_5s");
    check(&mono.read(320000..368000), "ami_20_23s");
}

#[test]
fn the_number_of_threads_does_not_change_who_spoke_when() {
    // Segmentation windows are dealt round-robin to one session per thread
    // (at most four) and must come back in order, whatever the split.
    let wav = fixtures().join("demo/good-mi.wav");
    let audio = decode(&wav, &AudioConfig::default()).unwrap();
    let rttm = |threads: usize| {
        let d = Diarizer::new(
            store(),
            DiarizeConfig {
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        d.diarize(&audio, &NullSink).unwrap().to_rttm("good-mi")
    };
    let one = rttm(1);
    assert!(one.lines().count() > 10, "{one}");
    for threads in [2, 3] {
        assert_eq!(rttm(threads), one, "{threads} threads");
    }
}
