//! `mitool review` driven in a real headless browser (Debian's chromium, over
//! its DevTools socket): open a session, play an utterance, change a
//! reflection to a question with the keyboard and see R:Q become what
//! `mitool score` gives for the saved CSV, reload, refuse a stale tab; and the
//! server's guards (token, Host, paths) over plain HTTP.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

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
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing; scripts/test installs it"
    );
    common::skip("no chromium on this machine (install the `chromium` package)");
    None
}

/// A session folder as `mitool batch` leaves it: the hand-coded demo visit
/// as coded.csv and a transcript naming the demo recording.
fn session_folder(out: &Path) -> PathBuf {
    let s = out.join("good-mi");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::copy(
        root().join("fixtures/coded/good-mi.csv"),
        s.join("coded.csv"),
    )
    .unwrap();
    let wav = root()
        .join("fixtures/demo/good-mi.wav")
        .canonicalize()
        .unwrap();
    let t = json!({
        "schema": "mitool.transcript", "version": 1,
        "source": {"path": wav, "format": "WAV (PCM 16-bit)", "duration_s": 80.2, "channels": 1},
        "model": {"name": "test", "sha256": ""}, "vad_model": null, "language": "en",
        "speech_s": 70.0, "segments": []
    });
    std::fs::write(s.join("transcript.json"), t.to_string()).unwrap();
    s
}

