//! From words and speaker turns to utterances, and who the practitioner is.
//!
//! Each Whisper word goes to the speaker talking at its time; a speaker's
//! run of words is cut into utterances at sentence ends and long pauses.
//! The practitioner is then the speaker whose talk looks like a
//! practitioner's (questions, "you" more than "I", reflections), unless the
//! caller names them or gives a sample of their voice.
//!
//! (Over 800 lines with its unit tests; about 610 lines of code.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diarize::{cosine, CountDecision, Diarization};
use crate::error::{Error, Result};
use crate::role_text;
use crate::transcript::{ModelInfo, SourceInfo, Transcript, Word};
use crate::utterance::{Codes, Role, Utterance};

/// What one coded utterance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A speaker's continuous speech, bridging pauses, ended by another
    /// voice or a long silence: the unit AnnoMI (and so the coder) uses.
    #[default]
    Turn,
    /// Each sentence on its own.
    Sentence,
}

impl std::str::FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "turn" => Ok(Unit::Turn),
            "sentence" => Ok(Unit::Sentence),
            other => Err(format!("unknown unit '{other}' (use turn or sentence)")),
        }
    }
}

/// Options for [`attribute`].
#[derive(Debug, Clone)]
pub struct UtteranceConfig {
    /// What one utterance is.
    pub unit: Unit,
    /// A pause longer than this (seconds) ends a turn.
    pub max_pause_s: f64,
    /// A word counts as overlapped when another speaker covers this share of it.
    pub overlap_share: f64,
    /// A sentence's first or last words (at most this many) heard on another
    /// voice go back to the sentence's speaker: Whisper's word times and the
    /// turn edges are each a few hundred ms off, which tears sentences
    /// ("Pleasure to meet | you."). 0 = off.
    pub edge_words: usize,
}

impl Default for UtteranceConfig {
    fn default() -> Self {
        Self {
            unit: Unit::Turn,
            max_pause_s: 3.0,
            overlap_share: 0.5,
            edge_words: 2,
        }
    }
}

impl UtteranceConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if !(0.1..=60.0).contains(&self.max_pause_s) {
            return Err(Error::Config(format!(
                "max_pause_s must be between 0.1 and 60 s, got {}",
                self.max_pause_s
            )));
        }
        if !(0.0..=1.0).contains(&self.overlap_share) {
            return Err(Error::Config(format!(
                "overlap_share must be between 0 and 1, got {}",
                self.overlap_share
            )));
        }
        if self.edge_words > 10 {
            return Err(Error::Config(format!(
                "edge_words must be at most 10, got {}",
                self.edge_words
            )));
        }
        Ok(())
    }
}

/// Gives a sentence's torn edge back to the sentence's speaker: at either
/// end, at most `max_words` words owned by someone else, with no clear
/// pause (0.5 s) between them and the rest, and fewer than a third of the
/// sentence. Sentences are read from the transcript's punctuation.
fn mend_sentence_edges(words: &[&Word], owners: &mut [Option<(usize, bool)>], max_words: usize) {
    const CLEAR_PAUSE_S: f64 = 0.5;
    if max_words == 0 {
        return;
    }
    let mut start = 0;
    while start < words.len() {
        let mut end = start;
        while end + 1 < words.len() && !ends_sentence(&words[end].text) {
            end += 1;
        }
        let n = end - start + 1;
        // The sentence's main speaker: most words.
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for o in owners[start..=end].iter().flatten() {
            *counts.entry(o.0).or_default() += 1;
        }
        if let Some((&main, _)) = counts
            .iter()
            .max_by_key(|(s, c)| (**c, std::cmp::Reverse(**s)))
        {
            let is_main = |o: &Option<(usize, bool)>| o.is_some_and(|(s, _)| s == main);
            // Leading run of other speakers.
            let lead = owners[start..=end]
                .iter()
                .take_while(|o| !is_main(o))
                .count();
            if lead > 0 && lead <= max_words && 3 * lead < n {
                let gap = words[start + lead].start - words[start + lead - 1].end;
                if gap < CLEAR_PAUSE_S {
                    for o in &mut owners[start..start + lead] {
                        *o = Some((main, o.is_some_and(|(_, ov)| ov)));
                    }
                }
            }
            let trail = owners[start..=end]
                .iter()
                .rev()
                .take_while(|o| !is_main(o))
                .count();
            if trail > 0 && trail <= max_words && 3 * trail < n {
                let first = end + 1 - trail;
                let gap = words[first].start - words[first - 1].end;
                if gap < CLEAR_PAUSE_S {
                    for o in &mut owners[first..=end] {
                        *o = Some((main, o.is_some_and(|(_, ov)| ov)));
                    }
                }
            }
        }
        start = end + 1;
    }
}

