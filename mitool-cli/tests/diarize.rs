//! `mitool diarize` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn diarize_writes_rttm_utterances_and_text_with_roles() {
    let dir = tempfile::tempdir().unwrap();
    let wav = root().join("fixtures/demo/poor-mi.wav");
    let out = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["diarize", "--quiet", "--threads", "2", "--out"])
        .arg(dir.path())
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rttm = std::fs::read_to_string(dir.path().join("poor-mi.rttm")).unwrap();
    assert!(rttm.starts_with("SPEAKER poor-mi 1 "), "{rttm}");
    for s in ["S1", "S2", "S3"] {
        assert!(rttm.contains(&format!(" {s} ")), "{rttm}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("poor-mi.utterances.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["schema"], "mitool.utterances");
    assert_eq!(json["diarization_method"], "neural");
    assert_eq!(json["roles"]["method"], "text+talk-pattern");
    let p = json["roles"]["practitioner"].as_str().unwrap().to_string();
    let utts = json["utterances"].as_array().unwrap();
    assert!(utts.len() >= 10);
    // The practitioner opens the session with a question.
    assert_eq!(utts[0]["speaker"], p.as_str());
    assert_eq!(utts[0]["role"], "therapist");
    assert!(utts[0]["words"][0]["start"].is_number());
    let names: Vec<&str> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"campplus-frames-int8") && names.contains(&"pyannote-segmentation-3.0")
    );
    let txt = std::fs::read_to_string(dir.path().join("poor-mi.txt")).unwrap();
    assert!(
        txt.starts_with(&format!("[00:00] {p} (practitioner): ")),
        "{txt}"
    );
    assert!(txt.contains("(client): "));

    // A label that does not exist is refused with the speakers named.
    let out = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["diarize", "--quiet", "--practitioner", "S7", "--out"])
        .arg(dir.path())
        .arg(root().join("fixtures/audio/speech.wav"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("S7"), "{err}");
}

#[test]
fn diarize_and_batch_name_the_same_practitioner_the_same_way() {
    // Both go through one Session: the same role evidence (the text role
    // model and the talk pattern), so the same label, confidence and scores.
    let dir = tempfile::tempdir().unwrap();
    let wav = root().join("fixtures/demo/good-mi.wav");
    let run = |args: &[&str], out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_mitool"))
            .args(args)
            .args(["--quiet", "--threads", "2", "--out"])
            .arg(out)
            .arg(&wav)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["diarize"], &dir.path().join("d"));
    run(&["batch"], &dir.path().join("b"));
    let roles = |p: PathBuf| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["roles"].clone()
    };
    let d = roles(dir.path().join("d/good-mi.utterances.json"));
    let b = roles(dir.path().join("b/good-mi/utterances.json"));
    assert_eq!(d, b);
    assert_eq!(d["practitioner"], "S1");
}
