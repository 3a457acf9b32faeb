#!/usr/bin/env bash
# The supported mlx-lm range, tested: the heartbeat's hooks (each one this version should have is
# installed, prefill and decode both beat) and a freeze caught within 5 s, on the oldest supported
# mlx-lm, one in the middle, and the newest, each with an mlx it installs with on the CPU.
# Not in .ci/run (it would pass the 15-minute budget of a warm run); README, "Development".
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
# mlx-lm 0.28.4 asks for transformers >= 4.39.3 with no upper bound, and pip picks 5.x, whose
# apply_chat_template returns a BatchEncoding that 0.28.4 cannot use (every chat request fails):
# that venv keeps the transformers of its day.
for run in '0.28.4:0.29.2:transformers<5' '0.31.1:0.31.1:' '0.32.2:0.32.4:'; do
  IFS=: read -r MLX_LM_VERSION MLX_VERSION MLX_EXTRA_PINS <<<"$run"
  export MLX_LM_VERSION MLX_VERSION MLX_EXTRA_PINS
  echo "::: mlx-lm $MLX_LM_VERSION with mlx $MLX_VERSION ${MLX_EXTRA_PINS}"
  scripts/setup-mlx.sh >/dev/null || { status=1; continue; }
  npx vitest run test/mlx/mlx-server.test.ts --maxWorkers=1 --testTimeout=60000 -t 'heartbeat, hook by hook|SIGSTOP' "$@" || status=1
done
exit "$status"