/// The speaker of each word: `(speaker index, overlapped)`, or `None` when
/// the diarization has no turns at all.
fn word_speakers(
    words: &[&Word],
    dia: &Diarization,
    cfg: &UtteranceConfig,
) -> Vec<Option<(usize, bool)>> {
    let n = dia
        .speakers
        .len()
        .max(dia.turns.iter().map(|t| t.speaker + 1).max().unwrap_or(0));
    let by_time: Vec<Option<(usize, bool)>> = words
        .iter()
        .map(|w| {
            // The word's whole span: whisper.cpp's word times stretch over
            // the pauses next to a word, at either end (a reply's first word
            // often starts where the question ended). On the demo dialogues
            // the whole span put 337 of 341 words on the right speaker, the
            // first half only 326.
            let (a, b) = (w.start, w.end.max(w.start + 0.01));
            let mut cover = vec![0f64; n];
            for t in &dia.turns {
                cover[t.speaker] += (b.min(t.end) - a.max(t.start)).max(0.0);
            }
            let best = (0..n).max_by(|&x, &y| cover[x].total_cmp(&cover[y]).then(y.cmp(&x)))?;
            if cover[best] > 0.0 {
                let others = (0..n)
                    .filter(|&s| s != best)
                    .any(|s| cover[s] >= cfg.overlap_share * (b - a));
                return Some((best, others));
            }
            // In no turn: the nearest turn's speaker.
            let mid = 0.5 * (a + b);
            dia.turns
                .iter()
                .min_by(|x, y| {
                    let d = |t: &crate::diarize::Turn| (t.start - mid).max(mid - t.end).max(0.0);
                    d(x).total_cmp(&d(y))
                })
                .map(|t| (t.speaker, false))
        })
        .collect();
    // A word with (almost) no duration has no time to place it by: whisper
    // collapses it onto a neighbour's boundary (the "I" of "I try, but..."
    // at the very end of the question before it). It goes with the next
    // word when it starts a sentence, else with the word before.
    (0..words.len())
        .map(|i| {
            let w = words[i];
            if w.end - w.start >= MIN_PLACEABLE_S {
                return by_time[i];
            }
            let starts_sentence = i == 0 || ends_sentence(&words[i - 1].text);
            let neighbour = if starts_sentence {
                by_time.get(i + 1).copied().flatten()
            } else {
                i.checked_sub(1).and_then(|p| by_time[p])
            };
            neighbour.or(by_time[i])
        })
        .collect()
}

/// Words shorter than this (seconds) are placed by their neighbours.
const MIN_PLACEABLE_S: f64 = 0.05;

fn ends_sentence(word: &str) -> bool {
    let t = word.trim_end_matches(['"', '\'', ')', '”', '’']);
    t.ends_with(['.', '?', '!']) && !t.ends_with("...")
}

