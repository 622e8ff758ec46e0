//! The one error type of `mitool-core`.
//!
//! Messages are written for the person running the tool (a supervisor, a
//! researcher, a trainer), not for the programmer: each names the file and
//! says what to do next where something can be done.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    // `cause` is said in plain words in the message, so it is deliberately
    // not also `source()`: a caller printing the chain would say it twice.
    #[error("{path}: cannot {action}: {}", plain_words(cause))]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    /// Another mitool run holds the output folder's lock.
    #[error("output folder {dir} is in use by another mitool run ({holder}); wait for it to finish or choose another output folder, then run this command again")]
    Locked { dir: PathBuf, holder: String },

    /// The file is empty (0 bytes).
    #[error("{path}: the file is empty (0 bytes); check that the recording finished saving")]
    EmptyFile { path: PathBuf },

    /// The file is in a format the tool does not read.
    #[error(
        "{path}: {format} is not supported; convert it to WAV first, for example with `{}`",
        convert_command(path)
    )]
    UnsupportedFormat { path: PathBuf, format: String },

    /// The file is not a recording at all.
    #[error("{path}: this is not a recording ({what}); give mitool an audio file")]
    NotAudio { path: PathBuf, what: String },

    /// The file claims to be audio but its contents are broken.
    #[error("{path}: the audio is damaged or incomplete: {detail}")]
    CorruptAudio { path: PathBuf, detail: String },

    /// The recording decodes but holds no usable sound.
    #[error("{path}: {detail}")]
    NoAudio { path: PathBuf, detail: String },

    /// A model file is not installed where it is expected.
    #[error("model `{name}` is not installed (expected {path}); run `mitool models install` (or the README's set-up command)")]
    ModelMissing { name: String, path: PathBuf },

    /// A model file is present but is not the file the manifest names.
    #[error("model `{name}` at {path} is damaged or a different version (SHA-256 {actual}, expected {expected}); delete it and run `mitool models install`")]
    ModelCorrupt {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A model could not be converted, loaded or run.
    #[error("model {path}: {detail}")]
    Model { path: PathBuf, detail: String },

    /// The model manifest itself is unreadable.
    #[error("model manifest {path}: {detail}")]
    Manifest { path: PathBuf, detail: String },

    /// ONNX Runtime could not be loaded or failed while running.
    #[error("ONNX Runtime: {0}; run `mitool models verify` to check the installed runtime")]
    Onnx(String),

    /// Transcription failed inside whisper.cpp.
    #[error("{path}: transcription failed: {detail}")]
    Transcribe { path: PathBuf, detail: String },

    /// A transcript or coded-utterance file has a problem at a line.
    #[error("{}{}: {detail}", path.display(), line.map_or_else(String::new, |l| format!(", line {l}")))]
    Input {
        path: PathBuf,
        line: Option<u64>,
        detail: String,
    },

    /// A configuration value is out of range.
    #[error("invalid setting: {0}")]
    Config(String),

    /// Something inside mitool or a library it uses broke on this file (a
    /// panic, caught by [`crate::panic::catch`]): this file fails, the run goes on.
    #[error("{path}: internal error while {doing}: {detail}; this file cannot be processed by this version of mitool (the other files are not affected)")]
    Internal {
        path: PathBuf,
        doing: &'static str,
        detail: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path` while doing `action` ("open", "read", ...);
    /// the message reads "PATH: cannot ACTION: why".
    pub fn io(path: impl AsRef<Path>, action: &'static str, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            action,
            cause,
        }
    }

    /// `f` on `path`, with a panic inside it as an [`Error::Internal`]
    /// about `path` while `doing` ("reading the audio", ...).
    pub fn guard<T>(path: &Path, doing: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        crate::panic::catch(f).unwrap_or_else(|detail| {
            Err(Error::Internal {
                path: path.to_path_buf(),
                doing,
                detail,
            })
        })
    }

    /// Whether this is the output disk refusing every write (full, over
    /// quota, read-only): going on would only fail the same way again.
    pub fn disk_refuses_writes(&self) -> bool {
        use std::io::ErrorKind::{QuotaExceeded, ReadOnlyFilesystem, StorageFull};
        matches!(self, Error::Io { cause, .. }
            if matches!(cause.kind(), StorageFull | QuotaExceeded | ReadOnlyFilesystem))
    }

    /// The file this error is about, where there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::EmptyFile { path }
            | Error::UnsupportedFormat { path, .. }
            | Error::NotAudio { path, .. }
            | Error::CorruptAudio { path, .. }
            | Error::NoAudio { path, .. }
            | Error::ModelMissing { path, .. }
            | Error::ModelCorrupt { path, .. }
            | Error::Model { path, .. }
            | Error::Manifest { path, .. }
            | Error::Transcribe { path, .. }
            | Error::Input { path, .. }
            | Error::Internal { path, .. } => Some(path),
            Error::Locked { dir, .. } => Some(dir),
            Error::Onnx(_) | Error::Config(_) => None,
        }
    }
}

/// An ffmpeg command that turns `path` into a WAV file beside it.
fn convert_command(path: &Path) -> String {
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let stem = path
        .file_stem()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let is_wav = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    // A WAV that needs converting must not be overwritten by its conversion.
    let out = if is_wav {
        format!("{stem}-pcm.wav")
    } else {
        format!("{stem}.wav")
    };
    format!("ffmpeg -i \"{name}\" \"{out}\"")
}

/// What an I/O error means for the person running the tool, and what to
/// do; the system's own words follow for whoever helps them.
fn plain_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let advice = match e.kind() {
        StorageFull => {
            "the disk is full; free some space or choose a folder on another disk, then run the same command again"
        }
        QuotaExceeded => {
            "your disk quota is used up; free some space or ask for a larger quota, then run the same command again"
        }
        ReadOnlyFilesystem => "the disk is read-only; choose a folder you can write to",
        PermissionDenied => {
            "permission denied; use a file or folder your account may use, or ask whoever manages this computer"
        }
        _ => return e.to_string(),
    };
    format!("{advice} (system message: {e})")
}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Error::Onnx(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    #[test]
    fn a_full_disk_is_said_plainly_with_the_file() {
        let e = Error::io(
            "out/sessions.csv",
            "write",
            IoError::from(ErrorKind::StorageFull),
        );
        let m = e.to_string();
        assert!(
            m.starts_with("out/sessions.csv: cannot write: the disk is full;"),
            "{m}"
        );
        assert!(e.disk_refuses_writes());
        let ro = Error::io("out", "create folder", IoError::from_raw_os_error(30));
        assert!(ro.to_string().contains("read-only"), "{ro}");
        assert!(ro.disk_refuses_writes());
        let gone = Error::io("in.wav", "open", IoError::from(ErrorKind::NotFound));
        assert!(!gone.disk_refuses_writes());
        // Said once, not again as a source.
        assert!(std::error::Error::source(&e).is_none());
    }
}
