//! The project's central data type: utterances with speaker, role, times,
//! text, words and codes, and their CSV form (AnnoMI's columns, so coded
//! output can be corrected by hand in a spreadsheet and scored again).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::transcript::Word;

/// Who is speaking, as MITI sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The practitioner (AnnoMI: "therapist").
    #[serde(rename = "therapist", alias = "practitioner")]
    Practitioner,
    /// A client or family member.
    Client,
}

impl Role {
    /// AnnoMI's word for the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Practitioner => "therapist",
            Role::Client => "client",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "therapist" | "practitioner" | "counsellor" | "counselor" | "worker" | "clinician" => {
                Ok(Role::Practitioner)
            }
            // "other": another person of the family (a third voice).
            "client" | "family" | "parent" | "patient" | "other" => Ok(Role::Client),
            other => Err(format!(
                "unknown interlocutor '{other}' (expected therapist or client)"
            )),
        }
    }
}

macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            /// Every value, in label order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The label as written in CSV files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($text) { return Ok($name::$variant); })+
                Err(format!(
                    "'{t}' is not a {} label (expected one of: {})",
                    stringify!($name),
                    [$($text),+].join(", ")
                ))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

label_enum!(
    /// AnnoMI `main_therapist_behaviour`.
    Main { Question = "question", Reflection = "reflection", Input = "therapist_input", Other = "other" }
);
label_enum!(
    /// AnnoMI `question_subtype`.
    QuestionType { Open = "open", Closed = "closed" }
);
label_enum!(
    /// AnnoMI `reflection_subtype`.
    ReflectionType { Simple = "simple", Complex = "complex" }
);
label_enum!(
    /// AnnoMI `therapist_input_subtype`.
    InputType { Information = "information", Advice = "advice", Negotiation = "negotiation", Options = "options" }
);
label_enum!(
    /// AnnoMI `client_talk_type`.
    Talk { Change = "change", Neutral = "neutral", Sustain = "sustain" }
);
label_enum!(
    /// MITI 4.2.1 behaviour codes.
    Miti {
        GivingInformation = "GI",
        Persuade = "Persuade",
        PersuadeWithPermission = "PersuadeWithPermission",
        Question = "Q",
        SimpleReflection = "SR",
        ComplexReflection = "CR",
        Affirm = "Affirm",
        Seek = "Seek",
        Emphasize = "Emphasize",
        Confront = "Confront",
    }
);

/// The codes of one utterance. Practitioner fields are `None` for clients
/// and the other way round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Codes {
    pub main: Option<Main>,
    pub question: Option<QuestionType>,
    pub reflection: Option<ReflectionType>,
    pub input: Option<InputType>,
    pub question_exists: Option<bool>,
    pub reflection_exists: Option<bool>,
    pub input_exists: Option<bool>,
    pub talk: Option<Talk>,
    /// MITI codes. `None` where the input gave none (they are then derived).
    pub miti: Option<Vec<Miti>>,
    /// The coder's confidence in [0, 1]; `None` for human codes.
    pub confidence: Option<f32>,
    /// The coder's calibrated probabilities of the MITI events (practitioner
    /// utterances only); session counts sum them (see [`crate::score::count`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventProbs>,
}

/// Calibrated probabilities of one practitioner utterance's MITI events
/// (`models/coder/calibration.json`). Its codes say the same at 0.5: a code
/// that disagrees was corrected by a person, and the code then counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventProbs {
    /// P(a question in it).
    pub question: f32,
    /// P(open | a question).
    pub open: f32,
    /// P(a reflection in it).
    pub reflection: f32,
    /// P(complex | a reflection).
    pub complex: f32,
}

impl EventProbs {
    /// The values in [`EVENT_COLUMNS`] order.
    fn to_array(self) -> [f32; 4] {
        [self.question, self.open, self.reflection, self.complex]
    }

    fn from_array([question, open, reflection, complex]: [f32; 4]) -> Self {
        Self {
            question,
            open,
            reflection,
            complex,
        }
    }
}

/// The coded CSV's probability columns (the last four label columns), in
/// [`EventProbs`] field order.
pub const EVENT_COLUMNS: &[&str] = CODE_COLUMNS.split_at(CODE_COLUMNS.len() - 4).1;

