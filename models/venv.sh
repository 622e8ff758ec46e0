# shellcheck shell=bash
# Sourced by the model recipes (models/*/train.sh) from their own folder:
# `pinned_venv REQUIREMENTS [DIR]` makes DIR (default ./.venv) and installs the
# pinned set into it, only when what is installed differs from REQUIREMENTS
# (name==version lines).
pinned_venv() {
  local req=$1 dir=${2:-.venv}
  if [[ ! -x $dir/bin/python ]]; then
    python3 -m venv "$dir"
  fi
  if ! "$dir/bin/python" - "$req" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, want = line.split("==")
    if version(name) != want:
        sys.exit(1)
PY
  then
    "$dir/bin/pip" install --disable-pip-version-check -q -r "$req"
  fi
}
