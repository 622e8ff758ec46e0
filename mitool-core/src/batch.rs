//! The main job: a folder of recordings and transcripts in, one folder of
//! per-session outputs and one study table out — resumable and shardable.
//!
//! Layout of the output folder:
//!
//! ```text
//! DIR/<session_id>/transcript.json  utterances.json  diarization.rttm   (audio only)
//! DIR/<session_id>/coded.csv  report.html  codes.vtt  session.json
//! DIR/<session_id>/failure.json      (instead of session.json when it failed)
//! DIR/sessions.csv  failures.csv  index.html
//! ```
//!
//! The sessions come from files and folders ([`plan`]) or from a trial's
//! sessions manifest ([`plan_manifest`]), whose rows may say what is known
//! about each session and carry columns of the trial's own into the outputs.
//!
//! Nothing is lost when a run is killed: every file is written to a temporary
//! name and renamed; `session.json` is written last and marks the session
//! done; it records a content hash of the input, the models and the options,
//! so a rerun skips exactly the sessions that are done and unchanged. The
//! study tables are rebuilt from the session folders, sorted by session id,
//! so an interrupted-then-resumed run ends byte-identical to an uninterrupted one.
//!
//! Any number of runs work in one folder side by side (the shards of a
//! Slurm array, on one machine or many sharing a volume): each session is
//! claimed before it is worked on ([`crate::claim`]), so no two runs ever
//! work on the same one, and a claim left by a killed run is taken over.
//! The study tables are rewritten under the folder's lock from what is
//! complete at that moment; `mitool merge` gives the final table. A disk
//! that refuses every write (full, read-only) stops the run at once rather
//! than failing session after session; what was finished is kept for the rerun.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audio::{self, AudioConfig};
use crate::claim::{Claims, BEAT};
use crate::diarize::DiarizeConfig;
use crate::error::{Error, Result};
use crate::manifest::{Columns, Manifest};
use crate::models::Store;
use crate::outfile::{lock_dir, write_atomic};
use crate::progress::{Sink, Stage};
use crate::report::{self, SessionRecord};
use crate::review;
use crate::roles::{RolesConfig, SessionUtterances, Unit, UtteranceConfig};
use crate::score::{self, ScoreConfig, SessionScores};
use crate::session::{Known, Session, SessionConfig, SessionResult, StageError, StageResult};
use crate::transcribe::TranscribeConfig;
use crate::transcript::ModelInfo;
use crate::transcripts::{self, RoleHints};
use crate::utterance;

/// Version of the outputs' layout; part of the content hash.
const LAYOUT_VERSION: u32 = 1;

/// The columns of `sessions.csv` after the scores; a manifest's own columns follow them.
pub const TABLE_STATUS_COLUMNS: &[&str] = &["status", "needs_review", "corrected"];

/// What a session's input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Audio,
    Transcript,
}

/// One session to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub session_id: String,
    pub path: PathBuf,
    pub kind: InputKind,
    /// What the manifest says about this session, over the batch's options.
    pub known: Known,
    /// The manifest's own columns for this session, carried into its outputs.
    pub columns: Columns,
}

const TEXT_EXT: &[&str] = &["csv", "json", "vtt", "srt", "txt"];

fn kind_of(path: &Path) -> Option<InputKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if crate::audio::EXTENSIONS.contains(&ext.as_str()) {
        Some(InputKind::Audio)
    } else if TEXT_EXT.contains(&ext.as_str()) {
        Some(InputKind::Transcript)
    } else {
        None
    }
}

/// A readable id from a file name: letters, digits, `-`, `_`, `.`.
pub fn readable_id(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    safe_id(&stem)
}

/// `text` made safe as a folder name: other characters become `_`, no leading dot.
pub fn safe_id(text: &str) -> String {
    let id: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let id = id.trim_start_matches('.').to_string();
    if id.is_empty() {
        "session".into()
    } else {
        id
    }
}

