#!/usr/bin/env bash
# What the build and the set-up need from the system, detected the way the
# tools that use them look for them; sourced by setup.sh and by the tests.
#
#   mitool_missing_packages [ROOT]   prints the Debian packages to install, one a line
#
# ROOT (default /) prefixes every path looked at, so the detection can be
# tested on a fake tree without root. MITOOL_APT_EXTRA names packages that
# must be installed as such (checked in ROOT's dpkg database).

# A command on PATH, looked for under ROOT.
_mitool_has_cmd() {
  local root=$1 name=$2 dir
  local IFS=:
  for dir in ${PATH:-/usr/bin:/bin}; do
    [ -n "$dir" ] && [ -x "$root${dir%/}/$name" ] && [ ! -d "$root${dir%/}/$name" ] && return 0
  done
  return 1
}

# The shared library bindgen loads through clang-sys: libclang.so,
# libclang.so.N, libclang-N.so or libclang-N.so.M, in LIBCLANG_PATH, in
# `llvm-config --libdir`, or in the system library folders. Other LLVM
# libraries that share the prefix (libclang-cpp.so.N, from libclang-cpp*) are
# not it: a machine with only those fails with "Unable to find libclang".
_mitool_is_libclang() {
  case "${1##*/}" in
    libclang.so | libclang.so.[0-9]* | libclang-[0-9]*.so | libclang-[0-9]*.so.[0-9]*) return 0 ;;
    *) return 1 ;;
  esac
}

_mitool_has_libclang() {
  local root=$1 dir file
  local -a dirs=()
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    # clang-sys accepts the folder or the file itself.
    if [ -f "$root$LIBCLANG_PATH" ] && _mitool_is_libclang "$LIBCLANG_PATH"; then return 0; fi
    dirs+=("$LIBCLANG_PATH")
  fi
  if [ "$root" = "" ] && command -v llvm-config >/dev/null 2>&1; then
    dirs+=("$(llvm-config --libdir 2>/dev/null)")
  fi
  # Quoted: the patterns are expanded under ROOT below, not on this machine.
  dirs+=('/usr/lib/llvm-*/lib' /usr/lib '/usr/lib/*-linux-gnu' /usr/lib64 /usr/local/lib /usr/local/lib64 '/usr/local/llvm*/lib')
  for dir in "${dirs[@]}"; do
    for file in "$root"$dir/libclang*.so*; do
      [ -e "$file" ] && _mitool_is_libclang "$file" && return 0
    done
  done
  return 1
}

# A Debian package installed according to ROOT's dpkg database.
_mitool_has_deb() {
  local root=$1 pkg=$2 status
  status=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$pkg" 2>/dev/null) || return 1
  [ "$status" = "install ok installed" ]
}

# pip for the python3 on PATH (whisper and model packages are fetched with it).
_mitool_has_pip() {
  local root=$1
  if [ "$root" = "" ]; then
    python3 -m pip --version >/dev/null 2>&1
  else
    _mitool_has_cmd "$root" python3 && compgen -G "$root/usr/lib/python3*/*-packages/pip" >/dev/null
  fi
}

# OpenBLAS for whisper.cpp's BLAS backend: the header the build includes
# (BLAS_INCLUDE_DIRS, .cargo/config.toml) and the library it links.
_mitool_has_openblas() {
  local root=$1 inc=${BLAS_INCLUDE_DIRS:-/usr/include/x86_64-linux-gnu/openblas-pthread}
  [ -f "$root$inc/cblas.h" ] || return 1
  compgen -G "$root/usr/lib/x86_64-linux-gnu/libopenblas.so*" >/dev/null
}

mitool_missing_packages() {
  local root=${1:-/}
  root=${root%/}
  _mitool_has_cmd "$root" cmake || echo cmake
  _mitool_has_libclang "$root" || echo libclang-dev
  { _mitool_has_cmd "$root" cc && _mitool_has_cmd "$root" c++ && _mitool_has_cmd "$root" make; } || echo build-essential
  _mitool_has_pip "$root" || echo python3-pip
  _mitool_has_openblas "$root" || echo libopenblas-dev
  local extra
  for extra in ${MITOOL_APT_EXTRA:-}; do
    _mitool_has_deb "$root" "$extra" || echo "$extra"
  done
}

# Run as a script: print what is missing (used by the tests).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  mitool_missing_packages "${1:-/}"
fi
