//! `mitool score` and `mitool agree`: re-scoring coded utterances and
//! comparing two codings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use mitool_core::eval::agree;
use mitool_core::outfile;
use mitool_core::report::{self, SessionRecord};
use mitool_core::score::{self, ScoreConfig, Segment, SessionScores};
use mitool_core::utterance::{self, Utterance};

#[derive(Args)]
pub struct ScoreArgs {
    /// Coded utterances: the CSV `mitool code` writes, or AnnoMI's own.
    pub input: PathBuf,
    /// Folder for sessions.csv (and the reports with --report).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Also write each session's HTML report, WebVTT and session JSON.
    #[arg(long)]
    pub report: bool,
    /// Part of each session to score: whole, window:START_S[:LEN_S], random:SEED[:LEN_S]
    /// (LEN_S defaults to 1200, the MITI manual's 20 minutes).
    #[arg(long, default_value = "whole")]
    pub segment: Segment,
}

/// The coder's version where the file records it, else "human".
fn model_version(utts: &[Utterance]) -> String {
    utts.iter()
        .find_map(|u| {
            u.extra
                .get("model_version")
                .filter(|v| !v.is_empty())
                .cloned()
        })
        .unwrap_or_else(|| {
            if utts.iter().any(|u| u.codes.confidence.is_some()) {
                "mitool".into()
            } else {
                "human".into()
            }
        })
}

/// Scores every session of a coded CSV.
pub fn score_file(input: &Path, cfg: &ScoreConfig) -> Result<Vec<(SessionScores, Vec<Utterance>)>> {
    let utts = utterance::read_csv(input)?;
    let source = input
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut out = Vec::new();
    for (id, mut session) in utterance::group_sessions(utts) {
        mitool_core::miti::fill(&mut session);
        let s = score::score(&id, &source, &session, &model_version(&session), cfg)?;
        out.push((s, session));
    }
    Ok(out)
}

pub fn score_cmd(args: ScoreArgs) -> Result<ExitCode> {
    let cfg = ScoreConfig {
        segment: args.segment.clone(),
    };
    let sessions = score_file(&args.input, &cfg)?;
    let rows: Vec<SessionScores> = sessions.iter().map(|(s, _)| s.clone()).collect();
    // Session-level columns of the input (AnnoMI's mi_quality, topic) ride along at the end.
    let mut extra: Vec<(&str, Vec<String>)> = Vec::new();
    for col in ["mi_quality", "topic"] {
        if sessions.iter().any(|(_, u)| u[0].extra.contains_key(col)) {
            extra.push((
                col,
                sessions
                    .iter()
                    .map(|(_, u)| u[0].extra.get(col).cloned().unwrap_or_default())
                    .collect(),
            ));
        }
    }
    outfile::write_atomic(
        &args.out.join("sessions.csv"),
        &score::session_table(&rows, &extra),
    )?;
    if args.report {
        let options = serde_json::json!({ "segment": format!("{:?}", cfg.segment), "input": args.input.display().to_string() });
        for (s, utts) in &sessions {
            let dir = args.out.join(mitool_core::batch::safe_id(&s.session_id));
            let rec = SessionRecord::new(s.clone(), vec![], options.clone());
            outfile::write_atomic(
                &dir.join("report.html"),
                report::html(&rec, utts).as_bytes(),
            )?;
            outfile::write_atomic(&dir.join("codes.vtt"), report::vtt(utts).as_bytes())?;
            outfile::write_atomic(&dir.join("session.json"), rec.to_json().as_bytes())?;
        }
    }
    eprintln!(
        "mitool: scored {} session(s) → {}",
        rows.len(),
        args.out.join("sessions.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct AgreeArgs {
    /// The reference coding (e.g. the human coder).
    pub a: PathBuf,
    /// The coding compared with it (e.g. mitool's).
    pub b: PathBuf,
    /// Write the tables as CSV files into this folder as well.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "".into(), |x| format!("{x:.3}"))
}

pub fn agree_cmd(args: AgreeArgs) -> Result<ExitCode> {
    // score_file reads, groups and fills in MITI codes once; its utterances
    // serve the utterance-level comparison too.
    let cfg = ScoreConfig::default();
    let (sa, sb) = (score_file(&args.a, &cfg)?, score_file(&args.b, &cfg)?);
    let flat = |s: &[(SessionScores, Vec<Utterance>)]| -> Vec<Utterance> {
        s.iter().flat_map(|(_, u)| u.iter().cloned()).collect()
    };
    let (fa, fb) = (flat(&sa), flat(&sb));
    let tasks = agree::utterance_agreement(&fa, &fb);
    if tasks.iter().all(|t| t.n == 0) {
        bail!(
            "{} and {} share no utterances (matched on transcript_id and utterance_id)",
            args.a.display(),
            args.b.display()
        );
    }
    let scores = agree::session_agreement(
        &sa.into_iter().map(|x| x.0).collect::<Vec<_>>(),
        &sb.into_iter().map(|x| x.0).collect::<Vec<_>>(),
    );
    let mut t1 = csv::Writer::from_writer(Vec::new());
    t1.write_record(["task", "label", "n", "support", "kappa", "accuracy", "f1"])?;
    println!(
        "{:<28} {:<22} {:>6} {:>7} {:>7}",
        "task", "label", "n", "kappa", "F1"
    );
    for t in &tasks {
        println!(
            "{:<28} {:<22} {:>6} {:>7} {:>7}",
            t.task,
            "(all)",
            t.n,
            opt(t.kappa),
            ""
        );
        t1.write_record([
            &t.task,
            "(all)",
            &t.n.to_string(),
            "",
            &opt(t.kappa),
            &opt(t.accuracy),
            "",
        ])?;
        for (label, support, f1) in &t.per_label {
            println!(
                "{:<28} {:<22} {:>6} {:>7} {:>7}",
                "",
                label,
                support,
                "",
                opt(*f1)
            );
            t1.write_record([&t.task, label, "", &support.to_string(), "", "", &opt(*f1)])?;
        }
    }
    let mut t2 = csv::Writer::from_writer(Vec::new());
    t2.write_record(["score", "n_sessions", "icc_2_1", "mean_abs_diff"])?;
    println!(
        "\n{:<28} {:>10} {:>9} {:>14}",
        "summary score", "sessions", "ICC(2,1)", "mean |diff|"
    );
    for s in &scores {
        println!(
            "{:<28} {:>10} {:>9} {:>14}",
            s.score,
            s.n_sessions,
            opt(s.icc_2_1),
            opt(s.mean_abs_diff)
        );
        t2.write_record([
            &s.score,
            &s.n_sessions.to_string(),
            &opt(s.icc_2_1),
            &opt(s.mean_abs_diff),
        ])?;
    }
    if let Some(out) = args.out {
        outfile::write_atomic(&out.join("agreement_utterances.csv"), &t1.into_inner()?)?;
        outfile::write_atomic(&out.join("agreement_sessions.csv"), &t2.into_inner()?)?;
    }
    Ok(ExitCode::SUCCESS)
}
