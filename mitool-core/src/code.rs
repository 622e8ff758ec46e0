//! The MI coder: a fine-tuned MiniLM (ONNX) that labels every utterance
//! with AnnoMI's codes, served with tokenizers + ONNX Runtime.
//!
//! Inputs are built exactly as the training recipe did
//! (`models/coder/labels.json`, "input_format"): the utterance as
//! "role: text" paired with the two previous utterances, most recent first
//! (and, where the recipe says so, the next utterance after them).
//! Each utterance runs alone, unpadded (see [`Coder`] for why), on one of
//! several single-threaded sessions. One model per process serves every
//! session.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ndarray::Array2;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::models::Store;
use crate::progress::{Sink, Stage};
use crate::transcript::ModelInfo;
use crate::utterance::{
    Codes, EventProbs, InputType, Main, QuestionType, ReflectionType, Role, Talk, Utterance,
};

/// Options for [`Coder`].
#[derive(Debug, Clone)]
pub struct CoderConfig {
    /// Utterances coded at once, each by its own single-threaded ONNX
    /// Runtime session.
    pub threads: usize,
}

impl Default for CoderConfig {
    fn default() -> Self {
        Self { threads: 2 }
    }
}

impl CoderConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if !(1..=256).contains(&self.threads) {
            return Err(Error::Config(format!(
                "coder threads must be between 1 and 256, got {}",
                self.threads
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct InputFormat {
    context_separator: String,
    context_utterances: usize,
    empty_context_text_b: String,
    /// The reply as a third segment, where the recipe trained with it.
    #[serde(default)]
    next_utterance: Option<NextUtterance>,
}

/// How the recipe appends the next utterance (`common.encode_around`):
/// `prefix` + "role: text" (or `session_end` after the last utterance),
/// its first `max_tokens` tokens, then [SEP], all of segment 1.
#[derive(Debug, Deserialize)]
struct NextUtterance {
    prefix: String,
    max_tokens: usize,
    session_end: String,
}

#[derive(Debug, Deserialize)]
struct Head {
    labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Labels {
    model_version: String,
    max_length: usize,
    input_format: InputFormat,
    outputs: std::collections::BTreeMap<String, Head>,
}

/// Platt scaling of one event: p = sigmoid(a · logit(x) + b).
#[derive(Debug, Clone, Copy, Deserialize)]
struct Platt {
    a: f32,
    b: f32,
}

impl Platt {
    fn apply(self, x: f32) -> f32 {
        let x = x.clamp(1e-6, 1.0 - 1e-6);
        let z = self.a * (x / (1.0 - x)).ln() + self.b;
        // Four decimals, as the coded CSV keeps them: a re-score reads back
        // exactly the probabilities the codes were decided from.
        ((1.0 / (1.0 + (-z).exp())) * 1e4).round() / 1e4
    }
}

/// `calibration.json` (written by `models/coder/calibrate.py`).
#[derive(Debug, Clone, Copy, Deserialize)]
struct Calibration {
    events: CalibratedEvents,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct CalibratedEvents {
    question: Platt,
    reflection: Platt,
    open: Platt,
    complex: Platt,
}

/// `session_aware.json` (written by `models/coder/aware.py`): whether each
/// practitioner utterance holds a question and a reflection, re-decided from
/// its own logits and what the whole session looks like. Why: utterance by
/// utterance the coder calls advice phrased as "you ..." a reflection, and
/// such utterances crowd in low-quality sessions, whose R:Q it then
/// over-counts (grouped CV in `models/coder/runs/README.md`).
#[derive(Debug, Clone, Copy, Deserialize)]
struct SessionAware {
    events: AwareEvents,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct AwareEvents {
    question: Logistic,
    reflection: Logistic,
}

/// p = sigmoid(intercept + coef · features), features as [`AwareFeatures`].
#[derive(Debug, Clone, Copy, Deserialize)]
struct Logistic {
    coef: [f32; 5],
    intercept: f32,
}

impl Logistic {
    fn apply(self, f: [f32; 5]) -> f32 {
        let z = self.intercept + self.coef.iter().zip(f).map(|(c, x)| c * x).sum::<f32>();
        ((1.0 / (1.0 + (-z).exp())) * 1e4).round() / 1e4
    }
}

/// One practitioner utterance's uncalibrated presence probabilities.
#[derive(Debug, Clone, Copy)]
struct Presence {
    question: f32,
    reflection: f32,
    /// P(giving information or advice) as the main behaviour.
    input: f32,
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Fewest context tokens kept when an utterance is long (the recipe's rule).
const MIN_CONTEXT_TOKENS: usize = 16;
const CLS: i64 = 101;
const SEP: i64 = 102;

/// Per-head probabilities of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Probabilities {
    pub therapist_main: Vec<f32>,
    pub therapist_fine: Vec<f32>,
    pub exists: Vec<f32>,
    pub client_talk: Vec<f32>,
}

/// Token ids of one model input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub input_ids: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    /// The utterance or its context had to be cut.
    pub truncated: bool,
}

/// A loaded coder.
///
/// Every utterance runs through the model alone. The int8 model quantizes
/// activations with one scale per tensor, so in a padded batch the other
/// utterances would change an utterance's codes (2-4% of the dev set's
/// decisions moved between batches of 16 and 32): alone, a code depends
/// only on the utterance and its context. It is also faster on 2 cores:
/// two single-threaded sessions side by side beat one two-threaded session
/// on batches (`cargo bench -p mitool-benches -- coder`).
pub struct Coder {
    sessions: Vec<Mutex<Session>>,
    tokenizer: Tokenizer,
    labels: Labels,
    calibration: Calibration,
    aware: Option<SessionAware>,
    /// The model version and which calibration: both change the scores.
    version: String,
    info: ModelInfo,
}

impl Coder {
    /// Loads the bundled coder from the model store.
    pub fn new(store: &Store, config: CoderConfig) -> Result<Self> {
        config.validate()?;
        crate::onnx::init(store)?;
        let model = store.require("coder")?;
        let dir = model.parent().unwrap_or(Path::new(".")).to_path_buf();
        let info = ModelInfo {
            name: "coder".into(),
            sha256: store.sha256("coder").unwrap_or_default(),
        };
        Self::from_files(
            &model,
            &dir.join("tokenizer.json"),
            &dir.join("labels.json"),
            info,
            config,
        )
    }

    /// Loads a coder from explicit files; `calibration.json` is read from
    /// beside `labels`.
    pub fn from_files(
        model: &Path,
        tokenizer: &Path,
        labels: &Path,
        info: ModelInfo,
        config: CoderConfig,
    ) -> Result<Self> {
        let bad = |p: &Path, detail: String| Error::Model {
            path: p.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(labels).map_err(|e| Error::io(labels, "read", e))?;
        let labels_v: Labels =
            serde_json::from_str(&text).map_err(|e| bad(labels, e.to_string()))?;
        let tokenizer_v =
            Tokenizer::from_file(tokenizer).map_err(|e| bad(tokenizer, e.to_string()))?;
        let cal_path = labels.with_file_name("calibration.json");
        let cal_text = std::fs::read_to_string(&cal_path).map_err(|e| {
            bad(
                &cal_path,
                format!("{e}; it comes with the coder (refit: models/coder/calibrate.sh)"),
            )
        })?;
        let calibration: Calibration =
            serde_json::from_str(&cal_text).map_err(|e| bad(&cal_path, e.to_string()))?;
        // Optional: without it each utterance is decided alone.
        let aware_path = labels.with_file_name("session_aware.json");
        let aware_text = std::fs::read_to_string(&aware_path).ok();
        let aware: Option<SessionAware> = aware_text
            .as_deref()
            .map(|t| serde_json::from_str(t).map_err(|e| bad(&aware_path, e.to_string())))
            .transpose()?;
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(cal_text.as_bytes());
        if let Some(t) = &aware_text {
            h.update(t.as_bytes());
        }
        let cal_id = crate::models::hex(&h.finalize());
        let version = format!("{}+cal.{}", labels_v.model_version, &cal_id[..8]);
        let sessions = (0..config.threads)
            .map(|_| crate::onnx::session(model, 1).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            sessions,
            tokenizer: tokenizer_v,
            labels: labels_v,
            calibration,
            aware,
            version,
            info,
        })
    }

    /// The model's version and its calibration's (the first 8 hex digits
    /// of the SHA-256 of `calibration.json`, then `session_aware.json` where
    /// there is one), recorded in every output.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Name and SHA-256 of the ONNX file.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn ids(&self, text: &str) -> Result<Vec<i64>> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Onnx(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().iter().map(|&i| i as i64).collect())
    }

    /// Builds the model input for utterance `i` of a session.
    pub fn encode(&self, utts: &[Utterance], i: usize) -> Result<Encoded> {
        let f = &self.labels.input_format;
        let line = |u: &Utterance| format!("{}: {}", u.role.as_str(), u.text.trim());
        let text_a = line(&utts[i]);
        let ctx: Vec<String> = utts[..i]
            .iter()
            .rev()
            .take(f.context_utterances)
            .map(line)
            .collect();
        let text_b = if ctx.is_empty() {
            f.empty_context_text_b.clone()
        } else {
            ctx.join(&f.context_separator)
        };
        let next = match &f.next_utterance {
            Some(n) => {
                let text = utts.get(i + 1).map_or_else(|| n.session_end.clone(), line);
                let mut ids = self.ids(&format!("{}{}", n.prefix, text))?;
                ids.truncate(n.max_tokens);
                Some(ids)
            }
            None => None,
        };
        let mut a = self.ids(&text_a)?;
        let mut b = self.ids(&text_b)?;
        // The reply's tokens and its [SEP] come out of the pair's budget.
        let reserved = next.as_ref().map_or(0, |n| n.len() + 1);
        let budget = self.labels.max_length.saturating_sub(3 + reserved);
        let mut truncated = false;
        if a.len() + b.len() > budget {
            let keep_b = budget
                .saturating_sub(a.len())
                .max(b.len().min(MIN_CONTEXT_TOKENS));
            b.truncate(keep_b);
            let keep_a = budget - b.len();
            truncated = a.len() > keep_a;
            a.truncate(keep_a);
        }
        let mut input_ids = Vec::with_capacity(a.len() + b.len() + 3);
        input_ids.push(CLS);
        input_ids.extend(&a);
        input_ids.push(SEP);
        let first = input_ids.len();
        input_ids.extend(&b);
        input_ids.push(SEP);
        if let Some(n) = next {
            input_ids.extend(n);
            input_ids.push(SEP);
        }
        let mut token_type_ids = vec![0i64; input_ids.len()];
        token_type_ids[first..].fill(1);
        Ok(Encoded {
            input_ids,
            token_type_ids,
            truncated,
        })
    }

    /// Runs the model on encoded inputs (one batch, padded here). A batch's
    /// results differ slightly from each input run alone (see [`Coder`]);
    /// [`Coder::probabilities`] runs each alone.
    pub fn run(&self, batch: &[&Encoded]) -> Result<Vec<Probabilities>> {
        let free = self.sessions.iter().find_map(|s| s.try_lock().ok());
        let mut session = match free {
            Some(s) => s,
            None => crate::panic::lock(&self.sessions[0]),
        };
        self.run_on(&mut session, batch)
    }

    fn run_on(&self, session: &mut Session, batch: &[&Encoded]) -> Result<Vec<Probabilities>> {
        let n = batch.len();
        let len = batch.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
        let mut ids = Array2::<i64>::zeros((n, len));
        let mut mask = Array2::<i64>::zeros((n, len));
        let mut types = Array2::<i64>::zeros((n, len));
        for (r, e) in batch.iter().enumerate() {
            for (c, (&id, &t)) in e.input_ids.iter().zip(&e.token_type_ids).enumerate() {
                ids[[r, c]] = id;
                mask[[r, c]] = 1;
                types[[r, c]] = t;
            }
        }
        let wrap = |e: ort::Error| Error::Onnx(format!("coder: {e}"));
        let out = session
            .run(ort::inputs![
                "input_ids" => Tensor::from_array(ids).map_err(wrap)?,
                "attention_mask" => Tensor::from_array(mask).map_err(wrap)?,
                "token_type_ids" => Tensor::from_array(types).map_err(wrap)?,
            ])
            .map_err(wrap)?;
        let head = |name: &str| -> Result<Vec<Vec<f32>>> {
            let (shape, data) = out[name].try_extract_tensor::<f32>().map_err(wrap)?;
            let width = shape[1] as usize;
            Ok(data.chunks(width).map(<[f32]>::to_vec).collect())
        };
        let (m, f, x, c) = (
            head("therapist_main")?,
            head("therapist_fine")?,
            head("exists")?,
            head("client_talk")?,
        );
        Ok((0..n)
            .map(|i| Probabilities {
                therapist_main: m[i].clone(),
                therapist_fine: f[i].clone(),
                exists: x[i].clone(),
                client_talk: c[i].clone(),
            })
            .collect())
    }

    /// Probabilities for every utterance of one session (in order; `None` for empty ones).
    pub fn probabilities(
        &self,
        utts: &[Utterance],
        path: &Path,
        sink: &dyn Sink,
    ) -> Result<Vec<Option<Probabilities>>> {
        let mut enc: Vec<(usize, Encoded)> = Vec::with_capacity(utts.len());
        let mut truncated = 0;
        for i in 0..utts.len() {
            if utts[i].text.trim().is_empty() {
                continue;
            }
            let e = self.encode(utts, i)?;
            truncated += e.truncated as usize;
            enc.push((i, e));
        }
        if truncated > 0 {
            sink.warning(
                path,
                &format!(
                    "{truncated} long utterance(s) were cut to the coder's {} tokens",
                    self.labels.max_length
                ),
            );
        }
        let mut out: Vec<Option<Probabilities>> = vec![None; utts.len()];
        sink.begin(path, Stage::Code, enc.len() as u64);
        // Worker k codes utterances k, k + n, k + 2n, ... on session k.
        let done = AtomicU64::new(0);
        let n = self.sessions.len().min(enc.len()).max(1);
        let results: Vec<Result<Vec<(usize, Probabilities)>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n)
                .map(|k| {
                    let (enc, done) = (&enc, &done);
                    scope.spawn(move || -> Result<Vec<(usize, Probabilities)>> {
                        let mut session = crate::panic::lock(&self.sessions[k]);
                        let mut mine = Vec::new();
                        for (i, e) in enc.iter().skip(k).step_by(n) {
                            let p = self.run_on(&mut session, &[e])?;
                            mine.push((*i, p.into_iter().next().expect("one input, one output")));
                            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                            sink.advance(path, Stage::Code, d);
                        }
                        Ok(mine)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("coder worker panicked"))
                .collect()
        });
        for r in results {
            for (i, p) in r? {
                out[i] = Some(p);
            }
        }
        sink.end(path, Stage::Code);
        Ok(out)
    }

    /// Codes every utterance of one session in place: AnnoMI labels, MITI
    /// codes and a confidence. Empty utterances are left uncoded.
    pub fn code_session(&self, utts: &mut [Utterance], path: &Path, sink: &dyn Sink) -> Result<()> {
        let probs = self.probabilities(utts, path, sink)?;
        let mut events: Vec<Option<EventProbs>> = probs
            .iter()
            .map(|p| {
                p.as_ref()
                    .map(|p| calibrated(p, &self.labels, &self.calibration))
            })
            .collect();
        if let Some(aware) = self.aware {
            redecide(aware, &self.labels, utts, &probs, &mut events);
        }
        for ((u, p), e) in utts.iter_mut().zip(probs).zip(events) {
            u.codes = match (p, e) {
                (Some(p), Some(e)) => decide(u.role, &p, &self.labels, e),
                _ => Codes::default(),
            };
        }
        crate::miti::fill(utts);
        Ok(())
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Turns probabilities into labels: the main behaviour from its head;
/// question and reflection present, open and complex where their calibrated
/// probabilities ([`EventProbs`]) are over 0.5; the input subtype from the
/// fine head restricted to input; a secondary input from its flag (> 0.5).
/// Confidence = P(main) · P(subtype | main) for practitioners, P(talk type)
/// for clients.
fn decide(role: Role, p: &Probabilities, labels: &Labels, events: EventProbs) -> Codes {
    let name = |head: &str, i: usize| -> &str {
        labels
            .outputs
            .get(head)
            .and_then(|h| h.labels.get(i))
            .map_or("", String::as_str)
    };
    match role {
        Role::Client => {
            let k = argmax(&p.client_talk);
            Codes {
                talk: name("client_talk", k).parse::<Talk>().ok(),
                confidence: Some(p.client_talk[k]),
                ..Default::default()
            }
        }
        Role::Practitioner => {
            // The most likely main behaviour the calibrated events allow: the
            // codes must say what the probabilities say at 0.5, or a re-score
            // would take them for a person's correction.
            let allowed = |i: usize| match name("therapist_main", i) {
                "question" => events.question > 0.5,
                "reflection" => events.reflection > 0.5,
                _ => true,
            };
            let k = (0..p.therapist_main.len())
                .filter(|&i| allowed(i))
                .max_by(|&a, &b| p.therapist_main[a].total_cmp(&p.therapist_main[b]))
                .unwrap_or(0);
            let main: Option<Main> = name("therapist_main", k).parse().ok();
            let mut c = Codes {
                main,
                question_exists: Some(events.question > 0.5),
                reflection_exists: Some(events.reflection > 0.5),
                input_exists: Some(
                    main == Some(Main::Input)
                        || prob(labels, "exists", &p.exists, "therapist_input_exists") > 0.5,
                ),
                events: Some(events),
                ..Default::default()
            };
            // P(the subtype shown | main), for the confidence.
            let sure = |p: f32, yes: bool| if yes { p } else { 1.0 - p };
            let mut conditional = 1.0;
            if c.question_exists == Some(true) {
                let open = events.open > 0.5;
                c.question = Some(if open {
                    QuestionType::Open
                } else {
                    QuestionType::Closed
                });
                if main == Some(Main::Question) {
                    conditional = sure(events.open, open);
                }
            }
            if c.reflection_exists == Some(true) {
                let complex = events.complex > 0.5;
                c.reflection = Some(if complex {
                    ReflectionType::Complex
                } else {
                    ReflectionType::Simple
                });
                if main == Some(Main::Reflection) {
                    conditional = sure(events.complex, complex);
                }
            }
            if c.input_exists == Some(true) {
                let t = [
                    "input_information",
                    "input_advice",
                    "input_negotiation",
                    "input_options",
                ];
                let probs: Vec<f32> = t
                    .iter()
                    .map(|o| prob(labels, "therapist_fine", &p.therapist_fine, o))
                    .collect();
                let best = argmax(&probs);
                c.input = Some(
                    [
                        InputType::Information,
                        InputType::Advice,
                        InputType::Negotiation,
                        InputType::Options,
                    ][best],
                );
                if main == Some(Main::Input) {
                    conditional = probs[best] / probs.iter().sum::<f32>().max(1e-9);
                }
            }
            c.confidence = Some(p.therapist_main[k] * conditional);
            c
        }
    }
}

/// The probability of `label` in `values`, the output of `head`.
fn prob(labels: &Labels, head: &str, values: &[f32], label: &str) -> f32 {
    labels
        .outputs
        .get(head)
        .and_then(|h| h.labels.iter().position(|l| l == label))
        .and_then(|i| values.get(i))
        .copied()
        .unwrap_or(0.0)
}

/// Question and reflection of each practitioner utterance from the
/// session-aware model, each session (by id) on its own.
fn redecide(
    aware: SessionAware,
    labels: &Labels,
    utts: &[Utterance],
    probs: &[Option<Probabilities>],
    events: &mut [Option<EventProbs>],
) {
    let presence: Vec<Option<Presence>> = utts
        .iter()
        .zip(probs)
        .map(|(u, p)| match (u.role, p) {
            (Role::Practitioner, Some(p)) => Some(presence(p, labels)),
            _ => None,
        })
        .collect();
    let mut sessions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, u) in utts.iter().enumerate() {
        if presence[i].is_some() {
            sessions.entry(u.session_id.as_str()).or_default().push(i);
        }
    }
    for members in sessions.values() {
        let n = members.len() as f32;
        let mean = |f: fn(&Presence) -> f32| {
            members
                .iter()
                .filter_map(|&i| presence[i].as_ref())
                .map(f)
                .sum::<f32>()
                / n
        };
        let (input, reflection) = (mean(|p| p.input), mean(|p| p.reflection));
        for &i in members {
            let (Some(p), Some(e)) = (presence[i], events[i].as_mut()) else {
                continue;
            };
            let f = [
                logit(p.question),
                logit(p.reflection),
                input,
                reflection,
                n.ln(),
            ];
            e.question = aware.events.question.apply(f);
            e.reflection = aware.events.reflection.apply(f);
        }
    }
}

/// Present as the main behaviour or as a secondary one, whichever is likelier.
fn present(p: &Probabilities, labels: &Labels, main: &str, flag: &str) -> f32 {
    prob(labels, "therapist_main", &p.therapist_main, main)
        .max(prob(labels, "exists", &p.exists, flag))
}

/// The inputs of the session-aware model (`models/coder/calibrate.py`'s
/// `features` before the logit, and the main head's P(input)).
fn presence(p: &Probabilities, labels: &Labels) -> Presence {
    Presence {
        question: present(p, labels, "question", "question_exists"),
        reflection: present(p, labels, "reflection", "reflection_exists"),
        input: prob(
            labels,
            "therapist_main",
            &p.therapist_main,
            "therapist_input",
        ),
    }
}

/// The calibrated MITI event probabilities of a practitioner utterance
/// (the inputs as `models/coder/calibrate.py` fitted them).
fn calibrated(p: &Probabilities, labels: &Labels, cal: &Calibration) -> EventProbs {
    let present = |main: &str, flag: &str| present(p, labels, main, flag);
    let share = |x: &str, y: &str| {
        let fine = |l: &str| prob(labels, "therapist_fine", &p.therapist_fine, l);
        let (x, y) = (fine(x), fine(y));
        x / (x + y).max(1e-9)
    };
    let e = &cal.events;
    EventProbs {
        question: e.question.apply(present("question", "question_exists")),
        open: e.open.apply(share("question_open", "question_closed")),
        reflection: e
            .reflection
            .apply(present("reflection", "reflection_exists")),
        complex: e
            .complex
            .apply(share("reflection_complex", "reflection_simple")),
    }
}

/// Where the bundled coder's files are, for tests and tools.
pub fn bundled_dir() -> PathBuf {
    Path::new(crate::models::BUILD_MODELS_DIR).join("coder")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/coder/labels.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A practitioner utterance: main head (question, reflection, input,
    /// other); no secondary flags; even fine shares.
    fn utt(session: &str, main: [f32; 4]) -> (Utterance, Option<Probabilities>) {
        let u = Utterance {
            session_id: session.into(),
            id: String::new(),
            speaker: "P".into(),
            role: Role::Practitioner,
            start: None,
            end: None,
            text: "x".into(),
            words: Vec::new(),
            overlap: false,
            codes: Codes::default(),
            extra: Default::default(),
        };
        let p = Probabilities {
            therapist_main: main.to_vec(),
            therapist_fine: vec![1.0 / 9.0; 9],
            exists: vec![0.0; 3],
            client_talk: vec![1.0 / 3.0; 3],
        };
        (u, Some(p))
    }

    #[test]
    fn a_session_full_of_advice_takes_back_a_borderline_reflection() {
        let labels = labels();
        // P(reflection) = sigmoid(logit(own) - 4 · session's mean P(input)).
        let aware = SessionAware {
            events: AwareEvents {
                question: Logistic {
                    coef: [1.0, 0.0, 0.0, 0.0, 0.0],
                    intercept: 0.0,
                },
                reflection: Logistic {
                    coef: [0.0, 1.0, -4.0, 0.0, 0.0],
                    intercept: 0.0,
                },
            },
        };
        let borderline = [0.1, 0.7, 0.1, 0.1];
        let (utts, probs): (Vec<_>, Vec<_>) = [
            utt("advice", borderline),
            utt("advice", [0.0, 0.0, 1.0, 0.0]),
            utt("advice", [0.0, 0.0, 1.0, 0.0]),
            utt("talk", borderline),
            utt("talk", [0.9, 0.0, 0.0, 0.1]),
        ]
        .into_iter()
        .unzip();
        let cal = Calibration {
            events: CalibratedEvents {
                question: Platt { a: 1.0, b: 0.0 },
                reflection: Platt { a: 1.0, b: 0.0 },
                open: Platt { a: 1.0, b: 0.0 },
                complex: Platt { a: 1.0, b: 0.0 },
            },
        };
        let mut events: Vec<_> = probs
            .iter()
            .map(|p| p.as_ref().map(|p| calibrated(p, &labels, &cal)))
            .collect();
        redecide(aware, &labels, &utts, &probs, &mut events);
        let main = |i: usize| {
            decide(
                Role::Practitioner,
                probs[i].as_ref().unwrap(),
                &labels,
                events[i].unwrap(),
            )
            .main
        };
        // The same utterance: mean P(input) 0.7 in one session, 0.05 in the other.
        assert!(events[0].unwrap().reflection < 0.5);
        assert_ne!(main(0), Some(Main::Reflection));
        assert!(events[3].unwrap().reflection > 0.5);
        assert_eq!(main(3), Some(Main::Reflection));
        // Question from its own logit alone here: unchanged, 0.1 and 0.9.
        assert_eq!(events[0].unwrap().question, 0.1);
        assert_eq!(events[4].unwrap().question, 0.9);
    }
}
