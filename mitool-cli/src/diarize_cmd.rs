//! `mitool diarize`: who spoke when, utterances and roles, per recording.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use mitool_core::audio::{self, AudioConfig};
use mitool_core::diarize::{DiarizeConfig, Diarizer};
use mitool_core::models::Store;
use mitool_core::outfile;
use mitool_core::roles::{self, RolesConfig, SessionUtterances, UtteranceConfig};
use mitool_core::transcribe::{TranscribeConfig, Transcriber};

use crate::progress;

#[derive(Args)]
pub struct DiarizeArgs {
    /// Recordings: WAV, FLAC, MP3, M4A/AAC, OGG/Vorbis.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folder for <stem>.rttm, <stem>.utterances.json and <stem>.txt.
    #[arg(long, short)]
    pub out: PathBuf,
    /// The number of speakers, where known.
    #[arg(long)]
    pub speakers: Option<usize>,
    /// The most speakers to look for.
    #[arg(long, default_value_t = 4)]
    pub max_speakers: usize,
    /// Each channel is one person's microphone (detected by default).
    #[arg(long)]
    pub channels_are_speakers: bool,
    /// The practitioner's speaker label (S1, S2, ...), where known.
    #[arg(long, value_name = "S")]
    pub practitioner: Option<String>,
    /// A recording of the practitioner alone: the closest voice is the practitioner.
    #[arg(long, value_name = "WAV")]
    pub practitioner_voice: Option<PathBuf>,
    /// Whisper model: a name from `mitool models list`, or a path to a ggml file.
    #[arg(long)]
    pub model: Option<String>,
    /// Spoken language ("en", or "auto" with a multilingual model).
    #[arg(long, default_value = "en")]
    pub language: String,
    /// Threads to use (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn diarize_cmd(store: &Store, args: DiarizeArgs, quiet: bool) -> Result<ExitCode> {
    let mut tcfg = TranscribeConfig {
        model: args.model.clone(),
        language: args.language.clone(),
        ..Default::default()
    };
    let mut dcfg = DiarizeConfig {
        speakers: args.speakers,
        max_speakers: args.max_speakers,
        channels_are_speakers: args.channels_are_speakers.then_some(true),
        ..Default::default()
    };
    if let Some(t) = args.threads {
        tcfg.threads = t;
        dcfg.threads = t;
    }
    let rcfg = RolesConfig {
        practitioner: args.practitioner.clone(),
        practitioner_voice: args.practitioner_voice.clone(),
    };
    let transcriber = Transcriber::new(store, tcfg)?;
    let diarizer = Diarizer::new(store, dcfg)?;
    outfile::create_private_dir(&args.out)?;
    let sink = progress::Bars::new(quiet);
    let mut failed = 0usize;
    for file in &args.files {
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let result = (|| -> mitool_core::Result<SessionUtterances> {
            let audio = audio::decode(file, &AudioConfig::default())?;
            let transcript = transcriber.transcribe(&audio, &sink)?;
            let dia = diarizer.diarize(&audio, &sink)?;
            let mut utts = roles::attribute(&transcript, &dia, &stem, &UtteranceConfig::default());
            let roles = roles::assign_roles(&mut utts, &dia, &rcfg, Some(&diarizer), None)?;
            let mut models = vec![transcript.model.clone()];
            models.extend(diarizer.models().iter().cloned());
            let doc = SessionUtterances::new(&stem, &transcript, &dia, models, roles, utts);
            outfile::write_atomic(
                &args.out.join(format!("{stem}.rttm")),
                dia.to_rttm(&stem).as_bytes(),
            )?;
            Ok(doc)
        })();
        let doc = match result {
            Ok(d) => d,
            Err(e) => {
                sink.clear();
                eprintln!("mitool: {e}");
                failed += 1;
                continue;
            }
        };
        outfile::write_atomic(
            &args.out.join(format!("{stem}.utterances.json")),
            doc.to_json().as_bytes(),
        )?;
        outfile::write_atomic(
            &args.out.join(format!("{stem}.txt")),
            doc.to_txt().as_bytes(),
        )?;
    }
    sink.clear();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
