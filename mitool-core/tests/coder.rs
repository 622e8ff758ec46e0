//! The Rust coder reproduces the training framework's inputs and outputs
//! (models/coder/parity.json, written by the recipe with Python onnxruntime).

mod common;

use std::sync::OnceLock;

use common::*;
use mitool_core::code::{Coder, CoderConfig};
use mitool_core::progress::NullSink;
use mitool_core::utterance::{self, Role, Utterance};
use sha2::{Digest, Sha256};

fn coder() -> &'static Coder {
    static C: OnceLock<Coder> = OnceLock::new();
    C.get_or_init(|| Coder::new(store(), CoderConfig::default()).expect("coder loads"))
}

fn parity() -> serde_json::Value {
    read_parity("parity.json")
}

fn read_parity(name: &str) -> serde_json::Value {
    let p = mitool_core::code::bundled_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Whether this CPU computes as the one `parity.json` was made on (AVX-512
/// VNNI). ONNX Runtime's float kernels differ in the last digits between
/// CPUs, and the int8 model carries that through the rounding of its
/// activations: on an AVX2-only CPU the probabilities move by up to 0.003
/// (`parity-avx2.json`, made there). Each CPU is held to its own reference
/// to 2e-4, and the references to each other by
/// `the_same_codes_on_every_cpu`.
fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

fn utt(role: &str, text: &str) -> Utterance {
    Utterance {
        session_id: "p".into(),
        id: "0".into(),
        speaker: role.into(),
        role: role.parse::<Role>().unwrap(),
        start: None,
        end: None,
        text: text.into(),
        words: vec![],
        overlap: false,
        codes: Default::default(),
        extra: Default::default(),
    }
}

fn assert_close(head: &str, got: &[f32], want: &serde_json::Value) {
    let want: Vec<f32> = want
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(got.len(), want.len(), "{head}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 2e-4, "{head}: {got:?} vs {want:?}");
    }
}

fn check(p: &mitool_core::code::Probabilities, want: &serde_json::Value) {
    assert_close("therapist_main", &p.therapist_main, &want["therapist_main"]);
    assert_close("therapist_fine", &p.therapist_fine, &want["therapist_fine"]);
    assert_close("exists", &p.exists, &want["exists"]);
    assert_close("client_talk", &p.client_talk, &want["client_talk"]);
}

#[test]
fn own_text_inputs_and_outputs_match_the_training_framework() {
    let par = if vnni() {
        parity()
    } else {
        read_parity("parity-avx2.json")
    };
    let items = par["own_text"].as_array().unwrap();
    assert!(items.len() >= 5);
    for item in items {
        let mut session: Vec<Utterance> = item["previous_oldest_first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| utt(p[0].as_str().unwrap(), p[1].as_str().unwrap()))
            .collect();
        session.push(utt(
            item["role"].as_str().unwrap(),
            item["text"].as_str().unwrap(),
        ));
        let i = session.len() - 1;
        // The reply after it, where the recipe's context reads one.
        if let Some(next) = item["next"].as_array() {
            session.push(utt(next[0].as_str().unwrap(), next[1].as_str().unwrap()));
        }
        let e = coder().encode(&session, i).unwrap();
        let ids: Vec<i64> = item["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let types: Vec<i64> = item["token_type_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(e.input_ids, ids, "{}", item["text"]);
        assert_eq!(e.token_type_ids, types);
        let p = coder().run(&[&e]).unwrap();
        check(&p[0], &item["probs"]);
    }
}

#[test]
fn annomi_dev_sample_matches_the_training_framework() {
    let Some(csv) = annomi_csv() else { return };
    let sessions = utterance::group_sessions(utterance::read_csv(&csv).unwrap());
    let par = parity();
    for item in par["annomi_dev"].as_array().unwrap() {
        let t = item["transcript_id"].as_i64().unwrap().to_string();
        let u = item["utterance_id"].as_i64().unwrap().to_string();
        let (_, s) = sessions.iter().find(|(id, _)| *id == t).unwrap();
        let i = s.iter().position(|x| x.id == u).unwrap();
        let e = coder().encode(s, i).unwrap();
        let joined = e
            .input_ids
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sha: String = Sha256::digest(joined.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sha,
            item["input_ids_sha256"].as_str().unwrap(),
            "transcript {t} utterance {u}"
        );
        // The reference was made on a VNNI CPU (see `vnni`); elsewhere the
        // probabilities are held to the distance between CPUs, and the codes
        // must be the same.
        let p = coder().run(&[&e]).unwrap();
        if vnni() {
            check(&p[0], &item["probs"]);
        } else {
            same_codes(
                &p[0],
                &item["probs"],
                &format!("transcript {t} utterance {u}"),
            );
        }
    }
}

/// How far two CPUs' probabilities may lie apart (see `vnni`): 0.003 seen.
const ACROSS_CPUS: f32 = 0.005;

fn as_f32(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Within `ACROSS_CPUS` of `want`, and the same decisions (argmax; flags at
/// 0.5) wherever the reference is not itself too close to call.
fn same_codes(p: &mitool_core::code::Probabilities, want: &serde_json::Value, what: &str) {
    let heads: [(&str, &[f32]); 4] = [
        ("therapist_main", &p.therapist_main),
        ("therapist_fine", &p.therapist_fine),
        ("exists", &p.exists),
        ("client_talk", &p.client_talk),
    ];
    for (head, got) in heads {
        let want = as_f32(&want[head]);
        assert_eq!(got.len(), want.len(), "{what} {head}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < ACROSS_CPUS,
                "{what} {head}: {got:?} vs {want:?}"
            );
        }
        let clear = 2.0 * ACROSS_CPUS;
        if head == "exists" {
            for (g, w) in got.iter().zip(&want) {
                if (w - 0.5).abs() > clear {
                    assert_eq!(*g > 0.5, *w > 0.5, "{what} {head}: {got:?} vs {want:?}");
                }
            }
        } else {
            let best = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            let mut sorted = want.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] > clear {
                assert_eq!(best(got), best(&want), "{what} {head}: {got:?} vs {want:?}");
            }
        }
    }
}

/// The two CPUs' references (see `vnni`) give the same codes: a study coded
/// on mixed machines is coded alike.
#[test]
fn the_same_codes_on_every_cpu() {
    let (vnni_ref, avx2_ref) = (parity(), read_parity("parity-avx2.json"));
    let (a, b) = (
        vnni_ref["own_text"].as_array().unwrap(),
        avx2_ref["own_text"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["input_ids"], y["input_ids"]);
        let p = mitool_core::code::Probabilities {
            therapist_main: as_f32(&y["probs"]["therapist_main"]),
            therapist_fine: as_f32(&y["probs"]["therapist_fine"]),
            exists: as_f32(&y["probs"]["exists"]),
            client_talk: as_f32(&y["probs"]["client_talk"]),
        };
        same_codes(&p, &x["probs"], x["text"].as_str().unwrap());
    }
}

#[test]
fn coding_a_session_gives_valid_deterministic_labels() {
    let texts = [
        ("therapist", "What brings you here today?"),
        (
            "client",
            "My doctor said I should cut down on drinking, and I want to feel better.",
        ),
        (
            "therapist",
            "You're worried about your health and you'd like things to change.",
        ),
        ("client", "I don't really think I have a problem though."),
        ("therapist", "You need to stop drinking now."),
        ("client", ""),
    ];
    let mut a: Vec<Utterance> = texts.iter().map(|(r, t)| utt(r, t)).collect();
    let mut b = a.clone();
    coder()
        .code_session(&mut a, std::path::Path::new("s"), &NullSink)
        .unwrap();
    coder()
        .code_session(&mut b, std::path::Path::new("s"), &NullSink)
        .unwrap();
    assert_eq!(a, b, "deterministic");
    for u in &a[..5] {
        let c = &u.codes;
        let conf = c.confidence.unwrap();
        assert!((0.0..=1.0).contains(&conf));
        match u.role {
            Role::Practitioner => {
                assert!(c.main.is_some() && c.talk.is_none());
                assert!(c.miti.is_some());
            }
            Role::Client => assert!(c.talk.is_some() && c.main.is_none()),
        }
    }
    assert_eq!(a[5].codes.confidence, None, "empty utterance is skipped");
    assert_eq!(
        a[0].codes.main,
        Some(mitool_core::utterance::Main::Question)
    );
}

/// The coded CSV keeps the calibrated probabilities with the codes they
/// decided: re-scoring it (as a trainer does after checking codes) gives the
/// scores of the session as coded.
#[test]
fn a_coded_csv_rescores_to_the_same_scores() {
    let texts = [
        ("therapist", "What brings you here today?"),
        ("client", "My doctor said I should cut down on drinking."),
        ("therapist", "You're worried about your health."),
        (
            "therapist",
            "And you'd like things to change, is that right?",
        ),
        ("client", "I don't really think I have a problem though."),
        ("therapist", "You need to stop drinking now."),
        ("client", "Maybe. It's hard with my friends."),
        (
            "therapist",
            "So it's your friends that make it hard, not the wanting.",
        ),
    ];
    let mut utts: Vec<Utterance> = texts.iter().map(|(r, t)| utt(r, t)).collect();
    coder()
        .code_session(&mut utts, std::path::Path::new("s"), &NullSink)
        .unwrap();
    for u in utts.iter().filter(|u| u.role == Role::Practitioner) {
        let e = u
            .codes
            .events
            .expect("practitioner utterances carry probabilities");
        assert_eq!(u.codes.question_exists, Some(e.question > 0.5), "{u:?}");
        assert_eq!(u.codes.reflection_exists, Some(e.reflection > 0.5), "{u:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coded.csv");
    std::fs::write(&path, mitool_core::utterance::to_csv(&utts).unwrap()).unwrap();
    let back = mitool_core::utterance::read_csv(&path).unwrap();
    let cfg = mitool_core::score::ScoreConfig::default();
    let a = mitool_core::score::score("s", "x", &utts, "m", &cfg).unwrap();
    let b = mitool_core::score::score("s", "x", &back, "m", &cfg).unwrap();
    assert_eq!(a, b);
    // Questions and reflections count whole; complex reflections in part.
    assert_eq!(a.questions.fract(), 0.0, "{a:?}");
    assert!(
        a.complex_reflections.fract() != 0.0,
        "complex reflections are expected counts: {a:?}"
    );
}

#[test]
fn an_utterance_is_coded_the_same_whatever_else_is_coded_with_it() {
    // The int8 model scales activations per tensor: batched with others,
    // an utterance's probabilities would move. Each runs alone, so the
    // session's probabilities equal each utterance's own run, and the
    // number of sessions side by side changes nothing.
    let mut utts = Vec::new();
    for f in ["good-mi", "poor-mi"] {
        utts.extend(utterance::read_csv(&fixtures().join(format!("coded/{f}.csv"))).unwrap());
    }
    let path = std::path::Path::new("s");
    let two = coder().probabilities(&utts, path, &NullSink).unwrap();
    let one = Coder::new(store(), CoderConfig { threads: 1 })
        .unwrap()
        .probabilities(&utts, path, &NullSink)
        .unwrap();
    assert_eq!(one, two);
    let mut checked = 0;
    for (i, p) in two.iter().enumerate() {
        let Some(p) = p else { continue };
        let e = coder().encode(&utts, i).unwrap();
        assert_eq!(&coder().run(&[&e]).unwrap()[0], p, "utterance {i}");
        checked += 1;
    }
    assert!(checked > 20);
}
