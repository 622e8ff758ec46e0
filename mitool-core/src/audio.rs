//! Reading recordings: WAV through hound; MP3, M4A/MP4 (the sound of a
//! video too), FLAC, Ogg and WebM/Matroska through symphonia, with Opus
//! decoded by libopus; resampled to 16 kHz with rubato.
//!
//! Encoder delay and padding (AAC priming, Opus pre-skip) are cut, so a time
//! in the decoded audio is the same time in the original recording.
//!
//! Decoding streams: each decoded block is resampled and appended to the
//! output at once, so an hours-long file is held in memory only as its
//! 16 kHz result, never also as the original decoded samples.
//! Channels are kept apart so that a one-microphone-per-speaker recording can
//! be diarized by channel later.
//!
//! (About 840 lines of code: one file because every format ends in the same
//! streaming resampler, after the sniffing that picks the reader; container
//! details are in `audio/mp4.rs` and `audio/opus.rs`.)

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};

use crate::error::{Error, Result};

mod mp4;
mod opus;
mod samples;

use samples::collect_blocks;
pub use samples::{Iter as SamplesIter, Samples, SPILL_AT};

/// The sample rate every later stage works at (Whisper, Silero, the speaker models).
pub const SAMPLE_RATE: u32 = 16_000;

/// File name extensions of recordings: what [`decode`] reads, and AMR,
/// which it names in a clear error rather than passing over.
pub const EXTENSIONS: &[&str] = &[
    "wav", "flac", "mp3", "m4a", "mp4", "mov", "3gp", "aac", "ogg", "oga", "opus", "webm", "mkv",
    "mka", "amr",
];

/// Options for [`decode`].
#[derive(Debug, Clone)]
pub struct AudioConfig {
    /// Refuse recordings longer than this many seconds (protects memory on
    /// mislabelled files); `None` accepts any length.
    pub max_duration_s: Option<f64>,
    /// Recordings shorter than this are rejected as empty.
    pub min_duration_s: f64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            // 12 hours: far longer than any visit, far shorter than memory allows.
            max_duration_s: Some(12.0 * 3600.0),
            min_duration_s: 0.1,
        }
    }
}

impl AudioConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if let Some(max) = self.max_duration_s {
            if max.is_nan() || max <= 0.0 {
                return Err(Error::Config(format!(
                    "max_duration_s must be positive, got {max}"
                )));
            }
        }
        if self.min_duration_s.is_nan() || self.min_duration_s < 0.0 {
            return Err(Error::Config("min_duration_s must be >= 0".into()));
        }
        Ok(())
    }
}

/// A decoded recording at [`SAMPLE_RATE`], one sample vector per channel.
#[derive(Debug, Clone)]
pub struct Audio {
    /// Where it came from.
    pub path: PathBuf,
    /// Container/codec as detected, e.g. "WAV (PCM 16-bit)" or "MP3".
    pub format: String,
    /// The file's own sample rate before resampling.
    pub source_rate: u32,
    /// Samples at 16 kHz, one vector per channel, equal lengths.
    pub channels: Vec<Samples>,
}

impl Audio {
    /// Number of samples per channel.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, Samples::len)
    }

    /// True when no samples were decoded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.len() as f64 / SAMPLE_RATE as f64
    }

    /// All channels averaged into one. A mono recording is borrowed, not
    /// copied: an hours-long file stays in memory once. A long mix goes to
    /// a temporary file as the decoded channels do; where none can be made
    /// it is kept in memory (slower to nothing, only larger).
    pub fn mono(&self) -> std::borrow::Cow<'_, Samples> {
        match self.channels.len() {
            0 => std::borrow::Cow::Owned(Samples::default()),
            1 => std::borrow::Cow::Borrowed(&self.channels[0]),
            n => {
                let scale = 1.0 / n as f32;
                let mix = |r: std::ops::Range<usize>| {
                    let mut sum = vec![0.0f32; r.len()];
                    for c in &self.channels {
                        for (s, x) in sum.iter_mut().zip(c.iter_range(r.clone())) {
                            *s += x;
                        }
                    }
                    sum.iter().map(|&s| s * scale).collect()
                };
                let mixed = collect_blocks(self.len(), SPILL_AT, mix)
                    .or_else(|_| collect_blocks(self.len(), usize::MAX, mix))
                    .expect("samples kept in memory never touch a file");
                std::borrow::Cow::Owned(mixed)
            }
        }
    }

    /// Builds an [`Audio`] from samples already at 16 kHz (tests, other front ends).
    pub fn from_samples(path: impl Into<PathBuf>, channels: Vec<Vec<f32>>) -> Self {
        Self {
            path: path.into(),
            format: "samples".into(),
            source_rate: SAMPLE_RATE,
            channels: channels.into_iter().map(Samples::from).collect(),
        }
    }
}

