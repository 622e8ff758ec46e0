//! Reading transcripts people already have, for coding without audio:
//! AnnoMI-style CSV, the utterance JSON the speech pipeline writes, WebVTT
//! and SRT with speaker names, and plain `Speaker: text` lines.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::utterance::{self, parse_time, Role, Utterance};

/// How speaker names map to roles when the file does not say.
#[derive(Debug, Clone, Default)]
pub struct RoleHints {
    /// Speaker names (case-insensitive) of the practitioner; everyone else is a client.
    pub practitioner: Vec<String>,
}

impl RoleHints {
    fn role_of(&self, speaker: &str) -> Option<Role> {
        if self
            .practitioner
            .iter()
            .any(|p| p.eq_ignore_ascii_case(speaker.trim()))
        {
            return Some(Role::Practitioner);
        }
        if !self.practitioner.is_empty() {
            return Some(Role::Client);
        }
        // Names that already say the role.
        let first = speaker.split_whitespace().next().unwrap_or("");
        first.parse::<Role>().ok()
    }
}

/// The transcript formats mitool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Vtt,
    Srt,
    Lines,
}

/// Guesses the format from the extension, then the content.
pub fn detect(path: &Path, text: &str) -> Format {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some("vtt") => Format::Vtt,
        Some("srt") => Format::Srt,
        _ if text.trim_start().starts_with("WEBVTT") => Format::Vtt,
        _ if text.trim_start().starts_with('{') || text.trim_start().starts_with('[') => {
            Format::Json
        }
        _ => Format::Lines,
    }
}

/// Reads any supported transcript into utterances (in order). The session id
/// is the file's stem unless the file names sessions itself (CSV, JSON).
pub fn read(path: &Path, hints: &RoleHints) -> Result<Vec<Utterance>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    // Fuzzed for hours without one (docs/fuzzing.md); should a panic come
    // anyway, it fails this file and names it.
    Error::guard(path, "reading the transcript", || {
        read_bytes(path, bytes, hints)
    })
}

/// [`read`] of a file's contents already in memory (the fuzz targets feed it
/// bytes); `path` picks the format by its extension and names the file in
/// errors.
pub fn read_bytes(path: &Path, bytes: Vec<u8>, hints: &RoleHints) -> Result<Vec<Utterance>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = upto.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            return Err(Error::Input {
                path: path.to_path_buf(),
                line: Some(line),
                detail: "the text is not UTF-8; save the file as UTF-8 and try again".into(),
            });
        }
    };
    let session = path
        .file_stem()
        .map_or_else(|| "session".into(), |s| s.to_string_lossy().into_owned());
    match detect(path, &text) {
        Format::Csv => utterance::read_csv_from(path, text.as_bytes()),
        Format::Json => read_json(path, &text),
        Format::Vtt | Format::Srt => read_cues(path, &text, &session, hints),
        Format::Lines => read_lines(path, &text, &session, hints),
    }
}

fn bad(path: &Path, line: Option<u64>, detail: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line,
        detail: detail.into(),
    }
}

fn read_json(path: &Path, text: &str) -> Result<Vec<Utterance>> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| bad(path, Some(e.line() as u64), format!("not valid JSON: {e}")))?;
    let list = match &v {
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Object(o) => o.get("utterances").cloned().ok_or_else(|| {
            bad(
                path,
                None,
                "expected a list of utterances or an object with \"utterances\"",
            )
        })?,
        _ => return Err(bad(path, None, "expected a list of utterances")),
    };
    let utts: Vec<Utterance> = serde_json::from_value(list).map_err(|e| {
        bad(
            path,
            None,
            format!("utterances do not have the expected fields: {e}"),
        )
    })?;
    if utts.is_empty() {
        return Err(bad(path, None, "the file holds no utterances"));
    }
    Ok(utts)
}

fn make(
    session: &str,
    id: usize,
    speaker: &str,
    role: Role,
    start: Option<f64>,
    end: Option<f64>,
    text: String,
) -> Utterance {
    Utterance {
        session_id: session.to_string(),
        id: id.to_string(),
        speaker: speaker.to_string(),
        role,
        start,
        end,
        text,
        words: Vec::new(),
        overlap: false,
        codes: Default::default(),
        extra: BTreeMap::new(),
    }
}

fn unknown_speaker(path: &Path, line: u64, speaker: &str) -> Error {
    bad(
        path,
        Some(line),
        format!(
            "speaker '{speaker}' is neither practitioner nor client; name the practitioner with --practitioner \"{speaker}\" (everyone else is then a client), or call speakers Therapist/Practitioner and Client"
        ),
    )
}