/// Finds every input under `inputs` (folders recursively, hidden files and
/// mitool's own side files skipped), in a stable order, with unique ids: a
/// name used twice gets `-2`, `-3`… in path order.
pub fn plan(inputs: &[PathBuf]) -> Result<Vec<Job>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files)?;
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(Error::io(
                input,
                "open",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
    }
    files.sort();
    files.dedup();
    let mut ids = UniqueIds::default();
    let mut jobs = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // Ground truth and our own outputs that sit beside recordings are not sessions.
        if name.ends_with(".ref.json")
            || name.ends_with(".rttm")
            || name.ends_with(".utterances.json")
        {
            continue;
        }
        let Some(kind) =
            kind_of(&path).or_else(|| inputs.contains(&path).then_some(InputKind::Audio))
        else {
            continue;
        };
        jobs.push(Job {
            session_id: ids.next(&path),
            path,
            kind,
            known: Known::default(),
            columns: Columns::default(),
        });
    }
    Ok(jobs)
}

/// The sessions a manifest lists, in its order, with ids made unique as
/// [`plan`] makes them. A listed file that is missing or unreadable fails
/// as its own session when it runs; the others go on.
pub fn plan_manifest(manifest: &Manifest) -> Vec<Job> {
    let mut ids = UniqueIds::default();
    manifest
        .rows
        .iter()
        .map(|row| Job {
            session_id: ids.next(&row.file),
            // Listed on purpose: whatever is not a transcript is tried as audio.
            kind: kind_of(&row.file).unwrap_or(InputKind::Audio),
            path: row.file.clone(),
            known: row.known.clone(),
            columns: row.columns.clone(),
        })
        .collect()
}

/// Session ids from file names: a name used twice gets `-2`, `-3`…
#[derive(Default)]
struct UniqueIds(HashMap<String, usize>);

impl UniqueIds {
    fn next(&mut self, path: &Path) -> String {
        let base = readable_id(path);
        let n = self.0.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base}-{n}")
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if kind_of(&p).is_some() {
            out.push(p);
        }
    }
    Ok(())
}

/// The jobs of shard `index` (1-based) of `count`: every count-th job in id order.
pub fn shard(mut jobs: Vec<Job>, index: usize, count: usize) -> Result<Vec<Job>> {
    if count == 0 || index == 0 || index > count {
        return Err(Error::Config(format!(
            "shard {index}/{count} does not exist: use I/N with 1 ≤ I ≤ N"
        )));
    }
    jobs.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    Ok(jobs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % count == index - 1)
        .map(|(_, j)| j)
        .collect())
}

/// Every option of the batch. Serialised into each session's JSON and hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchOptions {
    /// Whisper model name or ggml path (`None` = the default).
    pub model: Option<String>,
    pub language: String,
    /// Threads in all (default: all cores).
    pub threads: usize,
    pub speakers: Option<usize>,
    pub min_speakers: usize,
    pub max_speakers: usize,
    pub channels_are_speakers: Option<bool>,
    /// The practitioner's speaker label (audio: "S2") or name (transcripts).
    pub practitioner: Option<String>,
    pub practitioner_voice: Option<PathBuf>,
    pub segment: score::Segment,
    /// What one coded utterance of a recording is: a turn (default) or a sentence.
    pub unit: Unit,
    /// A sessions manifest (CSV) listing the sessions. It says which
    /// sessions run, not how: no session's hash includes it.
    pub manifest: Option<PathBuf>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            model: None,
            language: "en".into(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            speakers: None,
            min_speakers: 1,
            max_speakers: 4,
            channels_are_speakers: None,
            practitioner: None,
            practitioner_voice: None,
            segment: score::Segment::Whole,
            unit: Unit::Turn,
            manifest: None,
        }
    }
}

impl BatchOptions {
    /// Reads a `mitool.toml` (see `examples/mitool.toml`); `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map(|before| before.matches('\n').count() as u64 + 1);
            Error::Input {
                path: path.to_path_buf(),
                line,
                detail: format!("not a valid mitool.toml: {}", e.message()),
            }
        })
    }

    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if self.threads == 0 {
            return Err(Error::Config("threads must be at least 1".into()));
        }
        self.session_config(1).validate()
    }

    /// Options that change results (threads do not, nor which manifest
    /// listed the session), for the content hash.
    fn fingerprint(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("options serialise");
        if let Some(o) = v.as_object_mut() {
            o.remove("threads");
            o.remove("manifest");
        }
        v
    }

    /// These options as one session runs under them: what is known about
    /// it in place of the batch-wide values.
    pub fn with_known(&self, known: &Known) -> Self {
        let mut o = self.clone();
        if known.speakers.is_some() {
            o.speakers = known.speakers;
        }
        if known.practitioner.is_some() {
            o.practitioner = known.practitioner.clone();
        }
        if known.practitioner_voice.is_some() {
            o.practitioner_voice = known.practitioner_voice.clone();
        }
        o
    }

    /// The session settings these options give, with `threads` per session.
    pub fn session_config(&self, threads: usize) -> SessionConfig {
        SessionConfig {
            transcribe: TranscribeConfig {
                model: self.model.clone(),
                language: self.language.clone(),
                ..Default::default()
            },
            diarize: DiarizeConfig {
                speakers: self.speakers,
                min_speakers: self.min_speakers,
                max_speakers: self.max_speakers,
                channels_are_speakers: self.channels_are_speakers,
                ..Default::default()
            },
            utterances: UtteranceConfig {
                unit: self.unit,
                ..Default::default()
            },
            roles: RolesConfig {
                practitioner: self.practitioner.clone(),
                practitioner_voice: self.practitioner_voice.clone(),
            },
            score: ScoreConfig {
                segment: self.segment.clone(),
            },
            ..Default::default()
        }
        .with_threads(threads)
    }
}

