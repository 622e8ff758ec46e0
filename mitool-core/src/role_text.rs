//! How practitioner-like a speaker's words are: a linear model over word
//! unigrams and bigrams, trained on AnnoMI therapist vs client utterances
//! (`models/roles/`, see its MODEL_CARD.md), shipped as
//! `data/role_words.json` and read once.
//!
//! - [`utterance_score`]: one utterance's logit (> 0: reads like the
//!   practitioner).
//! - [`speaker_text`]: a speaker's score, the sum of their utterance logits
//!   shrunk towards 0 for speakers who said little.
//! - [`probability`] / [`practitioner_probability`]: the calibrated
//!   probability that speaker A, not B, is the practitioner.
//! - [`combined_probability`]: the same with the talk-pattern score of
//!   [`crate::roles::TalkPattern::score`] added, weights fitted together.
//! - [`rank`]: the speaker who beats every other one, and the probability
//!   that they, not the runner-up, are the practitioner.
//!
//! Text is normalised as in training (`models/roles/common.py`): lower
//! case, curly apostrophes straightened, `[...]` and `(...)` annotations
//! dropped, anything but `a-z`, `0-9` and `'` separating tokens, `'` trimmed
//! from token ends, tokens with a digit read as `0`, fillers (um, uh, ...)
//! dropped. So AnnoMI's "[sighs]" and "um" and Whisper's bracket-free text
//! read alike.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

/// The shipped model: feature weights, bias and calibration.
#[derive(Debug, Deserialize)]
struct Model {
    version: String,
    fillers: Vec<String>,
    /// A speaker's score is the sum of their utterance logits over
    /// (utterances + this).
    speaker_prior_utterances: f64,
    calibration: Calibration,
    combined: Combined,
    bias: f64,
    features: HashMap<String, f64>,
}

#[derive(Debug, Deserialize)]
struct Calibration {
    a: f64,
    b: f64,
}

#[derive(Debug, Deserialize)]
struct Combined {
    a: f64,
    b: f64,
    t: f64,
}

struct Loaded {
    model: Model,
    fillers: HashSet<String>,
}

fn model() -> &'static Loaded {
    static MODEL: OnceLock<Loaded> = OnceLock::new();
    MODEL.get_or_init(|| {
        let model: Model = serde_json::from_str(include_str!("../data/role_words.json"))
            .expect("data/role_words.json is valid (checked by the tests)");
        let fillers = model.fillers.iter().cloned().collect();
        Loaded { model, fillers }
    })
}

/// Version of the shipped role model ("mitool-role-words-v1").
pub fn version() -> &'static str {
    &model().model.version
}

/// Drops `[...]` and `(...)` spans (each replaced by a space); an opening
/// bracket without its closing one stays.
fn strip_annotations(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let close = match chars[i] {
            '[' => Some(']'),
            '(' => Some(')'),
            _ => None,
        };
        if let Some(close) = close {
            if let Some(j) = chars[i + 1..].iter().position(|&c| c == close) {
                out.push(' ');
                i += j + 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The normalised tokens of one utterance.
pub fn tokens(text: &str) -> Vec<String> {
    let fillers = &model().fillers;
    let lower = text.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'");
    strip_annotations(&lower)
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "0".to_string()
            } else {
                w.to_string()
            }
        })
        .filter(|w| !fillers.contains(w))
        .collect()
}

/// Sum of the weights of the distinct unigrams and bigrams of `toks`.
fn weight_sum(toks: &[String]) -> f64 {
    let m = &model().model;
    let mut seen: HashSet<String> = HashSet::new();
    let mut sum = 0.0;
    let mut add = |f: String| {
        if let Some(w) = m.features.get(&f) {
            if seen.insert(f) {
                sum += w;
            }
        }
    };
    for (i, w) in toks.iter().enumerate() {
        add(w.clone());
        if let Some(next) = toks.get(i + 1) {
            add(format!("{w} {next}"));
        }
    }
    sum
}

/// How practitioner-like one utterance reads: the model's logit (> 0 leans
/// practitioner). An utterance with no token scores the bias.
pub fn utterance_score(text: &str) -> f32 {
    (model().model.bias + weight_sum(&tokens(text))) as f32
}

/// One speaker's text evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeakerText {
    /// Sum of utterance logits / (utterances + prior): higher = more
    /// practitioner-like; 0 for someone who said nothing.
    pub score: f32,
    /// Utterances with at least one token.
    pub utterances: usize,
}

