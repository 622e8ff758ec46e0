//! `mitool diarize`: who spoke when, utterances and roles, per recording.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use mitool_core::audio::{self, AudioConfig};
use mitool_core::eval;
use mitool_core::models::Store;
use mitool_core::outfile;
use mitool_core::session::{Known, Session};

use crate::options::{self, SpeakerArgs, WhisperArgs};
use crate::progress;

#[derive(Args)]
pub struct DiarizeArgs {
    /// Recordings: WAV, FLAC, MP3, M4A/AAC, Ogg or WebM (Opus, Vorbis), MP4 video (its sound).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folder for <stem>.rttm, <stem>.utterances.json and <stem>.txt.
    #[arg(long, short)]
    pub out: PathBuf,
    #[command(flatten)]
    pub whisper: WhisperArgs,
    #[command(flatten)]
    pub speakers: SpeakerArgs,
    /// Only who spoke when: write <stem>.rttm and skip transcription,
    /// utterances and roles (fast, e.g. to check diarization with `mitool der`).
    #[arg(long, conflicts_with_all = ["practitioner", "practitioner_voice", "model"])]
    pub rttm_only: bool,
}

/// Each recording through the same [`Session`] as `mitool batch`, so both
/// name the same practitioner; writes who spoke when, the utterances and a
/// readable text.
pub fn diarize_cmd(store: &Store, args: DiarizeArgs, quiet: bool) -> Result<ExitCode> {
    let opts = options::resolve(&args.whisper, Some(&args.speakers), None)?;
    let session = Session::new(store, opts.session_config(opts.threads))?;
    // Missing models stop the command here, once, not once per recording.
    if !args.rttm_only {
        session.transcriber()?;
    }
    session.diarizer()?;
    outfile::create_private_dir(&args.out)?;
    let sink = progress::Bars::new(quiet);
    let mut failed = 0usize;
    for file in &args.files {
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let result = (|| -> mitool_core::Result<()> {
            let audio = audio::decode(file, &AudioConfig::default())?;
            if args.rttm_only {
                let dia = session.who_spoke_when(&audio, &sink)?;
                if let Some(why) = &dia.count.review {
                    sink.clear();
                    eprintln!("mitool: {}: needs review: {why}", file.display());
                }
                return outfile::write_atomic(
                    &args.out.join(format!("{stem}.rttm")),
                    dia.to_rttm(&stem).as_bytes(),
                );
            }
            let heard = session.hear(&stem, &audio, &Known::default(), &sink)?;
            let doc = heard.document(&stem);
            let w = |ext: &str, text: String| {
                outfile::write_atomic(&args.out.join(format!("{stem}.{ext}")), text.as_bytes())
            };
            w("rttm", heard.diarization.to_rttm(&stem))?;
            w("utterances.json", doc.to_json())?;
            w("txt", doc.to_txt())
        })();
        if let Err(e) = result {
            sink.clear();
            eprintln!("mitool: {e}");
            failed += 1;
        }
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
    let reference = eval::read_rttm_set(&args.reference)?;
    let mut hypothesis = eval::read_rttm_set(&args.hypothesis)?;
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
    let (files, missing) = eval::der_by_file(&reference, &hypothesis, args.collar);
    let pooled = eval::pooled_der(&files);
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
