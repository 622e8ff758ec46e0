//! The `mitool` binary as a user runs it.

mod common;

use std::process::Command;

use common::{root, shared_audio};

fn mitool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mitool"))
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn transcribe_jfk_prints_the_reference_text() {
    let Some(shared) = shared_audio() else { return };
    let out = mitool()
        .args(["transcribe", "--format", "txt"])
        .arg(shared.join("jfk.wav"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = std::fs::read_to_string(shared.join("jfk.txt")).unwrap();
    assert_eq!(
        norm(&String::from_utf8_lossy(&out.stdout)),
        norm(&reference)
    );
}

#[test]
fn json_and_vtt_outputs_are_written_privately_to_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let speech = root().join("fixtures/audio/speech.wav");
    let flac = root().join("fixtures/audio/speech.flac");
    for fmt in ["json", "vtt"] {
        let out = mitool()
            .args(["transcribe", "--quiet", "--format", fmt, "--out"])
            .arg(dir.path())
            .arg(&speech)
            .arg(&flac)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("speech.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema"], "mitool.transcript");
    assert_eq!(json["version"], 1);
    assert_eq!(json["model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(json["segments"][0]["words"][0]["start"].is_number());
    let vtt = std::fs::read_to_string(dir.path().join("speech.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT") && vtt.contains(" --> "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("speech.vtt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}

#[test]
fn a_bad_file_is_reported_and_the_others_still_done() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("visit-empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let out = mitool()
        .args(["transcribe", "--quiet"])
        .arg(&empty)
        .arg(root().join("fixtures/audio/speech.mp3"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("visit-empty.wav") && err.contains("empty"),
        "{err}"
    );
    assert!(
        norm(&String::from_utf8_lossy(&out.stdout)).contains("what would you like to talk about")
    );
}

#[test]
fn models_verify_passes_and_a_missing_store_says_how_to_fix_it() {
    let out = mitool().args(["models", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = mitool()
        .arg("--models-dir")
        .arg(dir.path())
        .args(["transcribe"])
        .arg(root().join("fixtures/audio/speech.wav"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mitool models install"), "{err}");
}

/// OpenBLAS falls back to SSE3 kernels on CPUs it does not know; mitool starts
/// itself again with better ones where the CPU has them (`mitool_core::blas`).
#[test]
fn blas_kernels_are_not_the_generic_fallback_where_the_cpu_can_do_better() {
    let out = mitool().args(["models", "list"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kernel = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BLAS kernels (OpenBLAS): "))
        .unwrap_or_else(|| panic!("no BLAS line in `mitool models list`:\n{stdout}"));
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert!(
            !kernel.eq_ignore_ascii_case("prescott"),
            "OpenBLAS runs its generic kernels on an AVX2 CPU"
        );
    }
    // Asked for by name, the user's choice stands.
    let out = mitool()
        .args(["models", "list"])
        .env("OPENBLAS_CORETYPE", "Haswell")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("BLAS kernels (OpenBLAS): Haswell"));
}

#[test]
fn a_file_that_breaks_a_decoder_gets_one_line_naming_it() {
    let bad = root().join("fixtures/hostile/riff-channel-mask-overflow.bin");
    let r = mitool().arg("transcribe").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("mitool: {}: internal error", bad.display())),
        "{err}"
    );
    assert!(r.stdout.is_empty());
}
