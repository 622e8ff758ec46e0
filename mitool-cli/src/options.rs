//! The options every pipeline command shares, declared once: the options
//! file, then the flags over it, into [`BatchOptions`] (which also makes the
//! library's [`mitool_core::session::SessionConfig`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use mitool_core::batch::BatchOptions;
use mitool_core::roles::Unit;
use mitool_core::score::Segment;

/// Transcription options (`batch`, `diarize`, `transcribe`).
#[derive(Args, Debug, Default)]
pub struct WhisperArgs {
    /// Options file (default: ./mitool.toml when present). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Whisper model: a name from `mitool models list`, or a ggml file.
    #[arg(long)]
    pub model: Option<String>,
    /// Spoken language ("en", or "auto" with a multilingual model).
    #[arg(long)]
    pub language: Option<String>,
    /// Threads in all (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Speaker options (`batch`, `diarize`).
#[derive(Args, Debug, Default)]
pub struct SpeakerArgs {
    /// The number of speakers, where known.
    #[arg(long)]
    pub speakers: Option<usize>,
    /// The fewest speakers to look for (default 1).
    #[arg(long)]
    pub min_speakers: Option<usize>,
    /// The most speakers to look for (default 4).
    #[arg(long)]
    pub max_speakers: Option<usize>,
    /// Each channel is one person's microphone (detected by default).
    #[arg(long)]
    pub channels_are_speakers: bool,
    /// The practitioner: a speaker label (S1, S2…) for recordings, a name for transcripts.
    #[arg(long)]
    pub practitioner: Option<String>,
    /// A recording of the practitioner alone: the closest voice is theirs.
    #[arg(long, value_name = "WAV")]
    pub practitioner_voice: Option<PathBuf>,
    /// What one coded utterance is: turn (a speaker's continuous speech, as
    /// the coder was trained; default) or sentence.
    #[arg(long)]
    pub unit: Option<Unit>,
}

/// The options file (`--config`, else ./mitool.toml where present), then
/// the flags given over it; checked.
pub fn resolve(
    whisper: &WhisperArgs,
    speakers: Option<&SpeakerArgs>,
    segment: Option<&Segment>,
) -> Result<BatchOptions> {
    let file = whisper.config.clone().or_else(|| {
        let p = PathBuf::from("mitool.toml");
        p.is_file().then_some(p)
    });
    let mut o: BatchOptions = match &file {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            BatchOptions::from_toml(&text, p)?
        }
        None => BatchOptions::default(),
    };
    if let Some(v) = &whisper.model {
        o.model = Some(v.clone());
    }
    if let Some(v) = &whisper.language {
        o.language = v.clone();
    }
    if let Some(v) = whisper.threads {
        o.threads = v;
    }
    if let Some(s) = speakers {
        if s.speakers.is_some() {
            o.speakers = s.speakers;
        }
        if let Some(v) = s.min_speakers {
            o.min_speakers = v;
        }
        if let Some(v) = s.max_speakers {
            o.max_speakers = v;
        }
        if s.channels_are_speakers {
            o.channels_are_speakers = Some(true);
        }
        if s.practitioner.is_some() {
            o.practitioner = s.practitioner.clone();
        }
        if s.practitioner_voice.is_some() {
            o.practitioner_voice = s.practitioner_voice.clone();
        }
        if let Some(u) = s.unit {
            o.unit = u;
        }
    }
    if let Some(s) = segment {
        o.segment = s.clone();
    }
    o.validate()?;
    Ok(o)
}
