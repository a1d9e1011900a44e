"""probe.* (and the checks around them) against a REAL, unmodified SGLang 0.5.23 server on this CPU-only machine
(tests/testkit/sglang_server.py; installed by scripts/install_sglang_cpu.sh into .venv-sglang), serving the test
kit's tiny random-weight Qwen3. No replay here: every expectation is read from the real server in the test.

The doctor runs through its real CLI in a subprocess (``python -m qwen_doctor check --url ... --format json``, and
``check -- <the server's own launch command>``). Configurations (session fixtures in conftest.py, one SGLang at a
time): embedding mode with a served name different from the path; without --is-embedding; --model-path with a
trailing slash; a small --context-length (started with ``sglang serve``); --api-key.

Skipped when the SGLang venv is absent, unless QWEN_DOCTOR_REQUIRE_SERVER=1 (then they fail).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SGLANG_KEY
from tests.testkit import sglang_server as ss

pytestmark = pytest.mark.live_sglang

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").is_file() else sys.executable
DOCTOR_TIMEOUT = 600
# what the probe sends (qwen_doctor/checks/probe.py TEXT_A); the tests send the same text to the real server
TEXT_A = "qwen-doctor live probe: the quick brown fox jumps over the lazy dog."
PROBE_IDS = (
    "probe.reachable",
    "probe.identity",
    "probe.health",
    "probe.embeddings",
    "probe.dimensions",
    "probe.content-type",
    "probe.latency",
    "probe.long-input",
)


# -- helpers ---------------------------------------------------------------------------------------------
def doctor(*args: str, cwd: Path, timeout: float = DOCTOR_TIMEOUT, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """`python -m qwen_doctor check ARGS --format json` in a subprocess; (exit code, parsed report)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    e.update(env or {})
    if "--" in args:
        i = args.index("--")
        argv = [PY, "-m", "qwen_doctor", "check", *args[:i], "--format", "json", *args[i:]]
    else:
        argv = [PY, "-m", "qwen_doctor", "check", *args, "--format", "json"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)
    assert r.returncode in (0, 1), f"rc={r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}"
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"not JSON on stdout:\n{r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}") from None


def by_id(report: dict, target_label: str | None = None) -> dict[str, dict]:
    out = {}
    for r in report["results"]:
        if target_label is None or r.get("target") == target_label:
            out[r["id"]] = r
    return out


def st(result: dict) -> str:
    return result["status"].lower()


def real(
    srv: ss.SglangServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = "auto",
    content_type: str | None = "application/json",
    timeout: float = 120,
) -> tuple[int, dict, Any]:
    """One request to the real server: (status, headers, parsed JSON body or text)."""
    headers = {}
    if key == "auto":
        headers = srv.auth
    elif key:
        headers = {"Authorization": f"Bearer {key}"}
    if body is not None and content_type != "application/json":
        data = json.dumps(body).encode()
        if content_type:
            headers["Content-Type"] = content_type
        status, hdr, raw = ss.http(method, srv.url + path, data, timeout=timeout, headers=headers)
    else:
        status, hdr, raw = ss.http(method, srv.url + path, body, timeout=timeout, headers=headers)
    assert status is not None, f"{method} {path}: no answer ({raw!r})"
    try:
        return status, hdr, json.loads(raw) if raw else raw.decode()
    except ValueError:
        return status, hdr, raw.decode("utf-8", "replace")


