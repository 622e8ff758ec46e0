//! Correcting a session's codes by hand (`mitool review`): the session's
//! state while a person works on it, each change re-scored with the same
//! [`crate::score::score`] as `mitool score`, and the files it saves.
//!
//! The machine's `coded.csv` is never changed. A save writes
//! `corrected.csv` (the same format, so `mitool score` and `mitool agree
//! coded.csv corrected.csv` read it) and `corrections.csv` (who, when, old,
//! new), both atomically, then `corrected.json` (the corrected scores), from
//! which `mitool batch` builds the study tables' `corrected` rows. A batch
//! re-run leaves all three alone and says so.
//!
//! Every change names the version of the session it was made on. A change
//! made on an older version (another tab saved or changed the session since)
//! is refused, so neither tab silently loses the other's work.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outfile;
use crate::score::{self, ScoreConfig, SessionScores};
use crate::utterance::{
    self, Codes, InputType, Main, QuestionType, ReflectionType, Role, Talk, Utterance,
};

/// The machine's codes, as `mitool batch` wrote them.
pub const MACHINE_CSV: &str = "coded.csv";
/// The codes after a person's corrections.
pub const CORRECTED_CSV: &str = "corrected.csv";
/// One row per change: who, when, which utterance, old and new.
pub const CORRECTIONS_CSV: &str = "corrections.csv";
/// The corrected session's scores, written last on a save.
pub const CORRECTED_SCORES: &str = "corrected.json";

/// What a save leaves for the study tables: the scores of the corrected
/// codes and how much a person changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrectedRecord {
    pub scores: SessionScores,
    /// Changes to codes, roles and utterance boundaries.
    pub changes: usize,
    /// Utterances a person marked as checked.
    pub checked: usize,
    pub saved_at: String,
    pub saved_by: String,
}

