//! How the library reports what it is doing, without printing.
//!
//! Like ripgrep's searcher pushing matches into a `Sink`, every stage pushes
//! progress and warnings into a [`Sink`] that the caller implements (the CLI
//! draws progress bars; tests collect messages; a batch job logs).

use std::path::Path;

/// The stages a file goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Decode,
    Vad,
    Transcribe,
    Diarize,
    Code,
    Score,
    Report,
}

impl Stage {
    /// A short human name.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Decode => "reading audio",
            Stage::Vad => "finding speech",
            Stage::Transcribe => "transcribing",
            Stage::Diarize => "telling speakers apart",
            Stage::Code => "coding utterances",
            Stage::Score => "scoring",
            Stage::Report => "writing reports",
        }
    }
}

/// Receives progress and warnings. Every method has a do-nothing default.
///
/// Implementations must be cheap and thread-safe: stages call them from
/// worker threads.
pub trait Sink: Sync {
    /// `stage` of `file` starts; `total` is its amount of work (audio
    /// milliseconds for audio stages, items otherwise).
    fn begin(&self, _file: &Path, _stage: Stage, _total: u64) {}
    /// `done` units of `stage` are finished so far.
    fn advance(&self, _file: &Path, _stage: Stage, _done: u64) {}
    /// `stage` of `file` is over.
    fn end(&self, _file: &Path, _stage: Stage) {}
    /// Something a person should know that did not stop the work.
    /// Never contains transcript text.
    fn warning(&self, _file: &Path, _message: &str) {}
    /// A batch session is over: `error` is `None` when it succeeded (or was
    /// already done), else what went wrong.
    fn finished(&self, _file: &Path, _session_id: &str, _error: Option<&str>) {}
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {}