/// Decodes `path` to 16 kHz float samples, keeping its channels.
pub fn decode(path: &Path, config: &AudioConfig) -> Result<Audio> {
    // The decoders are third-party parsers of whatever a user hands over: one
    // that panics (symphonia-format-riff 0.6.1 overflows a shift on a bad
    // WAVE channel mask, tests/bad_input.rs) fails this file, not the run.
    // Once symphonia fixes that, the guard stays for the next such input.
    Error::guard(path, "reading the audio", || decode_unguarded(path, config))
}

fn decode_unguarded(path: &Path, config: &AudioConfig) -> Result<Audio> {
    config.validate()?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "open", e))?;
    if meta.is_dir() {
        return Err(Error::NotAudio {
            path: path.to_path_buf(),
            what: "it is a folder".into(),
        });
    }
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let mut head = [0u8; 64];
    let n = read_head(path, &mut head)?;
    let head = &head[..n];

    let audio = match sniff(head) {
        Sniffed::Wav => decode_wav(path, config)?,
        Sniffed::Other(kind) => decode_symphonia(path, kind, config)?,
        Sniffed::Refused(format) => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                format: format.into(),
            })
        }
        Sniffed::Unknown => {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if ext.as_deref().is_some_and(|e| EXTENSIONS.contains(&e)) {
                decode_symphonia(path, "audio", config)?
            } else if let Some(what) = not_audio(head) {
                return Err(Error::NotAudio {
                    path: path.to_path_buf(),
                    what: what.into(),
                });
            } else {
                return Err(Error::UnsupportedFormat {
                    path: path.to_path_buf(),
                    format: describe_unknown(ext.as_deref()),
                });
            }
        }
    };

    if audio.duration_s() < config.min_duration_s {
        return Err(Error::NoAudio {
            path: path.to_path_buf(),
            detail: format!(
                "the recording holds only {:.2} s of audio; nothing to analyse",
                audio.duration_s()
            ),
        });
    }
    Ok(audio)
}

fn read_head(path: &Path, buf: &mut [u8]) -> Result<usize> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    Ok(filled)
}

enum Sniffed {
    Wav,
    /// Read by symphonia; the name is the container's, for messages.
    Other(&'static str),
    /// Known, and known not to be read: the format's name for the message.
    Refused(&'static str),
    Unknown,
}

/// Recognises the container from its first bytes: file names lie more often
/// than magic numbers do.
fn sniff(head: &[u8]) -> Sniffed {
    let starts = |m: &[u8]| head.starts_with(m);
    if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"WAVE" {
        return Sniffed::Wav;
    }
    if starts(b"OggS") {
        return Sniffed::Other("Ogg");
    }
    if starts(b"\x1aE\xdf\xa3") {
        // The EBML header names the document type near its start.
        let webm = head.windows(4).any(|w| w == b"webm");
        return Sniffed::Other(if webm { "WebM" } else { "Matroska" });
    }
    if starts(b"#!AMR") {
        return Sniffed::Refused("AMR audio (from phone call recorders)");
    }
    if starts(b"fLaC") {
        return Sniffed::Other("FLAC");
    }
    if starts(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        // MPEG audio frame sync (also ADTS AAC, which symphonia reads too).
        return Sniffed::Other("MP3");
    }
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Sniffed::Other("M4A/MP4");
    }
    Sniffed::Unknown
}

/// Recognises common files that are not recordings at all.
fn not_audio(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF") {
        Some("it is a PDF document")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("it is a ZIP archive or office document")
    } else if std::str::from_utf8(head).is_ok() {
        Some("it is a text file")
    } else {
        None
    }
}

fn describe_unknown(ext: Option<&str>) -> String {
    match ext {
        Some(e) => format!("this file type (.{e})"),
        None => "this file type".into(),
    }
}

/// What the encoder added around the recording, to be cut from the decoded
/// frames, counted in `timescale` units. The default cuts nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Trim {
    /// Frames before the recording (AAC priming, Opus pre-skip).
    skip: u64,
    /// The recording's length after them, where the container says.
    keep: Option<u64>,
    /// Frames after the recording, where only this is known (Ogg's padding).
    drop_end: u64,
    timescale: u32,
}

