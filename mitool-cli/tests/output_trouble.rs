//! Trouble with the output folder: another run working there, a disk that
//! fills up, a read-only disk. The disks are small tmpfs mounts, which need
//! root; where mounting is not allowed those tests skip and say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn mitool() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mitool"));
    c.arg("--quiet");
    c
}

/// `mitool batch INPUT --out OUT` on one thread, so sessions are written in
/// id order and the disk fills at the same place every time.
fn batch(input: &Path, out: &Path) -> Command {
    let mut c = mitool();
    c.args(["batch", "--threads", "1"])
        .arg(input)
        .arg("--out")
        .arg(out);
    c
}

fn stderr(r: &Output) -> String {
    String::from_utf8_lossy(&r.stderr).into_owned()
}

/// The two coded transcripts: quick to run, no audio models needed.
fn coded_inputs(dir: &Path) -> PathBuf {
    let inp = dir.join("in");
    std::fs::create_dir_all(&inp).unwrap();
    for name in ["good-mi", "poor-mi"] {
        let from = common::root().join(format!("fixtures/coded/{name}.csv"));
        std::fs::copy(from, inp.join(format!("{name}.csv"))).unwrap();
    }
    inp
}

/// Every file under `dir`, relative to it, sorted; the lock file aside.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() != ".mitool.lock" {
                files.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// A tmpfs mounted for one test; unmounted when dropped, whatever happened.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` on the existing folder `dir`, or says
    /// why the test skips (mounting needs root) and gives `None`.
    fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        let r = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .output();
        match r {
            Ok(r) if r.status.success() => Some(Mount(dir.to_path_buf())),
            Ok(r) => {
                common::skip(&format!(
                    "cannot mount a tmpfs here (needs root): {}",
                    stderr(&r).lines().next().unwrap_or("").trim()
                ));
                None
            }
            Err(e) => {
                common::skip(&format!("cannot run `mount`: {e}"));
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still has a file open there: detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Path, size, times and permissions of everything under `dir`, and the
/// lock file's contents: equal snapshots mean nothing there was touched.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            lines.push(format!(
                "{} {} {:?} {:?}",
                e.path().display(),
                m.len(),
                m.modified().unwrap(),
                m.permissions()
            ));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    lines.sort();
    lines.push(std::fs::read_to_string(dir.join(".mitool.lock")).unwrap_or_default());
    lines
}

/// A child process killed when the test ends, passed or not: a stopped run
/// must not outlive a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` (`STOP`, `KILL`) to `child`.
fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {}", child.id());
}

#[test]
fn a_session_in_use_is_left_to_its_run_and_kill_9_frees_it() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let recording = common::root().join("fixtures/demo/good-mi.wav");
    // A recording takes long enough to be caught while it holds its session.
    let mut first = Running(
        batch(&recording, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The claim names its holder as soon as the session is taken.
    let claim = out.join("good-mi/.claim");
    let t0 = Instant::now();
    while std::fs::read_to_string(&claim).map_or(true, |t| !t.contains("\"pid\"")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no claim taken");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Frozen, it holds the claim and writes nothing while we look.
    signal(&first.0, "STOP");
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first run ended before it could be stopped"
    );
    let before = snapshot(&out.join("good-mi"));

    // A second run of the same recording leaves it to the first and says who that is.
    let r = batch(&recording, &out).output().unwrap();
    let err = stderr(&r);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("every session of this run was being processed by another mitool run"),
        "{err}"
    );
    assert!(
        err.contains(&format!("process {}", first.0.id())) && err.contains(" UTC"),
        "{err}"
    );
    assert_eq!(
        before,
        snapshot(&out.join("good-mi")),
        "a run touched a session another run holds"
    );
    // Meanwhile another session goes ahead in the same folder.
    let other = d.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(
        common::root().join("fixtures/coded/poor-mi.csv"),
        other.join("visit.csv"),
    )
    .unwrap();
    let r = batch(&other, &out).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(out.join("visit/session.json").is_file());

    // A killed run's claim is stale at once: its process is gone.
    signal(&first.0, "KILL");
    first.0.wait().unwrap();
    let r = batch(&recording, &out).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let table = std::fs::read_to_string(out.join("sessions.csv")).unwrap();
    assert!(
        table.lines().any(|l| l.starts_with("good-mi,"))
            && table.lines().any(|l| l.starts_with("visit,")),
        "{table}"
    );
    assert!(!claim.exists());
}

