#!/usr/bin/env bash
# Installs the real agent clients the client suite drives (test/clients), pinned, from npm, into
# a cache outside the clone, each reused when present: Codex CLI and Claude Code each ship a
# ~400 MB native binary, which every `npm ci` would otherwise unpack for tests few runs need.
# The versions here and in test/support/clients.ts are the same.
# Cache: $MLX_GUARD_CLIENTS_CACHE, else $XDG_CACHE_HOME/mlx-guard, else ~/.cache/mlx-guard.
# Prints the cache directory last.
set -euo pipefail

cache_root=${MLX_GUARD_CLIENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx-guard}

install() { # package version command
  local dir="$cache_root/clients-${1##*/}$2"
  if [[ ! -x "$dir/node_modules/.bin/$3" ]]; then
    mkdir -p "$dir"
    echo "installing $1@$2 into $dir" >&2
    npm install --prefix "$dir" --no-audit --no-fund --no-save "$1@$2" >&2
  fi
}

install @openai/codex 0.171.0 codex
install @anthropic-ai/claude-code 2.1.337 claude
echo "$cache_root"