impl Trim {
    /// The same cut in frames at `rate` (a decoder may output another rate
    /// than the container counts in, as HE-AAC does).
    fn at_rate(self, rate: u32) -> Self {
        if self.timescale == 0 || self.timescale == rate {
            return Self {
                timescale: rate,
                ..self
            };
        }
        let conv = |n: u64| {
            (u128::from(n) * u128::from(rate) / u128::from(self.timescale)).min(u64::MAX.into())
                as u64
        };
        Self {
            skip: conv(self.skip),
            keep: self.keep.map(conv),
            drop_end: conv(self.drop_end),
            timescale: rate,
        }
    }
}

/// Collects interleaved blocks, resampling each to 16 kHz as it arrives.
struct Collector {
    path: PathBuf,
    n_channels: usize,
    source_rate: u32,
    resampler: Option<FftFixedIn<f32>>,
    pending: Vec<Vec<f32>>,
    out: Vec<Samples>,
    /// Frames kept so far (after the trim's `skip`).
    frames_in: u64,
    max_frames: Option<u64>,
    trim: Trim,
    skipped: u64,
}

impl Collector {
    fn new(path: &Path, n_channels: usize, source_rate: u32, config: &AudioConfig) -> Result<Self> {
        if n_channels == 0 {
            return Err(Error::CorruptAudio {
                path: path.to_path_buf(),
                detail: "the header declares zero channels".into(),
            });
        }
        if !(1000..=768_000).contains(&source_rate) {
            return Err(Error::CorruptAudio {
                path: path.to_path_buf(),
                detail: format!("the header declares an impossible sample rate ({source_rate} Hz)"),
            });
        }
        let resampler = if source_rate == SAMPLE_RATE {
            None
        } else {
            Some(
                FftFixedIn::new(
                    source_rate as usize,
                    SAMPLE_RATE as usize,
                    4096,
                    2,
                    n_channels,
                )
                .map_err(|e| Error::CorruptAudio {
                    path: path.to_path_buf(),
                    detail: format!("cannot resample from {source_rate} Hz: {e}"),
                })?,
            )
        };
        Ok(Self {
            path: path.to_path_buf(),
            n_channels,
            source_rate,
            resampler,
            pending: vec![Vec::new(); n_channels],
            out: vec![Samples::default(); n_channels],
            frames_in: 0,
            max_frames: config
                .max_duration_s
                .map(|s| (s * source_rate as f64).ceil() as u64),
            trim: Trim::default(),
            skipped: 0,
        })
    }

    /// Cuts `trim` from the frames pushed from now on (given in any timescale).
    fn with_trim(mut self, trim: Trim) -> Self {
        self.trim = trim.at_rate(self.source_rate);
        self
    }

    /// Appends interleaved samples (whole frames).
    fn push_interleaved(&mut self, samples: &[f32]) -> Result<()> {
        let n = self.n_channels;
        let total = (samples.len() / n) as u64;
        let skip = (self.trim.skip - self.skipped).min(total);
        self.skipped += skip;
        let room = self
            .trim
            .keep
            .map_or(u64::MAX, |keep| keep.saturating_sub(self.frames_in));
        let take = (total - skip).min(room);
        let kept = &samples[(skip as usize) * n..((skip + take) as usize) * n];
        for frame in kept.chunks_exact(n) {
            for (c, &s) in frame.iter().enumerate() {
                if !s.is_finite() {
                    return Err(Error::CorruptAudio {
                        path: self.path.clone(),
                        detail: format!(
                            "invalid sample value ({s}) at {:.2} s",
                            self.frames_in as f64 / self.source_rate as f64
                        ),
                    });
                }
                self.pending[c].push(s.clamp(-1.0, 1.0));
            }
            self.frames_in += 1;
        }
        if let Some(max) = self.max_frames {
            if self.frames_in > max {
                return Err(Error::NoAudio {
                    path: self.path.clone(),
                    detail: format!(
                        "the recording is longer than the {:.1}-hour limit; split it, or raise the limit",
                        max as f64 / self.source_rate as f64 / 3600.0
                    ),
                });
            }
        }
        self.drain(false)
    }

