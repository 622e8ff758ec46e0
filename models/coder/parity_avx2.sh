#!/usr/bin/env bash
# parity-avx2.json for the current coder.onnx, on any x86-64 machine: the recipe's Python
# onnxruntime run under user-mode QEMU emulating a Haswell (AVX2, no AVX-512 or VNNI).
# Needs qemu-x86_64 (the distribution's qemu-user package); takes about a minute.
# Usage: models/coder/parity_avx2.sh   (after train.sh has written coder.onnx and parity.json)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
command -v qemu-x86_64 >/dev/null || { echo "parity_avx2.sh: qemu-x86_64 not found (install qemu-user)" >&2; exit 1; }
# shellcheck source=../venv.sh
source ../venv.sh
pinned_venv requirements.lock.txt
exec qemu-x86_64 -cpu Haswell .venv/bin/python parity_avx2.py
