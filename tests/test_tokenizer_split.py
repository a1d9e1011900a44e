"""tokenizer.json loaded in parts (qwen_doctor.tokenizer_split) against ``Tokenizer.from_file`` of the same file.

Two sources of tokenizer.json files, both real:
* byte-level BPE tokenizers trained here by the `tokenizers` library and written by it (pretty and compact, with
  special tokens and the Qwen3 end-token post-processor), then rewritten the ways other writers write them (merges as
  ``"a b"`` strings, every non-ASCII character escaped): no shared/ needed;
* the real Qwen3-Embedding-0.6B tokenizer (built from the real vocab.json + merges.txt by the test kit; skipped
  without shared/), in the layout the test kit writes and in the legacy merges layout of the Hugging Face file.

Every text of test_tokenizer_fast's varied set must get the same ids both ways, and the split path must apply (not
fall back) on those layouts. Layouts it does not know return None, so the caller loads the file whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")

from qwen_doctor import tokenizer_split as ts  # noqa: E402
from tests.test_tokenizer_fast import FIXED, varied_texts  # noqa: E402

CAP = 64 * 1024 * 1024
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    *FIXED,
    'quotes " and \\ backslashes \\" \\\\ "" in text',
    'json {"a": [1, 2], "b": "c\\\\d"}',
    "the quick brown fox jumps over the lazy dog, again and again",
    "中国的首都是北京 日本語 한국어 Ελληνικά русский",
    "emoji 😀🎉👍🏽 and marks e\u0301 a\u0308",
] * 3


def _train(vocab_size: int = 600) -> "tokenizers.Tokenizer":
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", pair="$A <|endoftext|> $B:1 <|endoftext|>:1", special_tokens=[("<|endoftext|>", eot)]
    )
    tok.add_tokens(["<think>", "</think>"])
    return tok


def _legacy_merges(obj: dict) -> dict:
    obj = json.loads(json.dumps(obj))
    obj["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in obj["model"]["merges"]]
    return obj


def _ids_both_ways(path: Path, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    split = ts.load(str(path), CAP)
    assert split is not None, f"the split path did not apply to {path.name}"
    whole = tokenizers.Tokenizer.from_file(str(path))
    assert split.get_vocab_size(with_added_tokens=True) == whole.get_vocab_size(with_added_tokens=True)
    assert split.get_added_tokens_decoder().keys() == whole.get_added_tokens_decoder().keys()
    for k, v in whole.get_added_tokens_decoder().items():
        assert (split.get_added_tokens_decoder()[k].content, split.get_added_tokens_decoder()[k].special) == (v.content, v.special)
    ids_split = [e.ids for e in split.encode_batch(texts, add_special_tokens=True)]
    ids_whole = [e.ids for e in whole.encode_batch(texts, add_special_tokens=True)]
    return ids_split, ids_whole


@pytest.fixture(scope="module")
def trained() -> dict:
    return json.loads(_train().to_str())


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts(600, seed=7)


@pytest.mark.parametrize("layout", ["pretty", "compact", "legacy-merges", "ascii-escaped", "legacy-ascii"])
def test_trained_tokenizers_give_from_files_ids(tmp_path, trained, texts, layout):
    obj = _legacy_merges(trained) if layout.startswith("legacy") else trained
    if layout == "pretty":
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    elif layout == "compact":
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(obj, indent=1, ensure_ascii="ascii" in layout)
    p = tmp_path / "tokenizer.json"
    p.write_text(text, encoding="utf-8")
    ids_split, ids_whole = _ids_both_ways(p, texts)
    assert ids_split == ids_whole
    assert any(len(x) > 3 for x in ids_split)  # real encodings, not empty lists


def test_merges_with_quotes_and_backslashes_are_decoded(trained):
    """Byte-level alphabets hold '"' and '\\' (JSON-escaped in the file): merges.txt must carry them raw."""
    merges = trained["model"]["merges"]
    tricky = [m for m in merges if any('"' in t or "\\" in t for t in m)]
    assert tricky, "the corpus should produce merges with quotes or backslashes"
    body = json.dumps(merges, ensure_ascii=False).encode()
    out = ts.merges_text(body)
    assert out is not None
    assert out.decode("utf-8").splitlines() == [" ".join(m) for m in merges]


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda o: {"model": o["model"], **{k: v for k, v in o.items() if k != "model"}}, "model not the last key"),
        (lambda o: {**o, "truncation": {"max_length": 8, "strategy": "LongestFirst", "stride": 0, "direction": "Right"}}, "truncation set"),
        (lambda o: {**o, "model": {**o["model"], "merges": [["a b", "c"], *o["model"]["merges"]]}}, "a token with a space"),
        (lambda o: {**o, "model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"}}, "not BPE"),
        (lambda o: {**o, "model": {**o["model"], "vocab": {**o["model"]["vocab"], "zzz": "not an id"}}}, "a bad vocabulary entry"),
    ],
)
def test_layouts_it_does_not_know_fall_back(tmp_path, trained, mutate, why):
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(mutate(trained), indent=2, ensure_ascii=False), encoding="utf-8")
    assert ts.load(str(p), CAP) is None, why


@pytest.mark.parametrize(
    "body",
    [b'[["a", "b"], ["c"]]', b'[["a", "b"], "c d"]', b'[["a", "b"]', b'["a b", "c d"', b'[["a\\"]', b'[["a", "b"] ["c", "d"]]', b'["a b" "c d"]', b"[1, 2]"],
)
def test_malformed_merges_are_refused(body):
    assert ts.merges_text(body) is None


def test_empty_and_oversized_and_non_regular_files(tmp_path, trained):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert ts.load(str(empty), CAP) is None
    big = tmp_path / "tokenizer.json"
    big.write_text(json.dumps(trained), encoding="utf-8")
    assert ts.load(str(big), 100) is None  # over the cap: not read
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        assert ts.load(str(fifo), CAP) is None  # opened non-blocking, refused by its type, never read


def test_unclosed_and_truncated_files_are_refused(tmp_path, trained):
    text = json.dumps(trained, indent=2, ensure_ascii=False)
    p = tmp_path / "tokenizer.json"
    p.write_text(text[: len(text) * 2 // 3], encoding="utf-8")  # cut inside the merges
    assert ts.load(str(p), CAP) is None


# --------------------------------------------------------------------------------------------
# the real Qwen3-Embedding-0.6B tokenizer (shared/)


@pytest.mark.parametrize("layout", ["as-written", "legacy-merges"])
def test_real_qwen3_tokenizer_gives_from_files_ids(tmp_path, real_tokenizer_dir, layout):
    src = real_tokenizer_dir / "tokenizer.json"
    if layout == "as-written":
        p = src
    else:
        p = tmp_path / "tokenizer.json"
        p.write_text(json.dumps(_legacy_merges(json.loads(src.read_text(encoding="utf-8"))), indent=2, ensure_ascii=False), encoding="utf-8")
    texts = varied_texts(1500, seed=11)
    ids_split, ids_whole = _ids_both_ways(p, texts)
    assert ids_split == ids_whole
    assert ids_split[FIXED.index("test")] == [1944, 151643]


_PEAK = r"""
import json, sys
sys.path[:0] = json.loads(sys.argv[3])
import tokenizers
if sys.argv[2] == "split":
    from qwen_doctor.tokenizer_split import load
    tok = load(sys.argv[1], 64 << 20)
    assert tok is not None
