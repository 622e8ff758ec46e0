//! Progress bars on stderr: the CLI's implementation of the library's `Sink`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mitool_core::progress::{Sink, Stage};

/// One bar per file and stage; silent when stderr is not a terminal or with `--quiet`.
pub struct Bars {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    bars: Mutex<HashMap<(PathBuf, Stage), ProgressBar>>,
    enabled: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            overall: None,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            enabled,
        }
    }

    /// Adds an overall bar counting finished sessions.
    pub fn with_total(mut self, total: u64) -> Self {
        if self.enabled {
            let bar = self.multi.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30}] {pos}/{len} sessions {elapsed}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("all");
            self.overall = Some(bar);
        }
        self
    }

    /// Removes every bar (before printing a message or at the end).
    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Sink for Bars {
    fn begin(&self, file: &Path, stage: Stage, total: u64) {
        // Short jobs get no bar: it would only flicker.
        if !self.enabled || (total < 5_000 && stage != Stage::Code) {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>24} {msg:<22} [{bar:30}] {percent:>3}% {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        bar.set_prefix(name.chars().take(24).collect::<String>());
        bar.set_message(stage.label());
        self.bars
            .lock()
            .expect("poisoned")
            .insert((file.to_path_buf(), stage), bar);
    }

    fn advance(&self, file: &Path, stage: Stage, done: u64) {
        if let Some(b) = self
            .bars
            .lock()
            .expect("poisoned")
            .get(&(file.to_path_buf(), stage))
        {
            b.set_position(done);
        }
    }

    fn end(&self, file: &Path, stage: Stage) {
        if let Some(b) = self
            .bars
            .lock()
            .expect("poisoned")
            .remove(&(file.to_path_buf(), stage))
        {
            b.finish_and_clear();
        }
    }

    fn finished(&self, file: &Path, session_id: &str, error: Option<&str>) {
        if let Some(b) = &self.overall {
            b.inc(1);
        }
        if let Some(e) = error {
            // Errors name files and causes, never transcript text.
            let _ = self
                .multi
                .println(format!("mitool: {session_id} ({}): {e}", file.display()));
            if !self.enabled {
                eprintln!("mitool: {session_id} ({}): {e}", file.display());
            }
        }
    }

    fn warning(&self, file: &Path, message: &str) {
        let _ = self
            .multi
            .println(format!("mitool: warning: {}: {message}", file.display()));
    }
}
