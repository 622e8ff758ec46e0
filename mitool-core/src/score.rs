//! MITI 4.2.1 scoring: from coded utterances of one session to counts,
//! summary scores, estimated global ratings and bands.
//!
//! Where each number comes from:
//!
//! - **Volleys.** A volley is the practitioner's uninterrupted speech (consecutive
//!   practitioner utterances). Per MITI 4.2.1 a volley gets at most one Question
//!   and at most one reflection (Complex if any reflection in it is complex).
//!   Other behaviour codes (GI, Persuade, Persuade with Permission, Affirm, Seek,
//!   Emphasize, Confront) are counted per utterance. A volley's question is
//!   open (MITI 3.1.1's %OQ) if any question in it is open.
//! - **Summary scores.** R:Q = (SR+CR)/Q; %CR = CR/(SR+CR); %OQ = open/(open+closed);
//!   MI-adherent = Affirm+Seek+Emphasize; MI non-adherent = Persuade+Confront;
//!   change share = change/(change+sustain). A ratio with a zero denominator
//!   is empty (`None`), never 0 or infinity.
//! - **Talk share.** Practitioner share of talk time where utterances have
//!   times, else of words.
//! - **Global ratings (estimated).** See [`estimate_globals`].
//! - **Bands.** [`Thresholds`]: MITI 4.2.1 fair/good for Relational 3.5/4,
//!   Technical 3/4, %CR 40%/50%, R:Q 1/2; MITI 3.1.1 for %OQ 50%/70%.
//!
//! (Over 800 lines with its unit tests; about 630 lines of code.)

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::utterance::{Miti, QuestionType, Role, Talk, Utterance};

/// Which part of a session to score. Written the same way on the command
/// line and in `mitool.toml`: `whole`, `window:START_S[:LEN_S]` or
/// `random:SEED[:LEN_S]` (LEN_S defaults to 1200 s, the MITI manual's 20 minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub enum Segment {
    /// The whole session (default).
    #[default]
    Whole,
    /// `len_s` seconds from `start_s` (the MITI manual recommends 20 minutes).
    Window { start_s: f64, len_s: f64 },
    /// A random `len_s`-second window, chosen reproducibly from `seed` and the session id.
    Random { seed: u64, len_s: f64 },
}

/// Seconds scored when a segment's length is not given (MITI: 20 minutes).
pub const DEFAULT_SEGMENT_S: f64 = 1200.0;

impl std::str::FromStr for Segment {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |i: usize, d: f64| -> std::result::Result<f64, String> {
            parts.get(i).map_or(Ok(d), |v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("'{v}' is not a number"))
            })
        };
        match parts[0].to_ascii_lowercase().as_str() {
            "whole" => Ok(Segment::Whole),
            "window" => Ok(Segment::Window {
                start_s: num(1, 0.0)?,
                len_s: num(2, DEFAULT_SEGMENT_S)?,
            }),
            "random" => Ok(Segment::Random {
                seed: num(1, 0.0)? as u64,
                len_s: num(2, DEFAULT_SEGMENT_S)?,
            }),
            other => Err(format!(
                "unknown segment '{other}' (use whole, window:START_S[:LEN_S] or random:SEED[:LEN_S])"
            )),
        }
    }
}

// Read from the string form; the serialised form of earlier session
// records (`"Whole"`, `{"Window": {...}}`) is still read.
impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        enum Recorded {
            Whole,
            Window { start_s: f64, len_s: f64 },
            Random { seed: u64, len_s: f64 },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Recorded(Recorded),
        }
        match Either::deserialize(d)? {
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Either::Recorded(Recorded::Whole) => Ok(Segment::Whole),
            Either::Recorded(Recorded::Window { start_s, len_s }) => {
                Ok(Segment::Window { start_s, len_s })
            }
            Either::Recorded(Recorded::Random { seed, len_s }) => {
                Ok(Segment::Random { seed, len_s })
            }
        }
    }
}

/// Options for [`score`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScoreConfig {
    pub segment: Segment,
}

impl ScoreConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        match self.segment {
            Segment::Whole => Ok(()),
            Segment::Window { start_s, len_s } if start_s >= 0.0 && len_s > 0.0 => Ok(()),
            Segment::Random { len_s, .. } if len_s > 0.0 => Ok(()),
            _ => Err(Error::Config(
                "a scoring segment needs a start ≥ 0 and a length > 0".into(),
            )),
        }
    }
}

