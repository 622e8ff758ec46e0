//! Who spoke when: speaker diarization, pyannote-3.1 style, with ONNX models.
//!
//! 1. Sliding 10 s windows go through pyannote segmentation-3.0, decoded
//!    hard to at most 3 local speakers per window (2 at once).
//! 2. CAM++ runs once over the recording ([`frames`]); each local speaker
//!    with enough speech *alone* gets one embedding, pooled from its frames.
//! 3. The embeddings are clustered: spectral into `max_speakers` groups,
//!    then the most alike groups merged while their centroids' cosine, less
//!    a penalty where the segmenter heard both in one window as different
//!    people, exceeds `merge_cosine`; so a person who says little is kept,
//!    one voice is not split in several, and two similar voices that take
//!    turns are not merged ([`cluster::cluster`]).
//! 4. Every local speaker goes to its nearest cluster centroid (the
//!    speakers of one window to different ones), and windows are stitched
//!    back on a global frame grid: per frame, the number of speakers is the
//!    rounded mean of the windows' local counts, and the most active
//!    clusters fill it.
//! 5. Refinement: 1.5 s windows every 0.5 s over the speech are embedded
//!    (pooled from the same frames).
//!    Where the count was estimated they check it first
//!    ([`count::recount`]): voices whose short windows sound alike are
//!    merged, a voice whose short windows fall in two clearly different
//!    groups is split (two similar voices the segmenter followed as one
//!    local speaker: the 10 s embeddings blur them; a half like another
//!    voice goes to it), a fragment never heard alone is folded in, and a
//!    person who says little, hidden in another voice, is found by how
//!    unlike the voices their few windows are ([`count::find_quiet`]).
//!    Then frames where one person talks go to the voice those windows are
//!    nearest to.
//! 6. The count's evidence (how near each decision came to its threshold)
//!    is kept in [`CountDecision`]; a near call asks for review.
//!
//! Recordings with one microphone per person (each voice dominating its own
//! channel) skip all that: the speaker is the loudest channel.
//!
//! (About 720 lines of code plus tests: the ONNX models and the neural
//! path, which reads best in one piece; clustering, the count, refinement
//! and channel mode are in their own files.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::{Tensor, TensorRef};
use serde::{Deserialize, Serialize};

