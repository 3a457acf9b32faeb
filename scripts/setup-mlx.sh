#!/usr/bin/env bash
# Installs the real mlx_lm.server for the test suite (MLX on the CPU: the mlx[cpu] wheel) into a
# venv in a cache outside the clone, keyed by the pinned versions and reused when present, and
# makes the MLX-format test models there (scripts/make-mlx-models.py, offline, also cached).
#
# Usage: scripts/setup-mlx.sh                    the pinned versions (below)
#        MLX_LM_VERSION=0.31.3 MLX_VERSION=0.31.2 scripts/setup-mlx.sh   another pair (version matrix)
#        MLX_EXTRA_PINS='transformers<5' …         more pip requirements for that venv (an old
#                                                   mlx-lm that pip would pair with too new a library)
# Cache: $MLX_GUARD_MLX_CACHE, else $XDG_CACHE_HOME/mlx-guard, else ~/.cache/mlx-guard.
# Prints two lines last: the venv's Python, then the models' directory.
set -euo pipefail

mlx_lm_version=${MLX_LM_VERSION:-0.32.2}
mlx_version=${MLX_VERSION:-0.32.4}
cache_root=${MLX_GUARD_MLX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx-guard}
here=$(cd "$(dirname "$0")" && pwd)
extra_pins=${MLX_EXTRA_PINS:-}
venv="$cache_root/mlx-venv-mlx$mlx_version-mlxlm$mlx_lm_version${extra_pins:+-$(echo "$extra_pins" | tr -c 'A-Za-z0-9.\n' '_')}"
python="$venv/bin/python"

installed() {
  [[ -x "$python" ]] && "$python" - "$mlx_version" "$mlx_lm_version" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if (version("mlx"), version("mlx-lm")) == (sys.argv[1], sys.argv[2]) else 1)
EOF
}

if ! installed; then
  base_python=$(command -v python3) || { echo "setup-mlx: python3 (3.10 or newer) is missing" >&2; exit 1; }
  echo "setup-mlx: installing mlx[cpu]==$mlx_version and mlx-lm==$mlx_lm_version into $venv" >&2
  rm -rf "$venv.partial"
  "$base_python" -m venv "$venv.partial"
  "$venv.partial/bin/python" -m pip install --quiet --disable-pip-version-check "mlx[cpu]==$mlx_version" "mlx-lm==$mlx_lm_version" $extra_pins >&2
  # Made under a temporary name and renamed when whole. A moved venv's console scripts still name
  # the old path; nothing here uses them, only the venv's Python.
  rm -rf "$venv"
  mv "$venv.partial" "$venv"
  installed || { echo "setup-mlx: the venv at $venv does not import the pinned versions" >&2; exit 1; }
fi

# The models depend only on the script that makes them and the file it converts.
key=$(cat "$here/make-mlx-models.py" "$here/../test/fixtures/models/stories260K.gguf" | sha256sum | cut -c1-12)
models="$cache_root/mlx-models-$key"
"$python" "$here/make-mlx-models.py" "$models" >&2

echo "$python"
echo "$models"
