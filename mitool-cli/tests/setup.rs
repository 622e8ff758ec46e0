//! The set-up's detection of system packages (`scripts/prereqs.sh`), run on
//! fake machines: folders laid out like a Debian root, no root needed.

mod common;

use std::path::Path;
use std::process::Command;

/// What `prereqs.sh` says is missing on the fake machine `root`, with a PATH
/// of the usual folders (looked for under `root`) and no LIBCLANG_PATH.
fn missing(root: &Path, extra_apt: &str) -> Vec<String> {
    let out = Command::new("bash")
        .arg(common::root().join("scripts/prereqs.sh"))
        .arg(root)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("LIBCLANG_PATH")
        .env_remove("BLAS_INCLUDE_DIRS")
        .env("MITOOL_APT_EXTRA", extra_apt)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn touch(root: &Path, rel: &str, executable: bool) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"").unwrap();
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A machine with compilers, cmake, Python with pip and OpenBLAS: everything but libclang.
fn machine_without_libclang() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for cmd in ["cc", "c++", "make", "cmake", "python3"] {
        touch(d.path(), &format!("usr/bin/{cmd}"), true);
    }
    touch(
        d.path(),
        "usr/lib/python3/dist-packages/pip/__init__.py",
        false,
    );
    touch(d.path(), OPENBLAS_HEADER, false);
    touch(d.path(), OPENBLAS_LIB, false);
    d
}

/// What libopenblas-dev installs that the build uses (Debian, Ubuntu).
const OPENBLAS_HEADER: &str = "usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h";
const OPENBLAS_LIB: &str = "usr/lib/x86_64-linux-gnu/libopenblas.so";

#[test]
fn an_empty_machine_needs_every_package() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        missing(d.path(), ""),
        [
            "cmake",
            "libclang-dev",
            "build-essential",
            "python3-pip",
            "libopenblas-dev"
        ]
    );
}

#[test]
fn libclang_cpp_alone_is_not_the_library_bindgen_loads() {
    // The fresh Debian 12 machine of issue #10: another package had installed
    // libclang-cpp, and the old check took it for libclang.
    let d = machine_without_libclang();
    touch(d.path(), "usr/lib/llvm-14/lib/libclang-cpp.so.14", false);
    touch(
        d.path(),
        "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
        false,
    );
    assert_eq!(missing(d.path(), ""), ["libclang-dev"]);
}

#[test]
fn each_name_clang_sys_loads_is_found() {
    for lib in [
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/llvm-16/lib/libclang.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-15.so",
        "usr/local/lib/libclang.so.18.1",
    ] {
        let d = machine_without_libclang();
        touch(d.path(), lib, false);
        assert!(missing(d.path(), "").is_empty(), "{lib} not found");
    }
}

#[test]
fn libclang_path_is_honoured_as_clang_sys_does() {
    let d = machine_without_libclang();
    touch(d.path(), "opt/llvm/lib/libclang.so.17", false);
    let out = Command::new("bash")
        .arg(common::root().join("scripts/prereqs.sh"))
        .arg(d.path())
        .env("PATH", "/usr/bin")
        .env("LIBCLANG_PATH", "/opt/llvm/lib")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn a_tool_must_be_on_path_and_executable() {
    let d = machine_without_libclang();
    touch(d.path(), "usr/lib/llvm-14/lib/libclang.so.1", false);
    // cmake present but not executable, and one in a folder not on PATH.
    std::fs::remove_file(d.path().join("usr/bin/cmake")).unwrap();
    touch(d.path(), "usr/bin/cmake", false);
    touch(d.path(), "opt/cmake/bin/cmake", true);
    assert_eq!(missing(d.path(), ""), ["cmake"]);
}

#[test]
fn extra_packages_are_checked_in_the_dpkg_database() {
    let d = machine_without_libclang();
    touch(d.path(), "usr/lib/llvm-14/lib/libclang.so.1", false);
    let status = "Package: chromium\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n\
                  Package: ffmpeg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n";
    std::fs::create_dir_all(d.path().join("var/lib/dpkg")).unwrap();
    std::fs::write(d.path().join("var/lib/dpkg/status"), status).unwrap();
    assert_eq!(missing(d.path(), "chromium ffmpeg sox"), ["ffmpeg", "sox"]);
}

#[test]
fn openblas_needs_both_the_header_and_the_library() {
    // whisper.cpp's BLAS backend includes cblas.h and links libopenblas.
    let d = machine_without_libclang();
    touch(d.path(), "usr/lib/x86_64-linux-gnu/libclang-16.so.1", false);
    assert!(missing(d.path(), "").is_empty());
    std::fs::remove_file(d.path().join(OPENBLAS_LIB)).unwrap();
    assert_eq!(missing(d.path(), ""), ["libopenblas-dev"]);
    touch(d.path(), "usr/lib/x86_64-linux-gnu/libopenblas.so.0", false);
    assert!(missing(d.path(), "").is_empty());
    std::fs::remove_file(d.path().join(OPENBLAS_HEADER)).unwrap();
    assert_eq!(missing(d.path(), ""), ["libopenblas-dev"]);
}