/// `Speaker: text` per line; blank lines and `#` comments are skipped.
fn read_lines(path: &Path, text: &str, session: &str, hints: &RoleHints) -> Result<Vec<Utterance>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((speaker, body)) = line.split_once(':') else {
            return Err(bad(
                path,
                Some(i as u64 + 1),
                "expected `Speaker: text` (a name, a colon, then what they said)",
            ));
        };
        let speaker = speaker.trim();
        if speaker.is_empty() || speaker.len() > 60 {
            return Err(bad(path, Some(i as u64 + 1), "expected `Speaker: text`"));
        }
        let role = hints
            .role_of(speaker)
            .ok_or_else(|| unknown_speaker(path, i as u64 + 1, speaker))?;
        out.push(make(
            session,
            out.len(),
            speaker,
            role,
            None,
            None,
            body.trim().to_string(),
        ));
    }
    if out.is_empty() {
        return Err(bad(path, None, "no `Speaker: text` lines found"));
    }
    Ok(out)
}

/// WebVTT or SRT cues; the speaker comes from `<v Name>` or a `Name:` prefix.
fn read_cues(path: &Path, text: &str, session: &str, hints: &RoleHints) -> Result<Vec<Utterance>> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        let Some((a, b)) = l.split_once("-->") else {
            i += 1;
            continue;
        };
        let line_no = i as u64 + 1;
        let start = parse_time(a.trim());
        let end = parse_time(b.split_whitespace().next().unwrap_or(""));
        if start.is_none() || end.is_none() {
            return Err(bad(
                path,
                Some(line_no),
                format!("cannot read the cue times in '{l}'"),
            ));
        }
        i += 1;
        let mut body = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            body.push(lines[i].trim());
            i += 1;
        }
        let joined = body.join(" ");
        let (speaker, words) = if let Some(rest) = joined.strip_prefix("<v") {
            let close = rest.find('>').unwrap_or(rest.len());
            let name = rest[..close].trim().to_string();
            let txt = rest.get(close + 1..).unwrap_or("").replace("</v>", "");
            (name, txt)
        } else if let Some((name, txt)) = joined.split_once(':').filter(|(n, _)| n.len() <= 40) {
            (name.trim().to_string(), txt.to_string())
        } else {
            return Err(bad(
                path,
                Some(line_no),
                "the cue names no speaker; use `<v Name>` or `Name: text`",
            ));
        };
        // "S1 (practitioner)" or "S3 (other)" as mitool writes it.
        let role = speaker
            .split_once('(')
            .and_then(|(_, r)| r.trim_end_matches(')').parse::<Role>().ok())
            .or_else(|| hints.role_of(&speaker))
            .ok_or_else(|| unknown_speaker(path, line_no, &speaker))?;
        let clean = strip_tags(&words).trim().to_string();
        out.push(make(
            session,
            out.len(),
            speaker.split(" (").next().unwrap_or(&speaker),
            role,
            start,
            end,
            clean,
        ));
    }
    if out.is_empty() {
        return Err(bad(path, None, "no cues found"));
    }
    Ok(out)
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn reads_lines_vtt_and_srt() {
        let d = tempfile::tempdir().unwrap();
        let hints = RoleHints::default();
        let p = write(
            d.path(),
            "visit.txt",
            "Therapist: How are you?\nClient: Fine.\n\n# note\n",
        );
        let u = read(&p, &hints).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].role, Role::Practitioner);
        assert_eq!(u[1].session_id, "visit");

        let p = write(
            d.path(),
            "v.vtt",
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\n<v S1 (practitioner)>[Q] What brings you here?\n\n2\n00:00:03.000 --> 00:00:04.000\n<v S2 (client)>I'm not sure.\n",
        );
        let u = read(&p, &hints).unwrap();
        assert_eq!(u[0].speaker, "S1");
        assert_eq!(u[0].start, Some(1.0));
        assert_eq!(u[1].role, Role::Client);

        let p = write(
            d.path(),
            "v.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nSam: Hello there.\n\n2\n00:00:02,500 --> 00:00:03,000\nAlex: Hi.\n",
        );
        let e = read(&p, &hints).unwrap_err().to_string();
        assert!(
            e.contains("v.srt") && e.contains("line 2") && e.contains("--practitioner"),
            "{e}"
        );
        let u = read(
            &p,
            &RoleHints {
                practitioner: vec!["sam".into()],
            },
        )
        .unwrap();
        assert_eq!(u[0].role, Role::Practitioner);
        assert_eq!(u[1].role, Role::Client);
        assert_eq!(u[0].start, Some(1.0));
    }

    #[test]
    fn bad_files_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "e.txt", "   \n");
        assert!(matches!(
            read(&p, &RoleHints::default()),
            Err(Error::EmptyFile { .. })
        ));
        let p = d.path().join("latin1.txt");
        std::fs::write(&p, b"Therapist: ok\nClient: caf\xe9\n").unwrap();
        let e = read(&p, &RoleHints::default()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
        let p = write(
            d.path(),
            "x.txt",
            "Therapist: hi\njust words without a speaker\n",
        );
        let e = read(&p, &RoleHints::default()).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