def message(body: Any) -> str:
    """The message of a real SGLang error body ({"object": "error", "message": ...} or {"error": ...})."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        if isinstance(body.get("error"), str):
            return body["error"]
        if isinstance(body.get("error"), dict):
            return body["error"].get("message", "")
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return str(body)


def one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def long_text(words: int) -> str:
    return " ".join(["hello"] * words)


def check_long_input_matches(li: dict, srv: ss.SglangServer, context_length: int) -> None:
    """probe.long-input vs the real server: the same text sent here gets the answer the doctor reports."""
    ev = li["evidence"]
    assert ev["context_length"] == context_length
    words = (ev["sent_bytes"] + 1) // len("hello ")
    status, _, body = real(srv, "POST", "/v1/embeddings", {"input": long_text(words)})
    assert ev["http_status"] == status
    if status == 400:
        assert st(li) == "pass" and ev["verdict"] == "rejected"
        assert ev["server_message"] == one_line(message(body), 240)
        assert str(context_length) in message(body)
    elif status == 200:
        assert st(li) == "warn" and ev["verdict"] == "truncated"
    else:
        assert st(li) == "fail"


@pytest.fixture()
def cwd(tmp_path) -> Path:
    """An empty working directory: no qwen-doctor.toml or pyproject.toml settings leak into the run."""
    return tmp_path


# -- embedding mode: healthy -------------------------------------------------------------------------------
def test_embedding_mode_every_probe_check_matches_the_real_server(sglang_embed_server, cwd):
    srv = sglang_embed_server
    rc, rep = doctor("--url", srv.url, "--model-path", str(srv.model_dir), "--model-name", srv.served_model_name, "--requests", "5", cwd=cwd)
    res = by_id(rep)
    assert set(PROBE_IDS) <= set(res), sorted(res)
    # probe.reachable: GET / answers (whatever the status)
    status, _, _ = real(srv, "GET", "/")
    assert st(res["probe.reachable"]) == "pass" and res["probe.reachable"]["evidence"]["http_status"] == status
    # probe.health: /health and /ready as the server answers them
    h_status, _, h_body = real(srv, "GET", "/health")
    r_status, _, _ = real(srv, "GET", "/ready")
    assert h_status == 200 and h_body == ""
    hev = res["probe.health"]["evidence"]
    assert st(res["probe.health"]) == "pass" and hev["health_status"] == 200 and hev["health_body_bytes"] == 0
    assert hev.get("ready_status") == r_status
    # probe.identity: served names, context length, is_generation, version, as the server reports them
    _, _, models = real(srv, "GET", "/v1/models")
    _, _, info = real(srv, "GET", "/get_model_info")
    iev = res["probe.identity"]["evidence"]
    assert st(res["probe.identity"]) == "pass", res["probe.identity"]["summary"]
    assert iev["server_kind"] == "sglang" == models["data"][0]["owned_by"]
    assert iev["served_names"] == [m["id"] for m in models["data"]] == [srv.served_model_name]
    assert iev["max_model_len"] == models["data"][0]["max_model_len"]
    assert iev["is_generation"] is info["is_generation"] is False
    s_status, _, sinfo = real(srv, "GET", "/server_info")
    if s_status == 200:
        assert iev["server_version"] == sinfo["version"] == ss.SGLANG_VERSION
    # probe.embeddings: the real vector's dimension and norm, the real token count
    e_status, _, emb = real(srv, "POST", "/v1/embeddings", {"model": srv.served_model_name, "input": TEXT_A})
    assert e_status == 200
    vec = emb["data"][0]["embedding"]
    eev = res["probe.embeddings"]["evidence"]
    assert st(res["probe.embeddings"]) == "pass", res["probe.embeddings"]["summary"]
    assert eev["dim"] == len(vec) == 64 and eev["expected_dim"] == 64
    assert abs(eev["norm"] - sum(x * x for x in vec) ** 0.5) < 1e-5
    assert eev["usage_prompt_count"] == emb["usage"]["prompt_tokens"] == eev["local_count"]
    assert eev["determinism_cosine"] > 0.9999 and eev["batch_cosine"] > 0.999
    # the real `model` field is the model PATH, not the served name: recorded, and not held against the server
    assert emb["model"] == srv.model_path != srv.served_model_name
    assert eev.get("response_model") == emb["model"]
    # probe.dimensions: the real answer to `dimensions` on a model without is_matryoshka
    d_status, _, d_body = real(srv, "POST", "/v1/embeddings", {"model": srv.served_model_name, "input": TEXT_A, "dimensions": 16})
    dev = res["probe.dimensions"]["evidence"]
    assert d_status == dev["http_status"] == 400
    assert st(res["probe.dimensions"]) == "warn" and dev["server_message"] == one_line(message(d_body), 240)
    assert "matryoshka" in message(d_body).lower() and "--json-model-override-args" in res["probe.dimensions"]["fix"]["text"]
    # probe.content-type: the real answer to a JSON body sent without the header
    c_status, _, c_body = real(srv, "POST", "/v1/embeddings", {"input": TEXT_A}, content_type="text/plain")
    cev = res["probe.content-type"]["evidence"]
    assert cev["http_status"] == c_status == 400 and st(res["probe.content-type"]) == "pass"
    assert cev["server_message"] == one_line(message(c_body), 200)
    # probe.latency: every request answered
    lev = res["probe.latency"]["evidence"]
    assert st(res["probe.latency"]) == "pass" and lev["ok"] == 5 and lev["errors"] == 0
    # probe.long-input: the real 400 for the same text
    check_long_input_matches(res["probe.long-input"], srv, models["data"][0]["max_model_len"])
    assert not [r["id"] for r in rep["results"] if r["id"].startswith("probe.") and st(r) in ("fail", "error")]


def test_a_client_sending_the_model_path_instead_of_the_served_name(sglang_embed_server, cwd):
    """Served name differs from the path; clients send the path: the real server's answer decides the verdict."""
    srv = sglang_embed_server
    sent = srv.model_path
    status, _, body = real(srv, "POST", "/v1/embeddings", {"model": sent, "input": TEXT_A})
    rc, rep = doctor("--url", srv.url, "--model-path", str(srv.model_dir), "--model-name", sent, "--select", "probe", "--requests", "2", cwd=cwd)
    res = by_id(rep)
    idn = res["probe.identity"]
    assert idn["evidence"]["served_names"] == [srv.served_model_name]
    if status == 200:  # SGLang does not check the name: requests work, the mismatch is a warning
        assert st(idn) == "warn" and "SGLang ignores the `model` field" in idn["summary"]
        assert st(res["probe.embeddings"]) == "pass"
    else:
        assert st(idn) == "fail" and st(res["probe.embeddings"]) == "fail"
        assert one_line(message(body), 120)[:60] in res["probe.embeddings"]["summary"]