/// The corrected record in session folder `dir`, where a person saved one.
pub fn corrected_record(dir: &Path) -> Option<CorrectedRecord> {
    let text = std::fs::read_to_string(dir.join(CORRECTED_SCORES)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A code a person can give, with its keyboard key on the review page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeChoice {
    pub code: &'static str,
    pub label: &'static str,
    pub key: &'static str,
    pub role: &'static str,
}

/// The codes offered on the page, practitioner's first.
pub const CHOICES: &[CodeChoice] = &[
    choice("open_question", "Open question", "o", "practitioner"),
    choice("closed_question", "Closed question", "c", "practitioner"),
    choice(
        "simple_reflection",
        "Simple reflection",
        "s",
        "practitioner",
    ),
    choice(
        "complex_reflection",
        "Complex reflection",
        "x",
        "practitioner",
    ),
    choice("information", "Giving information", "i", "practitioner"),
    choice("advice", "Advice / persuading", "a", "practitioner"),
    choice("other", "Other", "n", "practitioner"),
    choice("change", "Change talk", "+", "client"),
    choice("neutral", "Neutral", "=", "client"),
    choice("sustain", "Sustain talk", "-", "client"),
];

const fn choice(
    code: &'static str,
    label: &'static str,
    key: &'static str,
    role: &'static str,
) -> CodeChoice {
    CodeChoice {
        code,
        label,
        key,
        role,
    }
}

/// The code an utterance carries, as one of [`CHOICES`] ("" where none).
pub fn code_of(u: &Utterance) -> &'static str {
    let c = &u.codes;
    match u.role {
        Role::Client => match c.talk {
            Some(Talk::Change) => "change",
            Some(Talk::Sustain) => "sustain",
            Some(Talk::Neutral) => "neutral",
            None => "",
        },
        Role::Practitioner => match c.main {
            Some(Main::Question) => match c.question {
                Some(QuestionType::Closed) => "closed_question",
                _ => "open_question",
            },
            Some(Main::Reflection) => match c.reflection {
                Some(ReflectionType::Complex) => "complex_reflection",
                _ => "simple_reflection",
            },
            Some(Main::Input) => match c.input {
                Some(InputType::Information) | None => "information",
                Some(_) => "advice",
            },
            Some(Main::Other) => "other",
            None => "",
        },
    }
}

/// A person's codes for `code`: whole, with no machine probabilities left,
/// so they count as given. `None` when the code is not one for `role`.
fn person_codes(role: Role, code: &str) -> Option<Codes> {
    let mut c = Codes::default();
    let practitioner = role == Role::Practitioner;
    match (practitioner, code) {
        (true, "open_question") | (true, "closed_question") => {
            c.main = Some(Main::Question);
            c.question = Some(if code == "open_question" {
                QuestionType::Open
            } else {
                QuestionType::Closed
            });
        }
        (true, "simple_reflection") | (true, "complex_reflection") => {
            c.main = Some(Main::Reflection);
            c.reflection = Some(if code == "simple_reflection" {
                ReflectionType::Simple
            } else {
                ReflectionType::Complex
            });
        }
        (true, "information") | (true, "advice") => {
            c.main = Some(Main::Input);
            c.input = Some(if code == "information" {
                InputType::Information
            } else {
                InputType::Advice
            });
        }
        (true, "other") => c.main = Some(Main::Other),
        (false, "change") => c.talk = Some(Talk::Change),
        (false, "neutral") => c.talk = Some(Talk::Neutral),
        (false, "sustain") => c.talk = Some(Talk::Sustain),
        _ => return None,
    }
    if practitioner {
        c.question_exists = Some(c.main == Some(Main::Question));
        c.reflection_exists = Some(c.main == Some(Main::Reflection));
        c.input_exists = Some(c.main == Some(Main::Input));
    }
    Some(c)
}

/// One change a person asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Give utterance `id` the code `code` (one of [`CHOICES`]).
    Code { id: String, code: String },
    /// Mark utterance `id` as checked (its code stands).
    Checked { id: String },
    /// The practitioner is the other speaker: swap every role.
    SwapRoles,
    /// Cut utterance `id` before its word number `at` (0-based; 1 ≤ at <
    /// words): two utterances, both with its code until a person recodes them.
    Split { id: String, at: usize },
    /// Join utterance `id` and the one after it (the same speaker's).
    Merge { id: String },
}

/// One row of `corrections.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Correction {
    pub when: String,
    pub who: String,
    pub utterance_id: String,
    pub change: String,
    pub old: String,
    pub new: String,
}

/// Why a change or save was not taken.
#[derive(Debug)]
pub enum Refused {
    /// Made on an older version of the session than the one held now.
    Stale { current: u64 },
    /// Not a change this session can take (an unknown utterance or code).
    Invalid(String),
    /// Writing the files failed.
    Failed(Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Stale { .. } => f.write_str(
                "this session was changed in another tab or window since this page loaded it; \
                 reload the page to see the latest codes (your last change was not applied)",
            ),
            Refused::Invalid(m) => f.write_str(m),
            Refused::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// One utterance as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UtteranceView {
    pub id: String,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub speaker: String,
    pub role: &'static str,
    pub text: String,
    pub code: &'static str,
    /// The machine's code, to show what a person changed.
    pub machine_code: &'static str,
    /// The coder's confidence; `None` once a person gave the code.
    pub confidence: Option<f32>,
    pub checked: bool,
}

/// Everything the page needs for one session.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    pub session_id: String,
    pub version: u64,
    pub saved: bool,
    pub corrections: usize,
    pub utterances: Vec<UtteranceView>,
    pub scores: SessionScores,
    pub choices: &'static [CodeChoice],
}

/// A session being reviewed.
#[derive(Debug)]
pub struct Review {
    pub session_id: String,
    dir: PathBuf,
    machine: Vec<Utterance>,
    utts: Vec<Utterance>,
    checked: BTreeSet<String>,
    corrections: Vec<Correction>,
    version: u64,
    saved: bool,
    scores: SessionScores,
}