/// One utterance of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    pub session_id: String,
    pub id: String,
    pub speaker: String,
    pub role: Role,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
    /// Another speaker talks at the same time for part of it.
    #[serde(default)]
    pub overlap: bool,
    #[serde(default)]
    pub codes: Codes,
    /// Input columns mitool does not use, passed through to outputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Utterance {
    /// Who spoke: "practitioner", "client" or "other" (a third person of
    /// the family, whose talk is coded as the family's; the `person` column
    /// that role assignment writes), else what the role says.
    pub fn person(&self) -> &str {
        match self.extra.get(crate::roles::PERSON_COLUMN) {
            Some(p) if !p.is_empty() => p,
            _ if self.role == Role::Practitioner => "practitioner",
            _ => "client",
        }
    }
}

/// The label columns of the coded CSV, in order.
pub const CODE_COLUMNS: &[&str] = &[
    "main_therapist_behaviour",
    "question_subtype",
    "reflection_subtype",
    "therapist_input_subtype",
    "question_exists",
    "reflection_exists",
    "therapist_input_exists",
    "client_talk_type",
    "miti_codes",
    "confidence",
    "p_question",
    "p_open_question",
    "p_reflection",
    "p_complex_reflection",
];

/// Columns mitool reads itself (all others are passed through).
const KNOWN: &[&str] = &[
    "transcript_id",
    "session_id",
    "utterance_id",
    "interlocutor",
    "speaker",
    "start",
    "end",
    "timestamp",
    "utterance_text",
];

fn na(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("n/a") || t.eq_ignore_ascii_case("na")
}

fn opt<T: FromStr<Err = String>>(s: Option<&str>) -> std::result::Result<Option<T>, String> {
    match s {
        Some(v) if !na(v) => v.parse().map(Some),
        _ => Ok(None),
    }
}

fn opt_bool(s: Option<&str>) -> std::result::Result<Option<bool>, String> {
    match s.map(str::trim) {
        Some(v) if !na(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(format!("'{v}' is not True or False")),
        },
        _ => Ok(None),
    }
}

/// Parses `HH:MM:SS(.mmm)`, `MM:SS` or plain seconds.
///
/// ```
/// assert_eq!(mitool_core::utterance::parse_time("00:01:05.5"), Some(65.5));
/// assert_eq!(mitool_core::utterance::parse_time("n/a"), None);
/// ```
pub fn parse_time(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || na(t) {
        return None;
    }
    let mut total = 0.0;
    for part in t.split(':') {
        total = total * 60.0 + part.trim().replace(',', ".").parse::<f64>().ok()?;
    }
    Some(total)
}

/// Reads a coded (or uncoded) utterance CSV: AnnoMI's columns or the ones
/// `mitool code` writes. Errors name the file, the line and the cause.
pub fn read_csv(path: &Path) -> Result<Vec<Utterance>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "open", e))?;
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    // As transcripts::read: a panic fails this file and names it.
    Error::guard(path, "reading the coded utterances", || {
        read_csv_from(path, file)
    })
}

