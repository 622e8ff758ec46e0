//! `mitool review`: a page on this machine where a person listens to each
//! utterance, corrects its code and sees the scores move.
//!
//! Only 127.0.0.1 is bound. Every request must carry the random token
//! printed at start and a loopback Host (a web page elsewhere cannot reach it
//! by DNS rebinding, and other users of the machine cannot read a family's
//! session). Only the routes below are served: no path is ever joined to DIR.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use mitool_core::batch;
use mitool_core::review::{self, Edit, Playable, Refused, Review};

#[derive(Args)]
pub struct ReviewArgs {
    /// A `mitool batch` output folder, or one session's folder in it.
    pub dir: PathBuf,
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not start a browser; only print the address.
    #[arg(long)]
    pub no_open: bool,
    /// Name or initials recorded with each correction (default: the login name).
    #[arg(long)]
    pub reviewer: Option<String>,
}

const PAGE: &str = include_str!("review.html");

/// Session folders under DIR by session id (DIR itself when it is one).
fn sessions(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    if dir.join(review::MACHINE_CSV).is_file() {
        let id = dir
            .canonicalize()?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "session".into());
        out.insert(id, dir.to_path_buf());
        return Ok(out);
    }
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.join(review::MACHINE_CSV).is_file() {
            out.insert(e.file_name().to_string_lossy().into_owned(), p);
        }
    }
    if out.is_empty() {
        bail!(
            "{}: no coded session here (a `mitool batch` output folder, or one session's folder with coded.csv)",
            dir.display()
        );
    }
    Ok(out)
}

