"""Launch-command parsing and launch.* checks, on real launch commands from the servers' docs and issues.

Commands cited:
- SGLang docs quick start (docs.sglang.io/supported_models/embedding_models.html, shared/reference/sglang.md end of §10)
- Qwen maintainer's vLLM command (github.com/QwenLM/Qwen3-Embedding/issues/147, vllm-tei-qwen3.md B.1)
- The vLLM CPU recipe command (shared/recipes/REPORT.md §2a)
The model directories are real: config.json and modules.json of Qwen/Qwen3-Embedding-0.6B from shared/reference.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qwen_doctor.launch import LaunchError, split_command, split_launch
from qwen_doctor.results import Status
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner
from qwen_doctor.checks import launch as launch_checks
from qwen_doctor.target import build_target

SHARED = Path(os.environ.get("QWEN_DOCTOR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REAL_FILES = SHARED / "reference" / "qwen3-embedding-0.6b-files"
DATA_FILES = Path(__file__).parent / "data" / "qwen3-embedding-0.6b"

SGLANG_QUICKSTART = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-4B --is-embedding --host 0.0.0.0 --port 30000"
QWEN_VLLM_147 = (
    "vllm serve Qwen/Qwen3-Embedding-4B --served-model-name Qwen3-Embedding-4B --task embed "
    "--hf-overrides '{\"is_matryoshka\": true}' --max-model-len 32768 --enable-prefix-caching "
    "--tensor-parallel-size 2 --gpu-memory-utilization 0.15 --trust-remote-code --host 0.0.0.0 --port 8000"
)
RECIPE_VLLM = (
    "python -m vllm.entrypoints.openai.api_server --model /abs/path/tiny-qwen3 --runner pooling --convert embed "
    "--served-model-name tiny-qwen3 --host 127.0.0.1 --port 8123 --max-model-len 512 --dtype float32 --enforce-eager "
    "--uvicorn-log-level warning"
)


def _real_file(name: str) -> Path:
    for base in (REAL_FILES, DATA_FILES):
        if (base / name).exists():
            return base / name
    pytest.skip(f"real model file {name} not found (set QWEN_DOCTOR_SHARED)")


@pytest.fixture()
def model_dir(tmp_path):
    """A model directory with the real 0.6B config.json and sentence-transformers files, named with 'Embedding'."""
    d = tmp_path / "Qwen3-Embedding-0.6B"
    (d / "1_Pooling").mkdir(parents=True)
    for name in ("config.json", "modules.json", "1_Pooling/config.json"):
        shutil.copy(_real_file(name), d / name)
    return d


def run(cmd, version, ids=None, **kw):
    reg = Registry()
    launch_checks.register(reg)
    target = build_target([cmd] if isinstance(cmd, str) else cmd, server_version=version, **kw)
    results = Runner(reg, select=(lambda c: c.id in ids) if ids else None).run([target])
    return {r.id: r for r in results}, target


# ---------------------------------------------------------------- splitting / parsing


def test_quickstart_parses_and_passes():
    res, t = run(SGLANG_QUICKSTART, "0.5.23")
    assert t.server == "sglang" and t.launch.launcher == "python -m sglang.launch_server"
    assert t.model_path == "Qwen/Qwen3-Embedding-4B" and t.host == "0.0.0.0" and t.port == 30000
    assert res["launch.embedding-mode"].status is Status.PASS
    assert res["launch.unknown-flags"].status is Status.PASS
    assert res["launch.abbreviations"].status is Status.PASS


def test_qwen_vllm_command_on_old_and_new_vllm():
    res, t = run(QWEN_VLLM_147, "0.11.0")
    assert t.server == "vllm" and t.model_path == "Qwen/Qwen3-Embedding-4B"
    assert res["launch.unknown-flags"].status is Status.PASS
    assert res["launch.embedding-mode"].status is Status.PASS
    assert res["launch.deprecated-flags"].status is Status.WARN  # --task deprecated in 0.10.1.1-0.12.0
    assert "--runner pooling" in res["launch.deprecated-flags"].fix.launch_command
    res, _ = run(QWEN_VLLM_147, "0.13.0")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "--task" in r.summary
    assert "removed in vLLM 0.13.0" in r.fix.text
    fixed = r.fix.launch_command
    assert "--task" not in fixed and "--runner pooling" in fixed and "--convert embed" in fixed
    # the corrected command parses cleanly on the same version
    res2, _ = run(split_command(fixed), "0.13.0")
    assert res2["launch.unknown-flags"].status is Status.PASS
    assert res2["launch.embedding-mode"].status is Status.PASS


def test_recipe_command_is_clean_on_vllm_033():
    res, t = run(RECIPE_VLLM, "0.33.0")
    assert t.port == 8123 and t.url == "http://127.0.0.1:8123"
    for cid in ("launch.unknown-flags", "launch.ambiguous-flags", "launch.flag-values", "launch.embedding-mode"):
        assert res[cid].status is Status.PASS, (cid, res[cid].summary)


def test_env_prefixes_and_wrappers():
    t = build_target(["env", "CUDA_VISIBLE_DEVICES=1,2", "HF_TOKEN=hf_abcdefghijklmnopqrst", "nohup", "/opt/venv/bin/python3.11", "-u", "-m", "sglang.launch_server", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], server_version="0.5.23")
    assert t.env["CUDA_VISIBLE_DEVICES"] == "1,2"
    assert t.launch.args[:2] == ("--model-path", "/m/Qwen3-Embedding-0.6B")
    shown = t.launch.display()
    assert "hf_abcdefghijklmnopqrst" not in shown and "HF_TOKEN=***" in shown


def test_api_key_redacted_in_display_and_fix():
    res, t = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --api-key s3cr3t-value --embedding", "0.5.23")
    r = res["launch.unknown-flags"]
    assert "s3cr3t-value" not in r.fix.launch_command and "--api-key ***" in r.fix.launch_command
    assert "s3cr3t-value" not in t.launch.display()


@pytest.mark.parametrize("bad,msg", [
    (["sglang serve --model-path 'unterminated"], "no closing quotation"),
    (["   "], "empty launch command"),
    (["ls", "-la"], "not a known server launch command"),
    (["sglang", "serve", "--model-path", "/m/\udcff"], "not valid UTF-8"),
    (["sglang", "serve", "--x", "y" * (1 << 20)], "bytes long"),
])
def test_bad_launch_commands_raise_one_line_errors(bad, msg):
    with pytest.raises(LaunchError) as exc:
        build_target(bad)
    assert msg in str(exc.value) and "\n" not in str(exc.value)


def test_server_option_must_match_command():
    with pytest.raises(LaunchError, match="contradicts"):
        build_target(["vllm", "serve", "x/y"], server="sglang")
    with pytest.raises(LaunchError, match="unknown server"):
        build_target(None, server="ollama")


def test_sglang_serve_positional_model_since_0516():
    t = build_target(["sglang", "serve", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], server_version="0.5.16")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B"
    res, _ = run(["sglang", "serve", "/m/Qwen3-Embedding-0.6B", "--is-embedding"], "0.5.10", ids={"launch.flag-values"})
    assert res["launch.flag-values"].status is Status.FAIL  # no positional before 0.5.16


def test_model_alias_and_equals_form():
    t = build_target(["python", "-m", "sglang.launch_server", "--model=/m/Qwen3-Embedding-0.6B", "--port=30001", "--is-embedding"], server_version="0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B" and t.port == 30001


# ---------------------------------------------------------------- the checks


def test_missing_is_embedding_quotes_the_real_400():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B", "0.5.23")
    r = res["launch.embedding-mode"]
    assert r.status is Status.FAIL
    assert "HTTP 400" in r.summary and "does not appear to be an embedding model" in r.summary
    assert "500" not in r.summary and "No embedding handler" not in r.summary  # pitfall 1's wrong symptom
    assert r.fix.launch_command.endswith("--is-embedding")


@pytest.mark.parametrize("flag", ["--embedding", "--enable-embedding"])
def test_folklore_embedding_flags(flag):
    res, _ = run(f"sglang serve --model-path /m/Qwen3-Embedding-0.6B {flag}", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "unrecognized arguments" in r.summary
    assert "--is-embedding" in r.fix.text
    assert flag not in r.fix.launch_command.split() and "--is-embedding" in r.fix.launch_command.split()
    assert res["launch.embedding-mode"].status is Status.FAIL


def test_disable_flash_attn_is_not_a_flag_and_not_about_fragmentation():
    res, _ = run("python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --disable-flash-attn", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL
    assert "does not exist" in r.fix.text and "--attention-backend triton" in r.fix.text
    assert "--disable-flash-attn" not in r.fix.launch_command
    assert "fragment" not in (r.summary + r.fix.text).lower()


def test_max_num_seqs_on_sglang_maps_value():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --max-num-seqs 128", "0.5.23")
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "--max-running-requests" in r.fix.text
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--max-running-requests") + 1] == "128" and "--max-num-seqs" not in toks


def test_ambiguous_prefix_fails_and_abbreviation_warns():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embed --disable-flash", "0.5.8")
    assert res["launch.ambiguous-flags"].status is Status.FAIL
    assert "--disable-flashinfer-autotune" in res["launch.ambiguous-flags"].summary
    ab = res["launch.abbreviations"]
    assert ab.status is Status.WARN and "--is-embed = --is-embedding" in ab.summary
    assert "--is-embedding" in split_command(ab.fix.launch_command)
    assert res["launch.embedding-mode"].status is Status.PASS  # the abbreviation does work


def test_store_true_with_value_is_a_stray_argument():
    res, _ = run("python -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding true", "0.5.23")
    r = res["launch.flag-values"]
    assert r.status is Status.FAIL and "true" in r.summary
    assert "true" not in split_command(r.fix.launch_command)


def test_trailing_slash_warns_with_the_real_consequence():
    res, _ = run("vllm serve /models/Qwen3-Embedding-0.6B/ --runner pooling", "0.33.0")
    r = res["launch.model-path"]
    assert r.status is Status.WARN
    assert "served model name" in r.summary and "404" in r.summary
    assert "//tokenizer.json" not in r.summary + r.fix.text
    assert "/models/Qwen3-Embedding-0.6B " in r.fix.launch_command + " "
    res, _ = run("sglang serve --model-path /models/Qwen3-Embedding-0.6B/ --is-embedding --served-model-name qe", "0.5.23")
    assert res["launch.model-path"].status is Status.PASS


@pytest.mark.parametrize("version,path,status", [
    ("0.4.6.post5", "/models/Qwen3-Embedding-0.6B", Status.FAIL),
    ("0.5.8", "/models/qwen3-embedding-0.6b", Status.FAIL),
    ("0.5.8.post1", "/srv/checkpoint-8000", Status.FAIL),
    ("0.5.8", "/models/Qwen3-Embedding-0.6B", Status.PASS),
    ("0.4.7", "Qwen/Qwen3-Embedding-0.6B", Status.PASS),
    ("0.5.9", "/models/qwen3-embedding-0.6b", Status.PASS),
])
def test_sglang_weight_loading_by_version_and_path(version, path, status):
    res, _ = run(f"python -m sglang.launch_server --model-path {path} --is-embedding", version)
    r = res["launch.sglang-weight-loading"]
    assert r.status is status, r.summary
    if status is Status.FAIL:
        assert "KeyError" in r.summary or "cannot load" in r.summary
        assert "0.5.9" in r.fix.text


def test_context_length_against_real_config(model_dir):
    cmd = f"sglang serve --model-path {model_dir} --is-embedding --context-length 40960"
    res, _ = run(cmd, "0.5.23")
    r = res["launch.context-length"]
    assert r.status is Status.FAIL and "32768" in r.summary
    assert "--context-length 32768" in r.fix.launch_command
    res, _ = run(cmd, "0.4.10.post2")
    assert res["launch.context-length"].status is Status.WARN
    res, _ = run(f"sglang serve --model-path {model_dir} --is-embedding --context-length 32k", "0.5.23")
    assert res["launch.context-length"].status is Status.PASS  # human_readable_int: 32k = 32000
    res, _ = run(f"vllm serve {model_dir} --runner pooling --max-model-len 65536", "0.33.0")
    assert res["launch.context-length"].status is Status.FAIL


def test_colon_in_served_name():
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding", "0.5.6")
    r = res["launch.served-model-name"]
    assert r.status is Status.FAIL and "--served-model-name" in r.fix.launch_command
    res, _ = run("sglang serve --model-path /models/qwen3:0.6b-Embedding --is-embedding", "0.5.5")
    assert res["launch.served-model-name"].status is Status.PASS


def test_vllm_auto_detection_by_version(model_dir, tmp_path):
    res, _ = run(f"vllm serve {model_dir}", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.PASS and "auto-detects" in res["launch.embedding-mode"].summary
    res, _ = run(f"vllm serve {model_dir}", "0.10.0")
    assert res["launch.embedding-mode"].status is Status.FAIL
    assert "--task embed" in res["launch.embedding-mode"].fix.launch_command
    stale = tmp_path / "stale-Embedding"
    stale.mkdir()
    shutil.copy(model_dir / "config.json", stale / "config.json")
    res, _ = run(f"vllm serve {stale}", "0.33.0")
    r = res["launch.embedding-mode"]
    assert r.status is Status.FAIL and "modules.json" in r.summary and "404" in r.summary
    assert "--runner pooling" in r.fix.launch_command
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.WARN
    res, _ = run("vllm serve Qwen/Qwen3-Embedding-0.6B --runner generate", "0.33.0")
    assert res["launch.embedding-mode"].status is Status.FAIL


def test_sglang_cli_main_does_nothing_and_old_sglang_serve():
    res, _ = run("python -m sglang.cli.main serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23")
    r = res["launch.launcher"]
    assert r.status is Status.FAIL and r.fix.launch_command.startswith("sglang serve")
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.4")
    assert res["launch.launcher"].status is Status.FAIL
    res, _ = run("sglang serve --model-pa /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23")
    assert res["launch.launcher"].status is Status.FAIL and "--model-path is required" in res["launch.launcher"].summary


def test_bind_host_default_loopback_passes_on_command_line():
    res, _ = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding", "0.5.23", ids={"launch.bind-host"})
    r = res["launch.bind-host"]
    assert r.evidence["host"] == "127.0.0.1"
    assert r.status in (Status.PASS, Status.WARN)  # WARN only inside a container


def test_no_model_on_vllm_serves_a_generator():
    res, _ = run("vllm serve --runner pooling", "0.33.0")
    r = res["launch.model-path"]
    assert r.status is Status.FAIL and "Qwen/Qwen3-0.6B" in r.summary


def test_tei_pooling_truncation_and_env_model():
    res, t = run("text-embeddings-router --model-id /models/Qwen3-Embedding-0.6B --pooling mean --port 8080", "1.9.2")
    assert t.server == "tei" and t.port == 8080
    r = res["launch.tei-settings"]
    assert r.status is Status.FAIL and "last-token" in r.summary and "silently truncated" in r.summary
    toks = split_command(r.fix.launch_command)
    assert toks[toks.index("--pooling") + 1] == "last-token" and toks[toks.index("--max-batch-tokens") + 1] == "32768"
    # TEI reads options from env vars too (MODEL_ID, PORT, MAX_BATCH_TOKENS) as its Docker images do
    t = build_target(["text-embeddings-router"], server_version="1.9.2", env={"MODEL_ID": "/models/Qwen3-Embedding-0.6B", "PORT": "80"})
    assert t.model_path == "/models/Qwen3-Embedding-0.6B" and t.port == 80
    res, _ = run("text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --max-batch-tokens 32768", "1.9.2")
    assert res["launch.tei-settings"].status is Status.PASS
    res, _ = run("text-embeddings-router --pooling last-token", "1.8.2")
    assert res["launch.model-path"].status is Status.FAIL and "bge-large" in res["launch.model-path"].summary
    # TEI (clap) takes no abbreviations
    res, _ = run("text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --max-batch 32768", "1.9.2")
    assert res["launch.unknown-flags"].status is Status.FAIL


def test_fp16_on_8b_warns():
    res, _ = run("vllm serve /models/Qwen3-Embedding-8B --runner pooling --dtype float16", "0.33.0")
    r = res["launch.dtype"]
    assert r.status is Status.WARN and "NaN" in r.summary and "--dtype bfloat16" in r.fix.launch_command
    res, _ = run("text-embeddings-router --model-id /models/Qwen3-Embedding-8B", "1.9.2")
    assert res["launch.dtype"].status is Status.WARN and "float32" in res["launch.dtype"].fix.launch_command
    res, _ = run("vllm serve /models/Qwen3-Embedding-0.6B --runner pooling --dtype float16", "0.33.0")
    assert res["launch.dtype"].status is Status.PASS


def test_doctor_option_after_the_double_dash_is_explained():
    res, t = run("sglang serve --model-path /m/Qwen3-Embedding-0.6B --is-embedding --server-version 0.5.23", "0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B"  # '0.5.23' is not taken as the positional model
    r = res["launch.unknown-flags"]
    assert r.status is Status.FAIL and "qwen-doctor option" in r.fix.text and "before the --" in r.fix.text


@pytest.mark.parametrize("text", [
    "CUDA_VISIBLE_DEVICES=0 nohup python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 > /var/log/sglang.log 2>&1 &",
    "cd /srv && source .venv/bin/activate && python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 | tee log",
    "python3 -m sglang.launch_server --model-path /m/Qwen3-Embedding-0.6B --is-embedding --tp-size 2 --json-model-override-args '{\"is_matryoshka\": true}' >>log 2>&1",
])
def test_shell_operators_in_a_pasted_command(text):
    res, t = run(text, "0.5.23")
    assert res["launch.flag-values"].status is Status.PASS, res["launch.flag-values"].summary
    assert res["launch.unknown-flags"].status is Status.PASS
    assert t.option("tp_size") == 2 and t.model_path == "/m/Qwen3-Embedding-0.6B"


def test_quoted_command_followed_by_more_arguments():
    t = build_target(["sglang serve --model-path /m/Qwen3-Embedding-0.6B", "--is-embedding", "--port", "30001"], server_version="0.5.23")
    assert t.model_path == "/m/Qwen3-Embedding-0.6B" and t.port == 30001 and t.option("is_embedding") is True
