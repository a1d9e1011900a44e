#!/usr/bin/env bash
# Install a REAL, unmodified SGLang 0.5.23 server into a dedicated venv, for the live-server tests.
# It runs on a CPU-only x86_64 machine (no GPU, no AMX needed).
#
#   scripts/install_sglang_cpu.sh [VENV_DIR]      (default: .venv-sglang at the repository root)
#
# Result: VENV_DIR (python env with sglang) and VENV_DIR/libcuda/libcuda.so.1.
# Idempotent: when VENV_DIR already imports sglang and its stamp file records the same pins,
# nothing is done. Env: PYTHON (interpreter used to create the venv, default python3),
# QWEN_DOCTOR_SGLANG_FORCE=1 reinstalls even if the stamp matches.
#
# Launch (what tests/testkit/sglang_server.py does):
#   SGLANG_USE_CPU_ENGINE=1 LD_LIBRARY_PATH=VENV/libcuda HF_HUB_OFFLINE=1 \
#     VENV/bin/python -m sglang.launch_server --model-path DIR --is-embedding --device cpu \
#     --attention-backend torch_native --dtype float32 --max-total-tokens 8192 --host 127.0.0.1 --port N
#
# Notes:
#  * torch is SGLang's own pin, the CUDA build (torch.cuda.is_available() is False on this box, which is
#    fine). The +cpu torch can NOT be used: sglang.srt.configs imports torchvision at module top and
#    PyPI's torchvision / sglang-kernel link libtorch_cuda.so / libc10_cuda.so.
#  * sglang and sglang-kernel go in with --no-deps; then sglang's requirements minus the CUDA-only
#    ones (flashinfer, cuda-python, flash-attn-4, cutlass-dsl, deep-ep/gemm, flash-mla, tilelang, quack,
#    humming, nvshmem4py, torch_memory_saver, torchaudio, torchcodec, timm, kernels, py-spy,
#    deepseek-recipe): none of them is imported on the embedding path.
#  * libcuda.so.1: with SGLANG_USE_CPU_ENGINE=1 sglang imports sgl_kernel, whose common_ops.so has
#    libcuda.so.1 as NEEDED. The NVIDIA driver's user-space library loads fine without a GPU. It is
#    taken from Debian's non-free libcuda1 package and only EXTRACTED into VENV/libcuda (apt runs in a
#    private directory with the machine's sources switched to non-free; nothing is installed system-wide).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
V=${1:-"$root/.venv-sglang"}
PY=${PYTHON:-python3}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
SGLANG_PINS="sglang==0.5.23 sglang-kernel==0.4.10"
REQS=(aiohttp 'anthropic>=0.20.0' blobfile==3.0.0 build compressed-tensors==0.18.0 datasets distro
  easydict einops fastapi gguf interegular IPython 'llguidance>=1.7.6,<2.0.0' 'mistral_common>=1.11.5' modelscope
  msgspec ninja numba==0.65.1 numpy openai==2.8.0 openai-harmony==0.0.4 orjson outlines==0.1.11 packaging
  partial_json_parser pillow 'prometheus-client>=0.20.0' psutil pybase64 pydantic 'python-dateutil<3'
  python-multipart 'pyzmq>=25.1.2' regex requests scipy sentencepiece==0.2.1 setproctitle 'smg-grpc-servicer>=0.9.0'
  soundfile==0.13.1 tiktoken tml-renderers==0.1.0 tokenizers==0.23.2 tqdm transformers==5.19.0 'uvicorn>=0.51'
  uvloop watchfiles xgrammar==0.2.7 xxhash zstandard)
STAMP_WANT="${TORCH_PINS} ${SGLANG_PINS} triton==3.8.0 transformers==5.19.0 +libcuda1"
STAMP="$V/.qwen-doctor-sglang-stamp"

smoke() {
    SGLANG_USE_CPU_ENGINE=1 LD_LIBRARY_PATH="$V/libcuda" "$V/bin/python" -W ignore -c "
import sglang, sgl_kernel, torch, transformers
from sglang.srt.mem_cache.allocation import alloc_for_extend  # noqa: F401  (imports sgl_kernel CPU ops)
print('sglang', sglang.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__,
      '| cuda available:', torch.cuda.is_available())
"
}

t0=$(date +%s)
if [[ "${QWEN_DOCTOR_SGLANG_FORCE:-0}" != 1 && -x "$V/bin/python" && -f "$STAMP" \
      && -f "$V/libcuda/libcuda.so.1" ]] \
   && [[ "$(cat "$STAMP")" == "$STAMP_WANT" ]] \
   && out=$(smoke 2>/dev/null); then
    echo "install_sglang_cpu: $V already up to date ($STAMP_WANT)"
    echo "$out"
    echo "install_sglang_cpu: checked in $(( $(date +%s) - t0 )) s"
    exit 0
fi
rm -f "$STAMP"
if [[ ! -x "$V/bin/python" ]]; then
    "$PY" -m venv "$V"
fi
V=$(cd "$V" && pwd)
STAMP="$V/.qwen-doctor-sglang-stamp"
PIP=("$V/bin/pip" install --no-cache-dir)
# 1. torch + torchvision: SGLang 0.5.23's own pins (CUDA build; runs on CPU).
# shellcheck disable=SC2086
"${PIP[@]}" $TORCH_PINS
# 2. sglang and its kernel package, without their CUDA-only dependencies.
# shellcheck disable=SC2086
"${PIP[@]}" --no-deps $SGLANG_PINS
# 3. sglang's other requirements, with torch/torchvision/triton held where they are.
C=$(mktemp)
printf 'torch==2.14.1\ntorchvision==0.29.1\ntriton==3.8.0\n' > "$C"
"${PIP[@]}" -c "$C" "${REQS[@]}"
rm -f "$C"
# 4. libcuda.so.1, extracted (not installed) from Debian non-free libcuda1 via a private apt dir.
A=$(mktemp -d)
chmod 755 "$A"
mkdir -p "$A/parts" "$A/lists/partial" "$A/cache/archives/partial"
sed 's/^Components:.*/Components: non-free/' /etc/apt/sources.list.d/debian.sources > "$A/parts/nf.sources"
APT=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$A/parts"
     -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache")
apt-get "${APT[@]}" update -qq
(cd "$A" && apt-get "${APT[@]}" download libcuda1 2>/dev/null)
dpkg-deb -x "$A"/libcuda1_*.deb "$A/x"
mkdir -p "$V/libcuda"
cp -L "$A"/x/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.1 "$V/libcuda/libcuda.so.1"
rm -rf "$A"
# 5. smoke test: imports exactly as the server does in CPU mode.
smoke
printf '%s' "$STAMP_WANT" > "$STAMP"
echo "install_sglang_cpu: installed into $V in $(( $(date +%s) - t0 )) s; venv size $(du -sh "$V" 2>/dev/null | cut -f1)"