    fn drain(&mut self, finish: bool) -> Result<()> {
        let Some(rs) = self.resampler.as_mut() else {
            for (o, p) in self.out.iter_mut().zip(self.pending.iter_mut()) {
                o.extend_f32(p).map_err(|e| spill_error(&self.path, e))?;
                p.clear();
            }
            return Ok(());
        };
        let err = |e: rubato::ResampleError, path: &Path| Error::CorruptAudio {
            path: path.to_path_buf(),
            detail: format!("resampling failed: {e}"),
        };
        loop {
            let need = rs.input_frames_next();
            if self.pending[0].len() < need {
                break;
            }
            let block: Vec<Vec<f32>> = self
                .pending
                .iter_mut()
                .map(|p| p.drain(..need).collect())
                .collect();
            let res = rs.process(&block, None).map_err(|e| err(e, &self.path))?;
            for (o, r) in self.out.iter_mut().zip(res) {
                o.extend_f32(&r).map_err(|e| spill_error(&self.path, e))?;
            }
        }
        if finish {
            if !self.pending[0].is_empty() {
                let rest = std::mem::take(&mut self.pending);
                let res = rs
                    .process_partial(Some(&rest), None)
                    .map_err(|e| err(e, &self.path))?;
                for (o, r) in self.out.iter_mut().zip(res) {
                    o.extend_f32(&r).map_err(|e| spill_error(&self.path, e))?;
                }
            }
            // Push the resampler's delay line out.
            let res = rs
                .process_partial::<Vec<f32>>(None, None)
                .map_err(|e| err(e, &self.path))?;
            for (o, r) in self.out.iter_mut().zip(res) {
                o.extend_f32(&r).map_err(|e| spill_error(&self.path, e))?;
            }
        }
        Ok(())
    }

    fn finish(mut self, format: String) -> Result<Audio> {
        self.drain(true)?;
        // The resampler's delay is cut at the start; at the end its flush and
        // the encoder's padding go, so times in the output match the file's.
        let delay = self.resampler.as_ref().map_or(0, |rs| rs.output_delay());
        let frames = self.frames_in.saturating_sub(self.trim.drop_end);
        let want = (u128::from(frames) * u128::from(SAMPLE_RATE))
            .div_ceil(u128::from(self.source_rate)) as usize;
        for o in &mut self.out {
            o.finish(delay, want)
                .map_err(|e| spill_error(&self.path, e))?;
        }
        Ok(Audio {
            path: self.path,
            format,
            source_rate: self.source_rate,
            channels: self.out,
        })
    }
}

/// A long recording's samples could not be kept in the temporary folder.
fn spill_error(path: &Path, cause: std::io::Error) -> Error {
    Error::io(
        path,
        "keep its decoded audio (115 MB an hour) in the temporary folder; set TMPDIR to a folder with room",
        cause,
    )
}

fn decode_wav(path: &Path, config: &AudioConfig) -> Result<Audio> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = match hound::WavReader::new(BufReader::new(file)) {
        Ok(r) => r,
        // Compressed WAV variants (ADPCM, mu-law...) are left to symphonia.
        Err(hound::Error::Unsupported) => return decode_symphonia(path, "WAV", config),
        Err(e) => return Err(wav_error(path, e)),
    };
    let spec = reader.spec();
    let format = match spec.sample_format {
        hound::SampleFormat::Float => format!("WAV (float {}-bit)", spec.bits_per_sample),
        hound::SampleFormat::Int => format!("WAV (PCM {}-bit)", spec.bits_per_sample),
    };
    let channels = spec.channels as usize;
    let mut col = Collector::new(path, channels, spec.sample_rate, config)?;
    let declared_frames = reader.duration() as u64;
    // A header that promises more data than the file can hold is caught up
    // front rather than after decoding gigabytes of nothing.
    let bytes_per_frame = (spec.bits_per_sample as u64).div_ceil(8) * channels as u64;
    if bytes_per_frame > 0 && declared_frames.saturating_mul(bytes_per_frame) > file_len {
        let present = file_len / bytes_per_frame;
        return Err(truncated(path, declared_frames, present, spec.sample_rate));
    }

    const BLOCK: usize = 16_384;
    let mut buf: Vec<f32> = Vec::with_capacity(BLOCK * channels);
    let mut read_frames = 0u64;
    macro_rules! pump {
        ($iter:expr, $conv:expr) => {{
            for s in $iter {
                let s = s.map_err(|e| match e {
                    hound::Error::IoError(ref io)
                        if io.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        truncated(path, declared_frames, read_frames, spec.sample_rate)
                    }
                    e => wav_error(path, e),
                })?;
                buf.push($conv(s));
                if buf.len() == BLOCK * channels {
                    col.push_interleaved(&buf)?;
                    read_frames += BLOCK as u64;
                    buf.clear();
                }
            }
        }};
    }
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => pump!(reader.samples::<f32>(), |s: f32| s),
        (hound::SampleFormat::Int, 8) => pump!(reader.samples::<i8>(), |s: i8| s as f32 / 128.0),
        (hound::SampleFormat::Int, 16) => {
            pump!(reader.samples::<i16>(), |s: i16| s as f32 / 32_768.0)
        }
        (hound::SampleFormat::Int, 24) => {
            pump!(reader.samples::<i32>(), |s: i32| s as f32 / 8_388_608.0)
        }
        (hound::SampleFormat::Int, 32) => {
            pump!(
                reader.samples::<i32>(),
                |s: i32| (s as f64 / 2_147_483_648.0) as f32
            )
        }
        (fmt, bits) => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                format: format!("WAV with {bits}-bit {fmt:?} samples"),
            })
        }
    }
    if !buf.len().is_multiple_of(channels) {
        return Err(truncated(
            path,
            declared_frames,
            read_frames,
            spec.sample_rate,
        ));
    }
    col.push_interleaved(&buf)?;
    col.finish(format)
}