/// The fair and good cut-offs of each banded score.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub fair: f64,
    pub good: f64,
}

/// MITI 4.2.1 (Relational, Technical, %CR, R:Q) and MITI 3.1.1 (%OQ) thresholds.
pub const RELATIONAL: Thresholds = Thresholds {
    fair: 3.5,
    good: 4.0,
};
pub const TECHNICAL: Thresholds = Thresholds {
    fair: 3.0,
    good: 4.0,
};
pub const PCT_CR: Thresholds = Thresholds {
    fair: 0.40,
    good: 0.50,
};
pub const R_TO_Q: Thresholds = Thresholds {
    fair: 1.0,
    good: 2.0,
};
pub const PCT_OQ: Thresholds = Thresholds {
    fair: 0.50,
    good: 0.70,
};

/// Where a score stands against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    BelowFair,
    Fair,
    Good,
}

impl Band {
    /// The band of `value` against thresholds `t`; `None` for an empty score.
    ///
    /// ```
    /// use mitool_core::score::{Band, R_TO_Q};
    /// assert_eq!(Band::of(Some(1.5), R_TO_Q), Some(Band::Fair));
    /// assert_eq!(Band::of(None, R_TO_Q), None);
    /// ```
    pub fn of(value: Option<f64>, t: Thresholds) -> Option<Band> {
        value.map(|v| {
            if v >= t.good {
                Band::Good
            } else if v >= t.fair {
                Band::Fair
            } else {
                Band::BelowFair
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Band::BelowFair => "below_fair",
            Band::Fair => "fair",
            Band::Good => "good",
        }
    }
}

/// One session's scores: the fields of the session table, in its column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionScores {
    pub session_id: String,
    pub source: String,
    pub duration_s: Option<f64>,
    pub practitioner_talk_share: Option<f64>,
    pub practitioner_utterances: u32,
    pub client_utterances: u32,
    pub questions: f64,
    pub open_questions: f64,
    pub closed_questions: f64,
    pub simple_reflections: f64,
    pub complex_reflections: f64,
    pub giving_information: u32,
    pub persuade: u32,
    pub persuade_with_permission: u32,
    pub affirm: u32,
    pub seek_collaboration: u32,
    pub emphasize_autonomy: u32,
    pub confront: u32,
    pub r_to_q: Option<f64>,
    pub pct_complex_reflections: Option<f64>,
    pub pct_open_questions: Option<f64>,
    pub mi_adherent: u32,
    pub mi_non_adherent: u32,
    pub change_talk: u32,
    pub sustain_talk: u32,
    pub change_talk_share: Option<f64>,
    pub cultivating_change_talk: Option<f64>,
    pub softening_sustain_talk: Option<f64>,
    pub partnership: Option<f64>,
    pub empathy: Option<f64>,
    pub relational: Option<f64>,
    pub technical: Option<f64>,
    pub r_to_q_band: Option<Band>,
    pub pct_complex_reflections_band: Option<Band>,
    pub pct_open_questions_band: Option<Band>,
    pub relational_band: Option<Band>,
    pub technical_band: Option<Band>,
    pub model_version: String,
}

/// The session table's columns, in order.
pub const SESSION_COLUMNS: &[&str] = &[
    "session_id",
    "source",
    "duration_s",
    "practitioner_talk_share",
    "practitioner_utterances",
    "client_utterances",
    "questions",
    "open_questions",
    "closed_questions",
    "simple_reflections",
    "complex_reflections",
    "giving_information",
    "persuade",
    "persuade_with_permission",
    "affirm",
    "seek_collaboration",
    "emphasize_autonomy",
    "confront",
    "r_to_q",
    "pct_complex_reflections",
    "pct_open_questions",
    "mi_adherent",
    "mi_non_adherent",
    "change_talk",
    "sustain_talk",
    "change_talk_share",
    "cultivating_change_talk",
    "softening_sustain_talk",
    "partnership",
    "empathy",
    "relational",
    "technical",
    "r_to_q_band",
    "pct_complex_reflections_band",
    "pct_open_questions_band",
    "relational_band",
    "technical_band",
    "model_version",
];

fn f(v: Option<f64>) -> String {
    // Four decimals: exact enough for analysis, stable across platforms.
    v.map_or_else(String::new, |x| format!("{x:.4}"))
}

fn b(v: Option<Band>) -> String {
    v.map_or_else(String::new, |x| x.as_str().to_string())
}

impl SessionScores {
    /// The values in [`SESSION_COLUMNS`] order, as the CSV writes them.
    pub fn row(&self) -> Vec<String> {
        let n = |x: u32| x.to_string();
        // Expected counts: whole numbers as such (human codes), else two decimals.
        let e = |x: f64| {
            if (x - x.round()).abs() < 5e-5 {
                format!("{}", x.round() as i64)
            } else {
                format!("{x:.2}")
            }
        };
        vec![
            self.session_id.clone(),
            self.source.clone(),
            self.duration_s
                .map_or_else(String::new, |x| format!("{x:.2}")),
            f(self.practitioner_talk_share),
            n(self.practitioner_utterances),
            n(self.client_utterances),
            e(self.questions),
            e(self.open_questions),
            e(self.closed_questions),
            e(self.simple_reflections),
            e(self.complex_reflections),
            n(self.giving_information),
            n(self.persuade),
            n(self.persuade_with_permission),
            n(self.affirm),
            n(self.seek_collaboration),
            n(self.emphasize_autonomy),
            n(self.confront),
            f(self.r_to_q),
            f(self.pct_complex_reflections),
            f(self.pct_open_questions),
            n(self.mi_adherent),
            n(self.mi_non_adherent),
            n(self.change_talk),
            n(self.sustain_talk),
            f(self.change_talk_share),
            f(self.cultivating_change_talk),
            f(self.softening_sustain_talk),
            f(self.partnership),
            f(self.empathy),
            f(self.relational),
            f(self.technical),
            b(self.r_to_q_band),
            b(self.pct_complex_reflections_band),
            b(self.pct_open_questions_band),
            b(self.relational_band),
            b(self.technical_band),
            self.model_version.clone(),
        ]
    }
}

/// Writes the session table (header plus one row per session) as CSV.
pub fn session_table(rows: &[SessionScores], extra: &[(&str, Vec<String>)]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = SESSION_COLUMNS.to_vec();
    header.extend(extra.iter().map(|(h, _)| *h));
    w.write_record(&header).expect("in-memory write");
    for (i, r) in rows.iter().enumerate() {
        let mut row = r.row();
        row.extend(
            extra
                .iter()
                .map(|(_, v)| v.get(i).cloned().unwrap_or_default()),
        );
        w.write_record(&row).expect("in-memory write");
    }
    w.into_inner().expect("in-memory write")
}

fn ratio(num: u32, den: u32) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// A ratio of expected counts; empty when the denominator is (almost) none.
fn fratio(num: f64, den: f64) -> Option<f64> {
    (den > 1e-9).then(|| num / den)
}

/// Chooses the utterances inside the configured segment.
pub fn select_segment<'a>(
    utts: &'a [Utterance],
    session_id: &str,
    cfg: &ScoreConfig,
) -> &'a [Utterance] {
    let (start, len) = match cfg.segment {
        Segment::Whole => return utts,
        Segment::Window { start_s, len_s } => (start_s, len_s),
        Segment::Random { seed, len_s } => {
            let Some(last) = utts
                .iter()
                .filter_map(|u| u.end.or(u.start))
                .reduce(f64::max)
            else {
                return utts;
            };
            let first = utts.iter().find_map(|u| u.start).unwrap_or(0.0);
            let span = (last - first - len_s).max(0.0);
            // FNV-1a of seed and id: the same window on every machine and run.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
            for byte in session_id.bytes() {
                h ^= byte as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            (first + span * (h % 10_000) as f64 / 10_000.0, len_s)
        }
    };
    if utts.iter().any(|u| u.start.is_none()) {
        return utts;
    }
    let lo = utts.partition_point(|u| u.start.unwrap_or(0.0) < start);
    let hi = utts.partition_point(|u| u.start.unwrap_or(0.0) < start + len);
    &utts[lo..hi.max(lo)]
}

