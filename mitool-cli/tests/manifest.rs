//! `mitool batch --manifest`: a trial's sessions list says what is known
//! per session and its own columns reach sessions.csv (and survive `merge`).

use std::path::Path;
use std::process::{Command, Output};

fn mitool(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mitool"))
        .arg("--quiet")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The same conversation under names that say no role: who the
/// practitioner is comes from the manifest (Anna speaks 3 times, Ben 2).
const VISIT: &str = "Anna: How have things been since last week?\n\
    Ben: Better. I've been walking every day.\n\
    Anna: You've really stuck with it.\n\
    Ben: I want to keep going.\n\
    Anna: What would make it easier to keep going?\n";

/// sessions.csv as (header, rows).
fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (head, rows)
}

fn cell<'a>(head: &[String], rows: &'a [Vec<String>], id: &str, col: &str) -> &'a str {
    let c = head.iter().position(|h| h == col).expect(col);
    let row = rows.iter().find(|r| r[0] == id).expect(id);
    &row[c]
}

#[test]
fn a_manifest_gives_the_practitioner_and_carries_its_columns() {
    let d = tempfile::tempdir().unwrap();
    let trial = d.path().join("trial");
    std::fs::create_dir_all(trial.join("visits")).unwrap();
    for n in ["v1", "v2", "v3"] {
        std::fs::write(trial.join(format!("visits/{n}.txt")), VISIT).unwrap();
    }
    // Paths are relative to the manifest, not to where mitool runs.
    std::fs::write(
        trial.join("sessions.csv"),
        "file,Site,practitioner,practitioner_id,date\n\
         visits/v1.txt,North,Anna,P07,2024-04-12\n\
         visits/v2.txt,South,Ben,P02,2024-04-13\n\
         visits/gone.txt,North,Anna,P07,2024-04-14\n",
    )
    .unwrap();
    let r = mitool(
        d.path(),
        &["batch", "--manifest", "trial/sessions.csv", "--out", "out"],
    );
    // The missing file fails as its own session; the others complete.
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(stderr(&r).contains("gone.txt"), "{}", stderr(&r));

    let (head, rows) = table(&d.path().join("out/sessions.csv"));
    let n = head.len();
    assert_eq!(
        head[n - 6..],
        [
            "status",
            "needs_review",
            "corrected",
            "Site",
            "practitioner_id",
            "date"
        ],
        "the manifest's columns follow every usual one, in its order"
    );
    assert_eq!(head[0], "session_id");
    assert_eq!(cell(&head, &rows, "v1", "practitioner_utterances"), "3");
    assert_eq!(cell(&head, &rows, "v2", "practitioner_utterances"), "2");
    assert_eq!(cell(&head, &rows, "v1", "Site"), "North");
    assert_eq!(cell(&head, &rows, "v2", "practitioner_id"), "P02");
    assert_eq!(cell(&head, &rows, "gone", "status"), "failed: read");
    assert_eq!(cell(&head, &rows, "gone", "date"), "2024-04-14");

    // The session record keeps them too, in the manifest's order.
    let json = std::fs::read_to_string(d.path().join("out/v2/session.json")).unwrap();
    let at = |s: &str| json.find(s).unwrap_or_else(|| panic!("{s} in {json}"));
    assert!(at(r#""Site": "South""#) < at(r#""practitioner_id": "P02""#));
    assert!(at(r#""practitioner_id": "P02""#) < at(r#""date": "2024-04-13""#));

    // A corrected cell reaches the table on the rerun without redoing the session.
    let text = std::fs::read_to_string(trial.join("sessions.csv")).unwrap();
    std::fs::write(trial.join("sessions.csv"), text.replace("South", "East")).unwrap();
    let r = mitool(
        d.path(),
        &[
            "batch",
            "--json",
            "--manifest",
            "trial/sessions.csv",
            "--out",
            "out",
        ],
    );
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(j["skipped"], 2, "{j}");
    let (head, rows) = table(&d.path().join("out/sessions.csv"));
    assert_eq!(cell(&head, &rows, "v2", "Site"), "East");

    // Another manifest's folder, with another column: merged, the table
    // has every column and empty cells where a folder had none.
    std::fs::write(
        trial.join("wave2.csv"),
        "file,practitioner,Site,wave\nvisits/v3.txt,Anna,West,2\n",
    )
    .unwrap();
    let r = mitool(
        d.path(),
        &["batch", "--manifest", "trial/wave2.csv", "--out", "out2"],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let r = mitool(d.path(), &["merge", "out", "out2", "--out", "merged"]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let (head, rows) = table(&d.path().join("merged/sessions.csv"));
    let n = head.len();
    assert_eq!(head[n - 4..], ["Site", "practitioner_id", "date", "wave"]);
    assert_eq!(cell(&head, &rows, "v3", "Site"), "West");
    assert_eq!(cell(&head, &rows, "v3", "wave"), "2");
    assert_eq!(cell(&head, &rows, "v3", "date"), "");
    assert_eq!(cell(&head, &rows, "v1", "wave"), "");
}

#[test]
fn a_bad_manifest_is_named_with_its_line_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("v1.txt"), VISIT).unwrap();
    let write = |text: &str| std::fs::write(d.path().join("sessions.csv"), text).unwrap();

    write("file,speakers,site\nv1.txt,2,North\nv2.txt,two,South\n");
    let r = mitool(
        d.path(),
        &["batch", "--manifest", "sessions.csv", "--out", "out"],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains(
            "sessions.csv, line 3: speakers must be a whole number from 1 to 20, got 'two'"
        ),
        "{}",
        stderr(&r)
    );
    assert!(!d.path().join("out").exists(), "nothing ran");

    write("recording,site\nv1.txt,North\n");
    let r = mitool(
        d.path(),
        &["batch", "--manifest", "sessions.csv", "--out", "out"],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("sessions.csv, line 1: there is no `file` column"),
        "{}",
        stderr(&r)
    );

    // The manifest lists the sessions: files besides it are a mistake.
    write("file\nv1.txt\n");
    let r = mitool(
        d.path(),
        &[
            "batch",
            "--manifest",
            "sessions.csv",
            "v1.txt",
            "--out",
            "out",
        ],
    );
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    assert!(e.contains("sessions.csv") && e.contains("v1.txt"), "{e}");
}

#[test]
fn speakers_from_the_manifest_reach_diarization() {
    // Two voices, told three: the manifest's count reaches diarization,
    // which looks for a third person who says little, finds none, keeps the
    // two voices it hears and asks for a check rather than split one.
    let d = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/good-mi.wav");
    std::fs::copy(demo, d.path().join("good-mi.wav")).unwrap();
    std::fs::write(d.path().join("m.csv"), "file,speakers\ngood-mi.wav,3\n").unwrap();
    let r = mitool(
        d.path(),
        &[
            "batch",
            "--threads",
            "2",
            "--manifest",
            "m.csv",
            "--out",
            "out",
        ],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let rttm = std::fs::read_to_string(d.path().join("out/good-mi/diarization.rttm")).unwrap();
    let mut speakers: Vec<&str> = rttm
        .lines()
        .filter_map(|l| l.split_whitespace().nth(7))
        .collect();
    speakers.sort();
    speakers.dedup();
    assert_eq!(speakers.len(), 2, "{rttm}");
    let json = std::fs::read_to_string(d.path().join("out/good-mi/session.json")).unwrap();
    assert!(
        json.contains(r#""speakers": 3"#),
        "the session records what it ran with"
    );
    assert!(
        json.contains("3 speakers were given, but only 2 distinct voices were heard"),
        "{json}"
    );
}