/// Utterances of `transcript`, each with one speaker of `diarization`.
/// Roles are all [`Role::Client`] until [`assign_roles`] runs.
pub fn attribute(
    transcript: &Transcript,
    diarization: &Diarization,
    session_id: &str,
    cfg: &UtteranceConfig,
) -> Vec<Utterance> {
    let mut words: Vec<&Word> = transcript
        .segments
        .iter()
        .flat_map(|s| &s.words)
        .filter(|w| !w.text.trim().is_empty())
        .collect();
    words.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut owners = word_speakers(&words, diarization, cfg);
    mend_sentence_edges(&words, &mut owners, cfg.edge_words);
    let mut out: Vec<Utterance> = Vec::new();
    let mut cur: Vec<(&Word, bool)> = Vec::new();
    let mut cur_speaker = None;
    let flush = |cur: &mut Vec<(&Word, bool)>, speaker: Option<usize>, out: &mut Vec<Utterance>| {
        if cur.is_empty() {
            return;
        }
        let text: String = cur.iter().map(|(w, _)| w.text.as_str()).collect();
        let overlapped = cur.iter().filter(|(_, o)| *o).count();
        out.push(Utterance {
            session_id: session_id.to_string(),
            id: out.len().to_string(),
            speaker: speaker.map_or_else(|| "S?".to_string(), |s| diarization.label(s).to_string()),
            role: Role::Client,
            start: cur.first().map(|(w, _)| w.start),
            end: cur.iter().map(|(w, _)| w.end).reduce(f64::max),
            text: text.trim().to_string(),
            words: cur.iter().map(|(w, _)| (*w).clone()).collect(),
            overlap: overlapped * 3 >= cur.len(),
            codes: Codes::default(),
            extra: BTreeMap::new(),
        });
        cur.clear();
    };
    for (w, owner) in words.iter().zip(owners) {
        let speaker = owner.map(|(s, _)| s);
        let pause = cur
            .last()
            .is_some_and(|(p, _)| w.start - p.end > cfg.max_pause_s);
        if speaker != cur_speaker || pause {
            flush(&mut cur, cur_speaker, &mut out);
        }
        cur_speaker = speaker;
        cur.push((w, owner.is_some_and(|(_, o)| o)));
        if cfg.unit == Unit::Sentence && ends_sentence(&w.text) {
            flush(&mut cur, cur_speaker, &mut out);
        }
    }
    flush(&mut cur, cur_speaker, &mut out);
    out
}

/// How a session finds its practitioner (see [`assign_roles`]).
#[derive(Debug, Clone, Default)]
pub struct RolesConfig {
    /// The practitioner's speaker label ("S2"), when the caller knows it.
    pub practitioner: Option<String>,
    /// A recording of the practitioner alone; the closest voice is theirs.
    pub practitioner_voice: Option<PathBuf>,
}

/// Who the practitioner is, and how sure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Speaker label of the practitioner ("" when nobody spoke).
    pub practitioner: String,
    /// In [0, 1]: 1 when given by the caller, else from the margin over the runner-up.
    pub confidence: f32,
    /// "given", "voice", "text+talk-pattern" (or "talk-pattern" where fewer
    /// than two speakers said anything).
    pub method: String,
    /// Each speaker's score under that method (higher = more practitioner-like).
    pub scores: BTreeMap<String, f32>,
    /// Who each speaker is: the practitioner, the client (the family member
    /// who talks most) or another person in the room (a partner, a
    /// grandparent, a child). The others' talk is coded as the family's, as
    /// MITI does; this says whose it was.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub people: BTreeMap<String, Person>,
}

/// Who a speaker is (see [`RoleAssignment::people`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Person {
    Practitioner,
    Client,
    Other,
}

impl Person {
    pub fn as_str(self) -> &'static str {
        match self {
            Person::Practitioner => "practitioner",
            Person::Client => "client",
            Person::Other => "other",
        }
    }
}

/// The column of the coded CSV (and key of [`Utterance::extra`]) that says
/// who spoke: practitioner, client or other.
pub const PERSON_COLUMN: &str = "person";

/// The method of the text role model with the talk pattern.
pub const TEXT_METHOD: &str = "text+talk-pattern";

/// Below this calibrated probability a person should check who the
/// practitioner is: on held-out AnnoMI windows, calls at ≥ 0.9 were right
/// 1,039 of 1,042 times and 23 of the 26 wrong calls were below it
/// (`models/roles/MODEL_CARD.md`).
pub const ROLE_REVIEW_BELOW: f32 = 0.9;

/// The same for the other methods, whose confidence is a margin, not a
/// probability (0.5 = the margin that gives half confidence).
const MARGIN_REVIEW_BELOW: f32 = 0.5;

impl RoleAssignment {
    /// Why who-is-who needs a person's check, if it does; `speakers` is
    /// how many voices the diarization found.
    pub fn review(&self, speakers: usize) -> Option<String> {
        if self.practitioner.is_empty() {
            return Some("nobody could be named the practitioner".into());
        }
        if self.method == "given" {
            return None;
        }
        if speakers < 2 {
            return Some(
                "only one voice was found, so the practitioner's and the family's words \
                 may be mixed: give --speakers if you know how many people spoke"
                    .into(),
            );
        }
        let below = if self.method == TEXT_METHOD {
            ROLE_REVIEW_BELOW
        } else {
            MARGIN_REVIEW_BELOW
        };
        (self.confidence < below).then(|| {
            format!(
                "the practitioner may be the wrong person: {} was chosen by {} with confidence \
                 {:.2}; check the transcript, or name them with --practitioner or \
                 --practitioner-voice",
                self.practitioner, self.method, self.confidence
            )
        })
    }
}

