//! ONNX Runtime, loaded at run time from the shared library the set-up
//! installed (ort's `load-dynamic`): nothing is downloaded by the build.

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};

use crate::error::{Error, Result};
use crate::models::Store;

static RUNTIME: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process from the model store.
pub fn init(store: &Store) -> Result<()> {
    let lib = store.require("onnxruntime")?;
    init_from(&lib)
}

/// Loads ONNX Runtime once per process from `lib`.
pub fn init_from(lib: &Path) -> Result<()> {
    RUNTIME
        .get_or_init(|| {
            let builder =
                ort::init_from(lib).map_err(|e| format!("cannot load {}: {e}", lib.display()))?;
            builder
                .with_name("mitool")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(|_| ())
        .map_err(|e| Error::Onnx(e.clone()))
}

fn runtime() -> Result<&'static Environment> {
    match RUNTIME.get() {
        Some(Ok(env)) => Ok(env),
        Some(Err(e)) => Err(Error::Onnx(e.clone())),
        None => Err(Error::Onnx("not loaded yet".into())),
    }
}

/// Opens an ONNX model with `threads` intra-op threads. ONNX Runtime's CPU
/// arena and memory patterns are off: they keep every run's largest buffers
/// for good, and a batch holds four models (peak RSS of `batch` on four
/// 3-5 minute sessions 833 -> 711 MB, time unchanged, outputs identical).
pub fn session(model: &Path, threads: usize) -> Result<Session> {
    open(model, threads, false)
}

/// Opens an ONNX model with ONNX Runtime's CPU arena on: its buffers are
/// reused run after run, and go with the session or, for a session kept
/// across calls, after a run given [`shrink_after`]. For models whose runs
/// are large or run from worker threads: without the arena, sessions run
/// from worker threads grew by ~20 MB a run on glibc's per-thread heaps
/// (segmentation of a 5-minute file peaked at 700 MB instead of 305), and
/// every layer's output of CAM++ on 32 s was a fresh allocation (0.26-0.28 s
/// a run instead of 0.22 s).
pub fn arena_session(model: &Path, threads: usize) -> Result<Session> {
    open(model, threads, true)
}

/// Run options that make a run of an [`arena_session`] free the arena's
/// unused memory when it ends.
pub fn shrink_after(model: &Path) -> Result<RunOptions> {
    let wrap = |e: ort::Error| Error::Model {
        path: model.to_path_buf(),
        detail: e.to_string(),
    };
    let mut options = RunOptions::new().map_err(wrap)?;
    options
        .set("memory.enable_memory_arena_shrinkage", "cpu:0")
        .map_err(wrap)?;
    Ok(options)
}

fn open(model: &Path, threads: usize, arena: bool) -> Result<Session> {
    let wrap = |e: ort::Error| Error::Model {
        path: model.to_path_buf(),
        detail: e.to_string(),
    };
    Session::builder(runtime()?)
        .map_err(wrap)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| wrap(e.into()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| wrap(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| wrap(e.into()))?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(arena).build()])
        .map_err(|e| wrap(e.into()))?
        .with_memory_pattern(false)
        .map_err(|e| wrap(e.into()))?
        .commit_from_file(model)
        .map_err(wrap)
}
