//! Local speech recognition with whisper.cpp (through whisper-rs).
//!
//! Speech regions from the VAD are packed into chunks of at most 20 s (with
//! short silences between regions), so Whisper never sees long silences, the
//! encoder runs on a fitted `audio_ctx` instead of a padded 30 s window, and
//! an hours-long recording is processed piece by piece. Chunks are shared out
//! to several whisper states with one thread each: measured faster than one
//! state with several threads, and immune to the busy-waiting that made
//! multi-threaded ggml crawl on a loaded machine. A chunk's words do not
//! depend on which state decodes it, nor on the number of threads.
//!
//! Against Whisper's failure modes on silence and noise: no text context is
//! carried between chunks, decoding falls back to higher temperatures when
//! the output looks degenerate (entropy/log-probability thresholds), segments
//! Whisper itself judges to be non-speech are dropped, and runs of repeated
//! words or phrases are collapsed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::audio::{Audio, Samples, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::models::{sha256_file, Store};
use crate::progress::{Sink, Stage};
use crate::transcript::{ModelInfo, Segment, SourceInfo, Transcript, Word, SCHEMA_VERSION};
use crate::vad::{Region, Vad, VadConfig};

/// Options for [`Transcriber`].
#[derive(Debug, Clone)]
pub struct TranscribeConfig {
    /// A model name from the manifest, or a path to any ggml Whisper file.
    /// `None` takes the manifest's default.
    pub model: Option<String>,
    /// Language code ("en", "de", ...) or "auto" (multilingual models only).
    pub language: String,
    /// Threads in all: this many whisper states run side by side.
    pub threads: usize,
    /// Speech detection settings.
    pub vad: VadConfig,
    /// Longest chunk handed to Whisper, in seconds (Whisper's window is 30 s;
    /// keep the VAD's `max_region_s` below it, or a long region makes its own
    /// longer chunk).
    pub max_chunk_s: f32,
    /// Silence placed between two speech regions packed into one chunk.
    pub gap_s: f32,
    /// Shrink Whisper's encoder window to the chunk's length.
    pub fit_audio_ctx: bool,
    /// Decode again the speech Whisper left after its last segment in a
    /// chunk, when there is at least this much of it (s); 0 turns it off.
    pub retry_after_s: f64,
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            model: None,
            language: "en".into(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            vad: VadConfig::default(),
            // Not Whisper's 30 s: the encoder's attention grows with the square
            // of the chunk, so 20 s chunks need about 45 MB less per state and
            // transcribe 10-15% faster; WER moved within noise, both ways
            // (README, "Memory").
            max_chunk_s: 20.0,
            // Whisper heard 0.3 s of inserted silence as a turn's end more
            // often than the real pauses around it: 0.1 s was better on all 7
            // asr.sh sessions (WER 12.96 -> 12.30%, chosen there) and on the
            // validity quick set (10.7 -> 10.2%; README, "Speed").
            gap_s: 0.1,
            fit_audio_ctx: true,
            // Whisper's last end time can fall a little before the VAD's end
            // of speech; 1.5 s of speech left is a turn, not that margin.
            retry_after_s: 1.5,
        }
    }
}

impl TranscribeConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        self.vad.validate()?;
        if self.threads == 0 || self.threads > 256 {
            return Err(Error::Config(format!(
                "threads must be between 1 and 256, got {}",
                self.threads
            )));
        }
        if !(1.0..=30.0).contains(&self.max_chunk_s) {
            return Err(Error::Config(format!(
                "max_chunk_s must be between 1 and 30, got {}",
                self.max_chunk_s
            )));
        }
        if !(0.0..=2.0).contains(&self.gap_s) {
            return Err(Error::Config("gap_s must be between 0 and 2".into()));
        }
        if !(0.0..=30.0).contains(&self.retry_after_s) {
            return Err(Error::Config(
                "retry_after_s must be between 0 and 30 (0 turns retries off)".into(),
            ));
        }
        if self.language.is_empty() || self.language.len() > 8 {
            return Err(Error::Config(format!(
                "unknown language '{}'",
                self.language
            )));
        }
        Ok(())
    }
}

