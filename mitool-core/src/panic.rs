//! A panic in a dependency (a decoder, a model's bindings) costs the file it
//! was working on, never the run: [`catch`] turns it into a message that the
//! caller makes into that file's error.
//!
//! Rust's default panic hook prints a message and a backtrace hint on
//! stderr; a command-line tool calls [`quiet_hook`] once at start so that
//! a caught panic says nothing there, and its message (with the place in
//! the source, for whoever fixes it) goes into the error instead.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    /// The last panic on this thread as [`quiet_hook`] recorded it.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Locks what sessions share (a model, a cache) even where a panic in an
/// earlier session poisoned the lock: the models keep nothing from one call
/// to the next (each call starts its own state), so one session's panic must
/// not fail every session after it, as it did before (a panic while finding
/// speech made every later file of the batch fail with "VAD poisoned").
pub fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f`; a panic inside it becomes `Err(message)`.
///
/// The work `f` did is abandoned: callers use this only around work whose
/// state dies with it (one file's decoding, one session), so nothing that
/// panicked halfway is used afterwards.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    LAST.with(|l| l.borrow_mut().take());
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        LAST.with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| message(payload.as_ref()))
    })
}

/// Replaces the default panic hook with one that prints nothing and records
/// the message and its place for [`catch`] on the same thread. Only for a
/// program that catches its panics, as the `mitool` binary does at the top.
pub fn quiet_hook() {
    panic::set_hook(Box::new(|info| {
        let mut text = message(info.payload());
        if let Some(at) = info.location() {
            text.push_str(&format!(" (at {}:{})", short_path(at.file()), at.line()));
        }
        LAST.with(|l| *l.borrow_mut() = Some(text));
    }));
}

/// A panic's message: its text where it has one.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A source path from the crate's folder on: the registry's path up to it
/// says nothing and would name the build machine's home folder.
fn short_path(file: &str) -> &str {
    let crate_dir = file
        .rmatch_indices("/src/")
        .next()
        .and_then(|(i, _)| file[..i].rfind('/').map(|j| j + 1));
    crate_dir.map_or(file, |j| &file[j..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_one_session_still_serves_the_next() {
        let shared = std::sync::Mutex::new(vec![1]);
        let caught = catch(|| {
            let _held = shared.lock().unwrap();
            panic!("a model's bindings fail mid-run");
        });
        assert!(caught.is_err() && shared.is_poisoned());
        lock(&shared).push(2);
        assert_eq!(*lock(&shared), [1, 2]);
    }

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        let e = catch(|| -> u32 { panic!("shift by {}", 40) }).unwrap_err();
        assert!(e.starts_with("shift by 40"), "{e}");
        let e = catch(|| -> u32 { std::panic::panic_any(3_u8) }).unwrap_err();
        assert_eq!(e, "a panic without a message");
    }

    #[test]
    fn source_paths_are_shortened_to_the_crate() {
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index/symphonia-format-riff-0.6.1/src/wave/chunks.rs"
            ),
            "symphonia-format-riff-0.6.1/src/wave/chunks.rs"
        );
        assert_eq!(
            short_path("mitool-core/src/audio.rs"),
            "mitool-core/src/audio.rs"
        );
        assert_eq!(short_path("lib.rs"), "lib.rs");
    }
}