struct Server {
    child: Child,
    url: String,
    port: u16,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["review", "--no-open", "--reviewer", "test"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let port = url["http://127.0.0.1:".len()..]
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let token = url.split("token=").nth(1).unwrap().to_string();
    Server {
        child,
        url,
        port,
        token,
    }
}

/// Status code of a raw GET with the given Host header.
fn status(port: u16, path: &str, host: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_server_answers_only_its_own_page_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    session_folder(dir.path());
    let srv = serve(dir.path());
    let host = format!("127.0.0.1:{}", srv.port);
    let t = &srv.token;
    assert_eq!(status(srv.port, &format!("/?token={t}"), &host), 200);
    assert_eq!(status(srv.port, "/", &host), 403, "no token");
    assert_eq!(status(srv.port, "/?token=0000", &host), 403, "wrong token");
    assert_eq!(
        status(
            srv.port,
            &format!("/?token={t}"),
            &format!("example.com:{}", srv.port)
        ),
        403,
        "another Host"
    );
    assert_eq!(
        status(srv.port, &format!("/s/good-mi?token={t}"), &host),
        200
    );
    for p in [
        "/s/../../etc/passwd",
        "/audio/..%2F..%2Fetc%2Fpasswd",
        "/s/good-mi/../../coded.csv",
        "/api/nope",
    ] {
        assert_eq!(
            status(srv.port, &format!("{p}?token={t}"), &host),
            404,
            "{p}"
        );
    }
}

/// A minimal DevTools client: one browser, pages attached in flat mode.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start(exe: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let ws_url = loop {
            let mut line = String::new();
            assert!(err.read_line(&mut line).unwrap() > 0, "chromium exited");
            if let Some(u) = line.trim().strip_prefix("DevTools listening on ") {
                break u.to_string();
            }
        };
        // Keep draining chromium's stderr so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        let addr = ws_url["ws://".len()..]
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(addr).unwrap();
        // A browser that stops answering fails the test instead of hanging CI.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).unwrap();
        Browser {
            child,
            ws,
            next: 0,
            _profile: profile,
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_call(session, method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// One DevTools command; `Err` is the browser's error reply.
    fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap();
            if v["id"] == json!(self.next) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    fn open(&mut self, url: &str) -> String {
        let target = self.call(None, "Target.createTarget", json!({"url": url}));
        let s = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        s["sessionId"].as_str().unwrap().to_string()
    }

    fn eval(&mut self, page: &str, js: &str) -> Value {
        let r = self.call(
            Some(page),
            "Runtime.evaluate",
            json!({"expression": js, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `js` is true on the page (10 s at most).
    fn wait(&mut self, page: &str, js: &str) {
        let t0 = Instant::now();
        // The page may still be loading: an exception, or the browser saying the
        // page navigated under the evaluation, counts as "not yet".
        let guarded =
            format!("(() => {{ try {{ return {js}; }} catch (e) {{ return false; }} }})()");
        let params = json!({"expression": guarded, "returnByValue": true});
        loop {
            let r = self.try_call(Some(page), "Runtime.evaluate", params.clone());
            if matches!(&r, Ok(v) if v["result"]["value"] == json!(true)) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out waiting for {js} (last answer {r:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn key(&mut self, page: &str, key: &str, ctrl: bool) {
        // Keys go to the page in front.
        self.call(Some(page), "Page.bringToFront", json!({}));
        for kind in ["keyDown", "keyUp"] {
            let mut p = json!({"type": kind, "key": key, "modifiers": if ctrl { 2 } else { 0 }});
            if kind == "keyDown" && !ctrl && key.chars().count() == 1 {
                p["text"] = json!(key);
            }
            self.call(Some(page), "Input.dispatchKeyEvent", p);
        }
    }
}

/// R:Q of the session in `mitool score`'s table for `csv`.
fn scored_r_to_q(csv: &Path) -> f64 {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(["score", "--out"])
        .arg(out.path())
        .arg(csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut rd = csv::Reader::from_path(out.path().join("sessions.csv")).unwrap();
    let h = rd.headers().unwrap().clone();
    let i = h.iter().position(|c| c == "r_to_q").unwrap();
    let row = rd.records().next().unwrap().unwrap();
    row[i].parse().unwrap()
}

#[test]
fn a_trainer_listens_corrects_with_the_keyboard_saves_and_a_stale_tab_is_refused() {
    let Some(exe) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let session = session_folder(dir.path());
    let srv = serve(dir.path());
    let page_url = srv.url.replace("/?token=", "/s/good-mi?token=");
    let mut b = Browser::start(&exe);
    let tab = b.open(&page_url);
    b.wait(&tab, "document.body.dataset.ready === '1'");
    let rows = b.eval(&tab, "document.querySelectorAll('#utts tbody tr').length");
    assert!(rows.as_u64().unwrap() > 5, "{rows}");

    // The first reflection: click it, and the audio plays its span.
    let refl = b.eval(
        &tab,
        "(() => { const u = state.utterances.find(u => u.code.endsWith('reflection')); \
          document.querySelector(`#utts tr[data-id=\"${u.id}\"] td.text`).click(); \
          return {id: u.id, start: u.start, end: u.end}; })()",
    );
    b.wait(
        &tab,
        "player.readyState >= 1 && player.dataset.start !== undefined",
    );
    let (start, end) = (
        refl["start"].as_f64().unwrap(),
        refl["end"].as_f64().unwrap(),
    );
    let span = b.eval(
        &tab,
        "[Number(player.dataset.start), Number(player.dataset.end), player.currentTime]",
    );
    assert_eq!(span[0].as_f64().unwrap(), start);
    assert_eq!(span[1].as_f64().unwrap(), end);
    let t = span[2].as_f64().unwrap();
    assert!(
        t >= start - 0.05 && t <= end + 0.1,
        "playing at {t}, span {start}-{end}"
    );

    // A second tab on the same session, loaded before the change.
    let stale = b.open(&page_url);
    b.wait(&stale, "document.body.dataset.ready === '1'");

    // "o": the reflection becomes an open question; R:Q moves.
    let before = b.eval(&tab, "state.scores.r_to_q");
    b.key(&tab, "o", false);
    b.wait(
        &tab,
        &format!(
            "state.utterances.find(u => u.id === '{}').code === 'open_question'",
            refl["id"].as_str().unwrap()
        ),
    );
    let after = b.eval(&tab, "state.scores.r_to_q").as_f64().unwrap();
    assert_ne!(json!(after), before);
    let card = b.eval(&tab, "document.querySelector('#score-rq b').textContent");
    assert_eq!(card.as_str().unwrap(), format!("{after:.2}"));

    // Save with ctrl+s; the scores equal `mitool score` on the saved CSV.
    b.key(&tab, "s", true);
    b.wait(&tab, "state.saved === true");
    let corrected = session.join("corrected.csv");
    assert!(corrected.is_file());
    assert!((scored_r_to_q(&corrected) - after).abs() < 1e-9);
    let log = std::fs::read_to_string(session.join("corrections.csv")).unwrap();
    assert!(
        log.contains("open_question") && log.contains(",test,"),
        "{log}"
    );

    // Reload: the change is there.
    b.eval(&tab, "delete document.body.dataset.ready");
    b.call(Some(&tab), "Page.reload", json!({}));
    b.wait(&tab, "document.body.dataset.ready === '1'");
    let code = b.eval(
        &tab,
        &format!(
            "state.utterances.find(u => u.id === '{}').code",
            refl["id"].as_str().unwrap()
        ),
    );
    assert_eq!(code, json!("open_question"));

    // The stale tab's change is refused with a message, and nothing changes.
    b.eval(
        &stale,
        "select(state.utterances.find(u => u.role === 'practitioner').id)",
    );
    b.key(&stale, "n", false);
    b.wait(
        &stale,
        "document.getElementById('message').textContent.includes('another tab')",
    );
    let now = std::fs::read(&corrected).unwrap();
    b.eval(
        &tab,
        "fetch(api('')).then(r => r.json()).then(v => { state = v; render(); })",
    );
    assert_eq!(b.eval(&tab, "state.corrections"), json!(1));
    assert_eq!(std::fs::read(&corrected).unwrap(), now);
    let machine = std::fs::read(session.join("coded.csv")).unwrap();
    assert_eq!(
        machine,
        std::fs::read(root().join("fixtures/coded/good-mi.csv")).unwrap()
    );
}

/// `mitool` with `args`; stderr when it succeeds.
fn mitool_ok(args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "mitool {args:?}: {err}");
    err
}

/// The row of session `id` in `sessions.csv`, by column name.
fn table_row(csv: &Path, id: &str) -> std::collections::HashMap<String, String> {
    let mut rd = csv::Reader::from_path(csv).unwrap();
    let h = rd.headers().unwrap().clone();
    rd.records()
        .map(|r| r.unwrap())
        .find(|r| &r[0] == id)
        .map(|r| {
            h.iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .unwrap()
}

#[test]
fn a_trainer_cuts_and_joins_utterances_and_the_study_table_keeps_the_corrections() {
    let Some(exe) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir(&inp).unwrap();
    std::fs::copy(
        root().join("fixtures/coded/good-mi.csv"),
        inp.join("good-mi.csv"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let batch = || {
        mitool_ok(&[
            "batch".as_ref(),
            inp.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
    };
    batch();
    let table = out.join("sessions.csv");
    assert_eq!(
        table_row(&table, "good-mi")["corrected"],
        "",
        "nobody reviewed it yet"
    );

    let srv = serve(&out);
    let mut b = Browser::start(&exe);
    let tab = b.open(&srv.url.replace("/?token=", "/s/good-mi?token="));
    b.wait(&tab, "document.body.dataset.ready === '1'");
    let n = b.eval(&tab, "state.utterances.length").as_u64().unwrap();
    // A practitioner utterance of several words, selected.
    let id = b.eval(
        &tab,
        "(() => { const u = state.utterances.find(u => u.role === 'practitioner' && words(u).length >= 6); \
          select(u.id); return u.id; })()",
    );
    let id = id.as_str().unwrap().to_string();

    // "/" starts a cut in the middle, → moves it a word on, enter cuts.
    b.key(&tab, "/", false);
    b.wait(
        &tab,
        "document.querySelector('tr.selected td.text .cut') !== null",
    );
    let at = b.eval(&tab, "cutting.at").as_u64().unwrap();
    b.key(&tab, "ArrowRight", false);
    b.key(&tab, "Enter", false);
    b.wait(&tab, &format!("state.utterances.length === {}", n + 1));
    let first = b.eval(
        &tab,
        &format!("words(state.utterances.find(u => u.id === '{id}')).length"),
    );
    assert_eq!(first.as_u64().unwrap(), at + 1);
    let second = b.eval(
        &tab,
        &format!("state.utterances.find(u => u.id === '{id}+1') !== undefined"),
    );
    assert_eq!(second, json!(true));

    // "m" joins them again.
    b.eval(&tab, &format!("select('{id}')"));
    b.key(&tab, "m", false);
    b.wait(&tab, &format!("state.utterances.length === {n}"));

    // Saved: the study table shows the corrected scores and two changes.
    b.key(&tab, "s", true);
    b.wait(&tab, "state.saved === true");
    let session = out.join("good-mi");
    let row = table_row(&table, "good-mi");
    assert_eq!(row["corrected"], "2");
    let rq: f64 = row["r_to_q"].parse().unwrap();
    assert!((scored_r_to_q(&session.join("corrected.csv")) - rq).abs() < 1e-6);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(r#"class="corrected""#));

    // A batch re-run keeps the corrections and says so.
    let kept: Vec<Vec<u8>> = ["corrected.csv", "corrections.csv", "corrected.json"]
        .iter()
        .map(|f| std::fs::read(session.join(f)).unwrap())
        .collect();
    let said = batch();
    assert!(said.contains("keep a person's corrections"), "{said}");
    for (f, before) in ["corrected.csv", "corrections.csv", "corrected.json"]
        .iter()
        .zip(&kept)
    {
        assert_eq!(&std::fs::read(session.join(f)).unwrap(), before, "{f}");
    }
    assert_eq!(table_row(&table, "good-mi")["corrected"], "2");

    // `mitool agree` compares the machine's codes with the person's.
    let agree = Command::new(env!("CARGO_BIN_EXE_mitool"))
        .arg("agree")
        .arg(session.join("coded.csv"))
        .arg(session.join("corrected.csv"))
        .output()
        .unwrap();
    assert!(
        agree.status.success(),
        "{}",
        String::from_utf8_lossy(&agree.stderr)
    );
    assert!(String::from_utf8_lossy(&agree.stdout).contains("kappa"));
}

/// A 60-minute session folder in `out`: the demo visit's recording and codes
/// 45 times over (60.2 min, 16 kHz WAV, 630 utterances).
fn hour_session(out: &Path) -> PathBuf {
    let s = session_folder(out);
    let demo = root().join("fixtures/demo/good-mi.wav");
    let mut rd = hound::WavReader::open(&demo).unwrap();
    let spec = rd.spec();
    let samples: Vec<i16> = rd.samples::<i16>().map(Result::unwrap).collect();
    let once = samples.len() as f64 / f64::from(spec.sample_rate);
    let wav = out.join("hour.wav");
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for _ in 0..45 {
        let mut w16 = w.get_i16_writer(samples.len() as u32);
        for x in &samples {
            w16.write_sample(*x);
        }
        w16.flush().unwrap();
    }
    w.finalize().unwrap();

    let mut rd = csv::Reader::from_path(root().join("fixtures/coded/good-mi.csv")).unwrap();
    let head = rd.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|c| c == n).unwrap();
    let (id, start, end) = (col("utterance_id"), col("start"), col("end"));
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let mut wr = csv::Writer::from_path(s.join("coded.csv")).unwrap();
    wr.write_record(&head).unwrap();
    for k in 0..45 {
        for (i, r) in rows.iter().enumerate() {
            let shift = |c: usize| format!("{:.2}", r[c].parse::<f64>().unwrap() + k as f64 * once);
            let cells: Vec<String> = (0..r.len())
                .map(|c| match c {
                    c if c == id => (k * rows.len() + i).to_string(),
                    c if c == start || c == end => shift(c),
                    c => r[c].to_string(),
                })
                .collect();
            wr.write_record(&cells).unwrap();
        }
    }
    wr.flush().unwrap();
    let mut t: Value =
        serde_json::from_str(&std::fs::read_to_string(s.join("transcript.json")).unwrap()).unwrap();
    t["source"]["path"] = json!(wav.canonicalize().unwrap());
    t["source"]["duration_s"] = json!(45.0 * once);
    std::fs::write(s.join("transcript.json"), t.to_string()).unwrap();
    s
}

/// The page of a 60-minute session opens whole and plays an utterance from
/// anywhere in it at its own span. Timings are printed, never asserted here
/// (benches/review/run.sh records them): set MITOOL_TIMINGS=FILE to keep them.
#[test]
fn a_sixty_minute_session_opens_and_plays_from_anywhere() {
    let Some(exe) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    hour_session(dir.path());
    let srv = serve(dir.path());
    let mut b = Browser::start(&exe);
    let tab = b.open(&srv.url.replace("/?token=", "/s/good-mi?token="));
    b.wait(&tab, "document.body.dataset.ready === '1'");
    // Milliseconds from navigation to the first frame painted with the list.
    let open_ms = b
        .eval(
            &tab,
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))",
        )
        .as_f64()
        .unwrap();
    let rows = b.eval(&tab, "document.querySelectorAll('#utts tbody tr').length");
    assert_eq!(rows, json!(630));
    b.wait(&tab, "player.readyState >= 1");
    let mut play_ms = Vec::new();
    for i in [5, 160, 315, 470, 628] {
        let r = b.eval(
            &tab,
            &format!(
                "(async () => {{ player.pause(); const u = state.utterances[{i}]; \
                   const playing = new Promise(r => player.addEventListener('playing', () => r(true), {{once: true}})); \
                   const late = new Promise(r => setTimeout(() => r(false), 10000)); \
                   const t0 = performance.now(); \
                   document.querySelector(`#utts tr[data-id=\"${{u.id}}\"] td.text`).click(); \
                   const played = await Promise.race([playing, late]); \
                   return {{played, ms: performance.now() - t0, at: player.currentTime, start: u.start, end: u.end}}; }})()"
            ),
        );
        assert_eq!(
            r["played"],
            json!(true),
            "utterance {i} did not play in 10 s"
        );
        let (at, start, end) = (
            r["at"].as_f64().unwrap(),
            r["start"].as_f64().unwrap(),
            r["end"].as_f64().unwrap(),
        );
        assert!(
            at >= start - 0.05 && at <= end,
            "utterance {i}: playing at {at}, span {start}-{end}"
        );
        play_ms.push(r["ms"].as_f64().unwrap());
    }
    let timings = json!({"open_ms": open_ms, "play_ms": play_ms, "utterances": 630});
    eprintln!("60-minute session: {timings}");
    if let Some(f) = std::env::var_os("MITOOL_TIMINGS") {
        std::fs::write(f, timings.to_string()).unwrap();
    }
}
