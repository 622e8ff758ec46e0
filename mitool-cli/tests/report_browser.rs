//! The HTML report in a real headless browser (Debian's chromium): it renders
//! every section, and a screenshot is taken.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::root;

fn chromium() -> Option<PathBuf> {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(c).is_file() {
            return Some(PathBuf::from(c));
        }
    }
    // CI installs chromium (scripts/test): there, its absence is a failure.
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing; scripts/test installs it"
    );
    common::skip("no chromium on this machine (install the `chromium` package)");
    None
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn report_renders_every_section_in_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["score", "--report", "--out"])
        .arg(dir.path())
        .arg(root().join("fixtures/coded/good-mi.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("good-mi/report.html");
    assert!(report.is_file());
    let url = format!("file://{}", report.display());

    let profile = tempfile::tempdir().unwrap();
    let dom = headless(&browser, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in [
        "summary",
        "talk-share",
        "timeline",
        "change-sustain",
        "examples",
        "review",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "section {id} missing from the rendered page"
        );
    }
    assert!(dom.contains("Reflection-to-question ratio") && dom.contains("1.33"));
    assert!(dom.contains("(estimated)"));
    assert!(dom.contains("Being a different kind of parent matters a great deal to you."));

    let shot = dir.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let s = headless(&browser, profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2400")
        .arg(&url)
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    // Keep the screenshot where a person can look at it.
    let keep = root().join("target/report-screenshot.png");
    let _ = std::fs::copy(&shot, keep);
}
