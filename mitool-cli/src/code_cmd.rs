//! `mitool code`: code transcripts that have no audio.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use mitool_core::models::Store;
use mitool_core::outfile;
use mitool_core::session::{Session, SessionConfig};
use mitool_core::transcripts::{self, RoleHints};
use mitool_core::utterance::{self, Utterance};

use crate::progress::Bars;

#[derive(Args)]
pub struct CodeArgs {
    /// Transcripts: AnnoMI-style CSV, mitool's utterance JSON, WebVTT/SRT with
    /// speaker names, or plain `Speaker: text` lines.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The coded CSV to write.
    #[arg(long, short)]
    pub out: PathBuf,
    /// The practitioner's speaker name (repeatable); everyone else is a client.
    #[arg(long)]
    pub practitioner: Vec<String>,
    /// ONNX Runtime threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub fn code_cmd(store: &Store, args: CodeArgs, quiet: bool) -> Result<ExitCode> {
    let mut config = SessionConfig::default();
    config.coder.threads = args.threads;
    let session = Session::new(store, config)?;
    let version = session.coder()?.version().to_string();
    let sink = Bars::new(quiet);
    let hints = RoleHints {
        practitioner: args.practitioner.clone(),
    };
    let mut all: Vec<Utterance> = Vec::new();
    let mut failed = 0;
    for input in &args.inputs {
        let utts = match transcripts::read(input, &hints) {
            Ok(u) => u,
            Err(e) => {
                sink.clear();
                eprintln!("mitool: {e}");
                failed += 1;
                continue;
            }
        };
        for (_, mut utts) in utterance::group_sessions(utts) {
            session.code(&mut utts, input, &sink)?;
            all.extend(utts);
        }
    }
    sink.clear();
    if all.is_empty() {
        anyhow::bail!("nothing to code: every input failed");
    }
    outfile::write_atomic(&args.out, &utterance::to_csv(&all)?)?;
    eprintln!(
        "mitool: coded {} utterances with {} → {}",
        all.len(),
        version,
        args.out.display()
    );
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
