#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv once, then run `qwen-doctor check` with any arguments.
#   scripts/doctor.sh                      # discover servers on this host (or check the default SGLang set-up)
#   scripts/doctor.sh -- sglang serve --model-path /models/Qwen3-Embedding-0.6B --is-embedding
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh" >&2
exec "$root/.venv/bin/qwen-doctor" check "$@"
