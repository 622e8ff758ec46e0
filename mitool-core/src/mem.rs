//! Giving freed memory back to the system between stages.
//!
//! glibc's allocator keeps freed blocks for reuse and raises its mmap
//! threshold as large blocks are freed, so the buffers of a stage that has
//! ended (Whisper's compute buffers, a 30 s CAM++ run, the coder's
//! batches) stay in the process while the next stage adds its own: in a
//! batch the peak became nearly the sum of the stages (732 MB on 5.6-minute
//! sessions) instead of the largest one. Trimming after each stage returns
//! them; it costs about a millisecond.

/// Returns freed memory to the system (glibc); elsewhere does nothing.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // may be called at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