def test_embedding_mode_from_its_launch_command(sglang_embed_server, cwd):
    """`check -- <the real launch command>`: static launch checks pass, and the live probe runs at its port."""
    srv = sglang_embed_server
    rc, rep = doctor("--", *srv.command, cwd=cwd)
    res = by_id(rep)
    assert st(res["launch.embedding-mode"]) == "pass", res["launch.embedding-mode"]["summary"]
    assert res["probe.reachable"]["evidence"]["url"].rstrip("/") == srv.url
    assert st(res["probe.reachable"]) == "pass"
    assert st(res["probe.embeddings"]) == "pass", res["probe.embeddings"]["summary"]
    assert res["probe.embeddings"]["evidence"]["dim"] == 64


# -- without --is-embedding ---------------------------------------------------------------------------------
def test_generate_mode_the_real_400_and_the_launch_flag_live(sglang_generate_server, cwd):
    srv = sglang_generate_server
    status, _, body = real(srv, "POST", "/v1/embeddings", {"model": srv.served_model_name, "input": TEXT_A})
    _, _, info = real(srv, "GET", "/get_model_info")
    assert status == 400 and info["is_generation"] is True
    rc, rep = doctor("--url", srv.url, "--model-path", str(srv.model_dir), cwd=cwd)
    assert rc == 1
    res = by_id(rep)
    idn, emb = res["probe.identity"], res["probe.embeddings"]
    assert st(idn) == "fail" and idn["evidence"]["is_generation"] is True and idn["evidence"]["missing_flag"] == "--is-embedding"
    # the real generate-mode /get_model_info `embedding` object is all "none"/false (requires_embedding_flag too):
    # the doctor must not claim otherwise
    emb_info = info.get("embedding") or {}
    assert emb_info.get("enabled") is False and emb_info.get("requires_embedding_flag") is False
    assert "requires_embedding_flag=true" not in idn["summary"]
    assert st(emb) == "fail" and emb["evidence"]["http_status"] == 400
    assert emb["evidence"]["server_message"] == one_line(message(body), 240)
    assert one_line(message(body), 240) in emb["summary"]
    assert emb["evidence"]["missing_flag"] == "--is-embedding" and emb["evidence"]["launch_check"] == "launch.embedding-mode"
    for cid in ("probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert st(res[cid]) == "skip", (cid, res[cid]["summary"])
    assert st(res["probe.health"]) == "pass"  # the server itself is healthy


def test_generate_mode_from_its_launch_command_static_and_live(sglang_generate_server, cwd):
    srv = sglang_generate_server
    status, _, body = real(srv, "POST", "/v1/embeddings", {"input": TEXT_A})
    rc, rep = doctor("--", *srv.command, cwd=cwd)
    res = by_id(rep)
    static = res["launch.embedding-mode"]
    assert st(static) == "fail" and "--is-embedding" in json.dumps(static["fix"])
    emb = res["probe.embeddings"]
    assert st(emb) == "fail" and emb["evidence"]["http_status"] == status == 400
    assert emb["evidence"]["missing_flag"] == "--is-embedding"
    fixed = emb["fix"].get("launch_command") or ""
    assert "--is-embedding" in fixed and "sglang.launch_server" in fixed


# -- --model-path with a trailing slash, no --served-model-name -------------------------------------------
def test_trailing_slash_becomes_part_of_the_served_name(sglang_slash_server, cwd):
    srv = sglang_slash_server
    _, _, models = real(srv, "GET", "/v1/models")
    served = [m["id"] for m in models["data"]]
    assert served == [srv.model_path] and srv.model_path.endswith("/")  # the real server's served name
    sent = srv.model_path.rstrip("/")
    status, _, body = real(srv, "POST", "/v1/embeddings", {"model": sent, "input": TEXT_A})
    rc, rep = doctor("--url", srv.url, "--model-path", sent, "--model-name", sent, "--select", "probe", "--requests", "2", cwd=cwd)
    res = by_id(rep)
    idn = res["probe.identity"]
    assert idn["evidence"]["served_names"] == served
    assert "trailing slash" in idn["summary"]
    if status == 200:
        assert st(idn) == "warn" and st(res["probe.embeddings"]) == "pass"
    else:
        assert st(idn) == "fail" and st(res["probe.embeddings"]) == "fail"
    # loading the directory with the slash worked: vectors of the model's size
    assert st(res["probe.reachable"]) == "pass"


def test_trailing_slash_static_check_and_live_probe(sglang_slash_server, cwd):
    srv = sglang_slash_server
    rc, rep = doctor("--", *srv.command, cwd=cwd)
    res = by_id(rep)
    assert st(res["launch.model-path"]) == "warn" and "slash" in res["launch.model-path"]["summary"]
    assert st(res["probe.embeddings"]) == "pass", res["probe.embeddings"]["summary"]
    assert res["probe.identity"]["evidence"]["served_names"] == [srv.model_path]


# -- a small --context-length --------------------------------------------------------------------------------
def test_small_context_length_over_length_input(sglang_small_ctx_server, cwd):
    srv = sglang_small_ctx_server
    _, _, models = real(srv, "GET", "/v1/models")
    clen = models["data"][0]["max_model_len"]
    assert clen == 128
    rc, rep = doctor("--url", srv.url, "--model-path", str(srv.model_dir), "--select", "probe", "--requests", "2", cwd=cwd)
    res = by_id(rep)
    li = res["probe.long-input"]
    check_long_input_matches(li, srv, clen)
    assert 128 < li["evidence"]["sent_length"] <= 140  # counted with the model's tokenizer.json
    assert "max_model_len" in li["evidence"]["context_length_source"]


# -- --api-key --------------------------------------------------------------------------------------------------
def test_api_key_without_with_and_wrong(sglang_api_key_server, cwd):
    srv = sglang_api_key_server
    m_status, _, m_body = real(srv, "GET", "/v1/models", key=None)
    h_status, _, _ = real(srv, "GET", "/health", key=None)
    assert m_status == 401
    # without --api-key: the doctor says the server requires one, with the server's own 401 text
    rc, rep = doctor("--url", srv.url, "--model-path", str(srv.model_dir), "--select", "probe", "--requests", "2", cwd=cwd)
    res = by_id(rep)
    idn = res["probe.identity"]
    assert st(idn) == "fail" and idn["evidence"]["http_status"] == 401 and "requires an API key" in idn["summary"]
    assert one_line(message(m_body), 120) in idn["summary"]
    assert res["probe.health"]["evidence"]["health_status"] == h_status
    assert st(res["probe.health"]) == ("pass" if h_status == 200 else "warn")
    e_status, _, _ = real(srv, "POST", "/v1/embeddings", {"input": TEXT_A}, key=None)
    assert res["probe.embeddings"]["evidence"]["http_status"] == e_status == 401
    # with the key: everything passes, and the key is in no output
    r = subprocess.run(
        [
            PY,
            "-m",
            "qwen_doctor",
            "check",
            "--url",
            srv.url,
            "--model-path",
            str(srv.model_dir),
            "--api-key",
            SGLANG_KEY,
            "--select",
            "probe",
            "--requests",
            "2",
            "--format",
            "json",
            "-v",
        ],
        capture_output=True,
        text=True,
        timeout=DOCTOR_TIMEOUT,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")},
    )
    assert SGLANG_KEY not in r.stdout + r.stderr
    res = by_id(json.loads(r.stdout))
    for cid in ("probe.identity", "probe.health", "probe.embeddings", "probe.content-type", "probe.latency", "probe.long-input"):
        assert st(res[cid]) == "pass", (cid, res[cid]["summary"])
    # a wrong key: the server's 401, named as a rejected key
    w_status, _, _ = real(srv, "POST", "/v1/embeddings", {"input": TEXT_A}, key="wrong-key-123")
    assert w_status == 401
    _, rep = doctor("--url", srv.url, "--api-key", "wrong-key-123", "--select", "probe", "--requests", "2", cwd=cwd)
    res = by_id(rep)
    assert st(res["probe.identity"]) == "fail" and "rejected the API key" in res["probe.identity"]["summary"]