fn model_version(utts: &[Utterance]) -> String {
    utts.iter()
        .find_map(|u| u.extra.get("model_version").filter(|v| !v.is_empty()))
        .cloned()
        .unwrap_or_else(|| "mitool".into())
}

impl Review {
    /// Opens the session in `dir` (a folder `mitool batch` wrote): the
    /// machine's codes, and a person's earlier corrections where saved.
    pub fn open(dir: &Path) -> Result<Self> {
        let machine = utterance::read_csv(&dir.join(MACHINE_CSV))?;
        let corrected = dir.join(CORRECTED_CSV);
        let utts = if corrected.is_file() {
            utterance::read_csv(&corrected)?
        } else {
            machine.clone()
        };
        let corrections = read_corrections(&dir.join(CORRECTIONS_CSV))?;
        let checked = corrections
            .iter()
            .filter(|c| c.change == "checked")
            .map(|c| c.utterance_id.clone())
            .collect();
        let session_id = utts
            .first()
            .map(|u| u.session_id.clone())
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let scores = rescore(&session_id, &utts)?;
        Ok(Self {
            session_id,
            dir: dir.to_path_buf(),
            machine,
            utts,
            checked,
            corrections,
            version: 0,
            saved: true,
            scores,
        })
    }

    /// The session as the page shows it.
    pub fn view(&self) -> ReviewView {
        let utterances = self
            .utts
            .iter()
            .map(|u| UtteranceView {
                id: u.id.clone(),
                start: u.start,
                end: u.end,
                speaker: u.speaker.clone(),
                role: match u.role {
                    Role::Practitioner => "practitioner",
                    Role::Client => "client",
                },
                text: u.text.clone(),
                code: code_of(u),
                machine_code: self
                    .machine
                    .iter()
                    .find(|m| m.id == u.id)
                    .map_or("", code_of),
                confidence: u.codes.confidence,
                checked: self.checked.contains(&u.id),
            })
            .collect();
        ReviewView {
            session_id: self.session_id.clone(),
            version: self.version,
            saved: self.saved,
            corrections: self.corrections.len(),
            utterances,
            scores: self.scores.clone(),
            choices: CHOICES,
        }
    }

    /// The version a change must name.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Applies `edit`, made on `version`, and re-scores the session.
    pub fn apply(
        &mut self,
        version: u64,
        edit: &Edit,
        who: &str,
        when: &str,
    ) -> std::result::Result<(), Refused> {
        if version != self.version {
            return Err(Refused::Stale {
                current: self.version,
            });
        }
        let mut utts = self.utts.clone();
        let log = |id: &str, change: &str, old: &str, new: &str| Correction {
            when: when.to_string(),
            who: who.to_string(),
            utterance_id: id.to_string(),
            change: change.to_string(),
            old: old.to_string(),
            new: new.to_string(),
        };
        let entry = match edit {
            Edit::Code { id, code } => {
                let u = utts.iter_mut().find(|u| &u.id == id).ok_or_else(|| {
                    Refused::Invalid(format!("no utterance '{id}' in this session"))
                })?;
                let codes = person_codes(u.role, code).ok_or_else(|| {
                    Refused::Invalid(format!(
                        "'{code}' is not a code for a {} utterance",
                        u.role.as_str()
                    ))
                })?;
                let old = code_of(u);
                u.codes = codes;
                log(id, "code", old, code)
            }
            Edit::Checked { id } => {
                if !utts.iter().any(|u| &u.id == id) {
                    return Err(Refused::Invalid(format!(
                        "no utterance '{id}' in this session"
                    )));
                }
                self.checked.insert(id.clone());
                let code = utts.iter().find(|u| &u.id == id).map_or("", code_of);
                log(id, "checked", code, code)
            }
            Edit::SwapRoles => {
                for u in &mut utts {
                    u.role = match u.role {
                        Role::Practitioner => Role::Client,
                        Role::Client => Role::Practitioner,
                    };
                    // The other role's codes do not carry over: the machine's
                    // were for the other head. Uncoded until a person codes it.
                    u.codes = Codes::default();
                    // Who is who was the machine's too: the roles now say.
                    u.extra.remove(crate::roles::PERSON_COLUMN);
                }
                log("", "roles", "as detected", "swapped")
            }
            Edit::Split { id, at } => {
                let new = split(&mut utts, id, *at)?;
                log(id, "split", &format!("before word {at}"), &new)
            }
            Edit::Merge { id } => {
                let gone = merge(&mut utts, id)?;
                log(id, "merge", &gone, id)
            }
        };
        let scores = rescore(&self.session_id, &utts).map_err(Refused::Failed)?;
        self.utts = utts;
        self.scores = scores;
        self.corrections.push(entry);
        self.version += 1;
        self.saved = false;
        Ok(())
    }

