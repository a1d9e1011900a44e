"""Scale of one input file (issue 13, item 2): N targets in one compose file or Kubernetes manifest.

Run: .venv/bin/python bench/bench_hostile_scale.py [--sizes 1000,5000,10000] [--kind compose|k8s|both]
     [--select launch] [--format json] [--json OUT]

Each size runs the real CLI in a fresh process (``python -m qwen_doctor check --from FILE --offline --select
launch --format json -o OUT``) and reads its wall time and peak RSS (ru_maxrss from wait4). The file holds N
SGLang services (compose) or N Deployments in one ``kind: List`` (Kubernetes), each with its own name and
port. Linear means: the time per target stays flat as N grows (the last column); memory grows with the
report, not faster. Prints a table and, with --json, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


def compose(n: int) -> str:
    out = ["services:"]
    for i in range(n):
        out.append(f"  emb{i}:")
        out.append("    image: lmsysorg/sglang:v0.5.4")
        out.append(
            f"    command: python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0 --port {30000 + i % 30000}"
        )
        out.append("    ports:")
        out.append(f'      - "{20000 + i % 40000}:{30000 + i % 30000}"')
    return "\n".join(out) + "\n"


def k8s(n: int) -> str:
    items = []
    for i in range(n):
        items.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"emb{i}"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "sglang",
                                    "image": "lmsysorg/sglang:v0.5.4",
                                    "command": ["python3", "-m", "sglang.launch_server"],
                                    "args": ["--model-path", "Qwen/Qwen3-Embedding-0.6B", "--is-embedding", "--port", "30000"],
                                }
                            ]
                        }
                    }
                },
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, separators=(",", ":")) + "\n"  # JSON is YAML


def run_one(path: Path, select: str, fmt: str, out: Path, timeout: float) -> dict:
    cmd = [PY, "-m", "qwen_doctor", "check", "--from", str(path), "--offline", "--select", select, "--format", fmt, "-o", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=str(path.parent), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    rc = os.waitstatus_to_exitcode(status)
    targets = None
    if fmt == "json" and out.exists():
        try:
            targets = len(json.loads(out.read_text())["targets"])
        except (ValueError, KeyError, TypeError):
            targets = None
    return {"rc": rc, "wall_s": round(wall, 2), "max_rss_mb": round(usage.ru_maxrss / 1024, 1), "targets": targets, "stderr": err.strip()[-300:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--kind", choices=("compose", "k8s", "both"), default="compose")
    ap.add_argument("--select", default="launch")
    ap.add_argument("--format", default="json")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    kinds = ("compose", "k8s") if args.kind == "both" else (args.kind,)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qd-scale-") as tmp:
        for kind in kinds:
            for n in sizes:
                path = Path(tmp) / (f"compose-{n}.yaml" if kind == "compose" else f"k8s-{n}.yaml")
                path.write_text(compose(n) if kind == "compose" else k8s(n))
                r = run_one(path, args.select, args.format, Path(tmp) / f"out-{kind}-{n}.{args.format}", args.timeout)
                r.update(kind=kind, n=n, file_mb=round(path.stat().st_size / 2**20, 2), ms_per_target=round(1000 * r["wall_s"] / n, 2))
                rows.append(r)
                print(
                    f"{kind:8} N={n:6}  file {r['file_mb']:6.2f} MB  rc={r['rc']}  wall {r['wall_s']:7.2f} s  "
                    f"peak RSS {r['max_rss_mb']:7.1f} MB  {r['ms_per_target']:6.2f} ms/target  targets in report: {r['targets']}",
                    flush=True,
                )
                if r["rc"] not in (0, 1):
                    print(f"   stderr: {r['stderr']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
