"""probe.embeddings: shape, dimension, norm, determinism, batch consistency, token count, and the root cause of a failure."""

from __future__ import annotations

from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests import probe_servers as ps
from tests.checks.probe.conftest import opts, quirky_route, run, run_url, sglang_like, vllm_like


def test_vllm_generate_mode_names_the_flag_and_the_launch_check():
    with ps.replay_server("vllm-generate-mode") as srv:
        res = run_url(srv.url)
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL
    assert '404 {"detail":"Not Found"}' in emb.summary and "--runner pooling" in emb.summary
    assert emb.evidence["missing_flag"] == "--runner pooling --convert embed"
    assert emb.evidence["launch_check"] == "launch.embedding-mode" and "launch.embedding-mode" in emb.fix.text
    for dep in ("probe.dimensions", "probe.content-type", "probe.latency", "probe.long-input"):
        assert res[dep].status is Status.SKIP and "see probe.embeddings" in res[dep].summary


def test_vllm_generate_mode_fix_edits_the_launch_command():
    with ps.replay_server("vllm-generate-mode") as srv:
        t = build_target(["vllm", "serve", "/models/Qwen3-Embedding-0.6B", "--runner", "generate", "--port", str(srv.port)], server_version="0.32.0")
        assert t.url == srv.url
        res = run(t)
    fix = res["probe.embeddings"].fix
    assert fix.launch_command and "--runner pooling" in fix.launch_command and "generate" not in fix.launch_command


def test_expected_dimension_mismatch_fails():
    with ps.replay_server("vllm") as srv:
        res = run_url(srv.url, opts(expect_dim=1024))
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL and "64 dimensions, expected 1024 (from --expect-dim)" in emb.summary


def test_sglang_without_is_embedding():
    with ps.replay_server("sglang", is_embedding=False) as srv:
        t = build_target(["python", "-m", "sglang.launch_server", "--model-path", "/models/Qwen3-Embedding-0.6B", "--port", str(srv.port)])
        res = run(t)
    emb = res["probe.embeddings"]
    assert emb.status is Status.FAIL
    assert "does not appear to be an embedding model by default" in emb.summary and "--is-embedding" in emb.summary
    assert emb.evidence["missing_flag"] == "--is-embedding" and emb.evidence["launch_check"] == "launch.embedding-mode"
    assert emb.fix.launch_command.endswith("--is-embedding") and "launch.embedding-mode" in emb.fix.text
    idn = res["probe.identity"]
    assert idn.status is Status.FAIL and "is_generation=true" in idn.summary


def test_hostile_nan_names_the_fp16_cause():
    with ps.hostile_server("nan") as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert "fp16" in emb.summary and "bf16" in emb.fix.text
    assert "cosine nan" not in emb.summary  # no comparisons on NaN vectors


def _count_with(d):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    return lambda text: len(tok.encode(text).ids)


def test_server_tokenizer_without_the_end_token_is_detected(real_tokenizer_dir, stale_tokenizer_dir):
    """The server counts with an old snapshot's tokenizer (no <|endoftext|>), the doctor with the current one."""
    with ps.LoopbackServer(quirky_route(count=_count_with(stale_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.WARN
    assert "does not append it" in emb.summary and "[1944, 151643]" in emb.fix.text
    assert emb.evidence["usage_prompt_count"] == emb.evidence["local_count"] - 1
    assert emb.evidence["count_source"].endswith("tokenizer.json")


def test_matching_token_counts_pass(real_tokenizer_dir):
    with ps.LoopbackServer(quirky_route(count=_count_with(real_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(real_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.PASS, emb.summary
    assert emb.evidence["usage_prompt_count"] == emb.evidence["local_count"]


def test_stale_local_copy_is_only_noted(real_tokenizer_dir, stale_tokenizer_dir):
    with ps.LoopbackServer(quirky_route(count=_count_with(real_tokenizer_dir))) as srv:
        emb = run(build_target(url=srv.url, model_path=str(stale_tokenizer_dir)), opts(expect_dim=64))["probe.embeddings"]
    assert emb.status is Status.PASS and "the local copy does not append <|endoftext|>" in emb.summary


def test_unnormalized_vectors_warn_with_the_norm():
    with ps.LoopbackServer(quirky_route(scale=3.0)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.WARN and "not L2-normalized (norm 3.0000)" in emb.summary
    assert abs(emb.evidence["norm"] - 3.0) < 1e-6


def test_nondeterministic_vectors_fail():
    with ps.LoopbackServer(quirky_route(nondeterministic=True)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and "the same input gave different vectors" in emb.summary


def test_batch_single_inconsistency_fails():
    with ps.LoopbackServer(quirky_route(batch_differs=True)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and "alone and in a batch" in emb.summary
    assert emb.evidence["batch_cosine"] < 0.999 and emb.evidence["determinism_cosine"] > 0.9999


# -- what each release answers (Behaviour tables) and the real SGLang 0.5.23 answers ----------------------------

NO_EMBEDDINGS_API = ps.Reply(
    400, {"object": "error", "message": "The model does not support Embeddings API", "type": "BadRequestError", "param": None, "code": 400}
)


def test_vllm_0_10_0_generate_mode_names_task_embed():
    with ps.LoopbackServer(vllm_like("0.10.0", embeddings=lambda req: NO_EMBEDDINGS_API)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and emb.evidence["missing_flag"] == "--task embed"
    assert "vLLM (>=0.8.5,<0.14) runs the model as a generator" in emb.summary


def test_vllm_0_11_without_the_route_is_a_wrong_path_not_generate_mode():
    """vLLM 0.8.5-0.13 always registers /v1/embeddings: a bare 404 there is the URL, not the embedding mode."""
    with ps.LoopbackServer(vllm_like("0.11.0", embeddings=lambda req: ps.Reply(404, {"detail": "Not Found"}))) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and "always registers /v1/embeddings" in emb.summary
    assert "missing_flag" not in emb.evidence


def test_vllm_older_than_every_known_release_is_named():
    with ps.LoopbackServer(vllm_like("0.7.3", embeddings=lambda req: NO_EMBEDDINGS_API)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.evidence["missing_flag"] == "--task embed"
    assert "older than any release the doctor knows (the oldest is 0.8.5)" in emb.fix.text


def test_sglang_answers_with_the_model_path_and_that_is_no_error():
    """Real SGLang 0.5.23: the answer's `model` is the model path, not the served name (sglang#4293)."""
    with ps.replay_server("sglang", served="qwen3-tiny-embed") as srv:
        res = run_url(srv.url)
    emb = res["probe.embeddings"]
    assert emb.status is Status.PASS, emb.summary
    assert emb.evidence["model_sent"] == "qwen3-tiny-embed" and emb.evidence["response_model"] == "/models/Qwen3-Embedding-0.6B"
    assert "not an error" in emb.evidence["response_model_note"]
    assert res["probe.identity"].status is Status.PASS


def test_sglang_input_cannot_be_empty_names_a_rewritten_body():
    """Real SGLang 0.5.23: 400 "Input cannot be empty" (the probe sends text: something emptied the body)."""
    empty = ps.Reply(400, {"object": "error", "message": "Input cannot be empty", "type": "BadRequestError", "param": None, "code": 400})
    with ps.LoopbackServer(sglang_like("0.5.23", embeddings=lambda req: empty)) as srv:
        emb = run_url(srv.url)["probe.embeddings"]
    assert emb.status is Status.FAIL and '"Input cannot be empty"' in emb.summary and "rewrote the request body" in emb.summary
    assert "missing_flag" not in emb.evidence
