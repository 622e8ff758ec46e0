//! The batch job as a trial team runs it: resumable after `kill -9`, a bad
//! file does not stop the others, shards merge into the unsharded result.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mitool() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mitool"));
    c.arg("--quiet");
    c
}

/// Transcript sessions of our own text (fast to process).
fn transcripts(dir: &Path) -> PathBuf {
    let inp = dir.join("in");
    std::fs::create_dir_all(&inp).unwrap();
    for name in ["good-mi", "poor-mi"] {
        std::fs::copy(
            root().join(format!("fixtures/coded/{name}.csv")),
            inp.join(format!("{name}.csv")),
        )
        .unwrap();
    }
    let lines = [
        ("visit-a.txt", "Practitioner: How have things been since last week?\nClient: Better. I've been walking every day.\nPractitioner: You've really stuck with it.\nClient: I want to keep going.\n"),
        ("visit-b.txt", "Practitioner: You need to stop smoking.\nClient: I know, but it's hard.\nPractitioner: Why don't you just throw them away?\nClient: I'm not ready.\n"),
        ("visit-c.txt", "Practitioner: What would you like to talk about?\nClient: Money, mostly.\nPractitioner: Money has been a worry for you.\nClient: Yes. I want to get on top of it.\n"),
    ];
    for (n, t) in lines {
        std::fs::write(inp.join(n), t).unwrap();
    }
    inp
}

#[test]
fn a_bad_file_is_listed_and_the_others_complete() {
    let d = tempfile::tempdir().unwrap();
    let inp = transcripts(d.path());
    std::fs::write(
        inp.join("broken.wav"),
        b"RIFF\x10\x00\x00\x00WAVEfmt garbage",
    )
    .unwrap();
    let out = d.path().join("out");
    let r = mitool()
        .arg("batch")
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    assert!(
        failures.contains("broken") && failures.contains("decode"),
        "{failures}"
    );
    let sessions = std::fs::read_to_string(out.join("sessions.csv")).unwrap();
    // `status` is not the last column (`needs_review` follows it).
    let mut rdr = csv::Reader::from_reader(sessions.as_bytes());
    let status = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "status")
        .unwrap();
    let ok = rdr
        .records()
        .filter(|r| &r.as_ref().unwrap()[status] == "ok")
        .count();
    assert_eq!(ok, 5, "{sessions}");
    assert!(sessions
        .lines()
        .any(|l| l.starts_with("broken,") && l.contains("failed: decode")));
    for s in ["good-mi", "visit-a"] {
        for f in ["report.html", "coded.csv", "codes.vtt", "session.json"] {
            assert!(out.join(s).join(f).is_file(), "{s}/{f}");
        }
    }
    // A second run skips what is done and still reports the failure.
    let r = mitool()
        .args(["batch", "--json"])
        .arg(&inp)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(j["skipped"], 5);
    assert_eq!(j["failed"], 1);
}

#[test]
fn three_shards_merged_equal_one_unsharded_run() {
    let d = tempfile::tempdir().unwrap();
    let inp = transcripts(d.path());
    let whole = d.path().join("whole");
    assert!(mitool()
        .arg("batch")
        .arg(&inp)
        .arg("--out")
        .arg(&whole)
        .status()
        .unwrap()
        .success());
    let mut shards = Vec::new();
    for i in 1..=3 {
        let s = d.path().join(format!("shard{i}"));
        let st = mitool()
            .arg("batch")
            .arg(&inp)
            .args(["--shard", &format!("{i}/3"), "--out"])
            .arg(&s)
            .status()
            .unwrap();
        assert!(st.success());
        shards.push(s);
    }
    let merged = d.path().join("merged");
    let st = mitool()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read_to_string(whole.join("sessions.csv")).unwrap(),
        std::fs::read_to_string(merged.join("sessions.csv")).unwrap()
    );
    assert!(std::fs::read_to_string(merged.join("index.html"))
        .unwrap()
        .contains("shard2/"));
}

