"""The experiments claims cite as their source: the real libraries and real sockets, run here.

- tokenizer truncation: the real `tokenizers` library on the real Qwen3-Embedding tokenizer (tests/testkit/modeldirs.py)
  keeps the appended <|endoftext|> when it truncates (TEI truncates there: vllm-tei-qwen3.md C.4);
- safetensors: the real library on crafted files refuses a wrong size and a git-LFS pointer;
- a socket that is bound but not listening refuses connections (vLLM binds before loading, listens after:
  create_server_socket, api_server.py at v0.11.0).
"""

from __future__ import annotations

import errno
import json
import socket
import struct

import pytest

from qwen_doctor.claims import builtin_claims

ENDOFTEXT = 151643


def _source(claim_id: str) -> str:
    return " ".join(r.source for r in builtin_claims()[claim_id].rows)


def test_tokenizers_truncation_keeps_end_token(real_tokenizer_dir):
    from tokenizers import Tokenizer

    assert "test_tokenizers_truncation_keeps_end_token" in _source("tokenizer.truncation-keeps-end-token")
    tok = Tokenizer.from_file(str(real_tokenizer_dir / "tokenizer.json"))
    text = "The capital of China is Beijing, and the capital of France is Paris."
    full = tok.encode(text).ids
    assert full[-1] == ENDOFTEXT and len(full) > 5
    tok.enable_truncation(max_length=5, direction="right")
    right = tok.encode(text).ids
    tok.enable_truncation(max_length=5, direction="left")
    left = tok.encode(text).ids
    assert right[-1] == ENDOFTEXT and left[-1] == ENDOFTEXT and len(right) == len(left) == 5
    assert right[:4] == full[:4] and left[:4] == full[-5:-1]  # text is lost, not the end token


def test_qwen3_tokenizer_appends_endoftext(real_tokenizer_dir):
    from tokenizers import Tokenizer

    assert "test_qwen3_tokenizer_appends_endoftext" in _source("tokenizer.appends-endoftext")
    tok = Tokenizer.from_file(str(real_tokenizer_dir / "tokenizer.json"))
    assert tok.encode("test").ids == [1944, ENDOFTEXT]


def _st_file(path, *, extra: bytes = b"", cut: int = 0) -> None:
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    blob = struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8 + extra
    path.write_bytes(blob[: len(blob) - cut] if cut else blob)


def test_safetensors_refuses_wrong_sizes_and_lfs_pointers(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    from safetensors import safe_open

    assert "test_safetensors_refuses_wrong_sizes_and_lfs_pointers" in _source("model.safetensors-errors")
    _st_file(tmp_path / "ok.safetensors")
    with safe_open(str(tmp_path / "ok.safetensors"), "np") as f:
        assert list(f.keys()) == ["w"]
    cases = {
        "trailing": dict(extra=b"\0" * 4),
        "truncated": dict(cut=4),
    }
    for name, kw in cases.items():
        p = tmp_path / f"{name}.safetensors"
        _st_file(p, **kw)
        with pytest.raises(Exception) as ei:
            safe_open(str(p), "np")
        assert "incomplete metadata, file not fully covered" in str(ei.value), (safetensors.__version__, name, ei.value)
    lfs = tmp_path / "lfs.safetensors"
    lfs.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1191586416\n")
    with pytest.raises(Exception) as ei:
        safe_open(str(lfs), "np")
    assert "header too large" in str(ei.value)


def test_bound_but_not_listening_socket_refuses_connections():
    """vLLM's create_server_socket only binds; a connect to a bound socket that does not listen is refused."""
    assert "create_server_socket only binds" in _source("deploy.tcp-probe")
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(OSError) as ei:
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
        assert ei.value.errno == errno.ECONNREFUSED
        bound.listen(1)  # once it listens, the same connect succeeds
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    finally:
        bound.close()