fn token() -> Result<String> {
    let mut b = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read random bytes for the access token")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

struct State {
    token: String,
    port: u16,
    reviewer: String,
    roots: Vec<PathBuf>,
    sessions: BTreeMap<String, PathBuf>,
    open: Mutex<BTreeMap<String, Review>>,
}

pub fn review_cmd(args: ReviewArgs) -> Result<ExitCode> {
    let sessions = sessions(&args.dir)?;
    let server = Server::http(("127.0.0.1", args.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .context("no port")?;
    let dir = args.dir.canonicalize()?;
    let roots = [
        std::env::current_dir().ok(),
        dir.parent().map(Path::to_path_buf),
        dir.parent().and_then(Path::parent).map(Path::to_path_buf),
    ]
    .into_iter()
    .flatten()
    .collect();
    let state = Arc::new(State {
        token: token()?,
        port,
        reviewer: args
            .reviewer
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "reviewer".into()),
        roots,
        sessions,
        open: Mutex::new(BTreeMap::new()),
    });
    let url = format!("http://127.0.0.1:{port}/?token={}", state.token);
    println!("{url}");
    eprintln!(
        "mitool review: serving {} on this machine only; Ctrl-C to stop (save first)",
        args.dir.display()
    );
    if !args.no_open {
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    for req in server.incoming_requests() {
        let state = Arc::clone(&state);
        // A long audio transfer must not hold up a code change.
        std::thread::spawn(move || {
            let _ = handle(&state, req);
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn text(status: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn json_response(status: u16, v: &serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(v.to_string())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"))
}

fn query(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Whether the request's Host names this server on the loopback address.
fn loopback_host(req: &Request, port: u16) -> bool {
    let host = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    matches!(host, Some(h) if [format!("127.0.0.1:{port}"), format!("localhost:{port}")].contains(&h))
}

fn handle(state: &State, mut req: Request) -> std::io::Result<()> {
    if !loopback_host(&req, state.port) {
        return req.respond(text(
            403,
            "forbidden: this page is served to this machine only",
        ));
    }
    let url = req.url().to_string();
    if query(&url, "token").as_deref() != Some(state.token.as_str()) {
        return req.respond(text(
            403,
            "forbidden: open the address `mitool review` printed (it carries the access token)",
        ));
    }
    let path = url.split('?').next().unwrap_or("").to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |id: &str| state.sessions.contains_key(id);
    match (req.method(), parts.as_slice()) {
        (Method::Get, [""]) => {
            let html = index(state);
            req.respond(
                Response::from_string(html).with_header(header("Content-Type", "text/html; charset=utf-8")),
            )
        }
        (Method::Get, ["s", id]) if known(id) => req.respond(
            Response::from_string(PAGE)
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; media-src 'self'")),
        ),
        (Method::Get, ["api", id]) if known(id) => {
            let r = with_review(state, id, |r| Ok(view(state, r)));
            req.respond(r)
        }
        (Method::Post, ["api", id, action]) if known(id) => {
            let mut body = String::new();
            req.as_reader().take(1 << 20).read_to_string(&mut body)?;
            let r = with_review(state, id, |r| change(state, r, action, &body));
            req.respond(r)
        }
        (Method::Get, ["audio", id]) if known(id) => audio(state, id, req),
        _ => req.respond(text(404, "not found")),
    }
}

fn view(state: &State, r: &Review) -> serde_json::Value {
    let playable = review::recording(
        r.dir(),
        &state.roots.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let audio = match playable {
        Ok(Playable::File { .. }) => json!({"available": true}),
        Ok(Playable::Moved { recorded }) => json!({"available": false, "message": format!(
            "The recording {recorded} is no longer where the batch read it: playback is off. Codes can still be corrected.")}),
        Ok(Playable::None) => {
            json!({"available": false, "message": "This session came from a transcript: there is no recording to play."})
        }
        Err(e) => {
            json!({"available": false, "message": format!("The recording cannot be played: {e}")})
        }
    };
    let mut v = serde_json::to_value(r.view()).unwrap_or_default();
    v["audio"] = audio;
    v
}

fn with_review(
    state: &State,
    id: &str,
    f: impl FnOnce(&mut Review) -> std::result::Result<serde_json::Value, (u16, String)>,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut open = state.open.lock().unwrap_or_else(|p| p.into_inner());
    if !open.contains_key(id) {
        match Review::open(&state.sessions[id]) {
            Ok(r) => {
                open.insert(id.to_string(), r);
            }
            Err(e) => return json_response(500, &json!({"error": e.to_string()})),
        }
    }
    let r = open.get_mut(id).expect("just opened");
    match f(r) {
        Ok(v) => json_response(200, &v),
        Err((status, message)) => {
            json_response(status, &json!({"error": message, "version": r.version()}))
        }
    }
}

fn change(
    state: &State,
    r: &mut Review,
    action: &str,
    body: &str,
) -> std::result::Result<serde_json::Value, (u16, String)> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| (400, format!("bad request: {e}")))?;
    let version = v["version"]
        .as_u64()
        .ok_or((400, "bad request: no version".to_string()))?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut note = None;
    let result = match action {
        "code" => r.apply(
            version,
            &Edit::Code {
                id: s("id"),
                code: s("code"),
            },
            &state.reviewer,
            &now(),
        ),
        "checked" => r.apply(
            version,
            &Edit::Checked { id: s("id") },
            &state.reviewer,
            &now(),
        ),
        "swap-roles" => r.apply(version, &Edit::SwapRoles, &state.reviewer, &now()),
        "split" => r.apply(
            version,
            &Edit::Split {
                id: s("id"),
                at: v["at"].as_u64().unwrap_or(0) as usize,
            },
            &state.reviewer,
            &now(),
        ),
        "merge" => r.apply(
            version,
            &Edit::Merge { id: s("id") },
            &state.reviewer,
            &now(),
        ),
        "save" => r
            .save(version, &state.reviewer, &now())
            .map(|()| note = tables_after_save(r.dir())),
        _ => return Err((404, "not found".into())),
    };
    match result {
        Ok(()) => {
            let mut out = view(state, r);
            if let Some(n) = note {
                out["note"] = json!(n);
            }
            Ok(out)
        }
        Err(e @ Refused::Stale { .. }) => Err((409, e.to_string())),
        Err(e @ Refused::Invalid(_)) => Err((400, e.to_string())),
        Err(e @ Refused::Failed(_)) => Err((500, e.to_string())),
    }
}

/// Rewrites the batch folder's `sessions.csv` and index around a session
/// just saved, so they show its corrected scores at once. The save itself
/// stands either way; the next `mitool batch` or `mitool merge` rewrites them
/// too. Returns what a person should know when the tables could not be written.
fn tables_after_save(session_dir: &Path) -> Option<String> {
    let root = session_dir.parent()?;
    if !root.join("sessions.csv").is_file() {
        return None;
    }
    batch::write_tables(root, &[root.to_path_buf()]).err().map(|e| {
        format!("The corrections are saved, but sessions.csv was not updated ({e}); `mitool merge` will update it.")
    })
}

/// UTC time as ISO 8601, seconds.
fn now() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn index(state: &State) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let rows: String = state
        .sessions
        .iter()
        .map(|(id, dir)| {
            let status = if review::is_corrected(dir) {
                "corrected"
            } else {
                "machine codes"
            };
            format!(
                "<tr><td><a href=\"/s/{0}?token={1}\">{2}</a></td><td>{3}</td></tr>",
                urlencode(id),
                state.token,
                esc(id),
                status
            )
        })
        .collect();
    format!(
        "<!doctype html><meta charset=utf-8><title>mitool review</title>\
         <style>body{{font:16px system-ui,sans-serif;margin:2rem}}td{{padding:.3rem 1rem .3rem 0}}</style>\
         <h1>Sessions to review</h1><table id=sessions><tr><th>session</th><th>codes</th></tr>{rows}</table>"
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The recording, with byte ranges, so the browser seeks without loading it all.
fn audio(state: &State, id: &str, req: Request) -> std::io::Result<()> {
    let roots: Vec<&Path> = state.roots.iter().map(PathBuf::as_path).collect();
    let (path, mime) = match review::recording(&state.sessions[id], &roots) {
        Ok(Playable::File { path, mime }) => (path, mime),
        Ok(_) => return req.respond(text(404, "the recording is not available")),
        Err(e) => return req.respond(text(500, &e.to_string())),
    };
    let mut f = File::open(&path)?;
    let len = f.metadata()?.len();
    let range = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .and_then(|h| parse_range(h.value.as_str(), len));
    let (start, end, status) = match range {
        Some((a, b)) => (a, b, 206),
        None => (0, len.saturating_sub(1), 200),
    };
    f.seek(SeekFrom::Start(start))?;
    let n = end + 1 - start;
    let mut resp = Response::new(
        StatusCode(status),
        vec![
            header("Content-Type", mime),
            header("Accept-Ranges", "bytes"),
            header("Cache-Control", "no-store"),
        ],
        f.take(n),
        Some(n as usize),
        None,
    );
    if status == 206 {
        resp.add_header(header(
            "Content-Range",
            &format!("bytes {start}-{end}/{len}"),
        ));
    }
    req.respond(resp)
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` within a file of `len` bytes.
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let r = v.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = r.split_once('-')?;
    let last = len.checked_sub(1)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (len.saturating_sub(n.parse().ok()?), last),
        (a, "") => (a.parse().ok()?, last),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(last)),
    };
    (start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_browsers_send_them() {
        assert_eq!(parse_range("bytes=0-", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-10", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn time_is_iso_8601_utc() {
        let t = now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
