//! The whole pipeline in memory: a [`Session`] is built once from a model
//! [`Store`] and a [`SessionConfig`], then runs any number of recordings or
//! transcripts into a [`SessionResult`] (transcript, speech, speakers,
//! utterances, roles, codes, scores). Nothing is written here: the batch
//! ([`crate::batch`]) and the commands write what they need from the result.
//!
//! ```no_run
//! use mitool_core::{audio, models::Store, progress::NullSink, session::{Session, SessionConfig}};
//! let store = Store::open(None)?;
//! let session = Session::new(&store, SessionConfig::default())?;
//! let recording = audio::decode("visit.wav".as_ref(), &Default::default())?;
//! let result = session.run(&recording, &NullSink)?;
//! println!("R:Q {:?}", result.scores.r_to_q);
//! # Ok::<(), mitool_core::Error>(())
//! ```
//!
//! Each piece of work is done once per recording: the mono mix and its
//! speech regions are computed once and handed to transcription and (in
//! channel mode) diarization; the VAD's ONNX session is loaded once; a
//! practitioner's enrolment sample is embedded once per `Session`.
//!
//! What a study knows about one recording (how many people were there, who
//! the practitioner is) comes as [`Known`] with each run, over the
//! configured defaults: the loaded models serve every session as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::audio::{self, Audio, AudioConfig, Samples};
use crate::code::{Coder, CoderConfig};
use crate::diarize::{Diarization, DiarizeConfig, Diarizer};
use crate::error::{Error, Result};
use crate::models::Store;
use crate::progress::{NullSink, Sink, Stage};
use crate::roles::{
    self, RoleAssignment, RoleEvidence, RolesConfig, SessionUtterances, UtteranceConfig,
};
use crate::score::{self, ScoreConfig, SessionScores};
use crate::transcribe::{self, TranscribeConfig, Transcriber};
use crate::transcript::{ModelInfo, Transcript};
use crate::utterance::Utterance;
use crate::vad::{Region, Vad};

/// Every stage's settings, each with its defaults and checks.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Whisper model, language, threads and speech detection.
    pub transcribe: TranscribeConfig,
    /// Speaker counts, channel mode, clustering and refinement.
    pub diarize: DiarizeConfig,
    /// How words become utterances.
    pub utterances: UtteranceConfig,
    /// Who the practitioner is, where the caller knows.
    pub roles: RolesConfig,
    /// The MI coder's threads.
    pub coder: CoderConfig,
    /// Which part of the session is scored.
    pub score: ScoreConfig,
}

impl SessionConfig {
    /// Checks every stage's settings.
    pub fn validate(&self) -> Result<()> {
        self.transcribe.validate()?;
        self.diarize.validate()?;
        self.utterances.validate()?;
        self.coder.validate()?;
        self.score.validate()
    }

    /// The same settings with `threads` for each stage.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.transcribe.threads = threads;
        self.diarize.threads = threads;
        self.coder.threads = threads;
        self
    }
}

/// What the caller knows about one recording, over the [`SessionConfig`]
/// (a trial's sessions manifest gives it per session); `None` keeps the config's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The number of people speaking (1-20).
    pub speakers: Option<usize>,
    /// The practitioner's speaker label ("S2").
    pub practitioner: Option<String>,
    /// A recording of the practitioner alone.
    pub practitioner_voice: Option<PathBuf>,
}

