//! `mitool der`: a trial team checks diarization against its own who-spoke-when
//! references, one RTTM per corpus or per file, against a batch output folder.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn der(args: &[&Path]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mitool"));
    c.args(["--quiet", "der", "--json"]);
    c.args(args);
    c.output().unwrap()
}

#[test]
fn scores_a_corpus_rttm_against_a_batch_folder() {
    let d = tempfile::tempdir().unwrap();
    let demo = root().join("fixtures/demo");
    let good = std::fs::read_to_string(demo.join("good-mi.rttm")).unwrap();
    let poor = std::fs::read_to_string(demo.join("poor-mi.rttm")).unwrap();
    let corpus = d.path().join("corpus.rttm");
    std::fs::write(&corpus, format!("{good}{poor}")).unwrap();

    // The batch layout: good-mi exactly right under other names, poor-mi
    // silent (an empty RTTM: everything missed).
    let out = d.path().join("out");
    for n in ["good-mi", "poor-mi"] {
        std::fs::create_dir_all(out.join(n)).unwrap();
    }
    let renamed = good.replace(" P ", " S2 ").replace(" C ", " S1 ");
    std::fs::write(out.join("good-mi/diarization.rttm"), renamed).unwrap();
    std::fs::write(out.join("poor-mi/diarization.rttm"), "").unwrap();

    let r = der(&[&corpus, &out]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], "good-mi");
    assert!(files[0]["der"].as_f64().unwrap() < 1e-9, "{j}");
    assert_eq!(files[0]["hypothesis_speakers"], 2);
    assert_eq!(files[1]["file"], "poor-mi");
    assert!(
        (files[1]["der"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{j}"
    );
    assert_eq!(files[1]["missed_s"], files[1]["reference_speech_s"]);
    // Pooled: poor-mi's missed speech over both files' speech.
    let total: f64 = files
        .iter()
        .map(|f| f["reference_speech_s"].as_f64().unwrap())
        .sum();
    let pooled = j["pooled_der"].as_f64().unwrap();
    assert!((pooled - files[1]["reference_speech_s"].as_f64().unwrap() / total).abs() < 1e-9);

    // A reference file with no hypothesis is named, and the run exits 1.
    let extra = d.path().join("extra.rttm");
    std::fs::write(
        &extra,
        format!("{good}{poor}SPEAKER visit-3 1 0 2 <NA> <NA> P <NA> <NA>\n"),
    )
    .unwrap();
    let r = der(&[&extra, &out]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("visit-3"));
}

#[test]
fn two_single_files_are_paired_and_bad_lines_are_named() {
    let d = tempfile::tempdir().unwrap();
    let reference = root().join("fixtures/demo/good-mi.rttm");
    let hyp = d.path().join("hyp.rttm");
    let text = std::fs::read_to_string(&reference).unwrap();
    std::fs::write(&hyp, text.replace("good-mi", "good-mi.Mix-Headset")).unwrap();
    let r = der(&[&reference, &hyp]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(j["files"][0]["der"].as_f64().unwrap() < 1e-9, "{j}");

    std::fs::write(&hyp, "SPEAKER x 1 0.0 soon <NA> <NA> A <NA> <NA>\n").unwrap();
    let r = der(&[&reference, &hyp]);
    assert_eq!(r.status.code(), Some(2));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("hyp.rttm") && e.contains("line 1"), "{e}");
}

#[test]
fn rttm_only_diarization_is_scored_against_the_script() {
    let d = tempfile::tempdir().unwrap();
    let wav = root().join("fixtures/demo/poor-mi.wav");
    let r = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["--quiet", "diarize", "--rttm-only", "--threads", "2"])
        .arg(&wav)
        .arg("--out")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(d.path().join("poor-mi.rttm").is_file());
    assert!(!d.path().join("poor-mi.utterances.json").exists());
    let r = der(&[&root().join("fixtures/demo/poor-mi.rttm"), d.path()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(j["files"][0]["der"].as_f64().unwrap() <= 0.05, "{j}");
    assert_eq!(j["files"][0]["hypothesis_speakers"], 3);
}