/// [`read_csv`] from any reader (the fuzz targets feed it bytes); `path`
/// only names the input in errors.
pub fn read_csv_from(path: &Path, input: impl std::io::Read) -> Result<Vec<Utterance>> {
    let bad = |line: u64, detail: String| Error::Input {
        path: path.to_path_buf(),
        line: Some(line),
        detail,
    };
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = rdr
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect::<Vec<_>>();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let session_col = col("session_id").or(col("transcript_id"));
    let (Some(text_col), Some(role_col)) = (col("utterance_text"), col("interlocutor")) else {
        let missing: Vec<&str> = ["utterance_text", "interlocutor"]
            .into_iter()
            .filter(|c| col(c).is_none())
            .collect();
        return Err(bad(
            1,
            format!(
                "missing column(s) {}; the header must include transcript_id (or session_id), utterance_id, interlocutor and utterance_text",
                missing.join(", ")
            ),
        ));
    };
    let Some(session_col) = session_col else {
        return Err(bad(
            1,
            "missing column transcript_id (or session_id)".into(),
        ));
    };
    let id_col = col("utterance_id");
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c));
        let role: Role = rec
            .get(role_col)
            .unwrap_or("")
            .parse()
            .map_err(|e: String| bad(line, e))?;
        let g = |name: &str| get(col(name));
        let codes = Codes {
            main: opt(g("main_therapist_behaviour")).map_err(|e| bad(line, e))?,
            question: opt(g("question_subtype")).map_err(|e| bad(line, e))?,
            reflection: opt(g("reflection_subtype")).map_err(|e| bad(line, e))?,
            input: opt(g("therapist_input_subtype")).map_err(|e| bad(line, e))?,
            question_exists: opt_bool(g("question_exists")).map_err(|e| bad(line, e))?,
            reflection_exists: opt_bool(g("reflection_exists")).map_err(|e| bad(line, e))?,
            input_exists: opt_bool(g("therapist_input_exists")).map_err(|e| bad(line, e))?,
            talk: opt(g("client_talk_type")).map_err(|e| bad(line, e))?,
            // An empty cell means "not coded": codes are then derived from the labels.
            miti: match g("miti_codes").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => Some(
                    v.split(';')
                        .filter(|c| !c.trim().is_empty())
                        .map(|c| c.parse::<Miti>())
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|e| bad(line, e))?,
                ),
            },
            confidence: match g("confidence").map(str::trim).filter(|v| !na(v)) {
                None => None,
                Some(v) => Some(
                    v.parse::<f32>()
                        .map_err(|_| bad(line, format!("confidence '{v}' is not a number")))?,
                ),
            },
            events: read_events(&g).map_err(|e| bad(line, e))?,
        };
        let extra = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !KNOWN.contains(&h.as_str()) && !CODE_COLUMNS.contains(&h.as_str()))
            .map(|(c, h)| (h.clone(), rec.get(c).unwrap_or("").to_string()))
            .collect();
        let start = g("start")
            .and_then(parse_time)
            .or_else(|| g("timestamp").and_then(parse_time));
        out.push(Utterance {
            session_id: rec.get(session_col).unwrap_or("").trim().to_string(),
            id: get(id_col).map_or_else(|| i.to_string(), |s| s.trim().to_string()),
            speaker: g("speaker")
                .filter(|s| !s.trim().is_empty())
                .map_or_else(|| role.as_str().to_string(), |s| s.trim().to_string()),
            role,
            start,
            end: g("end").and_then(parse_time),
            text: rec.get(text_col).unwrap_or("").to_string(),
            words: Vec::new(),
            overlap: false,
            codes,
            extra,
        });
    }
    if out.is_empty() {
        return Err(bad(2, "the file has a header but no utterances".into()));
    }
    Ok(out)
}

/// The probability columns, when all four are there and filled in.
fn read_events<'a>(
    g: &impl Fn(&str) -> Option<&'a str>,
) -> std::result::Result<Option<EventProbs>, String> {
    let mut p = [0f32; 4];
    for (slot, name) in p.iter_mut().zip(EVENT_COLUMNS) {
        let Some(v) = g(name).map(str::trim).filter(|v| !na(v)) else {
            return Ok(None);
        };
        *slot = match v.parse::<f32>() {
            Ok(x) if (0.0..=1.0).contains(&x) => x,
            _ => return Err(format!("{name} '{v}' is not a probability between 0 and 1")),
        };
    }
    Ok(Some(EventProbs::from_array(p)))
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    let detail = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the text is not UTF-8; save the file as UTF-8 CSV and try again".to_string()
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    };
    Error::Input {
        path: path.to_path_buf(),
        line,
        detail,
    }
}

/// Splits utterances into sessions by `session_id`, keeping first-seen order.
/// Where a session was annotated by several people (AnnoMI's `annotator_id`),
/// only the first annotator's rows are kept.
pub fn group_sessions(utts: Vec<Utterance>) -> Vec<(String, Vec<Utterance>)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, Vec<Utterance>> = BTreeMap::new();
    for u in utts {
        if !map.contains_key(&u.session_id) {
            order.push(u.session_id.clone());
        }
        map.entry(u.session_id.clone()).or_default().push(u);
    }
    order
        .into_iter()
        .map(|id| {
            let mut v = map.remove(&id).unwrap_or_default();
            if let Some(first) = v.first().and_then(|u| u.extra.get("annotator_id")).cloned() {
                v.retain(|u| u.extra.get("annotator_id") == Some(&first));
            }
            (id, v)
        })
        .collect()
}

fn fmt_opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| x.to_string())
}

fn fmt_bool(v: Option<bool>) -> String {
    v.map_or_else(
        || "n/a".into(),
        |b| if b { "True".into() } else { "False".into() },
    )
}