#[test]
fn kill_9_then_rerun_gives_the_uninterrupted_result() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in");
    std::fs::create_dir_all(&inp).unwrap();
    for n in ["good-mi", "poor-mi"] {
        std::fs::copy(
            root().join(format!("fixtures/demo/{n}.wav")),
            inp.join(format!("{n}.wav")),
        )
        .unwrap();
    }
    std::fs::copy(
        root().join("fixtures/coded/good-mi.csv"),
        inp.join("coded.csv"),
    )
    .unwrap();
    let args = |out: &Path| {
        let mut c = mitool();
        c.args(["batch", "--threads", "2"])
            .arg(&inp)
            .arg("--out")
            .arg(out);
        c
    };
    let clean = d.path().join("clean");
    assert!(args(&clean).status().unwrap().success());
    // The demo's point: good MI scores better than poor MI.
    let table = std::fs::read_to_string(clean.join("sessions.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(table.as_bytes());
    let head = rdr.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let row = |id: &str| rows.iter().find(|r| &r[0] == id).unwrap().clone();
    let (good, poor) = (row("good-mi"), row("poor-mi"));
    let num = |r: &csv::StringRecord, c: &str| r[col(c)].parse::<f64>().unwrap_or(0.0);
    assert!(num(&good, "r_to_q") > num(&poor, "r_to_q"), "{table}");
    assert!(
        num(&good, "pct_complex_reflections") > num(&poor, "pct_complex_reflections"),
        "{table}"
    );
    assert!(
        num(&good, "mi_non_adherent") < num(&poor, "mi_non_adherent"),
        "{table}"
    );

    // Every word on the right person: the recognised words, aligned to the
    // script's words, carry the speaker of their script turn (under the
    // best one-to-one naming of speakers).
    for n in ["good-mi", "poor-mi"] {
        let share = words_on_the_right_speaker(
            &clean.join(format!("{n}/utterances.json")),
            &root().join(format!("fixtures/demo/{n}.ref.json")),
        );
        eprintln!(
            "{n}: {:.1}% of aligned words on the right speaker",
            100.0 * share
        );
        assert!(share >= 0.95, "{n}: {share}");
    }
    // poor-mi has a third person who says little (D, 3 turns): the
    // outputs name them "other", the talkative family member "client".
    let u: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(clean.join("poor-mi/utterances.json")).unwrap(),
    )
    .unwrap();
    let people = u["roles"]["people"].as_object().expect("people");
    let who = |p: &str| people.iter().filter(|(_, v)| *v == p).count();
    assert_eq!(
        (who("practitioner"), who("client"), who("other")),
        (1, 1, 1),
        "{people:?}"
    );
    let speech = |role: &str| {
        let (label, _) = people.iter().find(|(_, v)| *v == role).unwrap();
        u["speakers"][label].as_f64().unwrap()
    };
    assert!(speech("other") < speech("client"), "{}", u["speakers"]);
    let coded = std::fs::read_to_string(clean.join("poor-mi/coded.csv")).unwrap();
    assert!(
        coded.lines().next().unwrap().ends_with(",person"),
        "{coded}"
    );
    assert!(coded.lines().any(|l| l.ends_with(",other")));

    let killed = d.path().join("killed");
    let mut child = args(&killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the first session is complete and the second is under way.
    let t0 = Instant::now();
    loop {
        let done = std::fs::read_dir(&killed)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("session.json").is_file())
                    .count()
            })
            .unwrap_or(0);
        if done >= 1 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("sessions.csv").exists() || t0.elapsed() > Duration::from_secs(120));

    let r = args(&killed).arg("--json").output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(j["skipped"].as_u64().unwrap() >= 1, "{j}");
    for f in ["sessions.csv", "failures.csv"] {
        assert_eq!(
            std::fs::read(clean.join(f)).unwrap(),
            std::fs::read(killed.join(f)).unwrap(),
            "{f} differs after kill -9 and rerun"
        );
    }
    // No temporary files are left behind.
    let mut stack = vec![killed.clone()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            }
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".tmp"), "left behind: {}", e.path().display());
        }
    }
}

#[test]
fn transcript_text_reaches_the_log_only_when_asked() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in");
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::write(
        inp.join("v.txt"),
        "Practitioner: What matters most to you this week?\nClient: My daughter's school.\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let r = Command::new(env!("CARGO_BIN_EXE_mitool"))
            .arg("batch")
            .arg(&inp)
            .arg("--out")
            .arg(d.path().join("out"))
            .args(extra)
            .output()
            .unwrap();
        assert!(r.status.success());
        String::from_utf8_lossy(&r.stderr).into_owned()
    };
    assert!(!run(&[]).contains("daughter"));
    assert!(run(&["--log-text"]).contains("My daughter's school."));
}

