//! RTTM files: reading reference and hypothesis turns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diarize::Turn;
use crate::error::{Error, Result};

/// Turns read from an RTTM file, with their speaker labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Rttm {
    pub labels: Vec<String>,
    pub turns: Vec<Turn>,
}

/// The `SPEAKER` lines of an RTTM text, one [`Rttm`] per file id (field 2):
/// one RTTM may hold a whole corpus.
pub fn parse_rttm_files(text: &str) -> std::result::Result<BTreeMap<String, Rttm>, (u64, String)> {
    let mut out: BTreeMap<String, Rttm> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((id, start, end, label)) = speaker_line(line, i as u64 + 1)? {
            out.entry(id.to_string())
                .or_insert_with(|| Rttm {
                    labels: Vec::new(),
                    turns: Vec::new(),
                })
                .push(start, end, label);
        }
    }
    out.values_mut()
        .for_each(|r| r.turns.sort_by(|a, b| a.start.total_cmp(&b.start)));
    Ok(out)
}

/// File id, start, end and speaker label of an RTTM `SPEAKER` line.
type SpeakerLine<'a> = (&'a str, f64, f64, &'a str);

/// The fields of an RTTM `SPEAKER` line; `None` for other lines.
fn speaker_line(
    line: &str,
    line_no: u64,
) -> std::result::Result<Option<SpeakerLine<'_>>, (u64, String)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.first() != Some(&"SPEAKER") {
        return Ok(None);
    }
    if f.len() < 8 {
        return Err((line_no, "a SPEAKER line needs at least 8 fields".into()));
    }
    let num = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or((line_no, format!("'{s}' is not a time in seconds")))
    };
    let (start, dur) = (num(f[3])?, num(f[4])?);
    let end = start + dur;
    // DER is scored on 10 ms frames, as many as the latest end: an absurd
    // time (a typo, milliseconds for seconds) would otherwise ask for
    // gigabytes, or overflow the frame count, from one short line.
    if end > MAX_RTTM_S {
        return Err((
            line_no,
            format!(
                "the turn ends at {end} s, past a week; RTTM times are seconds from the start of the recording"
            ),
        ));
    }
    Ok(Some((f[1], start, end, f[7])))
}

/// The latest time an RTTM turn may end at: a week, in seconds.
const MAX_RTTM_S: f64 = 7.0 * 24.0 * 3600.0;

impl Rttm {
    fn push(&mut self, start: f64, end: f64, label: &str) {
        let speaker = match self.labels.iter().position(|l| l == label) {
            Some(k) => k,
            None => {
                self.labels.push(label.to_string());
                self.labels.len() - 1
            }
        };
        self.turns.push(Turn {
            start,
            end,
            speaker,
        });
    }
}

/// Every file's turns in an RTTM file, or in a folder of them: `*.rttm` and
/// the `*/diarization.rttm` that `mitool batch` writes. A file without
/// turns (a silent recording) stands for its own id with no speech.
pub fn read_rttm_set(path: &Path) -> Result<BTreeMap<String, Rttm>> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, "read", e))?;
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let batch = p.join("diarization.rttm");
            if p.is_dir() && batch.is_file() {
                let id = p
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push((batch, id));
            } else if p.is_file() && p.extension().is_some_and(|e| e == "rttm") {
                let id = stem(&p);
                files.push((p, id));
            }
        }
        if files.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                line: None,
                detail: "no .rttm files (nor batch session folders with diarization.rttm) here"
                    .into(),
            });
        }
    } else {
        let id = stem(path);
        files.push((path.to_path_buf(), id));
    }
    let mut out = BTreeMap::new();
    for (p, id) in files {
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, "read", e))?;
        let sets = parse_rttm_files(&text).map_err(|(line, detail)| Error::Input {
            path: p.clone(),
            line: Some(line),
            detail,
        })?;
        if sets.is_empty() {
            out.entry(id).or_insert(Rttm {
                labels: Vec::new(),
                turns: Vec::new(),
            });
        }
        out.extend(sets);
    }
    Ok(out)
}

/// Reads the `SPEAKER` lines of an RTTM file.
pub fn read_rttm(path: &Path) -> Result<Rttm> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read", e))?;
    parse_rttm(&text).map_err(|(line, detail)| Error::Input {
        path: path.to_path_buf(),
        line: Some(line),
        detail,
    })
}

/// Parses RTTM text; errors give the line number.
pub fn parse_rttm(text: &str) -> std::result::Result<Rttm, (u64, String)> {
    let mut out = Rttm {
        labels: Vec::new(),
        turns: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        if let Some((_, start, end, label)) = speaker_line(line, i as u64 + 1)? {
            out.push(start, end, label);
        }
    }
    out.turns.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rttm_may_hold_many_files() {
        let text = "SPEAKER a 1 0.0 1.0 <NA> <NA> x <NA> <NA>\n\
                    SPEAKER b 1 0.5 1.0 <NA> <NA> y <NA> <NA>\n\
                    SPEAKER a 1 2.0 1.0 <NA> <NA> z <NA> <NA>\n";
        let sets = parse_rttm_files(text).unwrap();
        assert_eq!(sets.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(sets["a"].labels, ["x", "z"]);
        assert_eq!(sets["a"].turns.len(), 2);
        assert_eq!(sets["b"].turns[0].end, 1.5);
        let bad = "SPEAKER a 1 0.0 1.0 <NA> <NA> x <NA> <NA>\nSPEAKER b 1 zero 1.0 <NA> <NA> y\n";
        assert_eq!(parse_rttm_files(bad).unwrap_err().0, 2);
    }

    #[test]
    fn rttm_times_past_a_week_are_refused() {
        // Each once asked `der` for 10 ms frames up to the end time: the
        // first overflowed the frame count, the second wanted ~10 GB.
        for text in [
            "SPEAKER f 1 1e308 1e308 <NA> <NA> A",
            "SPEAKER f 1 0 100000000 <NA> <NA> A",
        ] {
            let (line, e) = parse_rttm(text).unwrap_err();
            assert_eq!(line, 1);
            assert!(e.contains("past a week"), "{e}");
            assert_eq!(parse_rttm_files(text).unwrap_err(), (line, e));
        }
        let week = parse_rttm("SPEAKER f 1 604000 800 <NA> <NA> A").unwrap();
        assert_eq!(week.turns[0].end, 604_800.0);
    }
}