/// A loaded Whisper model, ready to transcribe many recordings.
pub struct Transcriber {
    ctx: WhisperContext,
    model: ModelInfo,
    vad_path: PathBuf,
    vad_info: ModelInfo,
    config: TranscribeConfig,
}

/// Finds the Whisper model `spec` names: a manifest name or a file path.
pub fn resolve_model(store: &Store, spec: Option<&str>) -> Result<(PathBuf, ModelInfo)> {
    let name = match spec {
        Some(s) if Path::new(s).is_file() => {
            let p = PathBuf::from(s);
            let sha = sha256_file(&p)?;
            let name = p
                .file_name()
                .map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned());
            return Ok((p, ModelInfo { name, sha256: sha }));
        }
        Some(s) => s.to_string(),
        None => store
            .manifest
            .default_of("whisper")
            .map(|m| m.name.clone())
            .ok_or_else(|| Error::Config("the manifest names no Whisper model".into()))?,
    };
    match store.manifest.get(&name) {
        Some(e) if e.kind == "whisper" => {}
        _ => {
            return Err(Error::Config(format!(
                "'{name}' is neither a Whisper model in `mitool models list` nor a ggml file"
            )))
        }
    }
    let path = store.require(&name)?;
    let sha256 = store.sha256(&name).unwrap_or_default();
    Ok((path, ModelInfo { name, sha256 }))
}

impl Transcriber {
    /// Loads the configured Whisper model and finds the VAD in `store`.
    pub fn new(store: &Store, config: TranscribeConfig) -> Result<Self> {
        config.validate()?;
        crate::onnx::init(store)?;
        let (path, model) = resolve_model(store, config.model.as_deref())?;
        let vad_path = store.require("silero-vad")?;
        let vad_info = ModelInfo {
            name: "silero-vad".into(),
            sha256: store.sha256("silero-vad").unwrap_or_default(),
        };
        // whisper.cpp logs to stderr by default; the library never prints.
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(&path, params).map_err(|e| Error::Model {
            path: path.clone(),
            detail: format!("whisper.cpp cannot load it ({e}); is it a ggml Whisper model?"),
        })?;
        if config.language != "en" && config.language != "auto" && !ctx.is_multilingual() {
            return Err(Error::Config(format!(
                "{} understands English only; choose a multilingual model for '{}'",
                model.name, config.language
            )));
        }
        Ok(Self {
            ctx,
            model,
            vad_path,
            vad_info,
            config,
        })
    }

    /// The model in use.
    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    /// Finds speech in `audio` (all channels mixed).
    pub fn speech_regions(
        &self,
        samples: &Samples,
        path: &Path,
        sink: &dyn Sink,
    ) -> Result<Vec<Region>> {
        let total_ms = (samples.len() as u64 * 1000) / SAMPLE_RATE as u64;
        sink.begin(path, Stage::Vad, total_ms);
        let mut vad = Vad::new(&self.vad_path, self.config.vad.clone())?;
        let regions = vad.regions(samples, |done| {
            sink.advance(path, Stage::Vad, done as u64 * 1000 / SAMPLE_RATE as u64)
        })?;
        sink.end(path, Stage::Vad);
        Ok(regions)
    }

    /// Transcribes a decoded recording (finding its speech first).
    pub fn transcribe(&self, audio: &Audio, sink: &dyn Sink) -> Result<Transcript> {
        let samples = audio.mono();
        let regions = self.speech_regions(&samples, &audio.path, sink)?;
        self.transcribe_speech(audio, &samples, &regions, sink)
    }