fn norm_word(w: &str) -> String {
    w.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Share of the words common to the recognised utterances and the script
/// (longest common subsequence) that sit on the script's speaker.
fn words_on_the_right_speaker(utterances: &Path, script: &Path) -> f64 {
    let u: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(utterances).unwrap()).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(script).unwrap()).unwrap();
    let mut hyp: Vec<(String, String)> = Vec::new();
    for x in u["utterances"].as_array().unwrap() {
        for w in x["words"].as_array().unwrap() {
            let t = norm_word(w["text"].as_str().unwrap());
            if !t.is_empty() {
                hyp.push((t, x["speaker"].as_str().unwrap().to_string()));
            }
        }
    }
    let mut reference: Vec<(String, String)> = Vec::new();
    for t in r["turns"].as_array().unwrap() {
        for w in t["text"].as_str().unwrap().split_whitespace() {
            let n = norm_word(w);
            if !n.is_empty() {
                reference.push((n, t["speaker"].as_str().unwrap().to_string()));
            }
        }
    }
    // LCS table, then walk back collecting the aligned speaker pairs.
    let (a, b) = (reference.len(), hyp.len());
    let mut l = vec![vec![0u32; b + 1]; a + 1];
    for i in (0..a).rev() {
        for j in (0..b).rev() {
            l[i][j] = if reference[i].0 == hyp[j].0 {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a && j < b {
        if reference[i].0 == hyp[j].0 {
            pairs.push((&reference[i].1, &hyp[j].1));
            i += 1;
            j += 1;
        } else if l[i + 1][j] >= l[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    assert!(
        pairs.len() * 10 >= reference.len() * 8,
        "too few words recognised"
    );
    // Greedy naming, most frequent pairs first.
    let mut counts: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for &p in &pairs {
        *counts.entry(p).or_default() += 1;
    }
    let mut ranked: Vec<_> = counts.into_iter().collect();
    ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut naming: Vec<(&str, &str)> = Vec::new();
    for ((r, h), _) in ranked {
        if naming.iter().all(|&(nr, nh)| nr != r && nh != h) {
            naming.push((r, h));
        }
    }
    let right = pairs.iter().filter(|p| naming.contains(p)).count();
    right as f64 / pairs.len() as f64
}

/// Every file under `dir` whose name says it is left over: a claim or a
/// temporary file. A finished run leaves none.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                stack.push(e.path());
            } else if n.starts_with(".claim") || n.ends_with(".tmp") {
                found.push(e.path());
            }
        }
    }
    found
}