/// The behaviour counts of a session, by the volley rule.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub practitioner_utterances: u32,
    pub client_utterances: u32,
    pub volleys: u32,
    pub questions: f64,
    pub open_questions: f64,
    pub closed_questions: f64,
    pub simple_reflections: f64,
    pub complex_reflections: f64,
    pub giving_information: u32,
    pub persuade: u32,
    pub persuade_with_permission: u32,
    pub affirm: u32,
    pub seek: u32,
    pub emphasize: u32,
    pub confront: u32,
    pub change: u32,
    pub sustain: u32,
    pub neutral: u32,
    /// Practitioner volleys right after client sustain talk.
    pub volleys_after_sustain: u32,
    /// Of those, volleys with a reflection.
    pub reflected_sustain: f64,
}

/// The chance of each MITI event in one practitioner utterance. A question
/// and a reflection are the codes (0 or 1); complex given a reflection is
/// the coder's calibrated probability where its code still says the same at
/// 0.5, else the code (human codes, a person's correction). Counting
/// questions and reflections in part let small chances add up over long
/// stretches of advice, which hid poor sessions: in the coder's grouped
/// cross-validation the codes gave the same R:Q error and told high from low
/// quality MI better (AUC 0.75 against 0.66), while %CR from the complex
/// probability erred less than from the codes (0.24 against 0.32; the card's
/// "Session counting chosen by cross-validation"). Open or closed is the code.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Chances {
    question: f64,
    /// Open or closed given a question; `None` where a coded question has
    /// no subtype.
    open: Option<bool>,
    reflection: f64,
    /// P(complex | reflection).
    complex: f64,
}