/// What happened to one session.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(Box<SessionScores>),
    Skipped(Box<SessionScores>),
    Failed {
        stage: String,
        error: String,
    },
    /// Another run is working on it (`by`: who, in words); it is left to that run.
    Taken {
        by: String,
    },
}

/// A failure as recorded in `failure.json` and `failures.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub session_id: String,
    pub file: String,
    pub stage: String,
    pub error: String,
    /// The manifest's own columns, so a failed session's row keeps them.
    #[serde(default, skip_serializing_if = "Columns::is_empty")]
    pub manifest: Columns,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub sessions: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Left to another run that was working on them.
    pub taken: usize,
    /// Complete sessions whose codes a person corrected (`mitool review`):
    /// their corrections are kept and the tables use them.
    pub corrected: usize,
}

/// The batch's [`Session`] and the options it was built from.
pub struct Pipeline<'s> {
    session: Session<'s>,
    options: BatchOptions,
}

impl<'s> Pipeline<'s> {
    /// `session_threads` = threads each session may use.
    pub fn new(store: &'s Store, options: BatchOptions, session_threads: usize) -> Result<Self> {
        options.validate()?;
        let session = Session::new(store, options.session_config(session_threads.max(1)))?;
        Ok(Self { session, options })
    }

    /// The session every job runs through.
    pub fn session(&self) -> &Session<'s> {
        &self.session
    }

    fn content_hash(&self, job: &Job, models: &[ModelInfo]) -> Result<String> {
        let mut h = Sha256::new();
        h.update(format!(
            "mitool {} layout {LAYOUT_VERSION}\n",
            env!("CARGO_PKG_VERSION")
        ));
        h.update(crate::models::sha256_file(&job.path)?);
        h.update(serde_json::to_string(models).expect("serialise"));
        h.update(
            self.options
                .with_known(&job.known)
                .fingerprint()
                .to_string(),
        );
        Ok(crate::models::hex(&h.finalize()))
    }

    /// Processes one job into `out/<session_id>/`, or skips it when its
    /// outputs are complete and its hash unchanged, or leaves it to another
    /// run that holds its claim. A failure of this job is an
    /// [`Outcome::Failed`]; an error is the disk refusing every write, which
    /// no other job would get past either.
    pub fn run_job(
        &self,
        job: &Job,
        out: &Path,
        claims: &Claims,
        sink: &dyn Sink,
    ) -> Result<Outcome> {
        let dir = out.join(&job.session_id);
        let fail = |stage: &str, e: Error| {
            if e.disk_refuses_writes() {
                // Not this input's fault: no failure.json, the rerun redoes it.
                return Err(e);
            }
            let f = Failure {
                session_id: job.session_id.clone(),
                file: job.path.display().to_string(),
                stage: stage.to_string(),
                error: e.to_string(),
                manifest: job.columns.clone(),
            };
            let _ = write_atomic(
                &dir.join("failure.json"),
                serde_json::to_string_pretty(&f)
                    .expect("serialise")
                    .as_bytes(),
            );
            let _ = std::fs::remove_file(dir.join("session.json"));
            Ok(Outcome::Failed {
                stage: f.stage,
                error: f.error,
            })
        };
        let models = match self.session.models(job.kind == InputKind::Audio) {
            Ok(m) => m,
            Err(e) => return fail("models", e),
        };
        let hash = match self.content_hash(job, &models) {
            Ok(h) => h,
            Err(e) => return fail("read", e),
        };
        if let Some(mut rec) = completed(&dir, &hash, job.kind) {
            // A corrected site or date needs no new scores, only the record.
            if rec.manifest != job.columns {
                rec.manifest = job.columns.clone();
                if let Err(e) = write_atomic(&dir.join("session.json"), rec.to_json().as_bytes()) {
                    return fail("write", e);
                }
            }
            return Ok(Outcome::Skipped(Box::new(rec.scores)));
        }
        let claim = match claims.claim(&dir) {
            Ok(Ok(c)) => c,
            Ok(Err(by)) => return Ok(Outcome::Taken { by }),
            Err(e) => return fail("write", e),
        };
        // Another run may have finished it between the look above and the claim.
        if let Some(rec) = completed(&dir, &hash, job.kind) {
            return Ok(Outcome::Skipped(Box::new(rec.scores)));
        }
        let _ = std::fs::remove_file(dir.join("failure.json"));
        // Safe under the claim: no other run writes in this folder now.
        remove_stale_temps(&dir);
        let tracked = Tracked::new(sink, job.kind);
        // A panic anywhere in this session's work (a decoder, a model's
        // bindings, our own code) is this session's failure, not the run's.
        // Every output is written whole or not at all, so none is half-written.
        let result = crate::panic::catch(|| {
            let r = self.process(job, &tracked)?;
            if !claim.still_mine() {
                // Paused past the lease, and another run took the session over.
                return Ok(None);
            }
            tracked.now("write", "writing the outputs");
            self.write(job, &dir, &hash, r).map(Some)
        })
        .unwrap_or_else(|detail| {
            let (stage, doing) = tracked.stage();
            Err(StageError {
                stage,
                error: Error::Internal {
                    path: job.path.clone(),
                    doing,
                    detail,
                },
            })
        });
        let outcome = match result {
            Ok(Some(s)) => Ok(Outcome::Done(Box::new(s))),
            Ok(None) => Ok(Outcome::Taken {
                by: "another run, which took it over while this one was paused".into(),
            }),
            Err(e) => fail(e.stage, e.error),
        };
        drop(claim);
        // The recording and its results are gone: the next session starts lean.
        crate::mem::release();
        outcome
    }

    /// The session in memory.
    fn process(&self, job: &Job, sink: &dyn Sink) -> StageResult<SessionResult> {
        // Found missing now, not after transcribing and diarizing.
        if let Some(v) = &job.known.practitioner_voice {
            if !v.is_file() {
                return Err(StageError {
                    stage: "roles",
                    error: Error::io(
                        v,
                        "open the practitioner's voice sample",
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    ),
                });
            }
        }
        match job.kind {
            InputKind::Audio => {
                sink.begin(&job.path, Stage::Decode, 0);
                let audio = audio::decode(&job.path, &AudioConfig::default()).map_err(|error| {
                    StageError {
                        stage: "decode",
                        error,
                    }
                })?;
                sink.end(&job.path, Stage::Decode);
                self.session
                    .run_as(&job.session_id, &audio, &job.known, sink)
            }
            InputKind::Transcript => {
                let hints = RoleHints {
                    practitioner: (job.known.practitioner.as_ref())
                        .or(self.options.practitioner.as_ref())
                        .into_iter()
                        .cloned()
                        .collect(),
                };
                // A file of several sessions is one job: it keeps its own ids, under this one.
                let utts = transcripts::read(&job.path, &hints).map_err(|error| StageError {
                    stage: "read",
                    error,
                })?;
                self.session
                    .run_transcript(&job.session_id, &job.path, utts, sink)
            }
        }
    }

    /// Writes a session's files; `session.json` last.
    fn write(
        &self,
        job: &Job,
        dir: &Path,
        hash: &str,
        result: SessionResult,
    ) -> StageResult<SessionScores> {
        let id = &job.session_id;
        let w = |name: &str, bytes: &[u8]| {
            write_atomic(&dir.join(name), bytes).map_err(|error| StageError {
                stage: "write",
                error,
            })
        };
        if let Some(heard) = &result.heard {
            let doc = SessionUtterances::new(
                id,
                &heard.transcript,
                &heard.diarization,
                result.models.clone(),
                heard.roles.clone(),
                heard.utterances.clone(),
            );
            w("transcript.json", heard.transcript.to_json().as_bytes())?;
            w("diarization.rttm", heard.diarization.to_rttm(id).as_bytes())?;
            w("utterances.json", doc.to_json().as_bytes())?;
        }
        let mut rec = SessionRecord::new(
            result.scores.clone(),
            result.models,
            serde_json::json!({
                "kind": job.kind,
                "options": self.options.with_known(&job.known).fingerprint(),
            }),
        );
        rec.content_hash = Some(hash.to_string());
        rec.manifest = job.columns.clone();
        rec.needs_review = result.needs_review;
        let utts = &result.utterances;
        let csv = utterance::to_csv(utts).map_err(|error| StageError {
            stage: "write",
            error,
        })?;
        w("coded.csv", &csv)?;
        w("report.html", report::html(&rec, utts).as_bytes())?;
        w("codes.vtt", report::vtt(utts).as_bytes())?;
        // Last: its presence with this hash means the session is complete.
        w("session.json", rec.to_json().as_bytes())?;
        Ok(result.scores)
    }
}