#[test]
fn a_panic_in_one_session_costs_that_session_alone() {
    // A decoder panics on this input (fixtures/hostile/README.md); this test
    // build checks overflow, as `cargo build` does.
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in");
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::copy(
        root().join("fixtures/hostile/riff-channel-mask-overflow.bin"),
        inp.join("bad.wav"),
    )
    .unwrap();
    std::fs::copy(
        root().join("fixtures/demo/good-mi.wav"),
        inp.join("good-mi.wav"),
    )
    .unwrap();
    let out = d.path().join("out");
    let run = || {
        mitool()
            .args(["batch", "--json"])
            .arg(&inp)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let r = run();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        (j["done"].as_u64(), j["failed"].as_u64()),
        (Some(1), Some(1)),
        "{j}"
    );

    let sessions = std::fs::read_to_string(out.join("sessions.csv")).unwrap();
    assert!(
        sessions
            .lines()
            .any(|l| l.starts_with("good-mi,") && l.contains(",ok")),
        "{sessions}"
    );
    assert!(
        sessions
            .lines()
            .any(|l| l.starts_with("bad,") && l.contains("failed: decode")),
        "{sessions}"
    );
    for f in [
        "report.html",
        "coded.csv",
        "codes.vtt",
        "session.json",
        "utterances.json",
    ] {
        assert!(out.join("good-mi").join(f).is_file(), "good-mi/{f}");
    }
    let failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(failures.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{failures}");
    assert_eq!((&rows[0][0], &rows[0][2]), ("bad", "decode"), "{failures}");
    assert!(rows[0][1].ends_with("bad.wav"), "{failures}");
    assert!(
        rows[0][3].contains("internal error") && rows[0][3].contains("shift left with overflow"),
        "{failures}"
    );
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    // The rerun skips the good session and fails the bad one the same way.
    let r = run();
    assert_eq!(r.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        (j["skipped"].as_u64(), j["failed"].as_u64()),
        (Some(1), Some(1)),
        "{j}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("failures.csv")).unwrap(),
        failures
    );
    assert!(leftovers(&out).is_empty());
}

#[test]
fn runs_share_a_folder_and_a_killed_shard_is_resubmitted() {
    let d = tempfile::tempdir().unwrap();
    // Two recordings (slow enough to kill mid-session) and three transcripts.
    let inp = transcripts(d.path());
    for n in ["good-mi", "poor-mi"] {
        std::fs::remove_file(inp.join(format!("{n}.csv"))).unwrap();
        std::fs::copy(
            root().join(format!("fixtures/demo/{n}.wav")),
            inp.join(format!("{n}.wav")),
        )
        .unwrap();
    }
    let batch = |out: &Path, extra: &[&str]| {
        let mut c = mitool();
        c.args(["batch", "--json", "--threads", "1"])
            .args(extra)
            .arg(&inp)
            .arg("--out")
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let summary = |child: std::process::Child| {
        let r = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(matches!(r.status.code(), Some(0 | 1)), "{err}");
        let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert_eq!(j["failed"], 0, "{j} {err}");
        (j, err)
    };
    let merge = |out: &Path| {
        let st = mitool()
            .arg("merge")
            .arg(out)
            .arg("--out")
            .arg(out)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read_to_string(out.join("sessions.csv")).unwrap()
    };
    let one = d.path().join("one");
    let (j, _) = summary(batch(&one, &[]).spawn().unwrap());
    assert_eq!(j["done"], 5, "{j}");
    let reference = std::fs::read_to_string(one.join("sessions.csv")).unwrap();

    // Two whole runs at once: every session is done by exactly one of them.
    let both = d.path().join("both");
    let (a, b) = (
        batch(&both, &[]).spawn().unwrap(),
        batch(&both, &[]).spawn().unwrap(),
    );
    let ((ja, ea), (jb, eb)) = (summary(a), summary(b));
    let n = |j: &serde_json::Value, k: &str| j[k].as_u64().unwrap();
    assert_eq!(n(&ja, "done") + n(&jb, "done"), 5, "{ja} {jb}\n{ea}\n{eb}");
    assert_eq!(
        n(&ja, "done") + n(&ja, "skipped") + n(&ja, "taken"),
        5,
        "{ja}"
    );
    assert_eq!(merge(&both), reference);
    assert!(leftovers(&both).is_empty(), "{:?}", leftovers(&both));

    // The shards side by side, as a Slurm array runs them: shard 2 of 2
    // (poor-mi.wav, then visit-b) is killed in the middle of its recording.
    let sharded = d.path().join("sharded");
    let first = batch(&sharded, &["--shard", "1/2"]).spawn().unwrap();
    let mut second = batch(&sharded, &["--shard", "2/2"]).spawn().unwrap();
    let claim = sharded.join("poor-mi/.claim");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&claim).is_ok_and(|t| t.contains("\"pid\"")) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "shard 2 never claimed poor-mi"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    second.kill().unwrap(); // SIGKILL
    second.wait().unwrap();
    let (j1, e1) = summary(first);
    assert_eq!((n(&j1, "done"), n(&j1, "taken")), (3, 0), "{j1} {e1}");
    assert!(
        claim.is_file() && !sharded.join("poor-mi/session.json").exists(),
        "shard 2 was not killed mid-session"
    );
    // Resubmitted: the dead task's claim is stale, taken over and finished.
    let (j2, e2) = summary(batch(&sharded, &["--shard", "2/2"]).spawn().unwrap());
    assert_eq!(n(&j2, "done"), 2, "{j2} {e2}");
    assert_eq!(merge(&sharded), reference);
    assert!(leftovers(&sharded).is_empty(), "{:?}", leftovers(&sharded));
}
