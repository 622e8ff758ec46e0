//! A sessions manifest: the CSV a trial keeps of its sessions. Each row names
//! one session's recording or transcript (`file`) and may say what the
//! trial knows about it — how many people were there (`speakers`), who the
//! practitioner is (`practitioner`, or a sample of their voice in
//! `practitioner_voice`). Every other column (practitioner id, site, date…)
//! is carried, as written, into the session's outputs and `sessions.csv`,
//! so scores can be analysed by practitioner and site without a join.
//!
//! ```text
//! file,speakers,practitioner,practitioner_id,site,date
//! visits/0412.m4a,2,,P07,North,2024-04-12
//! visits/0413.wav,3,S1,P02,South,2024-04-13
//! notes/0415.txt,,Sam,P07,North,2024-04-15
//! ```
//!
//! Paths are relative to the manifest's folder (or absolute). Column names
//! are matched without regard to case or surrounding spaces.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::session::Known;

/// The columns mitool reads itself; any other is carried into the outputs.
const FILE: &str = "file";
const SPEAKERS: &str = "speakers";
const PRACTITIONER: &str = "practitioner";
const PRACTITIONER_VOICE: &str = "practitioner_voice";

/// Columns `sessions.csv` has already: a manifest column of the same name
/// would make two columns of one name there.
fn taken(name: &str) -> bool {
    crate::score::SESSION_COLUMNS
        .iter()
        .chain(crate::batch::TABLE_STATUS_COLUMNS)
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// A manifest's own columns, name and value, in the manifest's order. In
/// JSON an object whose keys keep that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns(pub Vec<(String, String)>);

impl Columns {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of column `name`, where there is one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Serialize for Columns {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Columns;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of column names and text values")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Columns, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = a.next_entry::<String, String>()? {
                    v.push(entry);
                }
                Ok(Columns(v))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// One session of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The manifest's line where the row starts (the header is line 1).
    pub line: u64,
    /// The recording or transcript, resolved against the manifest's folder.
    pub file: PathBuf,
    /// What the row says about the session; `None` where its cell is empty.
    pub known: Known,
    /// The carried columns, in [`Manifest::columns`] order.
    pub columns: Columns,
}

/// A read and checked sessions manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub path: PathBuf,
    /// The carried columns' names, in the manifest's order.
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// Reads and checks the manifest at `path`.
pub fn read(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    parse(path, &bytes)
}

/// [`read`] of contents already in memory; `path` names the manifest in
/// errors and is the folder relative paths start from.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    let err = |line: Option<u64>, detail: String| Error::Input {
        path: path.to_path_buf(),
        line,
        detail,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        err(
            Some(line),
            "this is not CSV text (UTF-8); save the sessions list as \"CSV UTF-8\" from the spreadsheet".into(),
        )
    })?;
    // Spreadsheets start "CSV UTF-8" with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The reader's own line count leaves out blank lines, and a record's
    // offset is before the blank lines it skipped: count from the text.
    let line_at = |p: Option<&csv::Position>| {
        p.map(|p| {
            let bytes = text.as_bytes();
            let mut at = (p.byte() as usize).min(bytes.len());
            while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
                at += 1;
            }
            bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1
        })
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        err(
            line_at(e.position()),
            format!("this is not a readable CSV file: {e}"),
        )
    };
    let header = rdr.headers().map_err(csv_err)?.clone();
    // What each column is: one of ours (by index) or carried under its name.
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let key = |n: &str| n.to_lowercase().replace([' ', '-'], "_");
    let find = |want: &str| names.iter().position(|n| key(n) == want);
    let Some(file_col) = find(FILE) else {
        let found = if names.iter().all(String::is_empty) {
            "none".to_string()
        } else {
            names.join(", ")
        };
        return Err(err(
            Some(1),
            format!("there is no `file` column (the columns are: {found}); the first line must name the columns, one of them `file` for each session's recording or transcript"),
        ));
    };
    let speakers_col = find(SPEAKERS);
    let practitioner_col = find(PRACTITIONER);
    let voice_col = find(PRACTITIONER_VOICE);
    let ours = [Some(file_col), speakers_col, practitioner_col, voice_col];
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut carried: Vec<usize> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(first) = seen.insert(key(n), i) {
            if !n.is_empty() {
                return Err(err(
                    Some(1),
                    format!(
                        "columns {} and {} are both called `{n}`; give each column its own name",
                        first + 1,
                        i + 1
                    ),
                ));
            }
        }
        if ours.contains(&Some(i)) || n.is_empty() {
            continue;
        }
        if taken(n) {
            return Err(err(
                Some(1),
                format!("column `{n}` is one mitool writes in sessions.csv itself; rename it (for example `trial_{n}`)"),
            ));
        }
        carried.push(i);
    }

    let dir = path.parent().unwrap_or(Path::new(""));
    let mut rows: Vec<Row> = Vec::new();
    let mut files: HashMap<PathBuf, u64> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = line_at(rec.position()).unwrap_or(0);
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).map_or("", str::trim);
        // Spreadsheets save rows of empty cells below the table.
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rec.len() > names.len() {
            return Err(err(
                Some(line),
                format!("this row has {} cells but the first line names {} columns; quote cells that contain a comma", rec.len(), names.len()),
            ));
        }
        if let Some(i) = (0..rec.len()).find(|&i| names[i].is_empty() && !rec[i].trim().is_empty())
        {
            return Err(err(
                Some(line),
                format!(
                    "column {} has no name on the first line but holds `{}`; name the column",
                    i + 1,
                    rec[i].trim()
                ),
            ));
        }
        let file = cell(Some(file_col));
        if file.is_empty() {
            return Err(err(
                Some(line),
                "the `file` cell is empty; give this session's recording or transcript".into(),
            ));
        }
        let file = dir.join(file);
        // The same file twice would be two sessions with one recording.
        let same = file
            .canonicalize()
            .unwrap_or_else(|_| file.components().collect());
        if let Some(first) = files.insert(same, line) {
            return Err(err(
                Some(line),
                format!(
                    "{} is listed already on line {first}; list each session once",
                    file.display()
                ),
            ));
        }
        let speakers = match cell(speakers_col) {
            "" => None,
            s => match s.parse::<usize>() {
                Ok(n) if (1..=20).contains(&n) => Some(n),
                _ => {
                    return Err(err(
                        Some(line),
                        format!("speakers must be a whole number from 1 to 20, got '{s}'"),
                    ))
                }
            },
        };
        let practitioner = Some(cell(practitioner_col).to_string()).filter(|p| !p.is_empty());
        let practitioner_voice = Some(cell(voice_col))
            .filter(|v| !v.is_empty())
            .map(|v| dir.join(v));
        rows.push(Row {
            line,
            file,
            known: Known {
                speakers,
                practitioner,
                practitioner_voice,
            },
            columns: Columns(
                carried
                    .iter()
                    .map(|&i| (names[i].clone(), rec.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
        });
    }
    if rows.is_empty() {
        return Err(err(
            None,
            "lists no sessions; add a row for each recording or transcript below the column names"
                .into(),
        ));
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        columns: carried.iter().map(|&i| names[i].clone()).collect(),
        rows,
    })
}