/// Passes progress on and remembers the stage that began last, so that a
/// panic is put down to the stage it happened in.
struct Tracked<'a> {
    inner: &'a dyn Sink,
    /// The stage's name in `failures.csv`, and what it was doing in words.
    stage: std::sync::Mutex<(&'static str, &'static str)>,
}

impl<'a> Tracked<'a> {
    fn new(inner: &'a dyn Sink, kind: InputKind) -> Self {
        let first = match kind {
            InputKind::Audio => ("decode", Stage::Decode.label()),
            InputKind::Transcript => ("read", "reading the transcript"),
        };
        Self {
            inner,
            stage: std::sync::Mutex::new(first),
        }
    }

    fn now(&self, stage: &'static str, doing: &'static str) {
        // A poisoned lock still holds the last stage, which is all we need.
        *self.stage.lock().unwrap_or_else(|p| p.into_inner()) = (stage, doing);
    }

    fn stage(&self) -> (&'static str, &'static str) {
        *self.stage.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sink for Tracked<'_> {
    fn begin(&self, file: &Path, stage: Stage, total: u64) {
        // The names session.rs gives its stages' errors.
        let name = match stage {
            Stage::Decode => "decode",
            Stage::Vad | Stage::Transcribe => "transcribe",
            Stage::Diarize => "diarize",
            Stage::Code => "code",
            Stage::Score => "score",
            Stage::Report => "write",
        };
        self.now(name, stage.label());
        self.inner.begin(file, stage, total);
    }
    fn advance(&self, file: &Path, stage: Stage, done: u64) {
        self.inner.advance(file, stage, done);
    }
    fn end(&self, file: &Path, stage: Stage) {
        self.inner.end(file, stage);
    }
    fn warning(&self, file: &Path, message: &str) {
        self.inner.warning(file, message);
    }
    fn finished(&self, file: &Path, session_id: &str, error: Option<&str>) {
        self.inner.finished(file, session_id, error);
    }
}

/// Removes temporary files a killed run left behind (`.name.PID.N.tmp`).
fn remove_stale_temps(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') && n.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The session record in `dir` when it is complete under `hash`.
fn completed(dir: &Path, hash: &str, kind: InputKind) -> Option<SessionRecord> {
    let text = std::fs::read_to_string(dir.join("session.json")).ok()?;
    let rec: SessionRecord = serde_json::from_str(&text).ok()?;
    if rec.content_hash.as_deref() != Some(hash) {
        return None;
    }
    let mut needed = vec!["coded.csv", "report.html", "codes.vtt"];
    if kind == InputKind::Audio {
        needed.extend(["transcript.json", "diarization.rttm", "utterances.json"]);
    }
    needed.iter().all(|f| dir.join(f).is_file()).then_some(rec)
}

/// How to split `cores` between sessions running side by side and the
/// threads inside each: never more busy threads than cores.
pub fn thread_split(cores: usize, sessions: usize) -> (usize, usize) {
    let cores = cores.max(1);
    // Whisper and ONNX use 2 threads well; more sessions beyond that.
    let per_session = if cores >= 4 { 2 } else { cores };
    let parallel = (cores / per_session).clamp(1, sessions.max(1));
    (parallel, per_session)
}

/// Runs every job, `parallel` at a time, into the folder `out` (other runs
/// may work there too), then rebuilds the study tables. Stops early, with
/// the error, when the disk refuses writes.
pub fn run(
    pipeline: &Pipeline,
    jobs: &[Job],
    out: &Path,
    parallel: usize,
    sink: &(dyn Sink + Sync),
) -> Result<Summary> {
    crate::outfile::create_private_dir(out)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(parallel.max(1))
        .build()
        .map_err(|e| Error::Config(format!("cannot start worker threads: {e}")))?;
    let claims = Claims::new();
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        // Keeps this run's claims fresh while it works; ends with the work.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let claims = &claims;
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(BEAT) {
                claims.beat();
            }
        });
        // Collecting into a Result starts no new job once one has failed.
        let outcomes = pool.install(|| {
            jobs.par_iter()
                .map(|job| {
                    let o = pipeline.run_job(job, out, claims, sink);
                    let text = match &o {
                        Ok(o) => outcome_text(o),
                        // The run's error says why, once.
                        Err(_) => Some("stopped before it finished".into()),
                    };
                    sink.finished(&job.path, &job.session_id, text.as_deref());
                    o
                })
                .collect::<Result<_>>()
        });
        drop(stop);
        outcomes
    })?;
    let mut s = Summary {
        sessions: jobs.len(),
        ..Default::default()
    };
    for o in &outcomes {
        match o {
            Outcome::Done(_) => s.done += 1,
            Outcome::Skipped(_) => s.skipped += 1,
            Outcome::Failed { .. } => s.failed += 1,
            Outcome::Taken { .. } => s.taken += 1,
        }
    }
    s.corrected = write_tables(out, &[out.to_path_buf()])?.corrected;
    Ok(s)
}

