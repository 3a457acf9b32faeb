#!/usr/bin/env bash
# Installs the real agent clients the client suite drives (test/clients), pinned, from npm, into
# a cache outside the clone, reused when present: Codex CLI ships a ~400 MB native binary, which
# every `npm ci` would otherwise unpack for tests few runs need.
# Cache: $MLX_GUARD_CLIENTS_CACHE, else $XDG_CACHE_HOME/mlx-guard, else ~/.cache/mlx-guard.
# Prints the install's directory last.
set -euo pipefail

codex_version=0.171.0
cache_root=${MLX_GUARD_CLIENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx-guard}
dir="$cache_root/clients-codex$codex_version"

if [[ ! -x "$dir/node_modules/.bin/codex" ]]; then
  mkdir -p "$dir"
  echo "installing @openai/codex@$codex_version into $dir" >&2
  npm install --prefix "$dir" --no-audit --no-fund --no-save "@openai/codex@$codex_version" >&2
fi
echo "$dir"