/// The text score of one speaker's utterances; utterances with no token
/// (after normalisation) don't count.
pub fn speaker_text<'a>(texts: impl IntoIterator<Item = &'a str>) -> SpeakerText {
    let m = &model().model;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for t in texts {
        let toks = tokens(t);
        if toks.is_empty() {
            continue;
        }
        sum += m.bias + weight_sum(&toks);
        n += 1;
    }
    if n == 0 {
        return SpeakerText::default();
    }
    SpeakerText {
        score: (sum / (n as f64 + m.speaker_prior_utterances)) as f32,
        utterances: n,
    }
}

fn sigmoid(z: f64) -> f32 {
    (1.0 / (1.0 + (-z).exp())) as f32
}

/// Calibrated log-odds that A, not B, is the practitioner (text alone).
fn text_log_odds(a: SpeakerText, b: SpeakerText) -> f64 {
    let c = &model().model.calibration;
    let d = a.score as f64 - b.score as f64;
    let n = a.utterances.min(b.utterances) as f64;
    c.a * d + c.b * d * n.sqrt()
}

/// Calibrated probability that A, not B, is the practitioner, from their
/// words alone; 0.5 when either said nothing.
pub fn probability(a: SpeakerText, b: SpeakerText) -> f32 {
    if a.utterances == 0 || b.utterances == 0 {
        return 0.5;
    }
    sigmoid(text_log_odds(a, b))
}

/// [`probability`] from the two speakers' utterance texts.
pub fn practitioner_probability(a: &[&str], b: &[&str]) -> f32 {
    probability(
        speaker_text(a.iter().copied()),
        speaker_text(b.iter().copied()),
    )
}

/// Log-odds that A, not B, is the practitioner, from the text scores and
/// the talk-pattern scores ([`crate::roles::TalkPattern::score`]) together.
fn combined_log_odds(a: SpeakerText, b: SpeakerText, talk_a: f32, talk_b: f32) -> f64 {
    let c = &model().model.combined;
    let d = a.score as f64 - b.score as f64;
    let n = a.utterances.min(b.utterances) as f64;
    c.a * d + c.b * d * n.sqrt() + c.t * (talk_a as f64 - talk_b as f64)
}

/// Probability that A, not B, is the practitioner, from their words and
/// their talk patterns (weights fitted together on AnnoMI); 0.5 when
/// either said nothing.
pub fn combined_probability(a: SpeakerText, b: SpeakerText, talk_a: f32, talk_b: f32) -> f32 {
    if a.utterances == 0 || b.utterances == 0 {
        return 0.5;
    }
    sigmoid(combined_log_odds(a, b, talk_a, talk_b))
}

/// Text scores of every speaker, from `(speaker, text)` pairs.
pub fn speaker_scores<'a>(
    utts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, SpeakerText> {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (s, t) in utts {
        by.entry(s).or_default().push(t);
    }
    by.into_iter()
        .map(|(s, texts)| (s.to_string(), speaker_text(texts)))
        .collect()
}

