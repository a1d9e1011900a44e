"""The tokenizer head start (qwen_doctor.prefetch): the guess from raw arguments, and that a guess is only ever a
shortcut: a wrong or unused one changes no result.

Real parts: a real tokenizer.json trained here (tests/test_tokenizer_split's tokenizer, written to a model directory),
the real child process, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qwen_doctor import prefetch
from qwen_doctor import tokenizer_tools as tt

tokenizers = pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    from tests.test_tokenizer_split import _train

    d = tmp_path_factory.mktemp("prefetch") / "Qwen3-Embedding-0.6B"
    d.mkdir()
    tok = _train(400)
    (d / "tokenizer.json").write_text(tok.to_str(pretty=True), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "Qwen2Tokenizer", "model_max_length": 32768}), encoding="utf-8")
    return d


@pytest.mark.parametrize(
    "argv, which",
    [
        (["check", "--", "sglang", "serve", "--model-path", "{d}", "--is-embedding"], "d"),
        (["check", "--", "python", "-m", "sglang.launch_server", "--model-path={d}"], "d"),
        (["check", "--", "vllm", "serve", "{d}", "--task", "embed"], "d"),
        (["check", "--", "text-embeddings-router", "--model-id", "{d}"], "d"),
        (["check", "--model-path", "{d}"], "d"),
        (["check", "--url", "http://127.0.0.1:1", "--model-path", "{d}"], None),  # the probe is the long pole there
        (["check", "--", "sglang", "serve", "--model-path", "{d}", "--tokenizer-path", "{other}"], None),  # override without tokenizer.json
        (["check", "--select", "launch", "--", "sglang", "serve", "--model-path", "{d}"], None),
        (["check", "--samples", "x.txt", "--", "sglang", "serve", "--model-path", "{d}"], None),
        (["check", "--offline", "--model-path", "{d}"], None),
        (["serve", "--model-path", "{d}"], None),
        (["check", "--", "sglang", "serve", "--model-path", "Qwen/Qwen3-Embedding-0.6B"], None),
        ([], None),
    ],
)
def test_guess(tmp_path, tok_dir, argv, which):
    other = tmp_path / "other"
    other.mkdir()
    args = [a.format(d=tok_dir, other=other) for a in argv]
    got = prefetch.guess_tokenizer_dir(args, environ={})
    assert got == (str(tok_dir) if which == "d" else None)


def test_environment_settings_that_change_the_run_stop_the_guess(tok_dir):
    args = ["check", "--model-path", str(tok_dir)]
    assert prefetch.guess_tokenizer_dir(args, environ={}) == str(tok_dir)
    for k in ("QWEN_DOCTOR_SELECT", "QWEN_DOCTOR_SAMPLES", "QWEN_DOCTOR_CONFIG", "QWEN_DOCTOR_URL"):
        assert prefetch.guess_tokenizer_dir(args, environ={k: "x"}) is None, k


def test_a_prefetched_load_is_the_same_report_as_a_fresh_one(tok_dir):
    fresh = tt.load_report(tok_dir)
    assert fresh.ok, fresh.error
    assert tt.prefetch(tok_dir) is True
    assert tt.prefetch(tok_dir) is False  # one per directory
    early = tt.load_report(str(tok_dir) + "/")  # another spelling of the same directory
    assert early.ok
    assert tt._take_prefetched(str(tok_dir)) is None  # it was taken
    skip = {"import_s", "load_s", "encode_s"}
    assert {k: v for k, v in early.data.items() if k not in skip} == {k: v for k, v in fresh.data.items() if k not in skip}


def test_a_request_with_texts_does_not_take_the_prefetched_child(tok_dir):
    assert tt.prefetch(tok_dir)
    rep = tt.load_report(tok_dir, ["hello world"])
    assert rep.ok and len(rep.get("sample_lengths")) == 1
    assert tt._take_prefetched(str(tok_dir)) is not None  # still there: nobody asked for the plain load
    tt._stop_prefetched()


_UNUSED = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from qwen_doctor import tokenizer_tools as tt
    assert tt.prefetch({d!r})
    proc, _ = tt._prefetched[os.path.realpath({d!r})]
    print(proc.pid, flush=True)
    """
)


def test_an_unused_prefetch_does_not_outlive_the_doctor(tok_dir):
    r = subprocess.run([sys.executable, "-c", _UNUSED.format(root=str(ROOT), d=str(tok_dir))], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout.split()[0])
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/status") as fh:
            alive = "zombie" not in fh.read()
    except (ProcessLookupError, FileNotFoundError):
        alive = False
    assert not alive, f"the prefetched tokenizer child {pid} still runs after the doctor exited"


def test_the_cli_uses_the_head_start_and_reports_the_same(tok_dir):
    """The real CLI, with and without the head start (--select disables the guess): same tokenizer verdicts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_")}
    base = [sys.executable, "-m", "qwen_doctor", "check", "-f", "json"]
    launch = ["--", "sglang", "serve", "--model-path", str(tok_dir), "--is-embedding"]
    with_guess = subprocess.run([*base, *launch], capture_output=True, text=True, timeout=120, env=env, cwd=str(ROOT))
    without = subprocess.run([*base, "--select", "tokenizer,model", *launch], capture_output=True, text=True, timeout=120, env=env, cwd=str(ROOT))
    a = {r["id"]: (r["status"], r["summary"].split("; loaded")[0]) for r in json.loads(with_guess.stdout)["results"] if r["id"].startswith("tokenizer.")}
    b = {r["id"]: (r["status"], r["summary"].split("; loaded")[0]) for r in json.loads(without.stdout)["results"] if r["id"].startswith("tokenizer.")}
    assert a and a == b
    assert a["tokenizer.load"][0] == "pass"