use crate::audio::{Audio, Samples, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::models::Store;
use crate::progress::{Sink, Stage};
use crate::transcript::ModelInfo;
use crate::vad::{Region, Vad, VadConfig};

mod channels;
mod cluster;
mod count;
mod frames;
mod refine;

pub use channels::channels_look_like_speakers;
use cluster::{assign_distinct, normalise};
pub use cluster::{cluster, cosine, CountEvidence, SpeakerCount};
pub use count::CountDecision;

/// Samples per segmentation window (10 s).
const CHUNK: usize = 160_000;
/// Segmentation output frames per window.
const FRAMES: usize = 589;
/// Samples between segmentation frames.
const FRAME_STEP: usize = 270;
/// A frame's central `FRAME_STEP` samples start this far into its receptive field.
const FRAME_CENTRE: usize = 360;
/// Seconds between segmentation frames.
const FRAME_S: f64 = FRAME_STEP as f64 / SAMPLE_RATE as f64;
/// Local speakers active in each powerset class.
const POWERSET: [&[usize]; 7] = [&[], &[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2]];
/// The shortest stretch embedded (0.1 s).
const MIN_EMBED_SAMPLES: usize = 1600;
/// Which of a window's three local speakers are active, per frame.
type Local = Vec<[bool; 3]>;
/// Windows per run of the segmentation model.
const SEG_BATCH: usize = 4;

/// Options for [`Diarizer`].
#[derive(Debug, Clone)]
pub struct DiarizeConfig {
    /// The number of speakers, where known: skips estimating it. Given two
    /// or three where the estimate hears one voice fewer, the missing
    /// person is found among the short windows rather than by splitting a
    /// voice; where none can be found, two given keep the long windows'
    /// two groups, three given keep two voices and ask for a check
    /// (`count::reach`).
    pub speakers: Option<usize>,
    /// The fewest speakers the estimate may find.
    pub min_speakers: usize,
    /// The most speakers the estimate may find.
    pub max_speakers: usize,
    /// One channel per speaker: `Some(true)` forces it, `Some(false)` never,
    /// `None` detects it from channel energy.
    pub channels_are_speakers: Option<bool>,
    /// Seconds between window starts (windows are 10 s long).
    pub step_s: f32,
    /// A local speaker needs this much speech alone in a window to be embedded.
    pub min_embed_s: f32,
    /// Clusters whose centroids are more similar than this (cosine, less
    /// the apart penalty) are one voice.
    pub merge_cosine: f32,
    /// Penalty on that cosine per share of windows in which the segmenter
    /// heard the two clusters as different people.
    pub apart_weight: f32,
    /// An estimated count whose nearest decision was closer than this to
    /// its threshold is flagged for review.
    pub count_review_margin: f32,
    /// Voices whose 1.5 s windows' centroids are more alike than this
    /// (cosine) are one (the short-window check of the count).
    pub short_merge_cosine: f32,
    /// A voice whose 1.5 s windows fall in two groups less alike than this
    /// (2-means centroids' cosine) is two.
    pub short_split_cosine: f32,
    /// A voice never heard alone in a 1.5 s window joins the voice it is
    /// most like when their long-window centroids are more alike than this.
    pub fold_cosine: f32,
    /// A small group of a voice's short windows, unlike the rest of it and
    /// every other voice (cosine below this), is a person who says little
    /// ([`count::find_quiet`]).
    pub quiet_cosine: f32,
    /// Length of the short windows that re-check who speaks where one
    /// person talks (see [`Diarizer::refine`]); 0 turns the check off.
    pub refine_window_s: f32,
    /// Seconds between those short windows.
    pub refine_hop_s: f32,
    /// A frame moves to another speaker only when that voice is this much
    /// more similar (cosine) than the one the windows gave.
    pub refine_margin: f32,
    /// Pauses shorter than this inside one speaker's speech are bridged.
    pub min_gap_s: f32,
    /// Turns shorter than this are dropped.
    pub min_turn_s: f32,
    /// CAM++ with int8 convolutions (`models/diarize/quantize.py`);
    /// `false` runs the float model.
    pub int8: bool,
    /// ONNX Runtime threads.
    pub threads: usize,
}

impl Default for DiarizeConfig {
    fn default() -> Self {
        Self {
            speakers: None,
            min_speakers: 1,
            max_speakers: 4,
            channels_are_speakers: None,
            step_s: 2.5,
            min_embed_s: 0.5,
            // Embeddings pooled from CAM++ frames of 30 s runs (frames.rs)
            // are more alike than whole-model ones of each stretch: on the
            // tune half of benches/diarize-dev and the real clips, groups of
            // one voice were joined at 0.77 and above, two voices kept apart
            // scored up to 0.74 (tune-09, ami-mixture-60s).
            merge_cosine: 0.75,
            // The segmenter's two local speakers of one window are two
            // people; this keeps two alike voices that take turns apart.
            apart_weight: 0.5,
            // The short-window thresholds, set on the tune half of
            // benches/diarize-dev (Kokoro conversations, 1.5 s windows) and
            // the real clips, pooled embeddings: one voice's 2-means halves
            // (each at least a fifth) were 0.79-0.95 alike, two voices
            // followed as one 0.44 (ami-dev00); two people's short-window
            // centroids were up to 0.89 alike (tune-09: at the review
            // margin), and no voice the long windows split needed them.
            count_review_margin: 0.05,
            short_merge_cosine: 0.9,
            short_split_cosine: 0.6,
            fold_cosine: 0.55,
            // Set on the tune halves (benches/diarize-dev quiet-tune and its
            // far-field copies, the real clips): hidden quiet people's groups
            // were 0.24-0.44 like the nearest voice (0.55 where the split
            // above already found them); groups of a known voice 0.53 and up,
            // 0.63 and up with four windows from two moments.
            quiet_cosine: 0.53,
            // The usual speaker-embedding segment length; a 0.5 s hop covers
            // each frame three times. Measured on the AMI clips and demo
            // dialogues (models/diarize/MODEL_CARD.md): every setting of
            // 1-1.5 s x 0.25-0.5 s x margin 0-0.1 stayed under 6.1% DER.
            refine_window_s: 1.5,
            refine_hop_s: 0.5,
            refine_margin: 0.05,
            // Bridges the pause between two sentences of one turn (~0.65 s in
            // the demo sessions, up to ~0.75 s); longer bridges add false alarm
            // on meetings.
            min_gap_s: 0.8,
            min_turn_s: 0.1,
            // CAM++ a quarter faster; the same speakers on 25 of the 26
            // development clips (models/diarize/MODEL_CARD.md, "Int8").
            int8: true,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl DiarizeConfig {
    /// The models these settings run: segmentation, CAM++ frames, CAM++
    /// pooling, VAD.
    pub fn models(&self) -> [&'static str; 4] {
        let frames = if self.int8 {
            "campplus-frames-int8"
        } else {
            "campplus-frames"
        };
        [
            "pyannote-segmentation-3.0",
            frames,
            "campplus-pool",
            "silero-vad",
        ]
    }

    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(1..=20).contains(&self.max_speakers) {
            return bad(format!(
                "max speakers must be between 1 and 20, got {}",
                self.max_speakers
            ));
        }
        if let Some(n) = self.speakers {
            if !(1..=20).contains(&n) {
                return bad(format!("speakers must be between 1 and 20, got {n}"));
            }
        }
        if !(1..=self.max_speakers).contains(&self.min_speakers) {
            return bad(format!(
                "min speakers must be between 1 and max speakers ({}), got {}",
                self.max_speakers, self.min_speakers
            ));
        }
        if !(0.5..=10.0).contains(&self.step_s) {
            return bad(format!(
                "diarization window step must be between 0.5 and 10 s, got {}",
                self.step_s
            ));
        }
        if !(0.05..=5.0).contains(&self.min_embed_s) {
            return bad(format!(
                "min_embed_s must be between 0.05 and 5 s, got {}",
                self.min_embed_s
            ));
        }
        if !(0.0..=2.0).contains(&self.apart_weight)
            || !(0.0..=1.0).contains(&self.count_review_margin)
        {
            return bad(format!(
                "apart_weight must be between 0 and 2 and count_review_margin between 0 and 1, got {} and {}",
                self.apart_weight, self.count_review_margin
            ));
        }
        for (name, v) in [
            ("short_merge_cosine", self.short_merge_cosine),
            ("short_split_cosine", self.short_split_cosine),
            ("fold_cosine", self.fold_cosine),
            ("quiet_cosine", self.quiet_cosine),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return bad(format!("{name} must be between -1 and 1, got {v}"));
            }
        }
        if !(-1.0..=1.0).contains(&self.merge_cosine) {
            return bad(format!(
                "merge_cosine must be between -1 and 1, got {}",
                self.merge_cosine
            ));
        }
        if self.refine_window_s != 0.0 && !(0.5..=5.0).contains(&self.refine_window_s) {
            return bad(format!(
                "refine_window_s must be 0 (off) or between 0.5 and 5 s, got {}",
                self.refine_window_s
            ));
        }
        if !(0.1..=5.0).contains(&self.refine_hop_s) {
            return bad(format!(
                "refine_hop_s must be between 0.1 and 5 s, got {}",
                self.refine_hop_s
            ));
        }
        if !(0.0..=1.0).contains(&self.refine_margin) {
            return bad(format!(
                "refine_margin must be between 0 and 1, got {}",
                self.refine_margin
            ));
        }
        if self.min_gap_s < 0.0 || self.min_turn_s < 0.0 {
            return bad("min_gap_s and min_turn_s must not be negative".into());
        }
        Ok(())
    }
}

/// One stretch of one speaker's speech, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub start: f64,
    pub end: f64,
    /// Index into [`Diarization::speakers`] (or into the labels of an RTTM file).
    pub speaker: usize,
}

impl Turn {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// A speaker found in the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// "S1", "S2", ... in order of first speech.
    pub label: String,
    /// Seconds of speech.
    pub speech_s: f64,
    /// Mean CAM++ embedding (L2-normalised), empty where none could be made.
    pub centroid: Vec<f32>,
}

/// Who spoke when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diarization {
    /// Turns ordered by start; turns of different speakers may overlap.
    pub turns: Vec<Turn>,
    pub speakers: Vec<Speaker>,
    /// "neural" (segmentation + embeddings) or "channels" (one microphone each).
    pub method: String,
    /// Seconds where two or more speakers talk at once.
    pub overlap_s: f64,
    /// Length of the recording in seconds.
    pub duration_s: f64,
    /// How the number of speakers was decided.
    #[serde(default)]
    pub count: CountDecision,
}