    /// Writes `corrected.csv`, `corrections.csv` and `corrected.json`, each
    /// atomically.
    pub fn save(
        &mut self,
        version: u64,
        who: &str,
        when: &str,
    ) -> std::result::Result<(), Refused> {
        if version != self.version {
            return Err(Refused::Stale {
                current: self.version,
            });
        }
        let csv = utterance::to_csv(&self.utts).map_err(Refused::Failed)?;
        outfile::write_atomic(&self.dir.join(CORRECTED_CSV), &csv).map_err(Refused::Failed)?;
        let log = corrections_csv(&self.corrections).map_err(Refused::Failed)?;
        outfile::write_atomic(&self.dir.join(CORRECTIONS_CSV), &log).map_err(Refused::Failed)?;
        let rec = CorrectedRecord {
            scores: self.scores.clone(),
            changes: self
                .corrections
                .iter()
                .filter(|c| c.change != "checked")
                .count(),
            checked: self.checked.len(),
            saved_at: when.to_string(),
            saved_by: who.to_string(),
        };
        let json = serde_json::to_vec_pretty(&rec).expect("serialise");
        outfile::write_atomic(&self.dir.join(CORRECTED_SCORES), &json).map_err(Refused::Failed)?;
        self.saved = true;
        self.version += 1;
        Ok(())
    }

    /// The codes as they stand (with a person's corrections).
    pub fn utterances(&self) -> &[Utterance] {
        &self.utts
    }

    /// The session's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn no_utterance(id: &str) -> Refused {
    Refused::Invalid(format!("no utterance '{id}' in this session"))
}

/// A person's form of `u`'s code (whole, no machine probabilities): a
/// person who cut or joined an utterance has looked at it.
fn as_given(u: &Utterance) -> Codes {
    person_codes(u.role, code_of(u)).unwrap_or_default()
}

/// An id not yet used in `utts`, derived from `id`.
fn fresh_id(utts: &[Utterance], id: &str) -> String {
    (1..)
        .map(|n| format!("{id}+{n}"))
        .find(|c| !utts.iter().any(|u| &u.id == c))
        .expect("an unused id")
}