/// Spreadsheets in many languages save "CSV" with `;` (or tabs): the
/// header line says which.
fn delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    if first.contains(',') {
        b','
    } else if first.contains(';') {
        b';'
    } else if first.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Manifest> {
        parse(Path::new("trial/sessions.csv"), text.as_bytes())
    }

    fn message(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_known_and_carried_columns_in_order() {
        let m = parse_str(
            "\u{feff}File , Site,speakers,Practitioner,practitioner_id,date,Practitioner Voice\n\
             a.wav,North,2,S1,P07,2024-04-12,voices/p07.wav\n\
             \n\
             /data/b.txt, South ,,Sam,P02,2024-04-13,\n\
             ,,,,,,\n",
        )
        .unwrap();
        assert_eq!(m.columns, ["Site", "practitioner_id", "date"]);
        assert_eq!(m.rows.len(), 2);
        let a = &m.rows[0];
        assert_eq!(a.line, 2);
        assert_eq!(a.file, Path::new("trial/a.wav"));
        assert_eq!(
            a.known,
            Known {
                speakers: Some(2),
                practitioner: Some("S1".into()),
                practitioner_voice: Some("trial/voices/p07.wav".into()),
            }
        );
        assert_eq!(a.columns.get("Site"), Some("North"));
        let b = &m.rows[1];
        assert_eq!(b.line, 4);
        assert_eq!(b.file, Path::new("/data/b.txt"));
        assert_eq!(b.known.speakers, None);
        assert_eq!(b.known.practitioner_voice, None);
        // Carried cells are kept as written.
        assert_eq!(
            b.columns.0,
            [
                ("Site".to_string(), " South ".to_string()),
                ("practitioner_id".into(), "P02".into()),
                ("date".into(), "2024-04-13".into()),
            ]
        );
    }

    #[test]
    fn semicolons_and_short_rows_are_read() {
        let m = parse_str("file;site\na.wav;North\nb.wav\n").unwrap();
        assert_eq!(m.rows[1].columns.get("site"), Some(""));
    }

    #[test]
    fn mistakes_are_named_with_the_file_and_line() {
        let m = message("file,speakers\na.wav,2\nb.wav,3\nc.wav,two\n");
        assert_eq!(
            m,
            "trial/sessions.csv, line 4: speakers must be a whole number from 1 to 20, got 'two'"
        );
        assert!(message("file,speakers\na.wav,0\n").contains("line 2: speakers"));
        assert!(message("file,speakers\na.wav,21\n").contains("got '21'"));
        let m = message("recording,site\na.wav,North\n");
        assert!(
            m.starts_with("trial/sessions.csv, line 1: there is no `file` column")
                && m.contains("recording, site"),
            "{m}"
        );
        let m = message("file,site\na.wav,North\n,South\n");
        assert!(m.contains("line 3: the `file` cell is empty"), "{m}");
        let m = message("file,site\na.wav,North\n./a.wav,South\n");
        assert!(
            m.contains("line 3") && m.contains("already on line 2"),
            "{m}"
        );
        let m = message("file,site,Site\na.wav,N,S\n");
        assert!(m.contains("both called `Site`"), "{m}");
        let m = message("file,status\na.wav,N\n");
        assert!(m.contains("`status` is one mitool writes"), "{m}");
        let m = message("file,site\na.wav,North,extra\n");
        assert!(m.contains("line 2: this row has 3 cells"), "{m}");
        let m = message("file,site\n");
        assert!(m.contains("lists no sessions"), "{m}");
        let m = parse(Path::new("s.csv"), b"file,site\na.wav,K\xf6ln\n")
            .unwrap_err()
            .to_string();
        assert!(
            m.starts_with("s.csv, line 2: this is not CSV text (UTF-8)"),
            "{m}"
        );
    }

    #[test]
    fn columns_keep_their_order_in_json() {
        let c = Columns(vec![
            ("site".into(), "N".into()),
            ("date".into(), "d".into()),
        ]);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, r#"{"site":"N","date":"d"}"#);
        let back: Columns = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
    }
}