impl Diarization {
    /// The label of speaker `i`.
    pub fn label(&self, i: usize) -> &str {
        self.speakers.get(i).map_or("?", |s| s.label.as_str())
    }

    /// Index of the speaker called `label`.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.speakers
            .iter()
            .position(|s| s.label.eq_ignore_ascii_case(label))
    }

    /// RTTM text (one `SPEAKER` line per turn) with `file_id` in column 2.
    pub fn to_rttm(&self, file_id: &str) -> String {
        let id: String = file_id
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        let mut s = String::new();
        for t in &self.turns {
            s.push_str(&format!(
                "SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> {} <NA> <NA>\n",
                t.start,
                t.duration(),
                self.label(t.speaker)
            ));
        }
        s
    }
}

/// The diarization models, loaded once and shared by every recording.
pub struct Diarizer {
    config: DiarizeConfig,
    /// The frame model, one session per worker (`frames::frame_stats`).
    frames: Vec<Mutex<Session>>,
    pool: Mutex<Session>,
    seg_path: PathBuf,
    frames_path: PathBuf,
    pool_path: PathBuf,
    vad_path: PathBuf,
    models: Vec<ModelInfo>,
}

impl Diarizer {
    /// Loads segmentation-3.0 and CAM++ from the store.
    pub fn new(store: &Store, config: DiarizeConfig) -> Result<Self> {
        config.validate()?;
        crate::onnx::init(store)?;
        let mut paths = Vec::new();
        let mut models = Vec::new();
        for name in config.models() {
            paths.push(store.require(name)?);
            models.push(ModelInfo {
                name: name.to_string(),
                sha256: store.sha256(name).unwrap_or_default(),
            });
        }
        let threads = config.threads.max(1);
        // Segmentation sessions live for one recording (`segment_all`);
        // this one only checks the model loads.
        drop(crate::onnx::session(&paths[0], 1)?);
        Ok(Self {
            frames: frame_sessions(&paths[1], threads)?,
            pool: Mutex::new(crate::onnx::session(&paths[2], threads)?),
            seg_path: paths[0].clone(),
            frames_path: paths[1].clone(),
            pool_path: paths[2].clone(),
            vad_path: paths[3].clone(),
            config,
            models,
        })
    }