/// Splits utterance `id` before word `at`; returns the second part's id.
fn split(utts: &mut Vec<Utterance>, id: &str, at: usize) -> std::result::Result<String, Refused> {
    let i = utts
        .iter()
        .position(|u| u.id == id)
        .ok_or_else(|| no_utterance(id))?;
    let u = &utts[i];
    let words: Vec<&str> = u.text.split_whitespace().collect();
    if at == 0 || at >= words.len() {
        return Err(Refused::Invalid(format!(
            "an utterance of {} words can be cut before word 1 to {}, not {at}",
            words.len(),
            words.len().saturating_sub(1)
        )));
    }
    // Where the cut falls in time: the recognised words' own times when
    // they match the text word for word, else in proportion to the letters.
    let cut = match (u.start, u.end) {
        (Some(a), Some(b)) => Some(if u.words.len() == words.len() {
            u.words[at].start.clamp(a, b)
        } else {
            let before: usize = words[..at].iter().map(|w| w.len() + 1).sum();
            let all: usize = words.iter().map(|w| w.len() + 1).sum();
            a + (b - a) * before as f64 / all as f64
        }),
        _ => None,
    };
    let new_id = fresh_id(utts, id);
    let mut first = u.clone();
    let mut second = u.clone();
    first.text = words[..at].join(" ");
    second.text = words[at..].join(" ");
    second.id = new_id.clone();
    if u.words.len() == words.len() {
        first.words = u.words[..at].to_vec();
        second.words = u.words[at..].to_vec();
    } else {
        first.words.clear();
        second.words.clear();
    }
    if cut.is_some() {
        first.end = cut;
        second.start = cut;
    }
    first.codes = as_given(u);
    second.codes = as_given(u);
    utts[i] = first;
    utts.insert(i + 1, second);
    Ok(new_id)
}

/// Joins utterance `id` with the next; returns the id that is gone.
fn merge(utts: &mut Vec<Utterance>, id: &str) -> std::result::Result<String, Refused> {
    let i = utts
        .iter()
        .position(|u| u.id == id)
        .ok_or_else(|| no_utterance(id))?;
    let Some(next) = utts.get(i + 1) else {
        return Err(Refused::Invalid(
            "the last utterance has nothing after it to join".into(),
        ));
    };
    let u = &utts[i];
    if next.speaker != u.speaker || next.role != u.role {
        return Err(Refused::Invalid(
            "only one speaker's utterances can be joined: the next one is the other speaker's"
                .into(),
        ));
    }
    let mut joined = u.clone();
    joined.text = format!("{} {}", u.text.trim_end(), next.text.trim_start());
    joined.end = next.end.or(u.end);
    joined.words.extend(next.words.iter().cloned());
    joined.overlap = u.overlap || next.overlap;
    joined.codes = as_given(u);
    let gone = next.id.clone();
    utts[i] = joined;
    utts.remove(i + 1);
    Ok(gone)
}

fn rescore(session_id: &str, utts: &[Utterance]) -> Result<SessionScores> {
    let mut all = utts.to_vec();
    crate::miti::fill(&mut all);
    score::score(
        session_id,
        MACHINE_CSV,
        &all,
        &model_version(utts),
        &ScoreConfig::default(),
    )
}

fn corrections_csv(rows: &[Correction]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Config(format!("corrections table: {e}"));
    for r in rows {
        w.serialize(r).map_err(fail)?;
    }
    if rows.is_empty() {
        w.write_record(["when", "who", "utterance_id", "change", "old", "new"])
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Config(format!("corrections table: {e}")))
}

fn read_corrections(path: &Path) -> Result<Vec<Correction>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rd = csv::Reader::from_path(path).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        line: None,
        detail: e.to_string(),
    })?;
    rd.deserialize()
        .map(|r| {
            r.map_err(|e: csv::Error| Error::Input {
                path: path.to_path_buf(),
                line: e.position().map(|p| p.line()),
                detail: e.to_string(),
            })
        })
        .collect()
}

/// The recording behind a session, ready for a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playable {
    /// Serve this file as it is, with this MIME type.
    File { path: PathBuf, mime: &'static str },
    /// The recording named in the session's transcript is not where it was.
    Moved { recorded: String },
    /// The session came from a transcript: there is no recording.
    None,
}