impl Chances {
    fn of(u: &Utterance) -> Chances {
        let codes = u.codes.miti.as_deref().unwrap_or_default();
        let has_q = codes.contains(&Miti::Question);
        let has_cr = codes.contains(&Miti::ComplexReflection);
        let has_r = has_cr || codes.contains(&Miti::SimpleReflection);
        let coded_open = u.codes.question.map(|t| t == QuestionType::Open);
        let hard = |b: bool| if b { 1.0 } else { 0.0 };
        // The probability where the code agrees with it at 0.5.
        let agree = |p: f32, code: bool| {
            let p = p as f64;
            if (p > 0.5) == code {
                p
            } else {
                hard(code)
            }
        };
        // Without a reflection the complex chance is never counted (r = 0).
        let (open, complex) = match u.codes.events {
            Some(e) => (
                Some(coded_open.filter(|_| has_q).unwrap_or(e.open > 0.5)),
                agree(e.complex, has_cr),
            ),
            None => (coded_open.filter(|_| has_q), hard(has_cr)),
        };
        Chances {
            question: hard(has_q),
            open,
            reflection: hard(has_r),
            complex,
        }
    }
}

/// Counts behaviours; utterances must carry MITI codes (see [`crate::miti::fill`]).
///
/// Per volley, the chance that it has a question (a reflection, a complex
/// one) from each utterance's [`Chances`], so a session's count is the sum
/// over its volleys. With human codes every chance is 0 or 1 and these are
/// the plain MITI counts; with the coder's, complex reflections count in part
/// (session error per method in `models/coder/MODEL_CARD.md`).
pub fn count(utts: &[Utterance]) -> Counts {
    let mut c = Counts::default();
    let mut i = 0;
    let mut last_client_talk: Option<Talk> = None;
    while i < utts.len() {
        let u = &utts[i];
        if u.role == Role::Client {
            c.client_utterances += 1;
            match u.codes.talk {
                Some(Talk::Change) => c.change += 1,
                Some(Talk::Sustain) => c.sustain += 1,
                Some(Talk::Neutral) => c.neutral += 1,
                None => {}
            }
            last_client_talk = u.codes.talk;
            i += 1;
            continue;
        }
        // One volley: consecutive practitioner utterances.
        let end = utts[i..]
            .iter()
            .position(|x| x.role != Role::Practitioner)
            .map_or(utts.len(), |k| i + k);
        let volley = &utts[i..end];
        c.volleys += 1;
        c.practitioner_utterances += volley.len() as u32;
        let codes_of = |u: &Utterance| u.codes.miti.clone().unwrap_or_default();
        // P(no such event in the volley), each utterance independent.
        let (mut no_q, mut no_open, mut no_known_q, mut no_r, mut no_cr) =
            (1.0, 1.0, 1.0, 1.0, 1.0);
        for u in volley {
            let e = Chances::of(u);
            no_q *= 1.0 - e.question;
            if let Some(open) = e.open {
                no_open *= 1.0 - if open { e.question } else { 0.0 };
                no_known_q *= 1.0 - e.question;
            }
            no_r *= 1.0 - e.reflection;
            no_cr *= 1.0 - e.reflection * e.complex;
        }
        c.questions += 1.0 - no_q;
        c.open_questions += 1.0 - no_open;
        // A question, none open, at least one of known subtype.
        c.closed_questions += no_open - no_known_q;
        c.complex_reflections += 1.0 - no_cr;
        c.simple_reflections += no_cr - no_r;
        let reflected = 1.0 - no_r;
        if last_client_talk == Some(Talk::Sustain) {
            c.volleys_after_sustain += 1;
            c.reflected_sustain += reflected;
        }
        for u in volley {
            for m in codes_of(u) {
                match m {
                    Miti::GivingInformation => c.giving_information += 1,
                    Miti::Persuade => c.persuade += 1,
                    Miti::PersuadeWithPermission => c.persuade_with_permission += 1,
                    Miti::Affirm => c.affirm += 1,
                    Miti::Seek => c.seek += 1,
                    Miti::Emphasize => c.emphasize += 1,
                    Miti::Confront => c.confront += 1,
                    Miti::Question | Miti::SimpleReflection | Miti::ComplexReflection => {}
                }
            }
        }
        last_client_talk = None;
        i = end;
    }
    c
}