    /// Transcribes the speech `regions` of `audio`, whose mono mix is
    /// `samples` (both computed once by the caller and shared with diarization).
    pub fn transcribe_speech(
        &self,
        audio: &Audio,
        samples: &Samples,
        regions: &[Region],
        sink: &dyn Sink,
    ) -> Result<Transcript> {
        if regions.is_empty() {
            return Err(Error::NoAudio {
                path: audio.path.clone(),
                detail: "no speech was found: the recording is silent or only noise".into(),
            });
        }
        let segments = self.transcribe_regions(samples, regions, &audio.path, sink)?;
        Ok(Transcript {
            schema: "mitool.transcript".into(),
            version: SCHEMA_VERSION,
            source: SourceInfo {
                path: audio.path.display().to_string(),
                format: audio.format.clone(),
                duration_s: audio.duration_s(),
                channels: audio.channels.len(),
            },
            model: self.model.clone(),
            vad_model: Some(self.vad_info.clone()),
            language: self.config.language.clone(),
            speech_s: regions.iter().map(|r| r.len()).sum::<usize>() as f64 / SAMPLE_RATE as f64,
            segments,
        })
    }

    /// Transcribes the given regions of `samples`; times are in the recording's clock.
    pub fn transcribe_regions(
        &self,
        samples: &Samples,
        regions: &[Region],
        path: &Path,
        sink: &dyn Sink,
    ) -> Result<Vec<Segment>> {
        let chunks = pack_chunks(samples.len(), regions, &self.config);
        let total_ms: u64 = chunks.iter().map(|c| c.speech_ms()).sum();
        sink.begin(path, Stage::Transcribe, total_ms);
        let next = AtomicUsize::new(0);
        let done_ms = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Vec<Segment>>>> = Mutex::new(vec![None; chunks.len()]);
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.config.threads.min(chunks.len()).max(1);
        // A chunk's words depend on the chunk alone (see `decode_chunk`), so
        // chunks go first-come to whichever state is free: the threads stay
        // busy to the end, and the words are the same with any thread count.
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    // Made when needed: a state that sampled is dropped (see `decode_chunk`).
                    let mut slot = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= chunks.len() || failure.lock().expect("poisoned").is_some() {
                            return;
                        }
                        let chunk = &chunks[i];
                        match self.run_chunk(&mut slot, chunk, samples, path) {
                            Ok(segs) => results.lock().expect("poisoned")[i] = Some(segs),
                            Err(e) => {
                                *failure.lock().expect("poisoned") = Some(e);
                                return;
                            }
                        }
                        let d = done_ms.fetch_add(chunk.speech_ms() as usize, Ordering::SeqCst)
                            + chunk.speech_ms() as usize;
                        sink.advance(path, Stage::Transcribe, d as u64);
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("poisoned") {
            return Err(e);
        }
        sink.end(path, Stage::Transcribe);
        let mut segments: Vec<Segment> = results
            .into_inner()
            .expect("poisoned")
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        for s in &mut segments {
            collapse_repeats(&mut s.words);
            s.text = words_text(&s.words);
        }
        segments.retain(|s| !s.text.trim().is_empty());
        Ok(segments)
    }

    /// Transcribes one chunk. Whisper sometimes stops early: when a window's
    /// text ends on a single timestamp, whisper.cpp takes the rest of the
    /// window as silence and skips it (on festival-127 that dropped an 8 s
    /// turn, 28 words). Speech the VAD found after the last segment is
    /// decoded again on its own, a few times at most.
    fn run_chunk(
        &self,
        slot: &mut Option<whisper_rs::WhisperState>,
        chunk: &Chunk,
        source: &Samples,
        path: &Path,
    ) -> Result<Vec<Segment>> {
        let (mut out, stop) = self.decode_chunk(slot, chunk, source, path)?;
        let min_ms = (self.config.retry_after_s * 1000.0) as u64;
        let retries = if min_ms > 0 { MAX_RETRIES } else { 0 };
        let mut rest = chunk.after(stop);
        for _ in 0..retries {
            let Some(r) = rest.take().filter(|r| r.speech_ms() >= min_ms) else {
                break;
            };
            let (segs, stop) = self.decode_chunk(slot, &r, source, path)?;
            if segs.is_empty() {
                break;
            }
            out.extend(segs);
            rest = r.after(stop);
        }
        Ok(out)
    }