else:
    tok = tokenizers.Tokenizer.from_file(sys.argv[1])
assert tok.encode("test").ids == [1944, 151643]
print(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")))  # this image's peak (kB)
"""


def test_real_qwen3_split_load_peaks_lower(real_tokenizer_dir):
    """Peak resident memory of a fresh interpreter loading the real file each way (the point of the module). VmHWM,
    not ru_maxrss: that one carries over the forked test process's own peak across exec."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc (Linux)")
    path = str(real_tokenizer_dir / "tokenizer.json")
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
    root = json.dumps([str(Path(__file__).resolve().parents[1]), *[p for p in sys.path if p]])
    peaks = {}
    for how in ("split", "whole"):
        r = subprocess.run([sys.executable, "-c", _PEAK, path, how, root], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-500:]
        peaks[how] = int(r.stdout.split()[-1])
    assert peaks["split"] < 0.7 * peaks["whole"], peaks


def test_a_symlinked_tokenizer_json_is_followed(tmp_path, trained, texts):
    """A Hugging Face cache snapshot links tokenizer.json to its blob: the split path reads through the link."""
    blob = tmp_path / "blobs" / "0123abcd"
    blob.parent.mkdir()
    blob.write_text(json.dumps(trained, indent=2, ensure_ascii=False), encoding="utf-8")
    snap = tmp_path / "snapshots" / "main"
    snap.mkdir(parents=True)
    (snap / "tokenizer.json").symlink_to(os.path.relpath(blob, snap))
    ids_split, ids_whole = _ids_both_ways(snap / "tokenizer.json", texts[:50])
    assert ids_split == ids_whole


def test_a_missing_file_returns_none_not_an_error(tmp_path):
    assert ts.load(str(tmp_path / "nope.json"), CAP) is None


@pytest.mark.parametrize("bad", ['"x"', "1.5", "-1", "4294967297", "null", "007", "[1]", "true"])
def test_a_vocabulary_value_from_file_refuses_is_refused(tmp_path, trained, bad):
    """BPE.from_file would skip such an entry; tokenizer.json's own loader refuses the file, and so must the doctor."""
    text = json.dumps(trained, indent=2, ensure_ascii=False).replace('"vocab": {', f'"vocab": {{\n      "zzz": {bad},', 1)
    p = tmp_path / "tokenizer.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(Exception):
        tokenizers.Tokenizer.from_file(str(p))
    assert ts.load(str(p), CAP) is None


def test_vocab_strings_counts_keys(trained):
    vocab = trained["model"]["vocab"]
    assert ts.vocab_strings(json.dumps(vocab, ensure_ascii=False).encode()) == len(vocab)
    assert ts.vocab_strings(json.dumps(vocab, indent=6, ensure_ascii=True).encode()) == len(vocab)
    assert ts.vocab_strings(b"{}") == 0 and ts.vocab_strings(b'{"a\\"": 4294967295, "\\\\": 1}') == 2
    assert ts.vocab_strings(b'{"a": 4294967296}') is None and ts.vocab_strings(b'{"a: 1}') is None