    /// The models used (segmentation, embedding, VAD), for provenance.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The settings in use.
    pub fn config(&self) -> &DiarizeConfig {
        &self.config
    }

    /// Who spoke when in `audio`. Silence gives an empty result.
    pub fn diarize(&self, audio: &Audio, sink: &dyn Sink) -> Result<Diarization> {
        self.diarize_speech(audio, &audio.mono(), None, None, sink)
    }

    /// As [`Diarizer::diarize`], with the mono mix of `audio` and, where the
    /// caller has them already, its speech regions (channel mode needs them;
    /// the neural path finds speech with its own segmentation model).
    /// `speakers`, where known for this recording, takes the place of the
    /// configured count, so one loaded diarizer serves sessions of different sizes.
    pub fn diarize_speech(
        &self,
        audio: &Audio,
        mono: &Samples,
        speech: Option<&[Region]>,
        speakers: Option<usize>,
        sink: &dyn Sink,
    ) -> Result<Diarization> {
        if audio.is_empty() {
            return Err(Error::NoAudio {
                path: audio.path.clone(),
                detail: "the recording holds no samples; nothing to diarize".into(),
            });
        }
        let total_ms = (audio.duration_s() * 1000.0) as u64;
        sink.begin(&audio.path, Stage::Diarize, total_ms);
        let channels = match self.config.channels_are_speakers {
            Some(false) => false,
            Some(true) => audio.channels.len() >= 2,
            None => audio.channels.len() >= 2 && channels_look_like_speakers(&audio.channels),
        };
        let result = if channels {
            self.by_channel(audio, mono, speech)
        } else {
            self.neural(audio, mono, speakers.or(self.config.speakers), sink)
        };
        sink.end(&audio.path, Stage::Diarize);
        result
    }

    /// CAM++ embedding (L2-normalised) of 16 kHz samples, all their frames
    /// pooled; `None` when too short.
    pub fn embed(&self, samples: &[f32]) -> Result<Option<Vec<f32>>> {
        if samples.len() < MIN_EMBED_SAMPLES {
            return Ok(None);
        }
        let (mut sets, _) = self.frame_stats(samples, &[vec![(0, samples.len())]], |_| {})?;
        let Some(stats) = sets.pop().flatten() else {
            return Ok(None);
        };
        Ok(self.pool(&[stats])?.pop().flatten())
    }

    /// Embeds a whole recording (e.g. a practitioner's voice sample), using
    /// only its speech.
    pub fn embed_voice(&self, audio: &Audio) -> Result<Vec<f32>> {
        let mono = audio.mono();
        let regions = Vad::new(&self.vad_path, VadConfig::default())?.regions(&mono, |_| {})?;
        self.embed_voice_speech(audio, &mono, &regions)
    }

    /// As [`Diarizer::embed_voice`], with the sample's mono mix and its speech regions.
    pub fn embed_voice_speech(
        &self,
        audio: &Audio,
        mono: &Samples,
        regions: &[Region],
    ) -> Result<Vec<f32>> {
        let speech: Vec<f32> = regions
            .iter()
            .flat_map(|r| mono.iter_range(r.start..r.end))
            .collect();
        self.embed(&speech)?.ok_or_else(|| Error::NoAudio {
            path: audio.path.clone(),
            detail: "the voice sample has too little speech (at least 1 s is needed, 10 s or more is better)".into(),
        })
    }