/// A stage's failure: which stage (as `failures.csv` names it) and why.
#[derive(Debug)]
pub struct StageError {
    /// "decode", "transcribe", "diarize", "roles", "code", "score", ...
    pub stage: &'static str,
    pub error: Error,
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<StageError> for Error {
    fn from(e: StageError) -> Self {
        e.error
    }
}

/// A result whose error names the stage.
pub type StageResult<T> = std::result::Result<T, StageError>;

fn at<T>(stage: &'static str, r: Result<T>) -> StageResult<T> {
    r.map_err(|error| StageError { stage, error })
}

/// What was heard in a recording: the stages before coding.
#[derive(Debug, Clone)]
pub struct Heard {
    pub transcript: Transcript,
    /// Speech regions of the mono mix.
    pub speech: Vec<Region>,
    pub diarization: Diarization,
    /// Utterances with speakers and roles, not yet coded.
    pub utterances: Vec<Utterance>,
    pub roles: RoleAssignment,
    /// Every model used so far (Whisper, segmentation, embedding, VAD).
    pub models: Vec<ModelInfo>,
}

impl Heard {
    /// The utterances document (`utterances.json`).
    pub fn document(&self, session_id: &str) -> SessionUtterances {
        SessionUtterances::new(
            session_id,
            &self.transcript,
            &self.diarization,
            self.models.clone(),
            self.roles.clone(),
            self.utterances.clone(),
        )
    }
}

/// Everything a session gives, in memory.
#[derive(Debug, Clone)]
pub struct SessionResult {
    /// Transcript, speech, speakers and roles (`None` for a transcript input).
    pub heard: Option<Heard>,
    /// Coded utterances.
    pub utterances: Vec<Utterance>,
    /// MITI counts, summary scores, estimated globals and bands.
    pub scores: SessionScores,
    /// Every model used.
    pub models: Vec<ModelInfo>,
    /// Why a person should check this session before trusting its scores;
    /// empty when nothing stood out.
    pub needs_review: Vec<String>,
}

type Lazy<T> = OnceLock<std::result::Result<T, String>>;

fn lazy<T>(cell: &Lazy<T>, init: impl FnOnce() -> Result<T>) -> Result<&T> {
    cell.get_or_init(|| init().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Config(e.clone()))
}

/// The pipeline: models loaded on first use and shared by every recording
/// (and by threads running recordings side by side).
pub struct Session<'s> {
    store: &'s Store,
    config: SessionConfig,
    transcriber: Lazy<Transcriber>,
    diarizer: Lazy<Diarizer>,
    coder: Lazy<Coder>,
    vad: Lazy<Mutex<Vad>>,
    /// Enrolled voices by sample path: one practitioner usually has many sessions.
    voices: Mutex<HashMap<PathBuf, Vec<f32>>>,
}