    /// One whisper.cpp pass over a chunk: its segments on the recording's
    /// clock, and where in the chunk (s) the last one ends (0 when none).
    fn decode_chunk(
        &self,
        slot: &mut Option<whisper_rs::WhisperState>,
        chunk: &Chunk,
        source: &Samples,
        path: &Path,
    ) -> Result<(Vec<Segment>, f64)> {
        let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 2 });
        p.set_n_threads(1);
        if self.config.language == "auto" {
            p.set_language(None);
            p.set_detect_language(false);
        } else {
            p.set_language(Some(&self.config.language));
        }
        p.set_no_context(true);
        p.set_token_timestamps(true);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p.set_suppress_blank(true);
        p.set_suppress_nst(true);
        // whisper.cpp's defaults for the temperature fallback, spelled out.
        p.set_temperature(0.0);
        p.set_temperature_inc(0.2);
        p.set_entropy_thold(2.4);
        p.set_logprob_thold(-1.0);
        p.set_no_speech_thold(0.6);
        if self.config.fit_audio_ctx {
            p.set_audio_ctx(fitted_audio_ctx(chunk.len));
        }
        if slot.is_none() {
            *slot = Some(
                self.ctx
                    .create_state()
                    .map_err(|e| self.state_error(path, e))?,
            );
        }
        let state = slot.as_mut().expect("made above");
        let mut passes = Passes::default();
        passes.watch(&mut p);
        state
            .full(p, &chunk.samples(source))
            .map_err(|e| Error::Transcribe {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let eot = self.ctx.token_eot();
        let mut out = Vec::new();
        // Where the model stopped, dropped segments included: a retry starts after them.
        let stop = state
            .as_iter()
            .last()
            .map_or(0.0, |s| s.end_timestamp() as f64 / 100.0);
        for seg in state.as_iter() {
            if seg.no_speech_probability() > 0.8 {
                continue;
            }
            let mut words: Vec<Word> = Vec::new();
            let mut cur: Option<(Vec<u8>, f64, f64, f32, usize)> = None;
            for t in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(t) else {
                    continue;
                };
                if tok.token_id() >= eot {
                    continue;
                }
                let data = tok.token_data();
                let bytes = tok.to_bytes().unwrap_or_default();
                let (t0, t1) = (data.t0 as f64 / 100.0, data.t1 as f64 / 100.0);
                let starts_word = bytes.first() == Some(&b' ') || cur.is_none();
                if starts_word {
                    if let Some(w) = cur.take() {
                        words.push(finish_word(w, chunk));
                    }
                    cur = Some((bytes.to_vec(), t0, t1, data.p, 1));
                } else if let Some(c) = cur.as_mut() {
                    c.0.extend_from_slice(bytes);
                    c.2 = t1.max(c.2);
                    c.3 += data.p;
                    c.4 += 1;
                }
            }
            if let Some(w) = cur.take() {
                words.push(finish_word(w, chunk));
            }
            words.retain(|w| !w.text.trim().is_empty());
            if words.is_empty() {
                continue;
            }
            let start = chunk.to_source(seg.start_timestamp() as f64 / 100.0);
            let end = chunk
                .to_source(seg.end_timestamp() as f64 / 100.0)
                .max(start);
            out.push(Segment {
                start,
                end,
                text: words_text(&words),
                words,
            });
        }
        if passes.sampled() {
            // Dropped before the next is made: never a third state in memory.
            *slot = None;
            crate::mem::release();
        }
        Ok((out, stop))
    }

    fn state_error(&self, path: &Path, e: whisper_rs::WhisperError) -> Error {
        Error::Transcribe {
            path: path.to_path_buf(),
            detail: format!("cannot allocate a Whisper state: {e}"),
        }
    }
}

/// What one `whisper_full` call did: how many 30 s windows it encoded and
/// how many decoding passes it made over them. Each temperature fallback is
/// one more pass over a window, decoded by sampling from the first
/// decoder's random generator, which whisper.cpp seeds once per state: a
/// state that has sampled would decode a later chunk's fallback otherwise
/// than a fresh one, so it is dropped and the next chunk gets a fresh one
/// (fallbacks are rare): every chunk's words depend on the chunk alone.
#[derive(Debug, Default)]
struct Passes {
    windows: u32,
    passes: u32,
}