#[test]
fn a_full_disk_stops_the_batch_cleanly_and_the_rerun_completes() {
    let d = tempfile::tempdir().unwrap();
    let inp = coded_inputs(d.path());
    let clean = d.path().join("clean");
    let r = batch(&inp, &clean).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let all = files_under(&clean);

    let disk = d.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(_mount) = Mount::tmpfs(&disk, "size=200k") else {
        return;
    };
    // Other files fill the disk but for 32 KiB: room for the first session
    // (6 pages, and the lock file's), not for the second.
    let filler = disk.join("other-files");
    std::fs::write(&filler, vec![0u8; 168 * 1024]).unwrap();
    let out = disk.join("out");
    let r = batch(&inp, &out).output().unwrap();
    let err = stderr(&r);
    assert!(matches!(r.status.code(), Some(1 | 2)), "{err}");
    assert!(err.contains("the disk is full"), "{err}");
    assert!(err.contains(&out.display().to_string()), "{err}");

    // Every file under its final name is complete; the rest are absent.
    let written = files_under(&out);
    assert!(
        !written.is_empty() && written.len() < all.len(),
        "the disk should fill part way: {written:?}"
    );
    for f in &written {
        assert!(!f.to_string_lossy().ends_with(".tmp"), "left behind: {f:?}");
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(clean.join(f)).unwrap(),
            "{f:?} is half-written"
        );
    }

    std::fs::remove_file(&filler).unwrap();
    let r = batch(&inp, &out).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(files_under(&out), all);
    for f in &all {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(clean.join(f)).unwrap(),
            "{f:?} differs from an uninterrupted run's"
        );
    }
}

#[test]
fn a_read_only_output_folder_is_refused_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let inp = coded_inputs(d.path());
    // Permission bits do not stop root, so the folder is a read-only mount.
    let disk = d.path().join("read-only");
    std::fs::create_dir(&disk).unwrap();
    let Some(_mount) = Mount::tmpfs(&disk, "ro,size=64k") else {
        return;
    };
    // The folder itself, and a new folder inside it.
    for out in [disk.clone(), disk.join("results")] {
        let r = batch(&inp, &out).output().unwrap();
        let err = stderr(&r);
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("{}: cannot", out.display())) && err.contains("read-only"),
            "{err}"
        );
    }
    let r = mitool()
        .arg("merge")
        .arg(&inp)
        .arg("--out")
        .arg(&disk)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("read-only"));
    assert_eq!(std::fs::read_dir(&disk).unwrap().count(), 0);
}

#[test]
fn a_study_table_that_does_not_fit_is_an_error_not_half_a_file() {
    let d = tempfile::tempdir().unwrap();
    let inp = coded_inputs(d.path());
    let disk = d.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(_mount) = Mount::tmpfs(&disk, "size=200k") else {
        return;
    };
    let out = disk.join("out");
    let r = batch(&inp, &out).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    let table = std::fs::read(out.join("sessions.csv")).unwrap();

    // Every session is done; only the tables are left to write, on a full disk.
    std::fs::remove_file(out.join("sessions.csv")).unwrap();
    let mut filler = std::fs::File::create(disk.join("other-files")).unwrap();
    while std::io::Write::write_all(&mut filler, &[0u8; 1024]).is_ok() {}
    let r = batch(&inp, &out).output().unwrap();
    let err = stderr(&r);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: cannot write: the disk is full",
            out.join("sessions.csv").display()
        )),
        "{err}"
    );
    assert!(!out.join("sessions.csv").exists());
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    drop(filler);
    std::fs::remove_file(disk.join("other-files")).unwrap();
    let r = batch(&inp, &out).output().unwrap();
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(std::fs::read(out.join("sessions.csv")).unwrap(), table);
}
