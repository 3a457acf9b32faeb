#!/usr/bin/env bash
# The supported mlx-lm range, tested: the heartbeat's hooks (each one this version should have is
# installed, prefill and decode both beat) and a freeze caught within 5 s, on the oldest supported
# mlx-lm, one in the middle, and the newest, each with an mlx it installs with on the CPU.
# Not in .ci/run (it would pass the 15-minute budget of a warm run); README, "Development".
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for pair in 0.28.4:0.29.2 0.31.1:0.31.1 0.32.2:0.32.4; do
  export MLX_LM_VERSION=${pair%%:*} MLX_VERSION=${pair##*:}
  echo "::: mlx-lm $MLX_LM_VERSION with mlx $MLX_VERSION"
  scripts/setup-mlx.sh >/dev/null || { status=1; continue; }
  npx vitest run test/mlx/mlx-server.test.ts --maxWorkers=1 --testTimeout=60000 -t 'heartbeat, hook by hook|SIGSTOP' "$@" || status=1
done
exit "$status"
