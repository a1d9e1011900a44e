"""Claims as data (qwen_doctor/claims.py): every row has a source and a range, every check declares what it prints,
and each version-dependent claim is printed inside its range and not outside it, one test per boundary, by the
real checks through the Runner on a Target with --server-version at each side of the boundary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qwen_doctor import claims
from qwen_doctor.registry import default_registry
from qwen_doctor.results import Status
from qwen_doctor.versions import ANY_SERVER, Range
from tests.checks.launch import run

CHECKS_DIR = Path(__file__).resolve().parents[2] / "qwen_doctor" / "checks"


# -- the table ---------------------------------------------------------------------------------------
def test_every_claim_row_has_a_source_and_a_range():
    tables = claims.builtin_claims()
    assert len(tables) > 40
    for t in tables.values():
        assert t.id and t.doc.strip() and t.rows, t.id
        for r in t.rows:
            assert r.source.strip(), (t.id, r.server)
            assert isinstance(r.range, Range) and r.server in ("sglang", "vllm", "tei", ANY_SERVER), (t.id, r.server)
            if r.server == ANY_SERVER:
                assert str(r.range) == "every release", t.id


def test_one_registry_no_duplicate_ids_and_every_module_imports():
    assert claims.problems() == ()


def test_every_declared_claim_resolves_and_every_printed_claim_is_declared():
    reg = default_registry(use_default_dirs=False)
    declared: dict[str, set[str]] = {}
    for chk in reg:
        for item in chk.claims:
            claims.resolve(item, chk.claims)  # raises for an unknown ID
        declared[chk.id] = {claims.claim_id(c) for c in chk.claims}
    # every literal ctx.claim("ID") in a check module is declared by a check of that module
    for path in CHECKS_DIR.glob("*/*.py"):
        text = path.read_text()
        printed = set(re.findall(r'ctx\.claim\(\s*"([^"]+)"', text))
        if not printed:
            continue
        ids = set(re.findall(r'@check\(\s*"([^"]+)"', text))
        if not ids:  # a helper module: any check of its package may print it
            ids = {c.id for c in reg if c.source.startswith(f"qwen_doctor.checks.{path.parent.name}")}
        mine = set().union(*(declared.get(i, set()) for i in ids))
        assert printed <= mine, (path.name, printed - mine)


def test_a_check_printing_an_undeclared_claim_is_an_error():
    from qwen_doctor.context import Context, RunOptions
    from qwen_doctor.registry import Registry
    from qwen_doctor.target import build_target

    reg = Registry()
    from qwen_doctor.checks import launch

    launch.register(reg)
    ctx = Context(build_target(["vllm serve m"], server_version="0.20.0"), RunOptions(), {}, check=reg.get("launch.dtype"))
    with pytest.raises(claims.ClaimError):
        ctx.claim("vllm.api-server-positional-model", model="m", default="d")


# -- explain -----------------------------------------------------------------------------------------
#: checks whose verdict rests on nothing a server, model, GPU or driver does (or whose claims other engineers add)
NOT_BEHAVIOUR = {
    "model.directory": "a path exists or not",
    "model.permissions": "POSIX permissions of the files",
    "probe.latency": "a measurement",
    "probe.content-type": "reports what the server answered",
    "probe.reachable": "reports what the connection did",
    "host.port": "reports who holds a socket",
    "tokenizer.load": "loads the files or not",
    "tokenizer.normalizer": "measures the tokenizer's own normalizer",
    "deploy.entrypoint": "compares the command with the image's ENTRYPOINT (read by deployfiles)",
    "deploy.port-mapping": "compares two numbers of one file",
}


def test_explain_shows_a_source_for_every_check_resting_on_behaviour():
    reg = default_registry(use_default_dirs=False)
    missing = []
    for chk in reg:
        if chk.plugin != "builtin" or chk.id in NOT_BEHAVIOUR:
            continue
        if not set(chk.reads) & {"server", "model", "gpu", "tokenizer"}:
            continue
        tables = [claims.resolve(c, chk.claims) for c in chk.claims]
        if not tables or not all(r.source.strip() for t in tables for r in t.rows):
            missing.append(chk.id)
    known_new = {"deploy.shared-memory", "deploy.bind-address", "deploy.command-string", "deploy.gpu-access", "probe.parity", "probe.metrics", "probe.load"}
    assert set(missing) <= known_new, f"checks without claims: {sorted(set(missing) - known_new)}"


def _cli(*args):
    from typer.testing import CliRunner

    from qwen_doctor.cli import app

    return CliRunner().invoke(app, list(args))


def test_explain_id_shows_claims_with_source_and_range():
    r = _cli("explain", "launch.launcher")
    assert r.exit_code == 0, r.output
    assert "vllm.api-server-positional-model" in r.output and "vllm >=0.10.1,<0.33" in r.output and "source: " in r.output
    r = _cli("explain", "launch.launcher", "--json")
    data = json.loads(r.output)
    rows = {c["id"]: c for c in data["claims"]}["sglang.serve-model-prescan"]["rows"]
    assert {x["releases"] for x in rows} == {">=0.5.13", ">=0.5.5,<0.5.13"} and all(x["source"] for x in rows)


def test_explain_sources_lists_every_claim():
    r = _cli("explain", "--sources")
    assert r.exit_code == 0, r.output
    for cid in ("tei.auto-truncate-short-batch", "gpu.reset-refused", "launch.unknown-option-exit"):
        assert cid in r.output
    data = json.loads(_cli("explain", "--sources", "--json").output)
    ids = {c["id"] for c in data["claims"]}
    assert set(claims.builtin_claims()) <= ids
    assert "launch.launcher" in {c["id"]: c for c in data["claims"]}["vllm.api-server-positional-model"]["checks"]
    r = _cli("explain")
    assert r.exit_code == 2 and "--sources" in r.output


# -- boundaries: printed inside the range, not outside ------------------------------------------------
API_SERVER_POSITIONAL = "python -m vllm.entrypoints.openai.api_server /m/Qwen3-Embedding-0.6B --max-model-len 512"


@pytest.mark.parametrize("version", ["0.10.0", "0.10.1"])
def test_vllm_api_server_positional_boundary_0_10_1(version):
    res, _ = run(API_SERVER_POSITIONAL, version, ids={"launch.launcher", "launch.flag-values"})
    r = res["launch.launcher"]
    assert r.status is Status.FAIL
    ignored = "accepts the positional model /m/Qwen3-Embedding-0.6B but ignores it" in r.summary
    rejected = "takes no positional model" in r.summary and "unrecognized arguments" in r.summary
    if version == "0.10.0":
        assert rejected and not ignored and res["launch.flag-values"].status is Status.FAIL
    else:
        assert ignored and not rejected and "Qwen/Qwen3-0.6B" in r.summary
        assert res["launch.flag-values"].status is Status.PASS  # accepted by argparse there


def test_vllm_api_server_positional_boundary_0_33():
    res, _ = run(API_SERVER_POSITIONAL, "0.32.0", ids={"launch.launcher"})
    assert "the server starts and serves its default model" in res["launch.launcher"].summary
    res, _ = run(API_SERVER_POSITIONAL, "0.33.0", ids={"launch.launcher"})
    s = res["launch.launcher"].summary
    assert "has not read 0.33's api_server" in s and "the server starts and serves" not in s


@pytest.mark.parametrize("version", ["0.5.12", "0.5.13"])
def test_sglang_serve_model_prescan_boundary_0_5_13(version):
    res, _ = run("sglang serve --model /m/Qwen3-Embedding-0.6B --is-embedding", version, ids={"launch.launcher"})
    r = res["launch.launcher"]
    if version == "0.5.12":
        assert r.status is Status.FAIL and "--model only from 0.5.13" in r.summary and "--model-path is required" in r.summary
        assert "--model-path /m/Qwen3-Embedding-0.6B" in r.fix.launch_command
    else:
        assert r.status is Status.PASS and "--model-path is required" not in r.summary


def test_unknown_option_message_per_server():
    res, _ = run("text-embeddings-router --model-id Qwen/Qwen3-Embedding-0.6B --embedding", "1.9.2", ids={"launch.unknown-flags"})
    s = res["launch.unknown-flags"].summary
    assert "error: unexpected argument '--embedding' found" in s and "unrecognized arguments" not in s
    res, _ = run("python -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --embedding", "0.5.23", ids={"launch.unknown-flags"})
    assert "error: unrecognized arguments: --embedding" in res["launch.unknown-flags"].summary


TEI_SHORT_BATCH = "text-embeddings-router --model-id {d} --max-batch-tokens 16384 --auto-truncate"


@pytest.mark.parametrize("version", ["1.8.2", "1.8.3"])
def test_tei_auto_truncate_cap_boundary_1_8_3(version, model_dir):
    res, _ = run(TEI_SHORT_BATCH.format(d=model_dir), version, ids={"launch.tei-settings"})
    s = res["launch.tei-settings"].summary
    capped = "are silently truncated to 16384" in s
    if version == "1.8.2":
        assert not capped and "does not cap inputs at --max-batch-tokens" in s and "#723" in s
    else:
        assert capped and "keeps the appended <|endoftext|>" in s
    assert "end token is cut" not in s and "cuts the end token" not in s


# -- the statements issue 14 listed as false are printed for no version ---------------------------------
FALSE_STATEMENTS = (
    "takes no positional model)",  # the old launcher reason for every release
    "kills every process",
    "their end token is cut",
    "which also cuts the end token",
    "binds its socket before loading, so a TCP connect succeeds",
    "binds its port only after the weights load and the server has warmed up",
    "runs at its power cap (normal under full load)",
    "e.g. 79: GPU has fallen off the bus",
    "reads config.json first",
    "CUDA ignores it and every entry after it",
)


def test_no_listed_false_statement_is_in_the_source():
    text = "\n".join(p.read_text() for p in CHECKS_DIR.rglob("*.py"))
    for s in FALSE_STATEMENTS:
        assert s not in text, s