/// Talk-pattern features of one speaker.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TalkPattern {
    pub utterances: usize,
    pub words: usize,
    /// Share of utterances that are questions.
    pub questions: f32,
    /// Share of utterances that open like a reflection ("so you", "it sounds like").
    pub reflections: f32,
    /// "you/your" per word minus "I/my/me" per word.
    pub you_minus_i: f32,
}

impl TalkPattern {
    /// How much the talk looks like a practitioner's; weights set by hand on
    /// the MI phrasing of the demo sessions, not learnt.
    /// The score shrinks towards 0 for speakers who said little: a family
    /// member's two remarks with a "you" in them are weak evidence.
    pub fn score(&self) -> f32 {
        let evidence = self.words as f32 / (self.words as f32 + 20.0);
        (self.questions + self.reflections + 4.0 * self.you_minus_i) * evidence
    }
}

const QUESTION_OPENERS: &[&str] = &[
    "what", "how", "why", "when", "where", "who", "which", "do", "does", "did", "are", "is", "can",
    "could", "would", "will", "have", "has", "tell",
];
const REFLECTION_OPENERS: &[&str] = &[
    "so you",
    "it sounds",
    "sounds like",
    "you feel",
    "you're feeling",
    "it seems",
    "you want",
    "you've",
    "you're",
    "what i'm hearing",
    "on the one hand",
];
const SECOND: &[&str] = &[
    "you", "your", "you're", "yourself", "you've", "you'd", "you'll", "yours",
];
const FIRST: &[&str] = &[
    "i", "my", "me", "i'm", "i've", "myself", "mine", "i'd", "i'll",
];

fn tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '’')
                .map(|c| if c == '’' { '\'' } else { c })
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Talk-pattern features of every speaker label in `utts`.
pub fn talk_patterns(utts: &[Utterance]) -> BTreeMap<String, TalkPattern> {
    let mut out: BTreeMap<String, (TalkPattern, usize, usize)> = BTreeMap::new();
    for u in utts {
        let toks = tokens(&u.text);
        if toks.is_empty() {
            continue;
        }
        let e = out.entry(u.speaker.clone()).or_default();
        e.0.utterances += 1;
        e.0.words += toks.len();
        let lower = toks.join(" ");
        if u.text.trim_end().ends_with('?') || QUESTION_OPENERS.contains(&toks[0].as_str()) {
            e.0.questions += 1.0;
        }
        if REFLECTION_OPENERS.iter().any(|r| lower.starts_with(r)) {
            e.0.reflections += 1.0;
        }
        e.1 += toks.iter().filter(|t| SECOND.contains(&t.as_str())).count();
        e.2 += toks.iter().filter(|t| FIRST.contains(&t.as_str())).count();
    }
    out.into_iter()
        .map(|(k, (mut p, you, me))| {
            let n = p.utterances.max(1) as f32;
            p.questions /= n;
            p.reflections /= n;
            p.you_minus_i = (you as f32 - me as f32) / p.words.max(1) as f32;
            (k, p)
        })
        .collect()
}

/// What is known about who the practitioner is, besides how each speaker talks.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleEvidence<'a> {
    /// The practitioner's speaker label ("S2"), when the caller knows it.
    pub practitioner: Option<&'a str>,
    /// The practitioner's voice: a CAM++ embedding of an enrolment sample
    /// ([`crate::diarize::Diarizer::embed_voice`]).
    pub voice: Option<&'a [f32]>,
}