impl<'s> Session<'s> {
    /// Checks `config` and that a Whisper model named in it exists, so a
    /// mistyped name fails here, once, not once per recording.
    pub fn new(store: &'s Store, config: SessionConfig) -> Result<Self> {
        config.validate()?;
        if let Some(m) = &config.transcribe.model {
            transcribe::resolve_model(store, Some(m))?;
        }
        if let Some(v) = &config.roles.practitioner_voice {
            if !v.is_file() {
                return Err(Error::io(
                    v,
                    "open the practitioner's voice sample",
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                ));
            }
        }
        Ok(Self {
            store,
            config,
            transcriber: Default::default(),
            diarizer: Default::default(),
            coder: Default::default(),
            vad: Default::default(),
            voices: Default::default(),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The loaded Whisper model.
    pub fn transcriber(&self) -> Result<&Transcriber> {
        lazy(&self.transcriber, || {
            Transcriber::new(self.store, self.config.transcribe.clone())
        })
    }

    /// The loaded diarization models.
    pub fn diarizer(&self) -> Result<&Diarizer> {
        lazy(&self.diarizer, || {
            Diarizer::new(self.store, self.config.diarize.clone())
        })
    }

    /// The loaded MI coder.
    pub fn coder(&self) -> Result<&Coder> {
        lazy(&self.coder, || {
            Coder::new(self.store, self.config.coder.clone())
        })
    }

    /// The names and hashes of the models an audio (or transcript) session
    /// uses, checking each is installed.
    pub fn models(&self, audio: bool) -> Result<Vec<ModelInfo>> {
        let info = |name: &str| -> Result<ModelInfo> {
            self.store.require(name)?;
            Ok(ModelInfo {
                name: name.to_string(),
                sha256: self.store.sha256(name).unwrap_or_default(),
            })
        };
        let mut out = Vec::new();
        if audio {
            let (_, whisper) =
                transcribe::resolve_model(self.store, self.config.transcribe.model.as_deref())?;
            out.push(whisper);
        }
        out.push(info("coder")?);
        if audio {
            let [seg, frames, pool, vad] = self.config.diarize.models();
            for name in [vad, seg, frames, pool] {
                out.push(info(name)?);
            }
        }
        Ok(out)
    }

    /// Speech regions of a mono mix, with one VAD session for all recordings.
    pub fn speech(&self, samples: &Samples, path: &Path, sink: &dyn Sink) -> Result<Vec<Region>> {
        let vad = lazy(&self.vad, || {
            crate::onnx::init(self.store)?;
            let model = self.store.require("silero-vad")?;
            Ok(Mutex::new(Vad::new(
                &model,
                self.config.transcribe.vad.clone(),
            )?))
        })?;
        let total_ms = (samples.len() as u64 * 1000) / audio::SAMPLE_RATE as u64;
        sink.begin(path, Stage::Vad, total_ms);
        let regions = crate::panic::lock(vad).regions(samples, |done| {
            sink.advance(
                path,
                Stage::Vad,
                done as u64 * 1000 / audio::SAMPLE_RATE as u64,
            )
        })?;
        sink.end(path, Stage::Vad);
        Ok(regions)
    }

    /// The practitioner's enrolled voice (this recording's sample, else the
    /// configured one), embedded once per sample.
    fn voice(&self, known: &Known) -> Result<Option<Vec<f32>>> {
        let Some(path) = known.practitioner_voice.as_ref().or(self
            .config
            .roles
            .practitioner_voice
            .as_ref())
        else {
            return Ok(None);
        };
        // Held while embedding: sessions sharing a sample embed it once.
        let mut voices = crate::panic::lock(&self.voices);
        if let Some(e) = voices.get(path) {
            return Ok(Some(e.clone()));
        }
        let sample = audio::decode(path, &AudioConfig::default())?;
        let mono = sample.mono();
        let regions = self.speech(&mono, path, &NullSink)?;
        let e = self
            .diarizer()?
            .embed_voice_speech(&sample, &mono, &regions)?;
        voices.insert(path.clone(), e.clone());
        Ok(Some(e))
    }

    /// Words with times.
    pub fn transcribe(&self, audio: &Audio, sink: &dyn Sink) -> StageResult<Transcript> {
        let mono = audio.mono();
        let speech = at("transcribe", self.speech(&mono, &audio.path, sink))?;
        let t = at("transcribe", self.transcriber())?;
        at(
            "transcribe",
            t.transcribe_speech(audio, &mono, &speech, sink),
        )
    }

    /// Who spoke when, without transcription.
    pub fn who_spoke_when(&self, audio: &Audio, sink: &dyn Sink) -> StageResult<Diarization> {
        let d = at("diarize", self.diarizer())?;
        at("diarize", d.diarize(audio, sink))
    }

    /// Transcript, speakers, utterances and roles of a recording: everything
    /// before coding. Roles use the caller's label or enrolled voice where
    /// given (`known`, else the config), else what and how each speaker talks
    /// (the text role model).
    pub fn hear(
        &self,
        session_id: &str,
        audio: &Audio,
        known: &Known,
        sink: &dyn Sink,
    ) -> StageResult<Heard> {
        if let Some(n) = known.speakers {
            if !(1..=20).contains(&n) {
                return Err(StageError {
                    stage: "diarize",
                    error: Error::Config(format!("speakers must be between 1 and 20, got {n}")),
                });
            }
        }
        let mono = audio.mono();
        let speech = at("transcribe", self.speech(&mono, &audio.path, sink))?;
        let transcriber = at("transcribe", self.transcriber())?;
        let transcript = at(
            "transcribe",
            transcriber.transcribe_speech(audio, &mono, &speech, sink),
        )?;
        crate::mem::release();
        let diarizer = at("diarize", self.diarizer())?;
        let diarization = at(
            "diarize",
            diarizer.diarize_speech(audio, &mono, Some(&speech), known.speakers, sink),
        )?;
        drop(mono);
        crate::mem::release();
        let mut utterances = roles::attribute(
            &transcript,
            &diarization,
            session_id,
            &self.config.utterances,
        );
        if utterances.is_empty() {
            return Err(StageError {
                stage: "diarize",
                error: Error::NoAudio {
                    path: audio.path.clone(),
                    detail: "no words could be given to a speaker".into(),
                },
            });
        }
        let voice = at("roles", self.voice(known))?;
        let evidence = RoleEvidence {
            practitioner: known.practitioner.as_deref().or(self
                .config
                .roles
                .practitioner
                .as_deref()),
            voice: voice.as_deref(),
        };
        let roles = at(
            "roles",
            roles::assign_roles(&mut utterances, &diarization, &evidence),
        )?;
        let mut models = vec![transcript.model.clone()];
        models.extend(diarizer.models().iter().cloned());
        Ok(Heard {
            transcript,
            speech,
            diarization,
            utterances,
            roles,
            models,
        })
    }

    /// A recording, all the way to scores; the session id is the file name.
    pub fn run(&self, audio: &Audio, sink: &dyn Sink) -> StageResult<SessionResult> {
        let id = crate::batch::readable_id(&audio.path);
        self.run_as(&id, audio, &Known::default(), sink)
    }

    /// A recording, all the way to scores, under `session_id`, with what
    /// the caller knows about it.
    pub fn run_as(
        &self,
        session_id: &str,
        audio: &Audio,
        known: &Known,
        sink: &dyn Sink,
    ) -> StageResult<SessionResult> {
        let heard = self.hear(session_id, audio, known, sink)?;
        let models = at("models", self.models(true))?;
        let utterances = heard.utterances.clone();
        let mut result = self.score(session_id, &audio.path, utterances, models, sink)?;
        result
            .needs_review
            .extend(heard.diarization.count.review.clone());
        result
            .needs_review
            .extend(heard.roles.review(heard.diarization.speakers.len()));
        result.heard = Some(heard);
        Ok(result)
    }

    /// A transcript's utterances (roles known), coded and scored.
    pub fn run_transcript(
        &self,
        session_id: &str,
        path: &Path,
        mut utterances: Vec<Utterance>,
        sink: &dyn Sink,
    ) -> StageResult<SessionResult> {
        for u in &mut utterances {
            u.session_id = session_id.to_string();
        }
        let models = at("models", self.models(false))?;
        self.score(session_id, path, utterances, models, sink)
    }

    /// Codes `utts` in place.
    pub fn code(&self, utts: &mut [Utterance], path: &Path, sink: &dyn Sink) -> Result<()> {
        let coder = self.coder()?;
        coder.code_session(utts, path, sink)?;
        for u in utts.iter_mut() {
            u.extra
                .insert("model_version".into(), coder.version().to_string());
        }
        Ok(())
    }

    fn score(
        &self,
        session_id: &str,
        path: &Path,
        mut utterances: Vec<Utterance>,
        models: Vec<ModelInfo>,
        sink: &dyn Sink,
    ) -> StageResult<SessionResult> {
        at("code", self.code(&mut utterances, path, sink))?;
        crate::mem::release();
        let version = at("code", self.coder())?.version().to_string();
        sink.begin(path, Stage::Score, 1);
        let source = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let scores = at(
            "score",
            score::score(
                session_id,
                &source,
                &utterances,
                &version,
                &self.config.score,
            ),
        )?;
        sink.end(path, Stage::Score);
        Ok(SessionResult {
            heard: None,
            utterances,
            scores,
            models,
            needs_review: Vec::new(),
        })
    }
}