/// Writes coded utterances as CSV: ids, speaker, times, text, the label
/// columns, then any passed-through input columns.
pub fn to_csv(utts: &[Utterance]) -> Result<Vec<u8>> {
    let extras: Vec<String> = {
        let mut set = std::collections::BTreeSet::new();
        for u in utts {
            set.extend(u.extra.keys().cloned());
        }
        set.into_iter().collect()
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "transcript_id",
        "utterance_id",
        "interlocutor",
        "speaker",
        "start",
        "end",
        "utterance_text",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(CODE_COLUMNS.iter().map(|s| s.to_string()));
    header.extend(extras.iter().cloned());
    let werr = |e: csv::Error| Error::Config(format!("cannot write CSV: {e}"));
    w.write_record(&header).map_err(werr)?;
    for u in utts {
        let c = &u.codes;
        let mut row = vec![
            u.session_id.clone(),
            u.id.clone(),
            u.role.as_str().to_string(),
            u.speaker.clone(),
            u.start.map_or_else(String::new, |t| format!("{t:.2}")),
            u.end.map_or_else(String::new, |t| format!("{t:.2}")),
            u.text.clone(),
            fmt_opt(c.main),
            fmt_opt(c.question),
            fmt_opt(c.reflection),
            fmt_opt(c.input),
            fmt_bool(c.question_exists),
            fmt_bool(c.reflection_exists),
            fmt_bool(c.input_exists),
            fmt_opt(c.talk),
            c.miti
                .as_ref()
                .map(|m| m.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(";"))
                .unwrap_or_default(),
            c.confidence.map_or_else(String::new, |x| format!("{x:.3}")),
        ];
        // Four decimals: what a re-score reads back must decide as the coder did.
        match c.events {
            Some(e) => row.extend(e.to_array().map(|x| format!("{x:.4}"))),
            None => row.extend(EVENT_COLUMNS.iter().map(|_| String::new())),
        }
        row.extend(
            extras
                .iter()
                .map(|k| u.extra.get(k).cloned().unwrap_or_default()),
        );
        w.write_record(&row).map_err(werr)?;
    }
    w.into_inner()
        .map_err(|e| Error::Config(format!("cannot write CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_print() {
        assert_eq!("therapist_input".parse::<Main>().unwrap(), Main::Input);
        assert_eq!("CR".parse::<Miti>().unwrap(), Miti::ComplexReflection);
        assert!("reflexion".parse::<Main>().is_err());
        assert_eq!(
            Miti::PersuadeWithPermission.to_string(),
            "PersuadeWithPermission"
        );
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("00:01:05"), Some(65.0));
        assert_eq!(parse_time("1:02:03.5"), Some(3723.5));
        assert_eq!(parse_time("12.25"), Some(12.25));
        assert_eq!(parse_time("n/a"), None);
    }

    #[test]
    fn csv_round_trip_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        std::fs::write(
            &p,
            "transcript_id,utterance_id,interlocutor,utterance_text,main_therapist_behaviour,reflection_subtype,client_talk_type,annotator_id\n\
             7,0,therapist,\"So you want things calmer, in the mornings.\",reflection,complex,n/a,3\n\
             7,1,client,Yes.,n/a,n/a,change,3\n\
             7,0,therapist,\"So you want things calmer, in the mornings.\",reflection,simple,n/a,5\n",
        )
        .unwrap();
        let u = read_csv(&p).unwrap();
        assert_eq!(u.len(), 3);
        assert_eq!(u[0].codes.reflection, Some(ReflectionType::Complex));
        assert_eq!(u[1].codes.talk, Some(Talk::Change));
        let sessions = group_sessions(u.clone());
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].1.len(), 2, "second annotator dropped");
        let back = to_csv(&u).unwrap();
        let p2 = dir.path().join("back.csv");
        std::fs::write(&p2, back).unwrap();
        let again = read_csv(&p2).unwrap();
        assert_eq!(again[0].codes, u[0].codes);
        assert_eq!(
            again[2].extra.get("annotator_id").map(String::as_str),
            Some("5")
        );

        std::fs::write(&p, "transcript_id,utterance_text\n1,hello\n").unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(
            e.contains("c.csv") && e.contains("line 1") && e.contains("interlocutor"),
            "{e}"
        );

        std::fs::write(
            &p,
            "transcript_id,interlocutor,utterance_text\n1,therapist,hi\n1,dog,woof\n",
        )
        .unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("dog"), "{e}");

        std::fs::write(
            &p,
            b"transcript_id,interlocutor,utterance_text\n1,client,caf\xe9\n",
        )
        .unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(e.contains("UTF-8") && e.contains("line 2"), "{e}");
    }
}