/// Picks the practitioner and sets every utterance's role (the practitioner's
/// utterances [`Role::Practitioner`], everyone else's [`Role::Client`]).
///
/// In order: the label the caller gave; else the speaker whose voice is
/// closest to the enrolled voice; else what and how each speaker talks
/// (the text role model of [`role_text`] with the talk pattern).
pub fn assign_roles(
    utts: &mut [Utterance],
    diarization: &Diarization,
    evidence: &RoleEvidence,
) -> Result<RoleAssignment> {
    let labels: Vec<String> = diarization
        .speakers
        .iter()
        .map(|s| s.label.clone())
        .collect();
    let mut assignment = if let Some(p) = evidence.practitioner {
        let Some(i) = diarization.index_of(p) else {
            return Err(Error::Config(format!(
                "practitioner '{p}' is not a speaker of this recording (speakers: {})",
                if labels.is_empty() {
                    "none".to_string()
                } else {
                    labels.join(", ")
                }
            )));
        };
        RoleAssignment {
            practitioner: labels[i].clone(),
            confidence: 1.0,
            method: "given".into(),
            scores: BTreeMap::new(),
            people: BTreeMap::new(),
        }
    } else if let Some(e) = evidence.voice {
        let scores: BTreeMap<String, f32> = diarization
            .speakers
            .iter()
            .filter(|s| !s.centroid.is_empty())
            .map(|s| (s.label.clone(), cosine(&s.centroid, e)))
            .collect();
        pick(scores, "voice", 0.2)
    } else {
        // What each speaker says (a text model trained on AnnoMI) and how
        // (talk pattern), as calibrated together in `models/roles/`.
        let talk: BTreeMap<String, f32> = talk_patterns(utts)
            .into_iter()
            .map(|(k, p)| (k, p.score()))
            .collect();
        let text =
            role_text::speaker_scores(utts.iter().map(|u| (u.speaker.as_str(), u.text.as_str())));
        match role_text::rank(&text, Some(&talk)) {
            Some((practitioner, p)) => RoleAssignment {
                practitioner,
                confidence: p,
                method: TEXT_METHOD.into(),
                scores: text.iter().map(|(k, v)| (k.clone(), v.score)).collect(),
                people: BTreeMap::new(),
            },
            // Fewer than two speakers said anything.
            None => pick(talk, "talk-pattern", 0.3),
        }
    };
    assignment.people = people(utts, diarization, &assignment.practitioner);
    for u in utts.iter_mut() {
        u.role = if u.speaker == assignment.practitioner {
            Role::Practitioner
        } else {
            Role::Client
        };
        if let Some(p) = assignment.people.get(&u.speaker) {
            u.extra
                .insert(PERSON_COLUMN.to_string(), p.as_str().to_string());
        }
    }
    Ok(assignment)
}

/// Who each speaker is: the practitioner, the client of record (of the
/// rest, the one with most speech; most words where no speech was timed)
/// and the others.
fn people(
    utts: &[Utterance],
    diarization: &Diarization,
    practitioner: &str,
) -> BTreeMap<String, Person> {
    let mut words: BTreeMap<&str, usize> = diarization
        .speakers
        .iter()
        .map(|s| (s.label.as_str(), 0))
        .collect();
    for u in utts {
        *words.entry(u.speaker.as_str()).or_default() += u.text.split_whitespace().count();
    }
    let speech = |l: &str| {
        diarization
            .index_of(l)
            .map_or(0.0, |i| diarization.speakers[i].speech_s)
    };
    let client = words
        .iter()
        .filter(|(l, _)| **l != practitioner)
        // Ties go to the first label (BTreeMap order; max_by keeps the last).
        .rev()
        .max_by(|a, b| speech(a.0).total_cmp(&speech(b.0)).then(a.1.cmp(b.1)))
        .map(|(l, _)| *l);
    words
        .keys()
        // Nobody named practitioner: an unnamed speaker is nobody either.
        .filter(|l| !(l.is_empty() && practitioner.is_empty()))
        .map(|&l| {
            let p = if l == practitioner {
                Person::Practitioner
            } else if Some(l) == client {
                Person::Client
            } else {
                Person::Other
            };
            (l.to_string(), p)
        })
        .collect()
}

/// The best-scoring speaker; confidence grows with the margin over the
/// runner-up (`scale` is the margin that gives 0.5).
fn pick(scores: BTreeMap<String, f32>, method: &str, scale: f32) -> RoleAssignment {
    let mut ranked: Vec<(&String, f32)> = scores.iter().map(|(k, &v)| (k, v)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let (practitioner, confidence) = match ranked.as_slice() {
        [] => (String::new(), 0.0),
        [(k, _)] => ((*k).clone(), 0.0),
        [(k, a), (_, b), ..] => {
            let m = (a - b).max(0.0);
            ((*k).clone(), m / (m + scale))
        }
    };
    RoleAssignment {
        practitioner,
        confidence,
        method: method.into(),
        scores,
        people: BTreeMap::new(),
    }
}

/// Version of the utterances JSON schema; bump on incompatible changes.
pub const UTTERANCES_VERSION: u32 = 1;

/// A diarized session's utterances with how they were made, as written to
/// `<stem>.utterances.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUtterances {
    pub schema: String,
    pub version: u32,
    pub session_id: String,
    pub source: SourceInfo,
    /// Whisper, segmentation, embedding and VAD models.
    pub models: Vec<ModelInfo>,
    pub diarization_method: String,
    /// Speaker labels with seconds of speech.
    pub speakers: BTreeMap<String, f64>,
    /// How the number of speakers was decided (with its confidence).
    #[serde(default)]
    pub speaker_count: CountDecision,
    pub overlap_s: f64,
    pub roles: RoleAssignment,
    pub utterances: Vec<Utterance>,
}