fn outcome_text(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Failed { stage, error } => Some(format!("failed at {stage}: {error}")),
        Outcome::Taken { by } => Some(format!("left to another run working on it ({by})")),
        _ => None,
    }
}

/// Reads every session folder under `dirs`: records and failures, by id.
/// Completed sessions (folder and record) and failures, by session id.
type Collected = (
    BTreeMap<String, (PathBuf, SessionRecord)>,
    BTreeMap<String, Failure>,
);

fn collect(dirs: &[PathBuf]) -> Result<Collected> {
    let mut done = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for d in dirs {
        let rd = std::fs::read_dir(d).map_err(|e| Error::io(d, "list", e))?;
        let mut entries: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        entries.sort();
        for sd in entries {
            if let Ok(text) = std::fs::read_to_string(sd.join("session.json")) {
                let rec: SessionRecord = serde_json::from_str(&text).map_err(|e| Error::Input {
                    path: sd.join("session.json"),
                    line: Some(e.line() as u64),
                    detail: e.to_string(),
                })?;
                done.insert(rec.scores.session_id.clone(), (sd.clone(), rec));
            } else if let Ok(text) = std::fs::read_to_string(sd.join("failure.json")) {
                if let Ok(f) = serde_json::from_str::<Failure>(&text) {
                    failed.insert(f.session_id.clone(), f);
                }
            }
        }
    }
    for id in done.keys() {
        failed.remove(id);
    }
    Ok((done, failed))
}