    /// Local speakers per frame of the 10 s windows starting at `starts`.
    /// Runs of `SEG_BATCH` windows are dealt round-robin to one-thread
    /// sessions side by side (at most four): the model is mostly a 4-layer
    /// LSTM, which one run spreads poorly over threads (festival-130, 304 s,
    /// 2 cores: two one-thread sessions 2.4 s, one two-thread session
    /// 2.7-4.0 s). The sessions live for this call only, arena and all.
    fn segment_all(
        &self,
        mono: &Samples,
        starts: &[usize],
        audio: &Audio,
        sink: &dyn Sink,
    ) -> Result<Vec<Local>> {
        let batches: Vec<&[usize]> = starts.chunks(SEG_BATCH).collect();
        let threads = self.config.threads.max(1);
        let workers = threads.min(4).min(batches.len()).max(1);
        let results: Mutex<Vec<Option<Vec<Local>>>> = Mutex::new(vec![None; batches.len()]);
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let windows_done = AtomicUsize::new(0);
        let fail = |e: Error| *failure.lock().expect("poisoned") = Some(e);
        std::thread::scope(|s| {
            for me in 0..workers {
                let (batches, results, failure) = (&batches, &results, &failure);
                let (windows_done, fail) = (&windows_done, &fail);
                s.spawn(move || {
                    let mut session =
                        match crate::onnx::arena_session(&self.seg_path, threads / workers) {
                            Ok(session) => session,
                            Err(e) => return fail(e),
                        };
                    let mut input = vec![0f32; SEG_BATCH * CHUNK];
                    for b in (me..batches.len()).step_by(workers) {
                        if failure.lock().expect("poisoned").is_some() {
                            return;
                        }
                        let n = batches[b].len();
                        for (&start, w) in batches[b].iter().zip(input.chunks_mut(CHUNK)) {
                            mono.read_into(start, w);
                        }
                        match self.segment(&mut session, &input[..n * CHUNK]) {
                            Ok(local) => results.lock().expect("poisoned")[b] = Some(local),
                            Err(e) => return fail(e),
                        }
                        let n = windows_done.fetch_add(n, Ordering::SeqCst) + n;
                        let done_ms = (n as u64 * total_ms(mono.len())) / starts.len() as u64;
                        sink.advance(&audio.path, Stage::Diarize, done_ms / 3);
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("poisoned") {
            return Err(e);
        }
        Ok(results
            .into_inner()
            .expect("poisoned")
            .into_iter()
            .flatten()
            .flatten()
            .collect())
    }

    /// Local speakers per frame of a run of windows (`CHUNK` samples each, end to end).
    fn segment(&self, session: &mut Session, windows: &[f32]) -> Result<Vec<Local>> {
        let wrap = |e: ort::Error| Error::Model {
            path: self.seg_path.clone(),
            detail: e.to_string(),
        };
        let x = TensorRef::from_array_view(([windows.len() / CHUNK, 1, CHUNK], windows))
            .map_err(wrap)?;
        let out = session.run(ort::inputs!["waveform" => x]).map_err(wrap)?;
        let (_, lp) = out["log_probs"].try_extract_tensor::<f32>().map_err(wrap)?;
        Ok(lp
            .chunks(FRAMES * 7)
            .map(|win| {
                win.chunks(7)
                    .map(|frame| {
                        let class = frame
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map_or(0, |(i, _)| i);
                        let mut a = [false; 3];
                        for &k in POWERSET[class] {
                            a[k] = true;
                        }
                        a
                    })
                    .collect()
            })
            .collect())
    }

    fn neural(
        &self,
        audio: &Audio,
        mono: &Samples,
        speakers: Option<usize>,
        sink: &dyn Sink,
    ) -> Result<Diarization> {
        let duration_s = audio.duration_s();
        if is_silent(mono) {
            return Ok(empty("neural", duration_s));
        }
        // Window starts on the frame grid, so every window's frames line up.
        let step = ((self.config.step_s as f64 * SAMPLE_RATE as f64 / FRAME_STEP as f64).round()
            as usize)
            .max(1)
            * FRAME_STEP;
        let mut starts = vec![0usize];
        while starts.last().unwrap() + CHUNK < mono.len() {
            starts.push(starts.last().unwrap() + step);
        }

        // 1. Segmentation.
        let mut local = self.segment_all(mono, &starts, audio, sink)?;
        // The segmentation workers' heaps go back to the system before CAM++ adds its own.
        crate::mem::release();
        // Frames past the end of the recording are padding.
        let n_frames = mono.len().div_ceil(FRAME_STEP);
        for (w, &s) in local.iter_mut().zip(&starts) {
            for (i, f) in w.iter_mut().enumerate() {
                if s / FRAME_STEP + i >= n_frames {
                    *f = [false; 3];
                }
            }
        }

        // 2. One embedding per (window, local speaker) with enough solo
        // speech, else from all its speech, pooled from CAM++ frames
        // computed once (frames.rs).
        let min_alone = (self.config.min_embed_s as f64 / FRAME_S).ceil() as usize;
        let mut requests: Vec<Vec<(usize, usize)>> = Vec::new();
        // Per (window, local speaker): its solo and its whole request.
        let mut asked: Vec<(usize, usize, Option<usize>, usize)> = Vec::new();
        for (w, frames) in local.iter().enumerate() {
            for k in 0..3 {
                let active: Vec<usize> = (0..FRAMES).filter(|&i| frames[i][k]).collect();
                if active.is_empty() {
                    continue;
                }
                let alone: Vec<usize> = active
                    .iter()
                    .copied()
                    .filter(|&i| frames[i].iter().filter(|&&x| x).count() == 1)
                    .collect();
                let solo = (alone.len() >= min_alone).then(|| {
                    requests.push(spans(starts[w], &alone));
                    requests.len() - 1
                });
                requests.push(spans(starts[w], &active));
                asked.push((w, k, solo, requests.len() - 1));
            }
        }
        let total = total_ms(mono.len());
        let (mut pooled, cells) = self.frame_stats(mono, &requests, |done| {
            sink.advance(&audio.path, Stage::Diarize, total / 3 + total_ms(done) / 3);
        })?;
        // (window, local speaker, its whole request) of each solo embedding,
        // and of each local speaker left to embed from all its speech.
        let mut stats: Vec<Vec<f32>> = Vec::new();
        let mut owners: Vec<(usize, usize, usize)> = Vec::new();
        let mut leftovers: Vec<(usize, usize, usize)> = Vec::new();
        for &(w, k, solo, all) in &asked {
            match solo.and_then(|i| pooled[i].take()) {
                Some(st) => {
                    stats.push(st);
                    owners.push((w, k, all));
                }
                None => leftovers.push((w, k, all)),
            }
        }
        let mut embeddings: Vec<Vec<f32>> = Vec::new();
        let mut kept: Vec<(usize, usize)> = Vec::new();
        for (e, (w, k, all)) in self.pool(&stats)?.into_iter().zip(owners) {
            match e {
                Some(e) => {
                    embeddings.push(e);
                    kept.push((w, k));
                }
                None => leftovers.push((w, k, all)),
            }
        }
        let mut owners = kept;
        if embeddings.is_empty() {
            // Speech too short to embed: one speaker, if any speech at all.
            embeddings.push(Vec::new());
            owners = (0..local.len())
                .flat_map(|w| (0..3).map(move |k| (w, k)))
                .collect();
            leftovers.clear();
        }

        // 3. Cluster.
        let windows: Vec<usize> = owners.iter().map(|&(w, _)| w).collect();
        let (labels, mut decision, forced) = if embeddings[0].is_empty() {
            (vec![0; owners.len()], CountDecision::none(), None)
        } else {
            let run = |exact: Option<usize>, max: usize| {
                cluster(
                    &embeddings,
                    &windows,
                    SpeakerCount {
                        exact,
                        min: self.config.min_speakers.min(max),
                        max,
                    },
                    self.config.merge_cosine,
                    self.config.apart_weight,
                )
            };
            // Given two or three where the estimate (at most that many)
            // hears one voice fewer, the one left out is usually a person
            // who says little, and forcing the long windows into n groups
            // splits a main voice instead: the estimate's voices are kept
            // and the short windows add the quiet person ([`count::reach`];
            // no short windows, no fill). Held clips, DER given 3: 11.8% ->
            // 7.5%; two-person clips given 2: 9.3% -> 7.1%
            // (benches/diarize-dev/README.md). Four or more (meetings) keep
            // the long windows' groups: on the one real four-person clip
            // with a quiet fourth (AMI mixture, 1.2 s of speech) adding a
            // group cost 4.5% -> 10.4%.
            let fill = speakers
                .filter(|&n| (2..=3).contains(&n) && self.config.refine_window_s > 0.0)
                .and_then(|n| {
                    let (labels, _) = run(None, n);
                    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
                    (k + 1 == n).then_some((labels, n))
                });
            match fill {
                Some((labels, n)) => {
                    // Where no quiet person can be added to one voice, the
                    // long windows' own two groups are kept ([`count::reach`]).
                    let forced = (n == 2).then(|| run(speakers, self.config.max_speakers).0);
                    (labels, CountDecision::filling(n), forced)
                }
                None => {
                    let (labels, evidence) = run(speakers, self.config.max_speakers);
                    (
                        labels,
                        CountDecision::new(&self.config, speakers, &evidence),
                        None,
                    )
                }
            }
        };
        // Every local speaker's embedding: its own (above), else one from
        // all its speech (too little solo speech).
        let mut local_emb: Vec<[Option<Vec<f32>>; 3]> = vec![[None, None, None]; local.len()];
        for (e, &(w, s)) in embeddings.iter().zip(&owners) {
            local_emb[w][s] = (!e.is_empty()).then(|| e.clone());
        }
        let mut left: Vec<(usize, usize)> = Vec::new();
        let mut left_stats: Vec<Vec<f32>> = Vec::new();
        for &(w, s, i) in &leftovers {
            if let Some(st) = pooled[i].take() {
                left.push((w, s));
                left_stats.push(st);
            }
        }
        for ((w, s), e) in left.into_iter().zip(self.pool(&left_stats)?) {
            local_emb[w][s] = e;
        }
        let heard = Heard {
            local: &local,
            starts: &starts,
            embeddings: &embeddings,
            owners: &owners,
            local_emb,
            n_frames,
        };
        let mut voices = heard.voices(&labels);
        let forced = forced.map(|labels| heard.voices(&labels));
        let k = voices.active.len();
        // A fill is always finished (a given count is not bounded by
        // --max-speakers).
        let recount = decision.fill.is_some()
            || (decision.how == "estimated" && self.config.max_speakers >= 2);
        if (k >= 2 || recount) && self.config.refine_window_s > 0.0 {
            self.refine(&cells, &mut voices, forced, &mut decision, audio, sink)?;
        }
        let frame_time = |g: usize| (g * FRAME_STEP + FRAME_CENTRE) as f64 / SAMPLE_RATE as f64;
        let mut turns = Vec::new();
        for (c, frames) in voices.active.iter().enumerate() {
            for (a, b) in runs(frames) {
                turns.push(Turn {
                    start: frame_time(a),
                    end: frame_time(b).min(duration_s),
                    speaker: c,
                });
            }
        }
        let mut d = finish(turns, voices.centroids, "neural", duration_s, &self.config);
        d.count = decision;
        Ok(d)
    }
}

/// What the neural path heard before the voices were decided: the
/// segmenter's local speakers per 10 s window and their embeddings.
struct Heard<'a> {
    local: &'a [Local],
    starts: &'a [usize],
    /// The clustered embeddings and the (window, local speaker) of each.
    embeddings: &'a [Vec<f32>],
    owners: &'a [(usize, usize)],
    /// Every local speaker's embedding, where it has one.
    local_emb: Vec<[Option<Vec<f32>>; 3]>,
    n_frames: usize,
}

/// Voices on the global frame grid: who speaks in each frame, and each
/// voice's centroid.
pub(super) struct Voices {
    pub active: Vec<Vec<bool>>,
    pub centroids: Vec<Vec<f32>>,
}

impl Heard<'_> {
    /// The voices one clustering (`labels`, one per embedding) gives.
    fn voices(&self, labels: &[usize]) -> Voices {
        let (local, n_frames) = (self.local, self.n_frames);
        let k = labels.iter().copied().max().map_or(0, |m| m + 1);
        let unembedded = self.embeddings[0].is_empty();
        let centroids = if unembedded {
            vec![Vec::new(); k]
        } else {
            cluster::centroids(self.embeddings, labels)
        };
        // Every local speaker goes to its nearest voice, the speakers of one
        // window to different voices where there are enough (two people
        // the segmenter told apart are not one person).
        let mut assign: Vec<[Option<usize>; 3]> = vec![[None; 3]; local.len()];
        if unembedded {
            for (&(w, s), &l) in self.owners.iter().zip(labels) {
                assign[w][s] = Some(l);
            }
        } else {
            for (w, embs) in self.local_emb.iter().enumerate() {
                let rows: Vec<usize> = (0..3).filter(|&s| embs[s].is_some()).collect();
                let scores: Vec<Vec<f32>> = rows
                    .iter()
                    .map(|&s| {
                        let e = embs[s].as_ref().expect("filtered");
                        centroids.iter().map(|c| cosine(c, e)).collect()
                    })
                    .collect();
                for (&s, c) in rows.iter().zip(assign_distinct(&scores)) {
                    assign[w][s] = Some(c);
                }
            }
        }

        // 4. Stitch the windows together.
        let mut act = vec![vec![0f32; k]; n_frames];
        let mut count = vec![0f32; n_frames];
        let mut speaking = vec![0f32; n_frames];
        for (w, frames) in local.iter().enumerate() {
            let off = self.starts[w] / FRAME_STEP;
            for (i, f) in frames.iter().enumerate() {
                let g = off + i;
                if g >= n_frames {
                    break;
                }
                count[g] += 1.0;
                // Two local speakers of one window may be the same cluster.
                let mut seen = 0u64;
                for s in 0..3 {
                    if f[s] {
                        speaking[g] += 1.0;
                        if let Some(c) = assign[w][s] {
                            if seen & (1 << c) == 0 {
                                act[g][c] += 1.0;
                                seen |= 1 << c;
                            }
                        }
                    }
                }
            }
        }
        let mut active = vec![vec![false; n_frames]; k];
        for g in 0..n_frames {
            if count[g] == 0.0 {
                continue;
            }
            let n = ((speaking[g] / count[g]).round() as usize).min(k);
            let mut order: Vec<usize> = (0..k).filter(|&c| act[g][c] > 0.0).collect();
            order.sort_by(|&a, &b| act[g][b].total_cmp(&act[g][a]).then(a.cmp(&b)));
            for &c in order.iter().take(n) {
                active[c][g] = true;
            }
        }
        Voices { active, centroids }
    }
}

/// The frame model's sessions: one per worker, at most four, loaded side by
/// side (each takes ~0.3 s).
fn frame_sessions(model: &Path, threads: usize) -> Result<Vec<Mutex<Session>>> {
    let workers = threads.clamp(1, 4);
    let each = (threads / workers).max(1);
    std::thread::scope(|s| {
        let loading: Vec<_> = (0..workers)
            .map(|_| s.spawn(move || crate::onnx::arena_session(model, each)))
            .collect();
        loading
            .into_iter()
            .map(|h| h.join().expect("model loading panicked").map(Mutex::new))
            .collect()
    })
}

fn total_ms(samples: usize) -> u64 {
    samples as u64 * 1000 / SAMPLE_RATE as u64
}

fn empty(method: &str, duration_s: f64) -> Diarization {
    Diarization {
        turns: Vec::new(),
        speakers: Vec::new(),
        method: method.into(),
        overlap_s: 0.0,
        duration_s,
        count: CountDecision::none(),
    }
}

/// True when nothing in `samples` rises above -60 dBFS.
fn is_silent(samples: &Samples) -> bool {
    samples.iter().all(|x| x.abs() < 1e-3)
}

/// Mean square of samples read in place (no copy per 30 ms frame).
fn energy(x: impl ExactSizeIterator<Item = f32>) -> f32 {
    let n = x.len().max(1);
    x.map(|v| v * v).sum::<f32>() / n as f32
}

/// Sample ranges under the central part of the given frames of a window,
/// consecutive frames joined.
fn spans(start: usize, frames: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &i in frames {
        let a = start + i * FRAME_STEP + FRAME_CENTRE;
        match out.last_mut() {
            Some(last) if last.1 == a => last.1 = a + FRAME_STEP,
            _ => out.push((a, a + FRAME_STEP)),
        }
    }
    out
}

/// Maximal runs of `true`, as half-open index ranges.
fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if !flags[i] {
            i += 1;
            continue;
        }
        let a = i;
        while i < flags.len() && flags[i] {
            i += 1;
        }
        out.push((a, i));
    }
    out
}

/// Merges short gaps, drops short turns, orders speakers by first speech
/// and labels them S1, S2, ...
fn finish(
    mut turns: Vec<Turn>,
    centroids: Vec<Vec<f32>>,
    method: &str,
    duration_s: f64,
    cfg: &DiarizeConfig,
) -> Diarization {
    turns.sort_by(|a, b| a.speaker.cmp(&b.speaker).then(a.start.total_cmp(&b.start)));
    let mut merged: Vec<Turn> = Vec::new();
    for t in turns {
        match merged.last_mut() {
            Some(m) if m.speaker == t.speaker && t.start - m.end < cfg.min_gap_s as f64 => {
                m.end = m.end.max(t.end);
            }
            _ => merged.push(t),
        }
    }
    merged.retain(|t| t.duration() >= cfg.min_turn_s as f64);
    merged.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.speaker.cmp(&b.speaker)));
    // Relabel by first appearance.
    let mut order: Vec<usize> = Vec::new();
    for t in &merged {
        if !order.contains(&t.speaker) {
            order.push(t.speaker);
        }
    }
    for t in &mut merged {
        t.speaker = order.iter().position(|&s| s == t.speaker).unwrap_or(0);
    }
    let speakers = order
        .iter()
        .enumerate()
        .map(|(i, &old)| Speaker {
            label: format!("S{}", i + 1),
            speech_s: merged
                .iter()
                .filter(|t| t.speaker == i)
                .map(Turn::duration)
                .sum(),
            centroid: centroids.get(old).cloned().unwrap_or_default(),
        })
        .collect();
    let overlap_s = overlap_seconds(&merged);
    Diarization {
        turns: merged,
        speakers,
        method: method.into(),
        overlap_s,
        duration_s,
        count: CountDecision {
            how: method.into(),
            ..CountDecision::default()
        },
    }
}

