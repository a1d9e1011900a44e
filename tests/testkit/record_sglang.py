"""Record what a REAL SGLang server answers on every route the live probe uses, as test data.

    .venv/bin/python -m tests.testkit.record_sglang [OUT_DIR]   (default tests/data/responses/sglang-0.5.23)

Starts the real server (:mod:`tests.testkit.sglang_server`, the tiny random Qwen3 of the test kit) three times:

* ``embedding/``: ``--is-embedding`` (the right launch);
* ``generate/``: without ``--is-embedding`` (the misconfiguration);
* ``api-key/``: ``--is-embedding --api-key KEY`` (401s, and the same routes with the key);

and writes one JSON file per exchange: ``{"server", "version", "recorded_at", "mode", "launch", "model_path",
"served_model_name", "context_length", "request": {method, path, headers, body}, "response": {status, reason,
headers, body (parsed JSON) or body_text}}``. The model path is the temporary directory the server loaded; a
test that compares bodies substitutes its own. Nothing is edited by hand.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.testkit import modeldirs
from tests.testkit import sglang_server as ss

DEFAULT_OUT = ss.REPO_ROOT / "tests" / "data" / "responses" / f"sglang-{ss.SGLANG_VERSION}"
KEY = "sk-recorded-sglang-KEY-0123456789"
LONG_WORDS = 3000  # "hello " x 3000: over the tiny model's 2048-token context, whatever the BPE merges


def exchange(
    url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> dict:
    """One real request with http.client (full control of the headers); the exchange as a dict."""
    host, port = url.split("//", 1)[1].split(":")
    hdr = dict(headers or {})
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if content_type:
            hdr["Content-Type"] = content_type
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=hdr)
        r = conn.getresponse()
        raw = r.read()
        status, reason, rh = r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    elapsed = round((time.monotonic() - t0) * 1000, 1)
    shown_body: Any = None
    if data is not None:
        try:
            shown_body = json.loads(data)
        except ValueError:
            shown_body = data.decode("utf-8", "replace")
        if isinstance(shown_body, dict) and isinstance(shown_body.get("input"), str) and len(shown_body["input"]) > 200:
            shown_body = {**shown_body, "input": f"<{len(shown_body['input'].split())} words: 'hello hello ...'>"}
    req_headers = {k: ("Bearer <key>" if k.lower() == "authorization" and v != "Bearer wrong-key" else v) for k, v in hdr.items()}
    resp: dict[str, Any] = {"status": status, "reason": reason, "headers": rh, "elapsed_ms": elapsed}
    try:
        resp["body"] = json.loads(raw) if raw else None
        if not raw:
            resp["body_text"] = ""
    except ValueError:
        resp["body_text"] = raw.decode("utf-8", "replace")
    return {"request": {"method": method, "path": path, "headers": req_headers, "body": shown_body}, "response": resp}


def routes(srv: ss.SglangServer, auth: dict[str, str]) -> dict[str, dict]:
    """name -> exchange, for every route and request the probe uses (and a few it reads around)."""
    u, name = srv.url, srv.served_model_name
    long_text = " ".join(["hello"] * LONG_WORDS)
    ex: dict[str, dict] = {}

    def get(key: str, path: str, **kw: Any) -> None:
        ex[key] = exchange(u, "GET", path, headers=auth, **kw)

    def post(key: str, body: Any, **kw: Any) -> None:
        kw.setdefault("headers", auth)
        ex[key] = exchange(u, "POST", "/v1/embeddings", body=body, **kw)

    get("root", "/")
    get("health", "/health")
    get("health_generate", "/health_generate")
    get("ready", "/ready")
    get("models", "/v1/models")
    get("models_served", "/v1/models/" + name)
    get("models_unknown", "/v1/models/no-such-model")
    get("get_model_info", "/get_model_info")
    get("model_info", "/model_info")
    get("server_info", "/server_info")
    get("get_server_info", "/get_server_info")
    get("version", "/version")
    get("error_404", "/v1/nope")
    post("embeddings_single", {"model": name, "input": "test"})
    post("embeddings_single_again", {"model": name, "input": "test"})
    post("embeddings_batch", {"model": name, "input": ["test", "a second, longer sentence about embeddings"]})
    post("embeddings_tokens", {"model": name, "input": [[10, 20, 30, 40]]})
    post("embeddings_dimensions", {"model": name, "input": "test", "dimensions": 16})
    post("error_empty_input", {"model": name, "input": ""})
    post("error_unknown_model", {"model": "no-such-model", "input": "test"})
    post("no_model_field", {"input": "test"})
    post("error_content_type_text", {"model": name, "input": "test"}, content_type="text/plain")
    post("error_no_content_type", {"model": name, "input": "test"}, content_type=None)
    post("error_invalid_json", b'{"model":', content_type="application/json")
    post("error_too_long", {"model": name, "input": long_text})
    post("after_too_long", {"model": name, "input": "test"})
    get("health_after", "/health")
    return ex


def auth_routes(srv: ss.SglangServer) -> dict[str, dict]:
    """The 401s of a --api-key server: no key, a wrong key, and the key (for comparison)."""
    u, name = srv.url, srv.served_model_name
    good = {"Authorization": f"Bearer {KEY}"}
    bad = {"Authorization": "Bearer wrong-key"}
    ex: dict[str, dict] = {}
    for label, hdr in (("no_key", {}), ("wrong_key", bad), ("key", good)):
        ex[f"{label}__health"] = exchange(u, "GET", "/health", headers=hdr)
        ex[f"{label}__root"] = exchange(u, "GET", "/", headers=hdr)
        ex[f"{label}__models"] = exchange(u, "GET", "/v1/models", headers=hdr)
        ex[f"{label}__get_model_info"] = exchange(u, "GET", "/get_model_info", headers=hdr)
        ex[f"{label}__model_info"] = exchange(u, "GET", "/model_info", headers=hdr)
        ex[f"{label}__server_info"] = exchange(u, "GET", "/server_info", headers=hdr)
        ex[f"{label}__ready"] = exchange(u, "GET", "/ready", headers=hdr)
        ex[f"{label}__metrics"] = exchange(u, "GET", "/metrics", headers=hdr)
        ex[f"{label}__embeddings"] = exchange(u, "POST", "/v1/embeddings", body={"model": name, "input": "test"}, headers=hdr)
    return ex


MODES = {
    "embedding": ss.SglangConfig(name="record-embedding", served_model_name=ss.MODEL_DIR_NAME),
    "generate": ss.SglangConfig(name="record-generate", is_embedding=False, served_model_name=ss.MODEL_DIR_NAME),
    "api-key": ss.SglangConfig(name="record-api-key", served_model_name=ss.MODEL_DIR_NAME, api_key=KEY),
}


def record(out: Path, modes: list[str], model_root: Path) -> dict:
    model_dir = modeldirs.build_tiny_model_dir(model_root, name=ss.MODEL_DIR_NAME)
    py = ss.sglang_python()
    if py is None:
        raise SystemExit(ss.missing_reason())
    version_out = ss.subprocess.run(
        [str(py), "-c", "import sglang; print(sglang.__version__)"], capture_output=True, text=True, env=ss.server_env(py)
    ).stdout.strip()
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary: dict[str, Any] = {"version": version_out, "recorded_at": today, "modes": {}}
    for mode in modes:
        cfg = MODES[mode]
        log = Path(tempfile.gettempdir()) / f"record-sglang-{mode}.log"
        with ss.sglang_server(model_dir, cfg, log_path=log) as srv:
            rss = srv.rss_mb()
            ex = auth_routes(srv) if mode == "api-key" else routes(srv, srv.auth)
            stop_t0 = time.monotonic()
        stop_s = round(time.monotonic() - stop_t0, 1)
        d = out / mode
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        launch = [a.replace(str(srv.python.parent.parent), "<VENV>") for a in srv.command]
        meta = {
            "server": "sglang",
            "version": version_out,
            "recorded_at": today,
            "mode": mode,
            "launch": launch,
            "env": {k: srv.env[k] for k in ("SGLANG_USE_CPU_ENGINE", "HF_HUB_OFFLINE")},
            "model_path": srv.model_path,
            "served_model_name": srv.served_model_name,
            "context_length": cfg.context_length or modeldirs.TINY_MAX_POS,
            "recorded_by": "tests/testkit/record_sglang.py",
        }
        for key, e in ex.items():
            (d / f"{key}.json").write_text(json.dumps({**meta, "name": key, **e}, indent=1, ensure_ascii=False) + "\n")
        summary["modes"][mode] = {
            "files": len(ex),
            "start_s": srv.start_seconds,
            "rss_mb": rss,
            "stop_s": stop_s,
            "statuses": {k: e["response"]["status"] for k, e in ex.items()},
        }
    (out / "README.md").write_text(
        f"# Real SGLang {version_out} answers (recorded {today})\n\n"
        "Recorded by `tests/testkit/record_sglang.py` from an unmodified SGLang on CPU (`--device cpu "
        "--attention-backend torch_native --dtype float32`, `SGLANG_USE_CPU_ENGINE=1`) serving the test kit's tiny "
        "random Qwen3 (64-d, context 2048) as `Qwen3-Embedding-0.6B-tiny`. One JSON file per exchange: the request "
        "and the real status, reason, headers and body. `embedding/`: `--is-embedding`; `generate/`: without it; "
        "`api-key/`: `--is-embedding --api-key` (files prefixed no_key__, wrong_key__, key__).\n"
        "Regenerate with `.venv/bin/python -m tests.testkit.record_sglang` (needs .venv-sglang).\n"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--mode", action="append", choices=sorted(MODES), help="record only these modes (repeatable)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="record-sglang-") as tmp:
        summary = record(out, args.mode or list(MODES), Path(tmp))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