/// How long a run waits for another to finish writing its study tables.
pub const TABLES_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes `out/sessions.csv`, `failures.csv` and `index.html` from the
/// session folders in `dirs` (the output folder itself, or shard folders),
/// under `out`'s lock: from what is complete now, while other runs may
/// still be working there.
pub fn write_tables(out: &Path, dirs: &[PathBuf]) -> Result<Summary> {
    let lock = lock_dir(out, TABLES_WAIT)?;
    // Only a killed run leaves temporary tables here, and the lock says no
    // run is writing them now.
    remove_stale_temps(out);
    let out = lock.dir();
    let (mut done, failed) = collect(dirs)?;
    // A person's corrections (`mitool review`) stand over the machine's codes:
    // the row and the index carry the corrected scores, and `corrected` says
    // how many changes were made (empty: nobody reviewed the session).
    let mut corrected = BTreeMap::new();
    for (id, (dir, rec)) in done.iter_mut() {
        if let Some(c) = review::corrected_record(dir) {
            let source = std::mem::take(&mut rec.scores.source);
            rec.scores = SessionScores { source, ..c.scores };
            corrected.insert(id.clone(), c.changes);
        }
    }
    // One row per session: scores, status, needs_review, corrected, manifest columns.
    let mut rows: Vec<(SessionScores, String, String, String, &Columns)> = done
        .iter()
        .map(|(id, (_, r))| {
            let review = r.needs_review.join("; ");
            let changes = corrected.get(id).map_or(String::new(), |n| n.to_string());
            (
                r.scores.clone(),
                "ok".to_string(),
                review,
                changes,
                &r.manifest,
            )
        })
        .collect();
    // Failed sessions get a row too, empty but for id, source, status and the manifest's columns.
    for f in failed.values() {
        let mut s = score::score(&f.session_id, "", &[], "", &ScoreConfig::default())?;
        s.source = Path::new(&f.file)
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        rows.push((
            s,
            format!("failed: {}", f.stage),
            String::new(),
            String::new(),
            &f.manifest,
        ));
    }
    rows.sort_by(|a, b| a.0.session_id.cmp(&b.0.session_id));
    // Every manifest column once, in the order first met; folders from
    // different manifests (merged) leave the cells they lack empty.
    let mut names: Vec<&str> = Vec::new();
    for (_, _, _, _, cols) in &rows {
        for (n, _) in &cols.0 {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    let mut extra: Vec<(&str, Vec<String>)> = vec![
        (
            TABLE_STATUS_COLUMNS[0],
            rows.iter().map(|r| r.1.clone()).collect(),
        ),
        (
            TABLE_STATUS_COLUMNS[1],
            rows.iter().map(|r| r.2.clone()).collect(),
        ),
        (
            TABLE_STATUS_COLUMNS[2],
            rows.iter().map(|r| r.3.clone()).collect(),
        ),
    ];
    for n in names {
        let cells = rows
            .iter()
            .map(|r| r.4.get(n).unwrap_or_default().to_string())
            .collect();
        extra.push((n, cells));
    }
    let sorted: Vec<SessionScores> = rows.iter().map(|r| r.0.clone()).collect();
    write_atomic(
        &out.join("sessions.csv"),
        &score::session_table(&sorted, &extra),
    )?;

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["session_id", "file", "stage", "error"])
        .expect("in memory");
    for f in failed.values() {
        w.write_record([&f.session_id, &f.file, &f.stage, &f.error])
            .expect("in memory");
    }
    write_atomic(
        &out.join("failures.csv"),
        &w.into_inner().expect("in memory"),
    )?;
    write_atomic(
        &out.join("index.html"),
        report::index_html(
            out,
            &done,
            &corrected,
            &failed
                .values()
                .map(|f| (f.session_id.as_str(), f.stage.as_str(), f.error.as_str()))
                .collect::<Vec<_>>(),
        )
        .as_bytes(),
    )?;
    Ok(Summary {
        sessions: done.len() + failed.len(),
        done: done.len(),
        skipped: 0,
        failed: failed.len(),
        taken: 0,
        corrected: corrected.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_finds_inputs_and_makes_ids_unique() {
        let d = tempfile::tempdir().unwrap();
        for p in [
            "a/visit 1.wav",
            "b/visit 1.wav",
            "b/notes.csv",
            "b/x.rttm",
            "b/.hidden.wav",
            "b/y.ref.json",
            "c/readme.md",
        ] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"x").unwrap();
        }
        let jobs = plan(&[d.path().to_path_buf()]).unwrap();
        let ids: Vec<&str> = jobs.iter().map(|j| j.session_id.as_str()).collect();
        assert_eq!(ids, ["visit_1", "notes", "visit_1-2"]);
        assert_eq!(jobs[1].kind, InputKind::Transcript);
    }

    #[test]
    fn shards_partition_the_jobs() {
        let jobs: Vec<Job> = (0..10)
            .map(|i| Job {
                session_id: format!("s{i:02}"),
                path: PathBuf::from(format!("{i}.wav")),
                kind: InputKind::Audio,
                known: Known::default(),
                columns: Columns::default(),
            })
            .collect();
        let mut all: Vec<String> = (1..=3)
            .flat_map(|i| shard(jobs.clone(), i, 3).unwrap())
            .map(|j| j.session_id)
            .collect();
        all.sort();
        assert_eq!(all.len(), 10);
        all.dedup();
        assert_eq!(all.len(), 10);
        assert!(shard(jobs, 4, 3).is_err());
    }

    #[test]
    fn threads_never_exceed_cores() {
        assert_eq!(thread_split(2, 5), (1, 2));
        assert_eq!(thread_split(8, 5), (4, 2));
        assert_eq!(thread_split(8, 1), (1, 2));
        assert_eq!(thread_split(1, 3), (1, 1));
    }
}