/// Estimated global ratings (1–5): `(CCT, SST, Partnership, Empathy)`.
///
/// MITI globals are holistic judgements a counter cannot make; these are
/// transparent estimates from the behaviours each global's MITI 4.2.1
/// description names, each scaled to [0, 1] against the "good" practice
/// levels (a reflection in half the volleys ≈ R:Q 2 with questions in the
/// rest; complex reflections in a quarter ≈ %CR 50%):
///
/// - r = min(1, reflective volleys / volleys / 0.5); cr = min(1, CR / volleys / 0.25);
///   oq = min(1, open-question volleys / volleys / 0.3); adh = min(1, MI-adherent / volleys / 0.1);
///   non = min(1, MI non-adherent / volleys / 0.2); ct = change share (0.5 if no change or sustain talk);
///   sr = share of volleys after sustain talk that reflect (r if none).
/// - CCT = 1 + 4·(0.35 r + 0.25 oq + 0.25 ct + 0.15 cr)
/// - SST = 1 + 4·(0.5 sr + 0.3 (1 − non) + 0.2 r)
/// - Partnership = 1 + 4·(0.3 adh + 0.3 r + 0.2 oq + 0.2 (1 − non))
/// - Empathy = 1 + 4·(0.5 r + 0.5 cr)
///
/// `None` when the session has no practitioner volley. Validated against
/// AnnoMI's high/low MI quality labels (ROC AUC in `docs/scoring.md`).
pub fn estimate_globals(c: &Counts) -> Option<(f64, f64, f64, f64)> {
    if c.volleys == 0 {
        return None;
    }
    let v = c.volleys as f64;
    let cap = |x: f64| x.clamp(0.0, 1.0);
    let r = cap((c.simple_reflections + c.complex_reflections) / v / 0.5);
    let cr = cap(c.complex_reflections / v / 0.25);
    let oq = cap(c.open_questions / v / 0.3);
    let adh = cap((c.affirm + c.seek + c.emphasize) as f64 / v / 0.1);
    let non = cap((c.persuade + c.confront) as f64 / v / 0.2);
    let ct = ratio(c.change, c.change + c.sustain).unwrap_or(0.5);
    let sr = fratio(c.reflected_sustain, c.volleys_after_sustain as f64).unwrap_or(r);
    let scale = |x: f64| 1.0 + 4.0 * cap(x);
    Some((
        scale(0.35 * r + 0.25 * oq + 0.25 * ct + 0.15 * cr),
        scale(0.5 * sr + 0.3 * (1.0 - non) + 0.2 * r),
        scale(0.3 * adh + 0.3 * r + 0.2 * oq + 0.2 * (1.0 - non)),
        scale(0.5 * r + 0.5 * cr),
    ))
}

