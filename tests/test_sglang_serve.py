"""`qwen-doctor serve` (the real CLI, in a subprocess) in front of a REAL SGLang 0.5.23 (tests/testkit/sglang_server.py):
/readyz is 503 while nothing listens, turns 200 once the server is ready, and 503 again after it is stopped.

The SGLang server is the session's embedding configuration, (re)started by this test on the port the doctor was
pointed at beforehand. Skipped when the SGLang venv is absent, unless QWEN_DOCTOR_REQUIRE_SERVER=1.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.live_sglang

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").is_file() else sys.executable
WAIT = 300  # seconds a wait may take before it counts as a failure (never a speed assertion)


def get(port: int, path: str, timeout: float = 120) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Serve:
    """``python -m qwen_doctor serve --listen 127.0.0.1:0 ...``; the port comes from its 'listening on' line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
        self.proc = subprocess.Popen(
            [PY, "-m", "qwen_doctor", "serve", "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while not any("listening on" in ln for ln in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)
        line = next(ln for ln in self.lines if "listening on" in ln)
        self.port = int(line.split("http://127.0.0.1:")[1].split()[0])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def test_readyz_follows_the_real_sglang_server(sglang_embed, sglang_model_dir, tmp_path):
    handle = sglang_embed
    handle.stop()  # not running: the doctor is pointed at its port first
    srv_url = handle.url
    doc = Serve(["--url", srv_url, "--model-path", str(sglang_model_dir), "--select", "probe", "--requests", "2", "--cache", "0"], tmp_path)
    try:
        code, body = get(doc.port, "/readyz")
        assert code == 503 and "probe.reachable" in body  # nothing listens yet
        codes: list[int] = []
        stop_polling = threading.Event()

        def poll() -> None:  # /readyz all through the start: 503 ... 503, then 200 for good
            while not stop_polling.is_set():
                try:
                    codes.append(get(doc.port, "/readyz")[0])
                except OSError:
                    codes.append(-1)
                stop_polling.wait(1.0)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            srv = handle.get()  # starts the real SGLang on that port; returns once /health is 200
            assert srv.url == srv_url
            deadline = time.monotonic() + WAIT
            while not codes or codes[-1] != 200:
                assert time.monotonic() < deadline, f"/readyz never turned 200: {codes[-10:]}"
                time.sleep(0.5)
        finally:
            stop_polling.set()
            poller.join(WAIT)
        first_ok = codes.index(200)
        assert set(codes[:first_ok]) <= {503} and codes[0] == 503
        code, body = get(doc.port, "/readyz")
        assert code == 200, body
        # the server stops: 503 again, with the probe saying nothing listens
        handle.stop()
        code, body = get(doc.port, "/readyz")
        assert code == 503 and "probe.reachable" in body, body
        code, _ = get(doc.port, "/livez")
        assert code == 200
    finally:
        rc = doc.stop()
    assert rc == 0
    log = "".join(doc.lines)
    assert "Traceback" not in log
