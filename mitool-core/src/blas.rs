//! Which OpenBLAS kernels whisper.cpp's encoder runs on.
//!
//! Debian's OpenBLAS picks its kernels when it is loaded, from the CPU's
//! model number. On a CPU it does not know (OpenBLAS 0.3.21 on this project's
//! virtual Xeons, which report no model name) it falls back to "Prescott",
//! SSE3 kernels from 2004, even where AVX-512 is there: transcription then
//! runs about a third slower (README, "Speed"). The choice can only be
//! changed before the library is loaded, through `OPENBLAS_CORETYPE`, so the
//! command line starts itself again with it set ([`better_kernel`] says when).

use std::ffi::{c_char, CStr};

/// The environment variable OpenBLAS reads when it is loaded.
pub const CORETYPE_VAR: &str = "OPENBLAS_CORETYPE";

/// The kernels OpenBLAS chose, e.g. "Haswell"; None when no OpenBLAS is loaded.
pub fn kernel() -> Option<String> {
    // Looked up, not linked: a build without OpenBLAS still runs.
    // SAFETY: dlsym with RTLD_DEFAULT only searches the loaded objects; the
    // symbol, when present, is OpenBLAS's `char *openblas_get_corename(void)`,
    // which returns a static NUL-terminated string.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, c"openblas_get_corename".as_ptr());
        if sym.is_null() {
            return None;
        }
        let f: extern "C" fn() -> *const c_char = std::mem::transmute(sym);
        let name = f();
        (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// The kernels to ask for when OpenBLAS fell back to its generic ones on a
/// CPU that can run better: None when it chose well, when the user set
/// `OPENBLAS_CORETYPE`, or when no OpenBLAS is loaded.
pub fn better_kernel() -> Option<&'static str> {
    if std::env::var_os(CORETYPE_VAR).is_some() {
        return None;
    }
    better_than(&kernel()?, &cpu())
}

/// What the CPU can run, as far as OpenBLAS's kernels care.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cpu {
    avx2_fma: bool,
    avx512: bool,
}

fn cpu() -> Cpu {
    #[cfg(target_arch = "x86_64")]
    {
        Cpu {
            avx2_fma: is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            avx512: is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512dq"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Cpu::default()
}

/// Only the fallback is replaced: a core OpenBLAS recognised keeps its own
/// choice (on AMD, say, "Zen" is right although the CPU has AVX2).
fn better_than(kernel: &str, cpu: &Cpu) -> Option<&'static str> {
    if !kernel.eq_ignore_ascii_case("prescott") {
        return None;
    }
    if cpu.avx512 {
        Some("SkylakeX")
    } else if cpu.avx2_fma {
        Some("Haswell")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_generic_fallback_is_replaced() {
        let both = Cpu {
            avx2_fma: true,
            avx512: true,
        };
        let avx2 = Cpu {
            avx2_fma: true,
            avx512: false,
        };
        assert_eq!(better_than("Prescott", &both), Some("SkylakeX"));
        assert_eq!(better_than("Prescott", &avx2), Some("Haswell"));
        assert_eq!(better_than("Prescott", &Cpu::default()), None);
        assert_eq!(better_than("Haswell", &both), None);
        assert_eq!(better_than("Zen", &both), None);
        assert_eq!(better_than("SkylakeX", &both), None);
    }
}
