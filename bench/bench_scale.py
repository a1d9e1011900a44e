"""Scale benchmark (issue 6): 50 targets checked concurrently vs 1, through the real Runner and registry.

Run: .venv/bin/python bench/bench_scale.py [--targets 50] [--runs 5] [--live [--latency 0.3]] [--only-default]
     [--max-workers N] [--distinct-models]

Targets: launch commands `sglang serve --model-path DIR --is-embedding --port P` (and vLLM/TEI ones in
turn), each with its own label and port, serving one model directory (a tiny real Qwen3 model directory
built by the test kit, so model-file checks have real files to read), or one directory each with
--distinct-models. With --live every target also gets a URL of a
real local process answering like a server (tests/fake_server.py), so live checks do real HTTP.

The registry is qwen_doctor.registry.default_registry(); unless --only-default is given, check modules
under qwen_doctor/checks/ that it does not load yet (plugins being wired) are added, so the figure covers
every built-in check. Target (issue 6): the 50-target run takes at most 2x the 1-target run.
Prints the medians, the ratio, and the slowest checks of the 50-target run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen_doctor.context import RunOptions  # noqa: E402
from qwen_doctor.registry import Registry, default_registry  # noqa: E402
from qwen_doctor.runner import Runner  # noqa: E402
from qwen_doctor.target import build_target  # noqa: E402


def registry(only_default: bool) -> Registry:
    reg = default_registry(use_default_dirs=False)
    if only_default:
        return reg
    import qwen_doctor.checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        name = f"qwen_doctor.checks.{mod.name}"
        try:
            m = importlib.import_module(name)
        except Exception as exc:  # a module being written by someone else
            print(f"  (skipped {name}: {type(exc).__name__}: {exc})")
            continue
        register = getattr(m, "register", None)
        if register is None:
            continue
        probe = Registry()
        try:
            register(probe)
        except Exception:
            continue
        if any(reg.get(c.id) is not None for c in probe):
            continue  # already loaded by default_registry
        reg.load_plugin(mod.name, register, name)
    return reg


def model_dirs(n: int, root: Path) -> list[Path]:
    """n model directories (tiny real Qwen3, copied by hard links so each target has its own path)."""
    import os
    import shutil

    from tests.testkit import modeldirs

    base = modeldirs.build_tiny_model_dir(root / "Qwen3-Embedding-tiny-0")
    out = [base]
    for i in range(1, n):
        d = root / f"Qwen3-Embedding-tiny-{i}"
        shutil.copytree(base, d, copy_function=os.link)
        out.append(d)
    return out


def commands(i: int, model: Path, port: int) -> list[str]:
    kind = i % 3
    if kind == 0:
        return ["sglang", "serve", "--model-path", str(model), "--is-embedding", "--host", "127.0.0.1", "--port", str(port)]
    if kind == 1:
        return ["vllm", "serve", str(model), "--runner", "pooling", "--host", "127.0.0.1", "--port", str(port)]
    return ["text-embeddings-router", "--model-id", str(model), "--hostname", "127.0.0.1", "--port", str(port)]


def timed(runner: Runner, targets, runs: int):
    times = []
    results = None
    for _ in range(runs):
        t0 = time.perf_counter()
        results = runner.run(targets)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--live", action="store_true", help="give every target a real local server to probe")
    ap.add_argument("--only-default", action="store_true", help="only what default_registry() loads today")
    ap.add_argument("--latency", type=float, default=0.0, help="with --live: seconds each fake server takes per answer (a loaded server)")
    ap.add_argument("--max-workers", type=int, default=None, help="Runner max_workers (default: the runner's)")
    ap.add_argument("--distinct-models", action="store_true", help="one model directory per target (default: all serve one model, like replicas)")
    a = ap.parse_args()

    from tests import fake_server

    reg = registry(a.only_default)
    print(f"registry: {len(reg)} checks from {sorted(set(c.source.split(':')[0] for c in reg))}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        dirs = model_dirs(a.targets if a.distinct_models else 1, root / "models")
        dirs = dirs * (a.targets // len(dirs) + 1)
        ports = [fake_server.free_port() for _ in range(a.targets)]
        urls: list[str | None] = [None] * a.targets
        if a.live:
            install = fake_server.write_fake_install(root / "fake")
            for i, p in enumerate(ports):
                # an HTTP server that answers like one (it is not the target's own process: live checks only)
                stack.enter_context(
                    fake_server.running(
                        install,
                        [sys.executable, "-m", "sglang.launch_server", "--host", "127.0.0.1", "--port", str(p)],
                        env={"FAKE_SERVER_LATENCY": str(a.latency)},
                    )
                )
                urls[i] = f"http://127.0.0.1:{p}"
        targets = [
            build_target(commands(i, dirs[i], ports[i]), label=f"bench-{i}", url=urls[i], server_version={0: "0.5.23", 1: "0.11.0", 2: None}[i % 3])
            for i in range(a.targets)
        ]
        options = RunOptions(offline=not a.live, probe_timeout=5.0, requests=3)
        runner = Runner(reg, options, **({"max_workers": a.max_workers} if a.max_workers else {}))
        runner.run(targets[:1])  # warm-up: imports, flag tables
        one_med, one_min, one_res = timed(runner, targets[:1], a.runs)
        many_med, many_min, many_res = timed(runner, targets, a.runs)
    ratio = many_med / one_med if one_med else float("inf")
    print(f"1 target : median {one_med * 1000:8.1f} ms  (min {one_min * 1000:.1f}), {len(one_res)} results")
    print(f"{a.targets} targets: median {many_med * 1000:8.1f} ms  (min {many_min * 1000:.1f}), {len(many_res)} results")
    print(f"ratio {ratio:.2f}x  (target: <= 2x)  {'OK' if ratio <= 2 else 'OVER'}")
    per: dict[str, list[int]] = defaultdict(list)
    for r in many_res:
        per[r.id].append(r.duration_ms)
    slow = sorted(per.items(), key=lambda kv: -max(kv[1]))[:6]
    print("slowest checks in the 50-target run (max / median ms):")
    for cid, ds in slow:
        print(f"  {cid:32} {max(ds):6d} / {statistics.median(ds):6.0f}")
    statuses = defaultdict(int)
    for r in many_res:
        statuses[r.status.value] += 1
    print("statuses:", dict(statuses))
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
