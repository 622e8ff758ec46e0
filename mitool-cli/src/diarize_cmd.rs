//! `mitool diarize`: who spoke when, utterances and roles, per recording.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use mitool_core::audio::{self, AudioConfig};
use mitool_core::diarize::{self, DiarizeConfig, Diarizer};
use mitool_core::models::Store;
use mitool_core::outfile;
use mitool_core::roles::{self, RolesConfig, SessionUtterances, UtteranceConfig};
use mitool_core::transcribe::{TranscribeConfig, Transcriber};

use crate::progress;

#[derive(Args)]
pub struct DiarizeArgs {
    /// Recordings: WAV, FLAC, MP3, M4A/AAC, Ogg or WebM (Opus, Vorbis), MP4 video (its sound).
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
    /// Only who spoke when: write <stem>.rttm and skip transcription,
    /// utterances and roles (fast, e.g. to check diarization with `mitool der`).
    #[arg(long, conflicts_with_all = ["practitioner", "practitioner_voice", "model"])]
    pub rttm_only: bool,
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
    let transcriber = if args.rttm_only {
        None
    } else {
        Some(Transcriber::new(store, tcfg)?)
    };
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
        let result = (|| -> mitool_core::Result<Option<SessionUtterances>> {
            let audio = audio::decode(file, &AudioConfig::default())?;
            let Some(transcriber) = &transcriber else {
                let dia = diarizer.diarize(&audio, &sink)?;
                outfile::write_atomic(
                    &args.out.join(format!("{stem}.rttm")),
                    dia.to_rttm(&stem).as_bytes(),
                )?;
                return Ok(None);
            };
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
            Ok(Some(doc))
        })();
        let doc = match result {
            Ok(Some(d)) => d,
            Ok(None) => continue,
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

#[derive(Args)]
pub struct DerArgs {
    /// Reference turns: an RTTM file (it may hold many files' ids) or a folder of .rttm files.
    pub reference: PathBuf,
    /// Turns to score: an RTTM file, a folder of .rttm files, or a `mitool batch` output folder.
    pub hypothesis: PathBuf,
    /// Seconds around each reference boundary left unscored.
    #[arg(long, default_value_t = 0.25)]
    pub collar: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Scores every reference file id found in the hypothesis; ids with no
/// hypothesis are named and make the exit status 1.
pub fn der_cmd(args: DerArgs) -> Result<ExitCode> {
    if !(0.0..=2.0).contains(&args.collar) {
        anyhow::bail!(
            "--collar must be between 0 and 2 seconds, got {}",
            args.collar
        );
    }
    let reference = diarize::read_rttm_set(&args.reference)?;
    let mut hypothesis = diarize::read_rttm_set(&args.hypothesis)?;
    // Two files of one recording each: score them against each other even
    // where the ids differ (e.g. "ES2011a" and "ES2011a.Mix-Headset").
    if args.reference.is_file()
        && args.hypothesis.is_file()
        && reference.len() == 1
        && hypothesis.len() == 1
    {
        let h = hypothesis.pop_first().expect("one").1;
        hypothesis.insert(reference.keys().next().expect("one").clone(), h);
    }
    let (files, missing) = diarize::der_by_file(&reference, &hypothesis, args.collar);
    let pooled = diarize::pooled_der(&files);
    if args.json {
        let rows: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "file": f.file,
                    "der": f.report.der,
                    "missed_s": f.report.missed,
                    "false_alarm_s": f.report.false_alarm,
                    "confusion_s": f.report.confusion,
                    "reference_speech_s": f.report.total_ref,
                    "reference_speakers": f.reference_speakers,
                    "hypothesis_speakers": f.hypothesis_speakers,
                })
            })
            .collect();
        let out = serde_json::json!({
            "collar_s": args.collar,
            "files": rows,
            "pooled_der": pooled,
            "missing": missing,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<28} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "file", "DER", "missed", "false al.", "confusion", "ref (s)", "speakers"
        );
        for f in &files {
            let r = &f.report;
            println!(
                "{:<28} {:>6.1}% {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}",
                f.file,
                100.0 * r.der,
                r.missed,
                r.false_alarm,
                r.confusion,
                r.total_ref,
                format!("{}/{}", f.hypothesis_speakers, f.reference_speakers),
            );
        }
        match pooled {
            Some(p) => println!(
                "pooled DER {:.1}% over {} file(s), ±{} s collar, overlap scored (speakers: found/reference)",
                100.0 * p,
                files.len(),
                args.collar
            ),
            None => println!("no reference speech to score"),
        }
    }
    for id in &missing {
        eprintln!(
            "mitool: {id}: in the reference but not in {}",
            args.hypothesis.display()
        );
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
