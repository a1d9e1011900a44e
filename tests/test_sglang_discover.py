"""Discovery of REAL SGLang 0.5.23 processes (tests/testkit/sglang_server.py, .venv-sglang) by a zero-argument
`qwen-doctor check`: ``python -m sglang.launch_server ...`` and the ``sglang serve ...`` console script, each found
with its pid and port, the version read from the server's own environment (.venv-sglang's package metadata), the
model checked from its command line, and the live probe run, all in one run of the real CLI.

Other servers may run on this host (other test sessions): only the target of our server's pid is asserted.
Skipped when the SGLang venv is absent, unless QWEN_DOCTOR_REQUIRE_SERVER=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testkit import sglang_server as ss

pytestmark = pytest.mark.live_sglang

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").is_file() else sys.executable


def zero_argument_check(cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    r = subprocess.run([PY, "-m", "qwen_doctor", "check", "--format", "json"], capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    assert r.returncode in (0, 1), f"rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return json.loads(r.stdout)


def our_target(report: dict, srv: ss.SglangServer) -> tuple[dict, dict[str, dict]]:
    label = f"pid {srv.pid} (sglang)"
    targets = [t for t in report["targets"] if t.get("pid") == srv.pid]
    assert len(targets) == 1, f"pid {srv.pid} found {len(targets)} times among {[t['label'] for t in report['targets']]}"
    t = targets[0]
    assert t["label"] == label
    return t, {r["id"]: r for r in report["results"] if r.get("target") == label}


def assert_discovered(t: dict, res: dict[str, dict], srv: ss.SglangServer, launcher: str) -> None:
    assert (t["source"], t["server"], t["port"], t["host"]) == ("process", "sglang", srv.port, "127.0.0.1")
    assert srv.port in t["listening"]
    assert t["url"] == srv.url
    assert t["model_path"] == srv.model_path  # from its command line
    assert launcher in (t["launch_command"] or "")
    # the version: installed in the server's own venv (not the doctor's), read from package metadata
    assert t["server_version"] == ss.SGLANG_VERSION
    assert f"sglang {ss.SGLANG_VERSION}" in t["version_source"]
    # the environment it names is the server's venv (compared resolved: the checkout's .venv-sglang links to the cache)
    named = t["version_source"].split("environment ", 1)[1].rsplit(":", 1)[0]
    assert os.path.realpath(named) == os.path.realpath(str(ss.venv_dir(srv.python))), t["version_source"]
    # the command line was checked statically ...
    assert res["launch.embedding-mode"]["status"] == "pass", res["launch.embedding-mode"]["summary"]
    assert res["model.config"]["status"] in ("pass", "warn"), res["model.config"]["summary"]
    # ... and the live probe ran against the real server
    assert res["probe.reachable"]["status"] == "pass"
    assert res["probe.identity"]["evidence"]["server_kind"] == "sglang"
    assert res["probe.embeddings"]["status"] == "pass", res["probe.embeddings"]["summary"]
    assert res["probe.embeddings"]["evidence"]["dim"] == 64


def test_zero_argument_check_finds_python_m_sglang_launch_server(sglang_embed_server, tmp_path):
    srv = sglang_embed_server
    assert srv.command[1:3] == ["-m", "sglang.launch_server"]
    t, res = our_target(zero_argument_check(tmp_path), srv)
    assert_discovered(t, res, srv, "sglang.launch_server")
    # its scheduler and detokenizer children are not further targets
    assert res["probe.identity"]["evidence"]["served_names"] == [srv.served_model_name]


def test_zero_argument_check_finds_sglang_serve(sglang_small_ctx_server, tmp_path):
    srv = sglang_small_ctx_server
    assert Path(srv.command[0]).name == "sglang" and srv.command[1] == "serve"
    t, res = our_target(zero_argument_check(tmp_path), srv)
    assert_discovered(t, res, srv, "sglang serve")
    # --context-length from its command line, confirmed by the server
    assert res["probe.long-input"]["evidence"]["context_length"] == 128
