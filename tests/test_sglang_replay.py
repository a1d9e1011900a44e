"""The SGLang 0.5.23 REPLAY (tests/probe_servers.py ``replay_server("sglang")``) checked against the REAL answers of
SGLang 0.5.23 recorded on this machine (tests/data/responses/sglang-0.5.23, by tests/testkit/record_sglang.py), so
that the replay the probe-check tests use cannot drift from the real server.

Every recorded request is sent again to a replay configured like the recorded server (model path, served name,
context length 2048, 64-d vectors, embedding mode or not, --api-key), and the status and the key body fields must
be equal. Vectors are synthetic in the replay: only their shape is compared. No server is started here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import probe_servers as ps

REC = ps.SGLANG_REAL
MODES = ("embedding", "generate", "api-key")
RECORDED_KEY = "sk-recorded-sglang-KEY-0123456789"  # tests/testkit/record_sglang.py KEY (redacted in the files)


def recordings(mode: str) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((REC / mode).glob("*.json"))]


def all_recordings() -> list[tuple[str, str]]:
    return [(m, p.stem) for m in MODES for p in sorted((REC / m).glob("*.json"))]


def test_the_recordings_are_real_sglang_0_5_23_with_version_and_date():
    """The recorded files (not the replay): present for the three modes, each with the version, date and launch."""
    for mode in MODES:
        recs = recordings(mode)
        assert len(recs) >= 20, mode
        for r in recs:
            assert r["server"] == "sglang" and r["version"] == "0.5.23" and r["mode"] == mode
            assert r["recorded_at"][:4].isdigit() and r["recorded_by"] == "tests/testkit/record_sglang.py"
            assert "sglang.launch_server" in " ".join(r["launch"]) and "--device" in r["launch"]
            assert ("--is-embedding" in r["launch"]) is (mode != "generate")
            assert isinstance(r["response"]["status"], int)


def replay_for(rec: dict) -> ps.LoopbackServer:
    launch = rec["launch"]
    kv = int(launch[launch.index("--max-total-tokens") + 1])
    return ps.replay_server(
        "sglang",
        is_embedding=rec["mode"] != "generate",
        model_path=rec["model_path"],
        served=rec["served_model_name"],
        context_length=rec["context_length"],
        dim=64,
        kv_tokens=kv,
        api_key=RECORDED_KEY if rec["mode"] == "api-key" else None,
    )


def resend(url: str, rec: dict) -> httpx.Response:
    req = rec["request"]
    headers = {k: (f"Bearer {RECORDED_KEY}" if v == "Bearer <key>" else v) for k, v in req["headers"].items()}
    body = req["body"]
    content: bytes | None = None
    if isinstance(body, dict) and isinstance(body.get("input"), str) and body["input"].startswith("<") and "words" in body["input"]:
        words = int(body["input"][1:].split()[0])
        body = {**body, "input": " ".join(["hello"] * words)}  # what the recorder sent (it stores a placeholder)
    if body is not None:
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.request(req["method"], url + req["path"], content=content, headers=headers, timeout=10)


def key_fields(body: Any, mode: str) -> Any:
    """What must agree between the real answer and the replay: everything but vectors, timestamps and the bulk of
    /server_info (the replay keeps the keys the probe reads)."""
    if not isinstance(body, dict):
        return body
    if "data" in body and isinstance(body.get("data"), list) and body.get("object") == "list" and "usage" in body:
        return {
            "keys": sorted(body),
            "model": body["model"],
            "object": body["object"],
            "items": [(sorted(d), d["index"], d["object"], len(d["embedding"])) for d in body["data"]],
            "usage_keys": sorted(body["usage"]),
            "usage_total_is_prompt": body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"],
        }
    if body.get("object") == "list" and "data" in body:  # /v1/models
        return {"object": "list", "data": [{k: v for k, v in m.items() if k != "created"} for m in body["data"]]}
    if "owned_by" in body:  # /v1/models/{id}
        return {k: v for k, v in body.items() if k != "created"}
    if "is_generation" in body:  # /model_info, /get_model_info
        emb = body.get("embedding") or {}
        return {
            "keys": sorted(body),
            "values": {k: body.get(k) for k in ("model_path", "served_model_name", "tokenizer_path", "is_generation", "model_type", "architectures")},
            "embedding": {k: emb.get(k) for k in ("family", "task", "normalize", "requires_embedding_flag", "supports_dimensions", "enabled")},
        }
    if "internal_states" in body or "max_total_num_tokens" in body:  # /server_info: the keys the probe reads
        return {
            k: body.get(k)
            for k in ("model_path", "context_length", "is_embedding", "allow_auto_truncate", "status", "version", "max_total_num_tokens", "max_req_input_len")
        }
    return body  # error bodies, {"detail": ...}, {"error": ...}: equal, message included


@pytest.mark.parametrize("mode,name", all_recordings())
def test_replay_answers_like_the_real_sglang(mode, name):
    """Replay of SGLang 0.5.23 (tests/probe_servers.py) vs its real recorded answer to the same request."""
    rec = json.loads((REC / mode / f"{name}.json").read_text(encoding="utf-8"))
    if rec["request"]["path"] == "/metrics":
        pytest.skip("/metrics is not part of the replay (404 on the real server without --enable-metrics)")
    real = rec["response"]
    with replay_for(rec) as srv:
        got = resend(srv.url, rec)
    assert got.status_code == real["status"], (got.status_code, got.text[:300])
    real_body = real.get("body")
    if real_body is None:
        assert got.content == b""
        return
    assert got.headers.get("content-type", "").split(";")[0] == real["headers"]["content-type"]
    assert key_fields(got.json(), mode) == key_fields(real_body, mode)


def test_the_replay_vectors_are_the_recorded_shape_and_unit_norm():
    """Replay of SGLang 0.5.23: vectors are synthetic, but of the model's size and L2-normalized like the real ones."""
    real = ps.real_sglang("embedding", "embeddings_single")
    vec = real["response"]["body"]["data"][0]["embedding"]
    assert abs(sum(x * x for x in vec) ** 0.5 - 1.0) < 1e-5  # the real server normalizes
    with replay_for(real) as srv:
        got = resend(srv.url, real).json()["data"][0]["embedding"]
    assert len(got) == len(vec) == 64 and abs(sum(x * x for x in got) ** 0.5 - 1.0) < 1e-9


def test_recorded_paths_exist():
    """The recorder's output directory (not a replay): the README that says what and when."""
    assert (REC / "README.md").is_file() and "0.5.23" in (REC / "README.md").read_text()
    assert Path(ps.SGLANG_REAL).name == "sglang-0.5.23"