/// Seconds where at least two turns overlap.
fn overlap_seconds(turns: &[Turn]) -> f64 {
    let mut ev: Vec<(f64, i32)> = turns
        .iter()
        .flat_map(|t| [(t.start, 1), (t.end, -1)])
        .collect();
    ev.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut depth, mut last, mut total) = (0, 0.0, 0.0);
    for (t, d) in ev {
        if depth >= 2 {
            total += t - last;
        }
        depth += d;
        last = t;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(start: f64, end: f64, speaker: usize) -> Turn {
        Turn {
            start,
            end,
            speaker,
        }
    }

    #[test]
    fn finish_bridges_short_gaps_and_drops_blips() {
        let d = finish(
            vec![
                t(0.0, 1.0, 0),
                t(1.2, 2.0, 0),
                t(3.0, 3.05, 1),
                t(4.0, 5.0, 0),
            ],
            vec![],
            "neural",
            5.0,
            &DiarizeConfig::default(),
        );
        assert_eq!(d.turns, vec![t(0.0, 2.0, 0), t(4.0, 5.0, 0)]);
        assert_eq!(d.speakers.len(), 1);
    }

    #[test]
    fn runs_are_maximal_half_open_ranges() {
        let f = [false, true, true, false, true, false, false, true];
        assert_eq!(runs(&f), vec![(1, 3), (4, 5), (7, 8)]);
        assert!(runs(&[false; 4]).is_empty());
    }

    #[test]
    fn refinement_settings_are_validated() {
        let ok = DiarizeConfig::default();
        assert!(ok.validate().is_ok());
        let off = DiarizeConfig {
            refine_window_s: 0.0,
            ..DiarizeConfig::default()
        };
        assert!(off.validate().is_ok());
        for bad in [
            DiarizeConfig {
                refine_window_s: 0.2,
                ..DiarizeConfig::default()
            },
            DiarizeConfig {
                refine_hop_s: 0.0,
                ..DiarizeConfig::default()
            },
            DiarizeConfig {
                refine_margin: -0.1,
                ..DiarizeConfig::default()
            },
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains("refine"), "{e}");
        }
    }

    #[test]
    fn rttm_round_trips() {
        let d = finish(
            vec![t(0.5, 2.0, 1), t(2.5, 4.0, 0)],
            vec![vec![], vec![]],
            "neural",
            5.0,
            &DiarizeConfig::default(),
        );
        assert_eq!(d.speakers[0].label, "S1");
        let text = d.to_rttm("my file");
        assert!(text.starts_with("SPEAKER my_file 1 0.500 1.500 <NA> <NA> S1"));
        let back = crate::eval::parse_rttm(&text).unwrap();
        assert_eq!(back.labels, ["S1", "S2"]);
        assert_eq!(back.turns, d.turns);
        assert!(crate::eval::parse_rttm("SPEAKER x 1 abc 1 <NA> <NA> A").is_err());
    }
}
