//! Proof that nothing is sent anywhere at run time: the batch job gives the
//! same results in a network namespace that has no network at all.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn stderr(r: &Output) -> String {
    String::from_utf8_lossy(&r.stderr).into_owned()
}

/// `mitool batch` on the good-MI demo recording into `out`; `isolated`:
/// in a new network namespace.
fn demo_batch(isolated: bool, out: &Path) -> Output {
    let mitool = env!("CARGO_BIN_EXE_mitool");
    let mut c = if isolated {
        let mut c = Command::new("unshare");
        c.args(["-n", "--", mitool]);
        c
    } else {
        Command::new(mitool)
    };
    c.args(["--quiet", "batch", "--threads", "2"])
        .arg(common::root().join("fixtures/demo/good-mi.wav"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn the_batch_runs_the_same_without_any_network() {
    // A new network namespace holds only a loopback device, and that is down.
    let probe = Command::new("unshare")
        .args(["-n", "--", "cat", "/proc/self/net/dev"])
        .output();
    let devices = match probe {
        Ok(r) if r.status.success() => String::from_utf8_lossy(&r.stdout).into_owned(),
        Ok(r) => {
            common::skip(&format!(
                "cannot make a network namespace here (`unshare -n` needs root): {}",
                stderr(&r).lines().next().unwrap_or("").trim()
            ));
            return;
        }
        Err(e) => {
            common::skip(&format!("cannot run `unshare`: {e}"));
            return;
        }
    };
    let names: Vec<&str> = devices
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "{devices}");
    // Where `ip` is installed, see that the loopback device is down too.
    if let Ok(r) = Command::new("unshare")
        .args(["-n", "--", "ip", "-o", "link"])
        .output()
    {
        let links = String::from_utf8_lossy(&r.stdout);
        if r.status.success() {
            assert!(!links.contains(",UP") && !links.contains("<UP"), "{links}");
        }
    }

    let d = tempfile::tempdir().unwrap();
    let (cut_off, connected) = (d.path().join("cut-off"), d.path().join("connected"));
    let r = demo_batch(true, &cut_off);
    assert!(r.status.success(), "{}", stderr(&r));
    let r = demo_batch(false, &connected);
    assert!(r.status.success(), "{}", stderr(&r));
    let table = |dir: &Path| std::fs::read(dir.join("sessions.csv")).unwrap();
    assert_eq!(table(&cut_off), table(&connected));
    assert!(String::from_utf8_lossy(&table(&cut_off)).contains("good-mi,"));
}
