//! `mitool batch` and `mitool merge`: the main job.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use mitool_core::batch::{self, Pipeline};
use mitool_core::manifest;
use mitool_core::models::Store;
use mitool_core::outfile;
use mitool_core::score::{Segment, SESSION_COLUMNS};

use crate::options::{self, SpeakerArgs, WhisperArgs};
use crate::progress::Bars;

#[derive(Args)]
#[command(
    after_help = "A sessions manifest (--manifest sessions.csv) lists the sessions instead of INPUTS: \
a CSV whose first line names the columns. `file` (required): the recording or transcript, relative \
to the manifest's folder. Optional, per session, over the flags: `speakers` (how many people, 1-20), \
`practitioner` (speaker label or name, as --practitioner), `practitioner_voice` (as \
--practitioner-voice). Every other column (practitioner_id, site, date…) is copied into \
sessions.csv after its usual columns.\n\n  file,speakers,practitioner,practitioner_id,site\n  \
visits/0412.m4a,2,,P07,North\n  notes/0415.txt,,Sam,P02,South"
)]
pub struct BatchArgs {
    /// Recordings and transcripts: files or folders (searched recursively).
    /// Not with --manifest, which lists the sessions itself.
    pub inputs: Vec<PathBuf>,
    /// A sessions manifest (CSV): which files, and what is known about each
    /// session; its other columns are copied into sessions.csv (see below).
    #[arg(long, value_name = "FILE.csv")]
    pub manifest: Option<PathBuf>,
    /// Output folder: one sub-folder per session, plus sessions.csv, failures.csv, index.html.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Process only shard I of N (1-based), e.g. 2/8; combine with `mitool merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub whisper: WhisperArgs,
    #[command(flatten)]
    pub speakers: SpeakerArgs,
    /// Part of each session to score: whole, window:START_S[:LEN_S], random:SEED[:LEN_S].
    #[arg(long)]
    pub segment: Option<Segment>,
    /// Print a machine-readable summary (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also log every coded utterance's text on stderr (off by default: the
    /// recordings are about families, and logs travel further than reports).
    #[arg(long)]
    pub log_text: bool,
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (i, n) = s.split_once('/').context("--shard takes I/N, e.g. 2/8")?;
    Ok((i.trim().parse()?, n.trim().parse()?))
}