/// Formats every browser plays, by extension. The rest (AAC in MP4 or M4A,
/// Matroska) are decoded once into a 16 kHz WAV kept in the session folder.
const NATIVE: &[(&str, &str)] = &[
    ("wav", "audio/wav"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("flac", "audio/flac"),
    ("webm", "audio/webm"),
];

/// The cached 16 kHz copy of a recording a browser cannot play.
pub const AUDIO_CACHE: &str = ".review-audio.wav";

/// Where the session's recording is, as `transcript.json` names it: as
/// written, else beside the batch folder (`roots`, in order).
pub fn recording(session_dir: &Path, roots: &[&Path]) -> Result<Playable> {
    let path = session_dir.join("transcript.json");
    if !path.is_file() {
        return Ok(Playable::None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "read", e))?;
    let t: crate::transcript::Transcript =
        serde_json::from_str(&text).map_err(|e| Error::Input {
            path: path.clone(),
            line: Some(e.line() as u64),
            detail: e.to_string(),
        })?;
    let recorded = PathBuf::from(&t.source.path);
    let found = std::iter::once(recorded.clone())
        .chain(roots.iter().map(|r| r.join(&recorded)))
        .chain(
            roots
                .iter()
                .filter_map(|r| recorded.file_name().map(|n| r.join(n))),
        )
        .find(|p| p.is_file());
    let Some(found) = found else {
        return Ok(Playable::Moved {
            recorded: t.source.path,
        });
    };
    let ext = found
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some((_, mime)) = NATIVE.iter().find(|(e, _)| *e == ext) {
        return Ok(Playable::File { path: found, mime });
    }
    let cache = session_dir.join(AUDIO_CACHE);
    if !cache.is_file() {
        let audio = crate::audio::decode(&found, &crate::audio::AudioConfig::default())?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: crate::audio::SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        let fail = |e: hound::Error| Error::io(&cache, "write", std::io::Error::other(e));
        let mut w = hound::WavWriter::new(&mut bytes, spec).map_err(fail)?;
        for x in audio.mono().iter() {
            w.write_sample((x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
                .map_err(fail)?;
        }
        w.finalize().map_err(fail)?;
        outfile::write_atomic(&cache, bytes.get_ref())?;
    }
    Ok(Playable::File {
        path: cache,
        mime: "audio/wav",
    })
}

/// Whether a person has saved corrections in session folder `dir`.
pub fn is_corrected(dir: &Path) -> bool {
    dir.join(CORRECTED_CSV).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().join("good-mi");
        std::fs::create_dir(&s).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::copy(root.join("fixtures/coded/good-mi.csv"), s.join(MACHINE_CSV)).unwrap();
        (dir, s)
    }

    #[test]
    fn a_correction_rescores_and_survives_a_reopen() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        let refl = r
            .view()
            .utterances
            .into_iter()
            .find(|u| u.code.ends_with("reflection"))
            .expect("a reflection in the fixture");
        let before = r.view().scores.r_to_q;
        r.apply(
            0,
            &Edit::Code {
                id: refl.id.clone(),
                code: "open_question".into(),
            },
            "t",
            "now",
        )
        .unwrap();
        assert_ne!(r.view().scores.r_to_q, before);
        r.save(1, "t", "now").unwrap();
        let again = Review::open(&s).unwrap();
        let u = again
            .view()
            .utterances
            .into_iter()
            .find(|u| u.id == refl.id)
            .unwrap();
        assert_eq!(u.code, "open_question");
        assert_eq!(u.machine_code, refl.code);
        assert_eq!(again.view().scores.r_to_q, r.view().scores.r_to_q);
        assert_eq!(again.view().corrections, 1);
    }

    #[test]
    fn a_change_on_an_old_version_is_refused() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        let id = r.view().utterances[0].id.clone();
        r.apply(0, &Edit::Checked { id: id.clone() }, "t", "now")
            .unwrap();
        let stale = r.apply(0, &Edit::Checked { id }, "t", "now");
        assert!(matches!(stale, Err(Refused::Stale { current: 1 })));
        assert!(matches!(r.save(0, "t", "now"), Err(Refused::Stale { .. })));
    }

    #[test]
    fn a_code_for_the_other_role_is_refused() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        let client = r
            .view()
            .utterances
            .into_iter()
            .find(|u| u.role == "client")
            .unwrap();
        let e = Edit::Code {
            id: client.id,
            code: "open_question".into(),
        };
        assert!(matches!(
            r.apply(0, &e, "t", "now"),
            Err(Refused::Invalid(_))
        ));
        assert_eq!(r.version(), 0);
    }

    fn practitioner_with_words(r: &Review, min: usize) -> UtteranceView {
        r.view()
            .utterances
            .into_iter()
            .find(|u| u.role == "practitioner" && u.text.split_whitespace().count() >= min)
            .expect("a long practitioner utterance in the fixture")
    }

    #[test]
    fn a_split_cuts_text_and_time_and_a_merge_undoes_it() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        let u = practitioner_with_words(&r, 6);
        let n = r.view().utterances.len();
        r.apply(
            0,
            &Edit::Split {
                id: u.id.clone(),
                at: 3,
            },
            "t",
            "now",
        )
        .unwrap();
        let v = r.view();
        assert_eq!(v.utterances.len(), n + 1);
        let i = v.utterances.iter().position(|x| x.id == u.id).unwrap();
        let (a, b) = (&v.utterances[i], &v.utterances[i + 1]);
        assert_eq!(a.text.split_whitespace().count(), 3);
        assert_eq!(
            format!("{} {}", a.text, b.text),
            u.text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!(b.id, format!("{}+1", u.id));
        let cut = a.end.unwrap();
        assert!(u.start.unwrap() < cut && cut < u.end.unwrap());
        assert_eq!(b.start, Some(cut));
        assert_eq!((a.code, b.code), (u.code, u.code));
        assert_eq!(
            a.confidence, None,
            "a person's cut makes the code a person's"
        );

        r.apply(1, &Edit::Merge { id: u.id.clone() }, "t", "now")
            .unwrap();
        let v = r.view();
        assert_eq!(v.utterances.len(), n);
        let m = v.utterances.iter().find(|x| x.id == u.id).unwrap();
        assert_eq!(
            m.text,
            u.text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        assert_eq!((m.start, m.end), (u.start, u.end));
    }

    #[test]
    fn cuts_and_joins_that_make_no_sense_are_refused() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        let u = practitioner_with_words(&r, 2);
        let words = u.text.split_whitespace().count();
        for at in [0, words] {
            let e = Edit::Split {
                id: u.id.clone(),
                at,
            };
            assert!(matches!(
                r.apply(0, &e, "t", "now"),
                Err(Refused::Invalid(_))
            ));
        }
        // The fixture alternates speakers: the next utterance is the client's.
        let e = Edit::Merge { id: u.id.clone() };
        assert!(matches!(
            r.apply(0, &e, "t", "now"),
            Err(Refused::Invalid(_))
        ));
        let last = r.view().utterances.last().unwrap().id.clone();
        let e = Edit::Merge { id: last };
        assert!(matches!(
            r.apply(0, &e, "t", "now"),
            Err(Refused::Invalid(_))
        ));
        assert_eq!(r.version(), 0);
    }

    #[test]
    fn a_save_leaves_the_corrected_scores_for_the_tables() {
        let (_d, s) = session();
        let mut r = Review::open(&s).unwrap();
        assert!(corrected_record(&s).is_none());
        let id = r.view().utterances[0].id.clone();
        r.apply(0, &Edit::Checked { id }, "t", "now").unwrap();
        let u = practitioner_with_words(&r, 6);
        r.apply(1, &Edit::Split { id: u.id, at: 2 }, "t", "now")
            .unwrap();
        r.save(2, "ab", "2026-12-05T00:00:00Z").unwrap();
        let rec = corrected_record(&s).unwrap();
        assert_eq!((rec.changes, rec.checked), (1, 1));
        assert_eq!(rec.saved_by, "ab");
        assert_eq!(rec.scores.r_to_q, r.view().scores.r_to_q);
    }
}