impl SessionUtterances {
    /// Bundles the outputs of transcription, diarization and role assignment.
    pub fn new(
        session_id: &str,
        transcript: &Transcript,
        diarization: &Diarization,
        models: Vec<ModelInfo>,
        roles: RoleAssignment,
        utterances: Vec<Utterance>,
    ) -> Self {
        Self {
            schema: "mitool.utterances".into(),
            version: UTTERANCES_VERSION,
            session_id: session_id.into(),
            source: transcript.source.clone(),
            models,
            diarization_method: diarization.method.clone(),
            speakers: diarization
                .speakers
                .iter()
                .map(|s| (s.label.clone(), (s.speech_s * 1000.0).round() / 1000.0))
                .collect(),
            speaker_count: diarization.count.clone(),
            overlap_s: diarization.overlap_s,
            roles,
            utterances,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("utterances always serialise")
    }

    /// Readable text: `[00:12] S1 (practitioner): text`, one utterance a line.
    pub fn to_txt(&self) -> String {
        let mut s = String::new();
        for u in &self.utterances {
            let t = u.start.unwrap_or(0.0).max(0.0) as u64;
            let stamp = if t >= 3600 {
                format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
            } else {
                format!("{:02}:{:02}", t / 60, t % 60)
            };
            s.push_str(&format!(
                "[{stamp}] {} ({}): {}\n",
                u.speaker,
                u.person(),
                u.text
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diarize::{Speaker, Turn};
    use crate::transcript::{ModelInfo, Segment, SourceInfo};

    fn transcript(words: &[(&str, f64, f64)]) -> Transcript {
        Transcript {
            schema: "mitool-transcript".into(),
            version: 1,
            source: SourceInfo {
                path: "x.wav".into(),
                format: "WAV".into(),
                duration_s: 30.0,
                channels: 1,
            },
            model: ModelInfo {
                name: "m".into(),
                sha256: String::new(),
            },
            vad_model: None,
            language: "en".into(),
            speech_s: 0.0,
            segments: vec![Segment {
                start: 0.0,
                end: 30.0,
                text: String::new(),
                words: words
                    .iter()
                    .map(|&(t, s, e)| Word {
                        text: format!(" {t}"),
                        start: s,
                        end: e,
                        p: 0.9,
                    })
                    .collect(),
            }],
        }
    }

    fn dia(turns: &[(f64, f64, usize)], n: usize) -> Diarization {
        Diarization {
            turns: turns
                .iter()
                .map(|&(start, end, speaker)| Turn {
                    start,
                    end,
                    speaker,
                })
                .collect(),
            speakers: (0..n)
                .map(|i| Speaker {
                    label: format!("S{}", i + 1),
                    speech_s: 1.0,
                    centroid: Vec::new(),
                })
                .collect(),
            method: "neural".into(),
            overlap_s: 0.0,
            duration_s: 30.0,
            count: Default::default(),
        }
    }

    fn speakers_and_texts(u: &[Utterance]) -> Vec<(&str, &str)> {
        u.iter()
            .map(|u| (u.speaker.as_str(), u.text.as_str()))
            .collect()
    }

    #[test]
    fn words_follow_turns_and_split_at_sentences_and_pauses() {
        let t = transcript(&[
            ("How", 0.0, 0.3),
            ("are", 0.3, 0.5),
            ("you?", 0.5, 0.9),
            ("Fine.", 1.2, 1.6),
            ("Tired", 1.7, 2.0),
            ("though", 4.0, 4.4),
            ("mostly", 4.5, 4.9),
            ("late", 9.0, 9.5),
        ]);
        let d = dia(&[(0.0, 1.0, 0), (1.1, 5.0, 1), (5.2, 6.0, 0)], 2);
        let sentences = UtteranceConfig {
            unit: Unit::Sentence,
            max_pause_s: 1.5,
            ..Default::default()
        };
        let u = attribute(&t, &d, "s", &sentences);
        let got = speakers_and_texts(&u);
        assert_eq!(
            got,
            [
                ("S1", "How are you?"),
                ("S2", "Fine."),
                ("S2", "Tired"),
                ("S2", "though mostly"),
                ("S1", "late"), // in no turn: nearest turn (5.2-6.0, S1)
            ]
        );
        assert_eq!(u[0].start, Some(0.0));
        assert_eq!(u[0].end, Some(0.9));
        assert_eq!(u[3].words.len(), 2);
        assert!(u.iter().all(|u| u.session_id == "s" && !u.overlap));
        // Turns (the default): sentences and a 2 s pause bridged; the other
        // voice, or a pause over 3 s, ends one.
        let u = attribute(&t, &d, "s", &UtteranceConfig::default());
        let got = speakers_and_texts(&u);
        assert_eq!(
            got,
            [
                ("S1", "How are you?"),
                ("S2", "Fine. Tired though mostly"),
                ("S1", "late"),
            ]
        );
    }

    #[test]
    fn a_sentence_torn_at_a_turn_edge_goes_back_to_its_speaker() {
        // "you." starts a moment before the diarization's turn change, but
        // "Hello, I'm Sam." starts with no pause after "meet": both edges mend.
        let t = transcript(&[
            ("Pleasure", 0.0, 0.4),
            ("to", 0.4, 0.5),
            ("meet", 0.5, 0.8),
            ("you.", 0.85, 1.3),
            ("Thanks.", 2.0, 2.4),
            ("Hello,", 3.0, 3.3),
            ("I'm", 3.3, 3.5),
            ("Sam", 3.5, 3.8),
            ("here.", 3.8, 4.1),
        ]);
        let d = dia(&[(0.0, 0.9, 0), (0.9, 3.35, 1), (3.35, 4.2, 0)], 2);
        let u = attribute(&t, &d, "s", &UtteranceConfig::default());
        let got = speakers_and_texts(&u);
        assert_eq!(
            got,
            [
                ("S1", "Pleasure to meet you."),
                ("S2", "Thanks."),
                ("S1", "Hello, I'm Sam here."),
            ]
        );
        // Off, the edges stay torn.
        let off = UtteranceConfig {
            edge_words: 0,
            ..Default::default()
        };
        let torn = attribute(&t, &d, "s", &off);
        assert_eq!(torn[0].text, "Pleasure to meet");
        assert_eq!(torn[1].text, "you. Thanks. Hello,");
    }

    #[test]
    fn words_without_duration_go_with_their_sentence() {
        // "I" collapsed onto the end of the question before it; "so" the
        // same, mid-sentence.
        let t = transcript(&[
            ("enough?", 8.6, 9.18),
            ("I", 9.18, 9.18),
            ("try,", 9.18, 9.9),
            ("so", 9.9, 9.9),
            ("there.", 9.9, 10.4),
        ]);
        let d = dia(&[(7.5, 9.11, 0), (9.3, 12.0, 1)], 2);
        let u = attribute(&t, &d, "s", &UtteranceConfig::default());
        let got = speakers_and_texts(&u);
        assert_eq!(got, [("S1", "enough?"), ("S2", "I try, so there.")]);
    }

    #[test]
    fn overlapped_words_are_flagged() {
        let t = transcript(&[("yes", 2.0, 2.5)]);
        let d = dia(&[(0.0, 3.0, 0), (2.1, 2.6, 1)], 2);
        let u = attribute(&t, &d, "s", &UtteranceConfig::default());
        assert_eq!(u[0].speaker, "S1");
        assert!(u[0].overlap);
    }

    /// A practitioner's question and a client's answer, word by word.
    const OPENING: &[(&str, f64, f64)] = &[
        ("What", 0.0, 0.2),
        ("brings", 0.2, 0.4),
        ("you", 0.4, 0.6),
        ("here?", 0.6, 0.8),
        ("I", 1.0, 1.1),
        ("need", 1.1, 1.3),
        ("help", 1.3, 1.5),
        ("with", 1.5, 1.6),
        ("my", 1.6, 1.7),
        ("son.", 1.7, 1.9),
    ];

    #[test]
    fn a_third_voice_is_another_person_of_the_family() {
        let t = transcript(&[OPENING, &[("No.", 2.2, 2.4)]].concat());
        let mut d = dia(&[(0.0, 0.9, 0), (0.95, 1.95, 1), (2.1, 2.5, 2)], 3);
        d.speakers[1].speech_s = 5.0;
        d.speakers[2].speech_s = 0.4;
        let mut u = attribute(&t, &d, "s", &UtteranceConfig::default());
        let given = RoleEvidence {
            practitioner: Some("S1"),
            voice: None,
        };
        let r = assign_roles(&mut u, &d, &given).unwrap();
        let who: Vec<&str> = ["S1", "S2", "S3"]
            .iter()
            .map(|l| r.people[*l].as_str())
            .collect();
        assert_eq!(who, ["practitioner", "client", "other"]);
        // The other person's talk is the family's (MITI), and says whose.
        assert_eq!(u[2].role, Role::Client);
        assert_eq!(u[2].extra[PERSON_COLUMN], "other");
        let txt = SessionUtterances::new("s", &t, &d, Vec::new(), r, u).to_txt();
        assert!(txt.contains("S3 (other): No."), "{txt}");
    }

    #[test]
    fn the_questioner_is_the_practitioner_unless_told_otherwise() {
        let t = transcript(
            &[
                OPENING,
                &[
                    ("So", 2.0, 2.1),
                    ("you", 2.1, 2.2),
                    ("are", 2.2, 2.3),
                    ("worried.", 2.3, 2.6),
                ],
            ]
            .concat(),
        );
        let d = dia(&[(0.0, 0.9, 0), (0.95, 1.95, 1), (1.98, 2.7, 0)], 2);
        let mut u = attribute(&t, &d, "s", &UtteranceConfig::default());
        let r = assign_roles(&mut u, &d, &RoleEvidence::default()).unwrap();
        assert_eq!(r.practitioner, "S1");
        assert_eq!(r.method, TEXT_METHOD);
        assert!(r.confidence > 0.5, "{r:?}");
        assert!(r.scores["S1"] > r.scores["S2"], "{r:?}");
        assert_eq!(u[0].role, Role::Practitioner);
        assert_eq!(u[1].role, Role::Client);
        // Given labels win; unknown ones are an error naming the speakers.
        let given = RoleEvidence {
            practitioner: Some("s2"),
            ..Default::default()
        };
        let r = assign_roles(&mut u, &d, &given).unwrap();
        assert_eq!((r.practitioner.as_str(), r.confidence), ("S2", 1.0));
        assert_eq!(u[1].role, Role::Practitioner);
        let unknown = RoleEvidence {
            practitioner: Some("S9"),
            ..Default::default()
        };
        let e = assign_roles(&mut u, &d, &unknown).unwrap_err().to_string();
        assert!(e.contains("S9") && e.contains("S1, S2"), "{e}");
    }

    #[test]
    fn an_unclear_practitioner_is_flagged_for_review() {
        let a = |p: &str, c: f32, m: &str| RoleAssignment {
            practitioner: p.into(),
            confidence: c,
            method: m.into(),
            scores: BTreeMap::new(),
            people: BTreeMap::new(),
        };
        assert_eq!(a("S1", 0.9, "talk-pattern").review(2), None);
        assert_eq!(a("S1", 0.95, TEXT_METHOD).review(2), None);
        assert_eq!(a("S2", 1.0, "given").review(1), None);
        let r = a("S2", 0.1, "talk-pattern").review(2).unwrap();
        assert!(r.contains("S2") && r.contains("0.10"), "{r}");
        // A calibrated 0.8 is not sure enough.
        assert!(a("S1", 0.8, TEXT_METHOD).review(2).is_some());
        assert!(a("S1", 0.9, "voice")
            .review(1)
            .unwrap()
            .contains("one voice"));
        assert!(a("", 0.0, "talk-pattern").review(0).is_some());
    }

    #[test]
    fn no_speech_gives_no_utterances_and_no_practitioner() {
        let t = transcript(&[]);
        let d = dia(&[], 0);
        let mut u = attribute(&t, &d, "s", &UtteranceConfig::default());
        assert!(u.is_empty());
        let r = assign_roles(&mut u, &d, &RoleEvidence::default()).unwrap();
        assert_eq!(r.practitioner, "");
        assert_eq!(r.confidence, 0.0);
    }
}
