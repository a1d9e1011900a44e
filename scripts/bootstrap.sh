#!/usr/bin/env bash
# Create (or reuse) the project venv at .venv with qwen-doctor and its test extra installed.
# Idempotent: reinstalls only when pyproject.toml changed. Usage: scripts/bootstrap.sh [VENV_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
V=${1:-"$root/.venv"}
stamp="$V/.qwen-doctor-stamp"
want=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$V/bin/python" ]; then
  echo "qwen-doctor: first run: creating $V and installing qwen-doctor with its dependencies (typer, rich, psutil, httpx, transformers, tokenizers, nvidia-ml-py; about 1-3 minutes and 0.4 GB, once)" >&2
  python3 -m venv "$V"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$V/bin/python" -c 'import qwen_doctor' 2>/dev/null; then
  "$V/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test]"
  echo "$want" > "$stamp"
fi