fn truncated(path: &Path, declared: u64, present: u64, rate: u32) -> Error {
    Error::CorruptAudio {
        path: path.to_path_buf(),
        detail: format!(
            "the file ends early: its header promises {:.1} s but only {:.1} s is present \
             (the recording may not have finished saving; `sox --ignore-length IN OUT.wav` can recover what is there)",
            declared as f64 / rate as f64,
            present as f64 / rate as f64
        ),
    }
}

fn wav_error(path: &Path, e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(io) => Error::io(path, "read", io),
        hound::Error::FormatError(msg) => Error::CorruptAudio {
            path: path.to_path_buf(),
            detail: format!("invalid WAV header ({msg})"),
        },
        hound::Error::TooWide => Error::UnsupportedFormat {
            path: path.to_path_buf(),
            format: "WAV with samples wider than 32 bits".into(),
        },
        other => Error::CorruptAudio {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

fn decode_symphonia(path: &Path, kind: &str, config: &AudioConfig) -> Result<Audio> {
    use symphonia::core::errors::Error as SymError;
    use symphonia::core::formats::TrackType;

    let corrupt = |detail: String| Error::CorruptAudio {
        path: path.to_path_buf(),
        detail,
    };
    let no_track = || Error::NoAudio {
        path: path.to_path_buf(),
        detail: "the file has no audio track (a video without sound?)".into(),
    };
    let mut format = open_container(path, kind)?;
    // The first audio track: a video's picture and any second language are passed over.
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(no_track)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(no_track)?
        .clone();
    let container = format.format_info().format;
    let mut decoder = TrackDecoder::new(path, kind, container, &params)?;
    let trim = trim_for(path, container, track, &decoder);
    let label = format!("{kind} ({})", codec_name(&params));

    let mut col: Option<Collector> = None;
    let mut buf: Vec<f32> = Vec::new();
    let mut decode_errors = 0usize;
    let mut packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A cut-off file: keep what decoded, as players do, unless nothing did.
            Err(SymError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                return Err(corrupt(format!(
                    "reading failed after {packets} packets: {e}"
                )))
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        let Some((ch, rate)) = decoder.decode(&packet, &mut buf).map_err(corrupt)? else {
            decode_errors += 1;
            continue;
        };
        if col.is_none() {
            col = Some(Collector::new(path, ch, rate, config)?.with_trim(trim));
        }
        let c = col.as_mut().expect("set above");
        if ch != c.n_channels || rate != c.source_rate {
            return Err(corrupt(
                "the channel layout or sample rate changes mid-file".into(),
            ));
        }
        c.push_interleaved(&buf)?;
    }
    match col {
        Some(c) => c.finish(label),
        None if decode_errors > 0 => Err(corrupt(format!(
            "none of its {decode_errors} audio packets could be decoded"
        ))),
        None => Err(Error::NoAudio {
            path: path.to_path_buf(),
            detail: "the file contains no audio samples".into(),
        }),
    }
}

/// Opens `path` with symphonia's probe; `kind` names the container in messages.
fn open_container(
    path: &Path,
    kind: &str,
) -> Result<Box<dyn symphonia::core::formats::FormatReader>> {
    use symphonia::core::errors::Error as SymError;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let corrupt = |detail: String| Error::CorruptAudio {
        path: path.to_path_buf(),
        detail,
    };
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(_) => Error::UnsupportedFormat {
                path: path.to_path_buf(),
                format: format!("this {kind} file's container"),
            },
            SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                corrupt(format!("the {kind} file is cut short before any audio"))
            }
            other => corrupt(format!("cannot read the {kind} container: {other}")),
        })
}

/// The decoder for the chosen track: symphonia's own, or libopus for Opus,
/// which symphonia demuxes but does not decode.
enum TrackDecoder {
    Symphonia(Box<dyn symphonia::core::codecs::audio::AudioDecoder>),
    Opus {
        decoder: opus::OpusDecoder,
        /// 48 kHz frames of encoder delay, from the OpusHead.
        pre_skip: u16,
    },
}