/// The practitioner by the text model: the speaker whose worst pairwise
/// log-odds against any other speaker is highest (with two speakers, simply
/// the higher score), and the probability that they, not the runner-up
/// (the speaker of that worst pair), are the practitioner. With `talk`
/// (each speaker's [`crate::roles::TalkPattern::score`]) the combined
/// weights are used. Speakers with no words are left out; `None` when fewer
/// than two remain.
pub fn rank(
    speakers: &BTreeMap<String, SpeakerText>,
    talk: Option<&BTreeMap<String, f32>>,
) -> Option<(String, f32)> {
    let live: Vec<(&String, SpeakerText, f32)> = speakers
        .iter()
        .filter(|(_, s)| s.utterances > 0)
        .map(|(k, &s)| {
            let t = talk.and_then(|t| t.get(k).copied()).unwrap_or(0.0);
            (k, s, t)
        })
        .collect();
    if live.len() < 2 {
        return None;
    }
    let z = |a: &(&String, SpeakerText, f32), b: &(&String, SpeakerText, f32)| match talk {
        Some(_) => combined_log_odds(a.1, b.1, a.2, b.2),
        None => text_log_odds(a.1, b.1),
    };
    let worst = |i: usize| {
        live.iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, b)| z(&live[i], b))
            .fold(f64::INFINITY, f64::min)
    };
    // Ties go to the first label, as `roles::pick` does.
    let best = (0..live.len())
        .max_by(|&x, &y| worst(x).total_cmp(&worst(y)).then(y.cmp(&x)))
        .expect("at least two speakers");
    Some((live[best].0.clone(), sigmoid(worst(best))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Parity {
        version: String,
        examples: Vec<Example>,
        speaker_examples: Vec<SpeakerExample>,
    }

    #[derive(Deserialize)]
    struct Example {
        text: String,
        tokens: Vec<String>,
        score: f64,
    }

    #[derive(Deserialize)]
    struct SpeakerExample {
        a: Vec<String>,
        b: Vec<String>,
        score_a: f64,
        score_b: f64,
        probability_a: f64,
    }

    fn parity() -> Parity {
        serde_json::from_str(include_str!("../data/role_words_parity.json")).unwrap()
    }

    #[test]
    fn scores_match_the_training_code() {
        let p = parity();
        assert_eq!(p.version, version());
        assert!(p.examples.len() >= 10);
        for e in &p.examples {
            assert_eq!(tokens(&e.text), e.tokens, "{:?}", e.text);
            let got = utterance_score(&e.text) as f64;
            assert!(
                (got - e.score).abs() < 1e-4,
                "{:?}: {got} vs {}",
                e.text,
                e.score
            );
        }
        for e in &p.speaker_examples {
            let a: Vec<&str> = e.a.iter().map(String::as_str).collect();
            let b: Vec<&str> = e.b.iter().map(String::as_str).collect();
            let (sa, sb) = (
                speaker_text(a.iter().copied()),
                speaker_text(b.iter().copied()),
            );
            assert!((sa.score as f64 - e.score_a).abs() < 1e-4);
            assert!((sb.score as f64 - e.score_b).abs() < 1e-4);
            let p = practitioner_probability(&a, &b) as f64;
            assert!(
                (p - e.probability_a).abs() < 1e-4,
                "{p} vs {}",
                e.probability_a
            );
        }
    }

    #[test]
    fn normalisation_drops_annotations_fillers_and_numbers() {
        assert_eq!(
            tokens("Um, I [sighs] don\u{2019}t know (inaudible) -- 10 or 20?"),
            ["i", "don't", "know", "0", "or", "0"]
        );
        assert_eq!(tokens("'Quote' me, uh-huh"), ["quote", "me", "huh"]);
        assert_eq!(
            tokens("[open bracket ( stays"),
            ["open", "bracket", "stays"]
        );
        assert!(tokens("[laughs] um uh").is_empty());
    }

    #[test]
    fn a_practitioner_reads_like_one() {
        let prac = [
            "What brings you here today?",
            "It sounds like you're worried about how much you're drinking.",
            "On a scale of 0 to 10, how important is it to you to cut down?",
            "So on the one hand you enjoy it, and on the other it's costing you.",
        ];
        let client = [
            "My wife keeps telling me I drink too much.",
            "I don't know, I guess I like a beer after work.",
            "Yeah, I've tried to stop before but it didn't last.",
        ];
        assert!(utterance_score(prac[0]) > 0.0);
        assert!(utterance_score(client[0]) < 0.0);
        let p = practitioner_probability(&prac, &client);
        assert!(p > 0.9, "{p}");
        let q = practitioner_probability(&client, &prac);
        assert!(
            (p + q - 1.0).abs() < 1e-5,
            "the order of the two must not matter"
        );
        // By label, and with talk patterns.
        let utts: Vec<(&str, &str)> = prac
            .iter()
            .map(|t| ("S2", *t))
            .chain(client.iter().map(|t| ("S1", *t)))
            .collect();
        let scores = speaker_scores(utts);
        let (who, p2) = rank(&scores, None).unwrap();
        assert_eq!(who, "S2");
        assert!((p2 - p).abs() < 1e-6);
        let talk = BTreeMap::from([("S1".to_string(), -0.5), ("S2".to_string(), 0.8)]);
        let (who, pc) = rank(&scores, Some(&talk)).unwrap();
        assert_eq!(who, "S2");
        assert!(pc > 0.9);
        assert!((pc - combined_probability(scores["S2"], scores["S1"], 0.8, -0.5)).abs() < 1e-6);
    }

    #[test]
    fn nothing_said_is_no_evidence() {
        assert_eq!(speaker_text([]), SpeakerText::default());
        assert_eq!(speaker_text(["", "[laughs]", "um"]).utterances, 0);
        assert_eq!(practitioner_probability(&[], &["How are you?"]), 0.5);
        assert_eq!(practitioner_probability(&[], &[]), 0.5);
        let b = model().model.bias as f32;
        assert!((utterance_score("") - b).abs() < 1e-6);
        let one = speaker_scores([("S1", "What brings you here?"), ("S2", "")]);
        assert_eq!(rank(&one, None), None);
        assert_eq!(rank(&BTreeMap::new(), None), None);
    }
}
