"""tokenizer.load: the tokenizer loads offline; its size against config.json's vocab_size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...facts import as_int
from ...results import Fix, Outcome
from ...spec import check
from ..model._common import more
from ._common import applies_tokenizer, tok_dir, tok_report

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context


@check(
    "tokenizer.load",
    "Tokenizer loads offline",
    applies=applies_tokenizer,
    requires=("model.tokenizer-files",),
    uses=("model.config",),
    reads=("model", "tokenizer"),
)
def check_tokenizer_load(ctx: "Context") -> Outcome:
    """What it checks: the tokenizer loads through transformers from the local files only (offline: no hub access,
    `trust_remote_code` off), in a separate process stopped after a timeout; reports its class, its vocabulary size
    against config.json's vocab_size, and model_max_length.

    Why it matters: every server loads this tokenizer at start-up; if it does not load here it will not load there. A
    tokenizer with fewer BPE tokens than the model's vocab_size or with a different class is another model's tokenizer.
    Tokens past the embedding table (third-party copies of the 4B/8B configs give vocab_size 151665 for the
    151669-token tokenizer: the last four are added tokens such as `<think>`) only matter if inputs contain them
    literally. This load is the slowest model check (one to two seconds); it runs beside the others, once per run for
    each distinct tokenizer, and its result is shared by the tokenizer.* checks of every target.

    How to fix: as the error says; usually take the tokenizer files from the current model repository.
    """
    rep = tok_report(ctx)
    d, _ = tok_dir(ctx)
    if not rep.ok:
        if rep.stage in ("timeout", "spawn", "crash"):
            return Outcome.error(f"tokenizer in {d}: {rep.error}", directory=str(d), stage=rep.stage)
        return Outcome.fail(
            f"the tokenizer in {d} does not load offline ({rep.stage}): {rep.error}",
            Fix("Take the tokenizer files from the current model repository (tokenizer.json, tokenizer_config.json, vocab.json, merges.txt)."),
            directory=str(d),
            stage=rep.stage,
        )
    mf = ctx.model
    cfg = mf.config if mf is not None else None
    cfg_vocab = as_int(cfg.get("vocab_size")) if cfg else None
    n = rep.get("vocab_size")
    base = rep.get("base_vocab_size")
    cls = rep.get("tokenizer_class") or "?"
    mml = rep.get("model_max_length")
    ev = {
        "tokenizer_class": cls,
        "vocab_size": n,
        "base_vocab_size": base,
        "config_vocab_size": cfg_vocab,
        "model_max_length": mml,
        "directory": str(d),
        "library": rep.get("library"),
        "load_s": rep.get("load_s"),
        "import_s": rep.get("import_s"),
    }
    mml_txt = f"model_max_length {mml}" if mml else "no model_max_length"
    added_n = n - base if isinstance(n, int) and isinstance(base, int) else "?"
    took = (rep.get("import_s") or 0) + (rep.get("load_s") or 0)
    desc = f"{cls} ({rep.get('library')}): {n} tokens ({base} BPE + {added_n} added), config vocab_size {cfg_vocab}, {mml_txt}; loaded offline in {took:.1f} s"
    if cfg_vocab and isinstance(base, int) and base > cfg_vocab:
        return Outcome.fail(
            f"the tokenizer has {base} BPE tokens but the model's embedding table has {cfg_vocab} rows: another model's tokenizer ({desc})",
            Fix("Take the tokenizer files from the same model repository as the weights."),
            **ev,
        )
    if cfg_vocab and isinstance(n, int) and n < cfg_vocab // 2:
        return Outcome.fail(
            f"the tokenizer has only {n} tokens for a model with {cfg_vocab}: not this model's tokenizer, or an empty one built from config.json alone ({desc})",
            Fix("Take the tokenizer files from the model repository."),
            **ev,
        )
    notes = []
    if cfg_vocab and isinstance(n, int) and n > cfg_vocab:
        added = rep.get("added_tokens") or {}
        over = [added.get(str(i), str(i)) for i in range(cfg_vocab, n)]
        notes.append(f"ids {cfg_vocab}..{n - 1} ({more(over, 4)}) have no embedding row; harmless unless inputs contain them literally")
        ev["ids_past_embedding_table"] = over
    qwen3 = mf is None or mf.qwen3_rules_apply()
    if qwen3 and not cls.startswith(("Qwen2Tokenizer", "Qwen3Tokenizer")):
        return Outcome.warn(f"tokenizer class {cls}, not Qwen2Tokenizer: the Qwen3-Embedding checks below assume the Qwen tokenizer ({desc})", None, **ev)
    return Outcome.passed(desc + (f"; {notes[0]}" if notes else ""), **ev)