impl TrackDecoder {
    fn new(
        path: &Path,
        kind: &str,
        container: symphonia::core::formats::FormatId,
        params: &symphonia::core::codecs::audio::AudioCodecParameters,
    ) -> Result<Self> {
        use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
        use symphonia::core::codecs::audio::AudioDecoderOptions;
        use symphonia::core::formats::well_known::FORMAT_ID_ISOMP4;

        let unsupported = |format: String| Error::UnsupportedFormat {
            path: path.to_path_buf(),
            format,
        };
        if params.codec != CODEC_ID_OPUS {
            return symphonia::default::get_codecs()
                .make_audio_decoder(params, &AudioDecoderOptions::default())
                .map(TrackDecoder::Symphonia)
                .map_err(|_| unsupported(format!("the audio codec in this {kind} file")));
        }
        let extra = params.extra_data.as_deref().unwrap_or_default();
        let head = if container == FORMAT_ID_ISOMP4 {
            opus::OpusHead::parse_mp4(extra)
        } else {
            opus::OpusHead::parse(extra)
        }
        // Without a head (a damaged or minimal file), assume the plain
        // mono/stereo layout the track declares and no pre-skip.
        .unwrap_or(opus::OpusHead {
            channels: params.channels.as_ref().map_or(1, |c| c.count() as u8),
            pre_skip: 0,
            gain: 0,
            mapping_family: 0,
        });
        let decoder = opus::OpusDecoder::new(&head).map_err(unsupported)?;
        Ok(TrackDecoder::Opus {
            decoder,
            pre_skip: head.pre_skip,
        })
    }

    /// Decodes `packet` into `out` as interleaved samples, returning their
    /// channel count and rate; `Ok(None)` for a damaged packet, which is
    /// skipped as players do; `Err` for a failure that ends decoding.
    fn decode(
        &mut self,
        packet: &symphonia::core::packet::Packet,
        out: &mut Vec<f32>,
    ) -> std::result::Result<Option<(usize, u32)>, String> {
        use symphonia::core::errors::Error as SymError;

        match self {
            TrackDecoder::Symphonia(decoder) => match decoder.decode(packet) {
                Ok(block) => {
                    let spec = block.spec();
                    out.resize(block.samples_interleaved(), 0.0);
                    block.copy_to_slice_interleaved(out);
                    Ok(Some((spec.channels().count(), spec.rate())))
                }
                Err(SymError::DecodeError(_)) => Ok(None),
                Err(e) => Err(format!("decoding failed: {e}")),
            },
            TrackDecoder::Opus { decoder, .. } => match decoder.decode(&packet.data) {
                Ok(samples) => {
                    out.clear();
                    out.extend_from_slice(samples);
                    Ok(Some((decoder.channels(), opus::RATE)))
                }
                Err(_) => Ok(None),
            },
        }
    }
}

/// What to cut so that decoded times match the original recording.
/// Symphonia's MP3 and Vorbis decoders cut what their containers mark
/// themselves; the MP4 edit list and Opus's pre-skip are cut here.
fn trim_for(
    path: &Path,
    container: symphonia::core::formats::FormatId,
    track: &symphonia::core::formats::Track,
    decoder: &TrackDecoder,
) -> Trim {
    use symphonia::core::formats::well_known::FORMAT_ID_ISOMP4;

    if container == FORMAT_ID_ISOMP4 {
        // In MP4 the edit list covers Opus's pre-skip too.
        return File::open(path)
            .ok()
            .and_then(|f| mp4::trim(&mut BufReader::new(f), track.id))
            .unwrap_or_default();
    }
    match decoder {
        TrackDecoder::Opus { pre_skip, .. } => Trim {
            skip: u64::from(*pre_skip),
            keep: None,
            // Ogg says how much of the last packet is padding; Matroska, as
            // symphonia reads it, does not (at most one packet, <= 120 ms).
            drop_end: u64::from(track.padding.unwrap_or(0)),
            timescale: opus::RATE,
        },
        TrackDecoder::Symphonia(_) => Trim::default(),
    }
}