pub fn batch_cmd(store: &Store, args: BatchArgs, quiet: bool) -> Result<ExitCode> {
    let mut opts = options::resolve(&args.whisper, Some(&args.speakers), args.segment.as_ref())?;
    if args.manifest.is_some() {
        opts.manifest = args.manifest.clone();
    }
    let mut jobs = match (&opts.manifest, args.inputs.is_empty()) {
        (Some(m), true) => batch::plan_manifest(&manifest::read(m)?),
        (Some(m), false) => bail!(
            "both a manifest ({}) and files to process ({}) were given; the manifest lists the sessions: \
             add the files to it, or leave out --manifest (and `manifest` in mitool.toml)",
            m.display(),
            args.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
        (None, false) => batch::plan(&args.inputs)?,
        (None, true) => bail!(
            "nothing to process: give recordings or transcripts (files or folders), or --manifest sessions.csv"
        ),
    };
    if let Some(s) = &args.shard {
        let (i, n) = parse_shard(s)?;
        jobs = batch::shard(jobs, i, n)?;
    }
    // Before any slow start-up: a folder that cannot be written (read-only,
    // full, not ours) stops the run at once, naming it. Taking the tables'
    // lock for a moment writes its lock file there; other runs may work in
    // the folder (sessions are claimed one by one), so it is not kept.
    drop(outfile::lock_dir(&args.out, batch::TABLES_WAIT)?);
    let (parallel, per_session) = batch::thread_split(opts.threads, jobs.len());
    let pipeline = Pipeline::new(store, opts, per_session)?;
    // Missing models stop the batch here, once (exit 2), not once per session.
    let audio = jobs.iter().any(|j| j.kind == batch::InputKind::Audio);
    pipeline.session().models(audio)?;
    let bars = Bars::new(quiet || args.json).with_total(jobs.len() as u64);
    let summary = batch::run(&pipeline, &jobs, &args.out, parallel, &bars)?;
    bars.clear();
    if args.log_text {
        for job in &jobs {
            log_text(
                &args.out.join(&job.session_id).join("coded.csv"),
                &job.session_id,
            );
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "out": args.out.display().to_string(),
                "sessions": summary.sessions,
                "done": summary.done,
                "skipped": summary.skipped,
                "failed": summary.failed,
                "taken": summary.taken,
                "corrected": summary.corrected,
                "sessions_csv": args.out.join("sessions.csv").display().to_string(),
                "failures_csv": args.out.join("failures.csv").display().to_string(),
            })
        );
    } else {
        print_table(&args.out)?;
        eprintln!(
            "mitool: {} session(s): {} done, {} already done, {} failed. Reports: {}",
            summary.sessions,
            summary.done,
            summary.skipped,
            summary.failed,
            args.out.join("index.html").display()
        );
        if summary.corrected > 0 {
            eprintln!(
                "mitool: {} session(s) keep a person's corrections (corrected.csv, from `mitool review`): \
                 they were not overwritten, and sessions.csv and the index use them",
                summary.corrected
            );
        }
        if summary.taken > 0 {
            let all = if summary.taken == summary.sessions {
                "every session of this run was"
            } else {
                "some sessions were"
            };
            eprintln!(
                "mitool: {all} being processed by another mitool run ({} left to it, listed above); \
                 once every run has finished, `mitool merge {out} --out {out}` writes the complete table",
                summary.taken,
                out = args.out.display()
            );
        }
    }
    // 1: not every session is done here (failed, or left to another run).
    Ok(if summary.failed > 0 || summary.taken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Logs a session's coded utterances on stderr (only with --log-text).
fn log_text(coded: &Path, session_id: &str) {
    let Ok(utts) = mitool_core::utterance::read_csv(coded) else {
        return;
    };
    for u in utts {
        let codes = u
            .codes
            .miti
            .as_ref()
            .map(|m| m.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(";"))
            .or_else(|| u.codes.talk.map(|t| t.as_str().to_string()))
            .unwrap_or_default();
        eprintln!(
            "mitool: {session_id} [{}] {} ({}) [{codes}] {}",
            u.start
                .map_or_else(|| "-".to_string(), |t| format!("{t:.1}")),
            u.speaker,
            u.role.as_str(),
            u.text.trim()
        );
    }
}

/// The key scores of sessions.csv, as a short table on stdout.
fn print_table(out: &Path) -> Result<()> {
    let mut rdr = csv::Reader::from_path(out.join("sessions.csv"))?;
    let col = |name: &str| SESSION_COLUMNS.iter().position(|c| *c == name);
    let keys = [
        ("session", col("session_id")),
        ("R:Q", col("r_to_q")),
        ("%CR", col("pct_complex_reflections")),
        ("%OQ", col("pct_open_questions")),
        ("MI-adh", col("mi_adherent")),
        ("non-adh", col("mi_non_adherent")),
        ("relational*", col("relational")),
        ("technical*", col("technical")),
    ];
    let status = SESSION_COLUMNS.len();
    println!(
        "{:<24}{}  status",
        keys[0].0,
        keys[1..]
            .iter()
            .map(|k| format!("{:>12}", k.0))
            .collect::<String>()
    );
    for rec in rdr.records() {
        let rec = rec?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("");
        let fmt = |name: &str, v: &str| -> String {
            match v.parse::<f64>() {
                Ok(x) if name.starts_with('%') => format!("{:.0}%", x * 100.0),
                Ok(x) if v.contains('.') => format!("{x:.2}"),
                _ if v.is_empty() => "—".into(),
                _ => v.to_string(),
            }
        };
        println!(
            "{:<24}{}  {}",
            get(keys[0].1),
            keys[1..]
                .iter()
                .map(|k| format!("{:>12}", fmt(k.0, get(k.1))))
                .collect::<String>(),
            match rec.get(status + 1) {
                Some(r) if !r.is_empty() =>
                    format!("{} — check: {r}", rec.get(status).unwrap_or("")),
                _ => rec.get(status).unwrap_or("").to_string(),
            }
        );
    }
    println!("(* estimated global ratings)");
    Ok(())
}

#[derive(Args)]
pub struct MergeArgs {
    /// Batch output folders (shards) to combine.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the combined sessions.csv, failures.csv and index.html.
    #[arg(long, short)]
    pub out: PathBuf,
}

pub fn merge_cmd(args: MergeArgs) -> Result<ExitCode> {
    let s = batch::write_tables(&args.out, &args.dirs)?;
    eprintln!(
        "mitool: merged {} session(s) ({} failed) from {} folder(s) → {}",
        s.sessions,
        s.failed,
        args.dirs.len(),
        args.out.join("sessions.csv").display()
    );
    Ok(if s.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