impl Passes {
    /// Counts into `self` during the next `full` call with `params`; `self`
    /// must stay where it is until that call returns.
    fn watch(&mut self, params: &mut FullParams) {
        let me = (self as *mut Passes).cast::<std::ffi::c_void>();
        // SAFETY: both callbacks only increment a counter in `self`, which
        // outlives the `full` call; they run on the calling thread.
        unsafe {
            params.set_start_encoder_callback(Some(count_window));
            params.set_start_encoder_callback_user_data(me);
            params.set_filter_logits_callback(Some(count_pass));
            params.set_filter_logits_callback_user_data(me);
        }
    }

    /// Whether a fallback pass (which samples) ran.
    fn sampled(&self) -> bool {
        self.passes > self.windows
    }
}

/// whisper.cpp calls this once per window, before encoding it.
unsafe extern "C" fn count_window(
    _ctx: *mut whisper_rs::whisper_rs_sys::whisper_context,
    _state: *mut whisper_rs::whisper_rs_sys::whisper_state,
    user_data: *mut std::ffi::c_void,
) -> bool {
    (*user_data.cast::<Passes>()).windows += 1;
    true
}

/// whisper.cpp calls this for every token it picks; a pass's first token
/// (none decoded yet) is picked once, by the first decoder, and copied to the others.
unsafe extern "C" fn count_pass(
    _ctx: *mut whisper_rs::whisper_rs_sys::whisper_context,
    _state: *mut whisper_rs::whisper_rs_sys::whisper_state,
    _tokens: *const whisper_rs::whisper_rs_sys::whisper_token_data,
    n_tokens: std::os::raw::c_int,
    _logits: *mut f32,
    user_data: *mut std::ffi::c_void,
) {
    if n_tokens == 0 {
        (*user_data.cast::<Passes>()).passes += 1;
    }
}

fn finish_word((bytes, t0, t1, psum, n): (Vec<u8>, f64, f64, f32, usize), chunk: &Chunk) -> Word {
    let start = chunk.to_source(t0);
    Word {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        start,
        end: chunk.to_source(t1).max(start),
        p: psum / n as f32,
    }
}