fn codec_name(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> String {
    use symphonia::core::codecs::audio::well_known as wk;
    let c = params.codec;
    let name = if c == wk::CODEC_ID_MP3 {
        "MP3"
    } else if c == wk::CODEC_ID_AAC {
        "AAC"
    } else if c == wk::CODEC_ID_FLAC {
        "FLAC"
    } else if c == wk::CODEC_ID_VORBIS {
        "Vorbis"
    } else if c == wk::CODEC_ID_OPUS {
        "Opus"
    } else {
        "PCM or other"
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_16_bit_values_exactly_and_read_zeros_past_the_end() {
        let pcm: Vec<f32> = [-32_768i16, -1, 0, 1, 12_345, 32_767]
            .iter()
            .map(|&x| x as f32 / 32_768.0)
            .collect();
        let s = Samples::from_f32(&pcm);
        assert_eq!(s.to_vec(), pcm);
        // Out of range is clipped, not wrapped.
        assert_eq!(
            Samples::from_f32(&[1.5, -2.0]).to_vec(),
            [32_767.0 / 32_768.0, -1.0]
        );
        assert_eq!(s.read(4..10), &pcm[4..]);
        assert!(s.read(7..9).is_empty());
        let mut out = [9.0f32; 4];
        s.read_into(4, &mut out);
        assert_eq!(out, [pcm[4], pcm[5], 0.0, 0.0]);
        s.read_into(10, &mut out);
        assert_eq!(out, [0.0; 4]);
    }

    /// Past ten minutes the samples go to a temporary file, and read back
    /// the same; a stereo file's mix does too.
    #[test]
    fn a_long_recording_is_held_in_a_file_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let n = SPILL_AT + 16_000 * 7 + 123;
        let pcm = |i: usize, c: usize| (((i * (7 + c)) % 5000) as f32 - 2500.0) / 32_767.0;
        let inter: Vec<f32> = (0..n).flat_map(|i| [pcm(i, 0), pcm(i, 1)]).collect();
        let p = dir.path().join("long.wav");
        write_wav(&p, 16_000, 2, &inter);
        let a = decode(&p, &AudioConfig::default()).unwrap();
        assert_eq!(a.len(), n);
        assert!(a.channels.iter().all(Samples::is_spilled));
        let left: Vec<f32> = (0..n).map(|i| pcm(i, 0)).collect();
        let want = Samples::from_f32(&left);
        assert_eq!(a.channels[0], want);
        for r in [0..5, SPILL_AT - 3..SPILL_AT + 3, n - 10..n + 10] {
            assert_eq!(a.channels[0].read(r.clone()), want.read(r));
        }
        let mono = a.mono();
        assert!(mono.is_spilled());
        let mix = |i: usize| {
            let (l, r) = (
                Samples::from_f32(&[pcm(i, 0)]),
                Samples::from_f32(&[pcm(i, 1)]),
            );
            (l.to_vec()[0] + r.to_vec()[0]) * 0.5
        };
        for i in [0, 1, SPILL_AT, n - 1] {
            assert_eq!(mono.read(i..i + 1), Samples::from_f32(&[mix(i)]).to_vec());
        }
    }

    #[test]
    fn mono_mixes_channels_and_borrows_one() {
        let a = Audio::from_samples("x.wav", vec![vec![0.5, -0.5, 0.25], vec![0.0, 0.5, 0.25]]);
        assert_eq!(a.mono().to_vec(), [0.25, 0.0, 0.25]);
        let one = Audio::from_samples("y.wav", vec![vec![0.5, 0.25]]);
        assert!(matches!(one.mono(), std::borrow::Cow::Borrowed(_)));
    }

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample((s * 32_767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    fn sine(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn resamples_44k1_to_16k_keeping_length_and_pitch() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        write_wav(&p, 44_100, 1, &sine(44_100, 440.0, 2.0));
        let a = decode(&p, &AudioConfig::default()).unwrap();
        assert_eq!(a.source_rate, 44_100);
        assert_eq!(a.len(), 32_000);
        // Count zero crossings in the middle second: 440 Hz → ~880 crossings.
        let mid = &a.channels[0].read(8_000..24_000);
        let crossings = mid
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((870..=890).contains(&crossings), "{crossings}");
        // No start-up delay: the first samples already carry the tone.
        let early: f32 = a.channels[0]
            .iter_range(100..400)
            .map(|s| s.abs())
            .sum::<f32>()
            / 300.0;
        assert!(early > 0.2, "{early}");
    }

    #[test]
    fn keeps_channels_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("st.wav");
        let left = sine(16_000, 300.0, 1.0);
        let inter: Vec<f32> = left.iter().flat_map(|&s| [s, 0.0]).collect();
        write_wav(&p, 16_000, 2, &inter);
        let a = decode(&p, &AudioConfig::default()).unwrap();
        assert_eq!(a.channels.len(), 2);
        assert!(a.channels[1].iter().all(|s| s == 0.0));
        assert!(a.channels[0].iter().any(|s| s.abs() > 0.4));
    }

    #[test]
    fn empty_and_text_files_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = dir.path().join("empty.wav");
        std::fs::write(&e, b"").unwrap();
        let err = decode(&e, &AudioConfig::default()).unwrap_err();
        assert!(matches!(err, Error::EmptyFile { .. }));
        assert!(err.to_string().contains("empty.wav"));

        let t = dir.path().join("notes.txt");
        std::fs::write(&t, b"visit notes, not a recording").unwrap();
        let err = decode(&t, &AudioConfig::default()).unwrap_err();
        assert!(matches!(err, Error::NotAudio { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"));
    }

    #[test]
    fn lying_header_is_reported_as_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.wav");
        write_wav(&p, 16_000, 1, &sine(16_000, 200.0, 2.0));
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let err = decode(&p, &AudioConfig::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("ends early") && msg.contains("cut.wav"),
            "{msg}"
        );
    }

    #[test]
    fn nan_samples_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nan.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for i in 0..16_000 {
            w.write_sample(if i == 8_000 { f32::NAN } else { 0.1 })
                .unwrap();
        }
        w.finalize().unwrap();
        let msg = decode(&p, &AudioConfig::default()).unwrap_err().to_string();
        assert!(
            msg.contains("invalid sample value") && msg.contains("0.50 s"),
            "{msg}"
        );
    }

    #[test]
    fn amr_and_folders_are_refused_saying_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("call 12.amr");
        let mut amr = b"#!AMR\n".to_vec();
        amr.extend((0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80));
        std::fs::write(&p, amr).unwrap();
        let err = decode(&p, &AudioConfig::default()).unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("call 12.amr: AMR audio")
                && msg.contains(r#"`ffmpeg -i "call 12.amr" "call 12.wav"`"#),
            "{msg}"
        );

        let err = decode(dir.path(), &AudioConfig::default()).unwrap_err();
        assert!(matches!(err, Error::NotAudio { .. }), "{err}");
    }

    #[test]
    fn containers_are_known_by_their_first_bytes() {
        let kind = |head: &[u8]| match sniff(head) {
            Sniffed::Other(k) | Sniffed::Refused(k) => k,
            Sniffed::Wav => "WAV",
            Sniffed::Unknown => "?",
        };
        assert_eq!(kind(b"OggS\0\x02........OpusHead"), "Ogg");
        assert_eq!(kind(b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\x82\x84webm"), "WebM");
        assert_eq!(
            kind(b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska"),
            "Matroska"
        );
        assert_eq!(kind(b"\0\0\0\x20ftypisom"), "M4A/MP4");
        assert!(kind(b"#!AMR-WB\n").starts_with("AMR"));
    }

    /// 16 kHz mono frames numbered 0, 1, 2... through a collector with `trim`,
    /// pushed in blocks of 4.
    fn trimmed(trim: Trim, frames: usize) -> Vec<f32> {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::new(
            &dir.path().join("t.wav"),
            1,
            SAMPLE_RATE,
            &AudioConfig::default(),
        )
        .unwrap()
        .with_trim(trim);
        let x: Vec<f32> = (0..frames).map(|i| i as f32 / 100.0).collect();
        for block in x.chunks(4) {
            c.push_interleaved(block).unwrap();
        }
        let a = c.finish("test".into()).unwrap();
        a.channels[0].iter().map(|s| (s * 100.0).round()).collect()
    }

    #[test]
    fn encoder_delay_and_padding_are_cut() {
        let trim = |skip, keep, drop_end| Trim {
            skip,
            keep,
            drop_end,
            timescale: SAMPLE_RATE,
        };
        assert_eq!(trimmed(trim(5, None, 3), 12), [5.0, 6.0, 7.0, 8.0]);
        assert_eq!(trimmed(trim(2, Some(3), 0), 12), [2.0, 3.0, 4.0]);
        assert_eq!(trimmed(trim(20, None, 0), 12), [0.0; 0]);
        assert_eq!(trimmed(Trim::default(), 3), [0.0, 1.0, 2.0]);
        // Counted at the container's rate, cut at the decoder's (HE-AAC doubles it).
        let t = Trim {
            skip: 1024,
            keep: Some(22_050),
            drop_end: 0,
            timescale: 22_050,
        };
        assert_eq!(t.at_rate(44_100).skip, 2048);
        assert_eq!(t.at_rate(44_100).keep, Some(44_100));
    }

    #[test]
    fn config_validation() {
        let bad = AudioConfig {
            max_duration_s: Some(-1.0),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert!(AudioConfig::default().validate().is_ok());
    }
}