/// Scores one session. Utterances without MITI codes get them from their
/// labels and the phrase detectors first.
pub fn score(
    session_id: &str,
    source: &str,
    utts: &[Utterance],
    model_version: &str,
    cfg: &ScoreConfig,
) -> Result<SessionScores> {
    cfg.validate()?;
    let mut all = utts.to_vec();
    crate::miti::fill(&mut all);
    let seg = select_segment(&all, session_id, cfg);
    let c = count(seg);

    let timed = !seg.is_empty() && seg.iter().all(|u| u.start.is_some() && u.end.is_some());
    let talk_share = if timed {
        let dur = |r: Role| {
            seg.iter()
                .filter(|u| u.role == r)
                .map(|u| (u.end.unwrap_or(0.0) - u.start.unwrap_or(0.0)).max(0.0))
                .sum::<f64>()
        };
        let (p, k) = (dur(Role::Practitioner), dur(Role::Client));
        (p + k > 0.0).then(|| p / (p + k))
    } else {
        let words = |r: Role| {
            seg.iter()
                .filter(|u| u.role == r)
                .map(|u| u.text.split_whitespace().count())
                .sum::<usize>()
        };
        let (p, k) = (words(Role::Practitioner), words(Role::Client));
        (p + k > 0).then(|| p as f64 / (p + k) as f64)
    };
    let duration_s = {
        let first = seg.iter().find_map(|u| u.start);
        let last = seg
            .iter()
            .filter_map(|u| u.end.or(u.start))
            .reduce(f64::max);
        match (first, last) {
            (Some(a), Some(z)) if z > a => Some(z - a),
            _ => None,
        }
    };

    let reflections = c.simple_reflections + c.complex_reflections;
    let r_to_q = fratio(reflections, c.questions);
    let pct_cr = fratio(c.complex_reflections, reflections);
    let pct_oq = fratio(c.open_questions, c.open_questions + c.closed_questions);
    let globals = estimate_globals(&c);
    let relational = globals.map(|g| (g.2 + g.3) / 2.0);
    let technical = globals.map(|g| (g.0 + g.1) / 2.0);
    Ok(SessionScores {
        session_id: session_id.to_string(),
        source: source.to_string(),
        duration_s,
        practitioner_talk_share: talk_share,
        practitioner_utterances: c.practitioner_utterances,
        client_utterances: c.client_utterances,
        questions: c.questions,
        open_questions: c.open_questions,
        closed_questions: c.closed_questions,
        simple_reflections: c.simple_reflections,
        complex_reflections: c.complex_reflections,
        giving_information: c.giving_information,
        persuade: c.persuade,
        persuade_with_permission: c.persuade_with_permission,
        affirm: c.affirm,
        seek_collaboration: c.seek,
        emphasize_autonomy: c.emphasize,
        confront: c.confront,
        r_to_q,
        pct_complex_reflections: pct_cr,
        pct_open_questions: pct_oq,
        mi_adherent: c.affirm + c.seek + c.emphasize,
        mi_non_adherent: c.persuade + c.confront,
        change_talk: c.change,
        sustain_talk: c.sustain,
        change_talk_share: ratio(c.change, c.change + c.sustain),
        cultivating_change_talk: globals.map(|g| g.0),
        softening_sustain_talk: globals.map(|g| g.1),
        partnership: globals.map(|g| g.2),
        empathy: globals.map(|g| g.3),
        relational,
        technical,
        r_to_q_band: Band::of(r_to_q, R_TO_Q),
        pct_complex_reflections_band: Band::of(pct_cr, PCT_CR),
        pct_open_questions_band: Band::of(pct_oq, PCT_OQ),
        relational_band: Band::of(relational, RELATIONAL),
        technical_band: Band::of(technical, TECHNICAL),
        model_version: model_version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utterance::Codes;

    fn u(role: Role, miti: &[Miti], talk: Option<Talk>, q: Option<QuestionType>) -> Utterance {
        Utterance {
            session_id: "s".into(),
            id: "0".into(),
            speaker: role.as_str().into(),
            role,
            start: None,
            end: None,
            text: "word word".into(),
            words: vec![],
            overlap: false,
            codes: Codes {
                miti: Some(miti.to_vec()),
                talk,
                question: q,
                ..Default::default()
            },
            extra: Default::default(),
        }
    }
    use Miti::*;
    const P: Role = Role::Practitioner;
    const C: Role = Role::Client;

    #[test]
    fn volley_rule_counts_one_question_and_one_reflection() {
        // Volley 1: SR + CR + Q + Q(open) → 1 CR, 1 Q (open). Volley 2: Q closed, GI, GI.
        let s = vec![
            u(P, &[SimpleReflection], None, None),
            u(
                P,
                &[ComplexReflection, Question],
                None,
                Some(QuestionType::Closed),
            ),
            u(P, &[Question], None, Some(QuestionType::Open)),
            u(C, &[], Some(Talk::Sustain), None),
            u(
                P,
                &[Question, GivingInformation],
                None,
                Some(QuestionType::Closed),
            ),
            u(P, &[GivingInformation, Persuade], None, None),
            u(C, &[], Some(Talk::Change), None),
        ];
        let c = count(&s);
        assert_eq!(c.volleys, 2);
        assert_eq!(c.practitioner_utterances, 5);
        assert_eq!(c.questions, 2.0);
        assert_eq!((c.open_questions, c.closed_questions), (1.0, 1.0));
        assert_eq!((c.simple_reflections, c.complex_reflections), (0.0, 1.0));
        assert_eq!(c.giving_information, 2);
        assert_eq!(c.persuade, 1);
        assert_eq!((c.change, c.sustain), (1, 1));
        assert_eq!((c.volleys_after_sustain, c.reflected_sustain), (1, 0.0));

        let sc = score("s", "t", &s, "human", &ScoreConfig::default()).unwrap();
        assert_eq!(sc.r_to_q, Some(0.5));
        assert_eq!(sc.pct_complex_reflections, Some(1.0));
        assert_eq!(sc.pct_open_questions, Some(0.5));
        assert_eq!(sc.mi_non_adherent, 1);
        assert_eq!(sc.change_talk_share, Some(0.5));
        assert_eq!(sc.r_to_q_band, Some(Band::BelowFair));
        assert_eq!(sc.pct_complex_reflections_band, Some(Band::Good));
        assert_eq!(sc.pct_open_questions_band, Some(Band::Fair));
    }

    fn coded(miti: &[Miti], q: Option<QuestionType>, events: [f32; 4]) -> Utterance {
        let mut x = u(P, miti, None, q);
        x.codes.confidence = Some(0.5);
        x.codes.events = Some(crate::utterance::EventProbs {
            question: events[0],
            open: events[1],
            reflection: events[2],
            complex: events[3],
        });
        x
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn complex_counts_in_part_questions_and_reflections_whole() {
        // Volley 1: an open question that also reflects, simply (complex 0.3).
        // Volley 2: a complex reflection (complex 0.6), then an utterance with
        // a 0.4 chance of reflecting and 0.1 of asking: neither coded, so none.
        let s = vec![
            coded(
                &[Question, SimpleReflection],
                Some(QuestionType::Open),
                [0.8, 0.9, 0.7, 0.3],
            ),
            u(C, &[], Some(Talk::Neutral), None),
            coded(&[ComplexReflection], None, [0.1, 0.2, 0.9, 0.6]),
            coded(&[], None, [0.1, 0.2, 0.4, 0.2]),
        ];
        let c = count(&s);
        assert_eq!(
            (c.questions, c.open_questions, c.closed_questions),
            (1.0, 1.0, 0.0),
            "{c:?}"
        );
        assert!(close(c.complex_reflections, 0.3 + 0.6), "{c:?}");
        assert!(close(c.simple_reflections, 2.0 - 0.9), "{c:?}");
        let sc = score("s", "t", &s, "m", &ScoreConfig::default()).unwrap();
        assert!(close(sc.r_to_q.unwrap(), 2.0));
        assert!(close(sc.pct_complex_reflections.unwrap(), 0.45));
    }

    #[test]
    fn a_corrected_code_counts_whole() {
        // The coder said "no reflection" (0.2) and "simple" (complex 0.3); a
        // person coded CR: it counts as one complex reflection. The question
        // the person removed (0.7) counts as none.
        let s = vec![coded(&[ComplexReflection], None, [0.7, 0.9, 0.2, 0.3])];
        let c = count(&s);
        assert_eq!((c.complex_reflections, c.simple_reflections), (1.0, 0.0));
        assert_eq!(c.questions, 0.0);
        // Human codes (no probabilities) are the plain MITI counts.
        let mut h = s.clone();
        h[0].codes.events = None;
        assert_eq!(count(&h).complex_reflections, 1.0);
    }

    #[test]
    fn zero_denominators_are_empty_not_zero() {
        let s = vec![
            u(P, &[GivingInformation], None, None),
            u(C, &[], Some(Talk::Neutral), None),
        ];
        let sc = score("s", "t", &s, "human", &ScoreConfig::default()).unwrap();
        assert_eq!(sc.r_to_q, None);
        assert_eq!(sc.pct_complex_reflections, None);
        assert_eq!(sc.pct_open_questions, None);
        assert_eq!(sc.change_talk_share, None);
        assert_eq!(sc.r_to_q_band, None);
        let row = sc.row();
        assert_eq!(
            row[SESSION_COLUMNS.iter().position(|c| *c == "r_to_q").unwrap()],
            ""
        );
        // No practitioner at all: no globals.
        let only_client = vec![u(C, &[], Some(Talk::Change), None)];
        let sc = score("s", "t", &only_client, "human", &ScoreConfig::default()).unwrap();
        assert_eq!(sc.relational, None);
    }

    #[test]
    fn bands_use_the_miti_thresholds() {
        assert_eq!(Band::of(Some(3.49), RELATIONAL), Some(Band::BelowFair));
        assert_eq!(Band::of(Some(3.5), RELATIONAL), Some(Band::Fair));
        assert_eq!(Band::of(Some(4.0), RELATIONAL), Some(Band::Good));
        assert_eq!(Band::of(Some(2.99), TECHNICAL), Some(Band::BelowFair));
        assert_eq!(Band::of(Some(1.0), R_TO_Q), Some(Band::Fair));
        assert_eq!(Band::of(Some(2.0), R_TO_Q), Some(Band::Good));
        assert_eq!(Band::of(Some(0.4), PCT_CR), Some(Band::Fair));
        assert_eq!(Band::of(Some(0.69), PCT_OQ), Some(Band::Fair));
        assert_eq!(Band::of(None, PCT_OQ), None);
    }

    #[test]
    fn globals_rise_with_mi_consistent_practice() {
        let good = vec![
            u(P, &[ComplexReflection], None, None),
            u(C, &[], Some(Talk::Change), None),
            u(P, &[Question, Affirm], None, Some(QuestionType::Open)),
            u(C, &[], Some(Talk::Sustain), None),
            u(P, &[SimpleReflection, Emphasize], None, None),
            u(C, &[], Some(Talk::Change), None),
        ];
        let poor = vec![
            u(P, &[Question], None, Some(QuestionType::Closed)),
            u(C, &[], Some(Talk::Sustain), None),
            u(P, &[Persuade, Confront], None, None),
            u(C, &[], Some(Talk::Sustain), None),
            u(P, &[Question], None, Some(QuestionType::Closed)),
        ];
        let g = score("g", "", &good, "", &ScoreConfig::default()).unwrap();
        let p = score("p", "", &poor, "", &ScoreConfig::default()).unwrap();
        for (a, b) in [
            (g.relational, p.relational),
            (g.technical, p.technical),
            (g.empathy, p.empathy),
            (g.partnership, p.partnership),
        ] {
            assert!(a.unwrap() > b.unwrap());
        }
        assert!(g.relational.unwrap() <= 5.0 && p.relational.unwrap() >= 1.0);
    }

    #[test]
    fn segments_read_alike_from_flags_toml_and_records() {
        let w = Segment::Window {
            start_s: 60.0,
            len_s: 1200.0,
        };
        assert_eq!("window:60".parse::<Segment>().unwrap(), w);
        #[derive(Deserialize)]
        struct T {
            segment: Segment,
        }
        let t: T = toml::from_str("segment = \"window:60:1200\"").unwrap();
        assert_eq!(t.segment, w);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<Segment>(&json).unwrap(), w);
        assert_eq!(
            serde_json::from_str::<Segment>("\"Whole\"").unwrap(),
            Segment::Whole
        );
        assert!("window:x".parse::<Segment>().is_err());
        assert!("hour".parse::<Segment>().unwrap_err().contains("hour"));
    }

    #[test]
    fn segments_select_by_time_reproducibly() {
        let mut s: Vec<Utterance> = (0..100)
            .map(|i| {
                let mut x = u(if i % 2 == 0 { P } else { C }, &[Question], None, None);
                x.start = Some(i as f64 * 30.0);
                x.end = Some(i as f64 * 30.0 + 20.0);
                x
            })
            .collect();
        s[0].codes.miti = Some(vec![Question]);
        let w = ScoreConfig {
            segment: Segment::Window {
                start_s: 600.0,
                len_s: 1200.0,
            },
        };
        let seg = select_segment(&s, "a", &w);
        assert_eq!(seg.len(), 40);
        assert_eq!(seg[0].start, Some(600.0));
        let r = ScoreConfig {
            segment: Segment::Random {
                seed: 7,
                len_s: 1200.0,
            },
        };
        let a = select_segment(&s, "a", &r);
        let b = select_segment(&s, "a", &r);
        assert_eq!(a.len(), b.len());
        assert_eq!(a[0].start, b[0].start);
        assert!(a.len() == 40 || a.len() == 41);
    }
}