fn words_text(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Whisper's encoder sees 50 frames per second; a chunk needs only as many,
/// plus a margin, of its 1500. Shorter contexts encode much faster.
fn fitted_audio_ctx(n_samples: usize) -> i32 {
    let frames = (n_samples as f64 / SAMPLE_RATE as f64 * 50.0).ceil() as i32;
    // Round up to a multiple of 64 and keep a margin; tiny contexts degrade output.
    (((frames + 64) / 64 + 1) * 64).clamp(256, 1500)
}

/// Collapses runs of a word or phrase repeated three times or more (Whisper's
/// repetition loops) into one occurrence.
pub fn collapse_repeats(words: &mut Vec<Word>) {
    let norm = |w: &Word| {
        w.text
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let mut i = 0;
    while i < words.len() {
        let mut collapsed = false;
        for n in 1..=8 {
            if i + 3 * n > words.len() {
                break;
            }
            let key: Vec<String> = words[i..i + n].iter().map(norm).collect();
            if key.iter().all(String::is_empty) {
                continue;
            }
            let mut reps = 1;
            while i + (reps + 1) * n <= words.len()
                && words[i + reps * n..i + (reps + 1) * n]
                    .iter()
                    .map(norm)
                    .eq(key.iter().cloned())
            {
                reps += 1;
            }
            if reps >= 3 {
                let last_end = words[i + reps * n - 1].end;
                words.drain(i + n..i + reps * n);
                words[i + n - 1].end = last_end;
                collapsed = true;
                break;
            }
        }
        if !collapsed {
            i += 1;
        }
    }
}

/// Speech regions packed into one Whisper input, with the map back to the
/// recording's clock. Only the plan is kept: each chunk's samples are put
/// together when its turn comes (`samples`), so a long recording is not
/// held twice (its speech copied into chunks up front was 200 MB an hour).
#[derive(Debug)]
struct Chunk {
    /// Samples in the chunk, silence between pieces and padding included.
    len: usize,
    /// (offset in chunk, start in source, length), in samples.
    pieces: Vec<(usize, usize, usize)>,
}

impl Chunk {
    /// The Whisper input: each piece at its offset, silence elsewhere.
    fn samples(&self, source: &Samples) -> Vec<f32> {
        let mut out = vec![0.0; self.len];
        for &(off, src, len) in &self.pieces {
            source.read_into(src, &mut out[off..off + len]);
        }
        out
    }

    /// The chunk's speech after `t` seconds (chunk clock) as a chunk of its own,
    /// or None when nothing follows; `t` = 0 gives None (nothing was decoded,
    /// and the same input would give the same answer).
    fn after(&self, t: f64) -> Option<Chunk> {
        let cut = (t.max(0.0) * SAMPLE_RATE as f64) as usize;
        if cut == 0 {
            return None;
        }
        // The new chunk starts at the cut, or at the next piece when the cut is in a gap.
        let first = self.pieces.iter().find(|p| p.0 + p.2 > cut)?;
        let base = cut.max(first.0);
        let pieces: Vec<_> = self
            .pieces
            .iter()
            .filter(|p| p.0 + p.2 > base)
            .map(|&(off, src, len)| {
                let skip = base.saturating_sub(off);
                (off + skip - base, src + skip, len - skip)
            })
            .collect();
        let end = pieces.last().map_or(0, |p| p.0 + p.2);
        Some(Chunk {
            len: end.max(MIN_CHUNK),
            pieces,
        })
    }

    fn speech_ms(&self) -> u64 {
        self.pieces.iter().map(|p| p.2 as u64).sum::<u64>() * 1000 / SAMPLE_RATE as u64
    }

    /// Maps a time in the chunk (s) to the recording's clock (s).
    fn to_source(&self, t: f64) -> f64 {
        let s = (t.max(0.0) * SAMPLE_RATE as f64) as usize;
        let mut best = self.pieces[0];
        for &p in &self.pieces {
            if p.0 <= s {
                best = p;
            }
        }
        let (off, src, len) = best;
        let within = s.saturating_sub(off).min(len);
        (src + within) as f64 / SAMPLE_RATE as f64
    }
}

/// whisper.cpp skips inputs under a second; short chunks are padded with silence.
const MIN_CHUNK: usize = SAMPLE_RATE as usize + SAMPLE_RATE as usize / 10;

/// Most passes over what Whisper left of one chunk (each must make progress).
const MAX_RETRIES: usize = 3;

/// Packs `regions` of a recording of `total` samples into chunks.
fn pack_chunks(total: usize, regions: &[Region], cfg: &TranscribeConfig) -> Vec<Chunk> {
    let max = (cfg.max_chunk_s * SAMPLE_RATE as f32) as usize;
    let gap = (cfg.gap_s * SAMPLE_RATE as f32) as usize;
    let empty = || Chunk {
        len: 0,
        pieces: Vec::new(),
    };
    let mut chunks = Vec::new();
    let mut cur = empty();
    for r in regions {
        let r = Region {
            start: r.start.min(total),
            end: r.end.min(total),
        };
        if r.is_empty() {
            continue;
        }
        let extra = if cur.pieces.is_empty() { 0 } else { gap };
        if !cur.pieces.is_empty() && cur.len + extra + r.len() > max {
            chunks.push(std::mem::replace(&mut cur, empty()));
        }
        if !cur.pieces.is_empty() {
            cur.len += gap;
        }
        cur.pieces.push((cur.len, r.start, r.len()));
        cur.len += r.len();
    }
    if !cur.pieces.is_empty() {
        chunks.push(cur);
    }
    for c in &mut chunks {
        c.len = c.len.max(MIN_CHUNK);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(t: &str, s: f64) -> Word {
        Word {
            text: t.into(),
            start: s,
            end: s + 0.5,
            p: 0.9,
        }
    }

    #[test]
    fn repetition_loops_collapse() {
        let mut ws: Vec<Word> = ["I", " think", " so", " so", " so", " so", " yes"]
            .iter()
            .enumerate()
            .map(|(i, t)| w(t, i as f64))
            .collect();
        collapse_repeats(&mut ws);
        assert_eq!(words_text(&ws), "I think so yes");

        let mut ws: Vec<Word> = (0..12)
            .map(|i| w(if i % 2 == 0 { " thank" } else { " you." }, i as f64))
            .collect();
        collapse_repeats(&mut ws);
        assert_eq!(words_text(&ws), "thank you.");
        assert_eq!(ws[1].end, 11.5);
    }

    #[test]
    fn a_word_said_twice_is_kept() {
        let mut ws = vec![w("no", 0.0), w(" no", 1.0), w(" thanks", 2.0)];
        collapse_repeats(&mut ws);
        assert_eq!(ws.len(), 3);
    }

    #[test]
    fn chunks_pack_regions_and_map_times_back() {
        let samples = vec![0.1f32; 16_000 * 100];
        let regions = vec![
            Region {
                start: 16_000,
                end: 48_000,
            }, // 1–3 s
            Region {
                start: 160_000,
                end: 192_000,
            }, // 10–12 s
            Region {
                start: 1_200_000,
                end: 1_600_000,
            }, // 75–100 s (25 s)
        ];
        let cfg = TranscribeConfig {
            gap_s: 0.3,
            ..Default::default()
        };
        let chunks = pack_chunks(samples.len(), &regions, &cfg);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].pieces.len(), 2);
        // 2 s into chunk 0 is 3 s of source; 2.3 + 0.5 s is 10.5 s.
        assert!((chunks[0].to_source(1.0) - 2.0).abs() < 1e-3);
        assert!((chunks[0].to_source(2.8) - 10.5).abs() < 1e-3);
        assert!((chunks[1].to_source(5.0) - 80.0).abs() < 1e-3);
        // Put together on demand: the speech at its offsets, silence between.
        let samples = Samples::from_f32(
            &(0..16_000 * 100)
                .map(|i| i as f32 / 3e6)
                .collect::<Vec<_>>(),
        );
        let c = &chunks[0];
        let x = c.samples(&samples);
        assert_eq!(x.len(), c.len);
        let (off, src, len) = c.pieces[1];
        assert_eq!(x[off..off + len], samples.read(src..src + len));
        assert!(x[c.pieces[0].2..off].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn what_follows_a_time_in_a_chunk_is_a_chunk_of_its_own() {
        // Pieces at 0-2 s (source 1-3 s) and 2.3-4.3 s (source 10-12 s).
        let c = Chunk {
            len: 68_800,
            pieces: vec![(0, 16_000, 32_000), (36_800, 160_000, 32_000)],
        };
        // Cut in the gap: the second piece alone, at the start.
        let r = c.after(2.1).unwrap();
        assert_eq!(r.pieces, vec![(0, 160_000, 32_000)]);
        assert_eq!(r.len, 32_000);
        assert!((r.to_source(1.0) - 11.0).abs() < 1e-3);
        // Cut inside the first piece: its rest, then the second at its old distance.
        let r = c.after(1.5).unwrap();
        assert_eq!(
            r.pieces,
            vec![(0, 40_000, 8_000), (12_800, 160_000, 32_000)]
        );
        assert_eq!(r.speech_ms(), 2500);
        // Nothing decoded (same input, same answer) or nothing left: no retry.
        assert!(c.after(0.0).is_none());
        assert!(c.after(4.3).is_none());
        // A short rest is padded as any short chunk.
        assert_eq!(c.after(4.0).unwrap().len, MIN_CHUNK);
    }

    #[test]
    fn audio_ctx_fits_the_chunk() {
        assert_eq!(fitted_audio_ctx(16_000 * 30), 1500);
        let c = fitted_audio_ctx(16_000 * 5);
        assert!((250..=448).contains(&c), "{c}");
    }

    #[test]
    fn config_validation() {
        let mut c = TranscribeConfig::default();
        assert!(c.validate().is_ok());
        c.threads = 0;
        assert!(c.validate().is_err());
        let c = TranscribeConfig {
            retry_after_s: -1.0,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }
}
