"""model.tokenizer-files: tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json, none an LFS pointer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...results import Applicability, Fix, Outcome
from ...spec import check
from ._common import applies_tokenizer, download, is_regular, more, shq, tok_location

if TYPE_CHECKING:  # pragma: no cover
    from ...context import Context

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json")


@dataclass(frozen=True)
class TokenizerFiles:
    present: tuple[str, ...]
    bad: tuple[str, ...]  # "NAME is not a regular file" / "NAME is empty"
    lfs: tuple[str, ...]  # git-LFS pointers


def scan_tokenizer_files(d: Path) -> TokenizerFiles:
    """What tokenizer files ``d`` holds (stat and LFS-pointer test only; FIFOs are never opened)."""
    from ...safetensors_header import lfs_pointer

    present = [n for n in TOKENIZER_FILES if (d / n).exists()]
    bad: list[str] = []
    lfs: list[str] = []
    for n in present:
        p = d / n
        if not is_regular(p):
            bad.append(f"{n} is not a regular file")
            continue
        if lfs_pointer(p) is not None:
            lfs.append(n)
            continue
        try:
            if p.stat().st_size == 0:
                bad.append(f"{n} is empty")
        except OSError:
            pass
    return TokenizerFiles(tuple(present), tuple(bad), tuple(lfs))


@check(
    "model.tokenizer-files",
    "Tokenizer files present",
    applies=applies_tokenizer,
    requires=("model.directory",),
    reads=("model", "server"),
    claims=("model.no-tokenizer-config", "tokenizer.appends-endoftext"),
)
def check_tokenizer_files(ctx: "Context") -> Outcome:
    """What it checks: the tokenizer files: tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json, none
    of them a git-LFS pointer (the upstream repo stores tokenizer.json in LFS).

    Why it matters: without tokenizer.json, transformers rebuilds the tokenizer from vocab.json + merges.txt at every
    start, and that rebuilt tokenizer appends no `<|endoftext|>`, so last-token pooling reads the wrong token (see
    tokenizer.end-token). TEI reads only tokenizer.json and stops at start-up without it ("tokenizer.json not found.
    text-embeddings-inference only supports fast tokenizers"). Without tokenizer_config.json the special-token roles
    and model_max_length fall back to defaults.

    How to fix: take tokenizer.json and tokenizer_config.json from the current model repository
    (`hf download Qwen/Qwen3-Embedding-0.6B tokenizer.json tokenizer_config.json --local-dir DIR`), or `git lfs pull`.
    """
    t = ctx.target
    d, src, key = tok_location(ctx)
    repo, dl = download(ctx, d, ("tokenizer.json", "tokenizer_config.json"))
    files: TokenizerFiles = ctx.facts.once(("tokenizer-files", key), lambda: scan_tokenizer_files(d))
    present = set(files.present)
    ev: dict[str, Any] = {"directory": str(d), "source": src, "present": list(files.present)}
    if files.lfs:
        lfs = list(files.lfs)
        return Outcome.fail(
            f"{more(lfs)} {'is a git-LFS pointer' if len(lfs) == 1 else 'are git-LFS pointers'}, not the file: this is an LFS pointer; run git lfs pull",
            Fix("Run `git lfs pull` in the clone (or download the files).", commands=(f"git -C {shq(str(d))} lfs pull",), applicability=Applicability.UNSAFE),
            **ev,
            lfs_pointers=lfs,
        )
    fix_dl = Fix(f"Take the tokenizer files from {repo}.", commands=dl, applicability=Applicability.UNSAFE)
    if files.bad:
        return Outcome.fail("; ".join(files.bad) + ": the tokenizer cannot load", fix_dl, **ev)
    has_json = "tokenizer.json" in present
    if not has_json and not {"vocab.json", "merges.txt"} <= present:
        return Outcome.fail(f"no tokenizer in {d} (neither tokenizer.json nor vocab.json + merges.txt): the server fails at start-up loading it", fix_dl, **ev)
    warns = []
    if not has_json:
        if t.server == "tei":
            return Outcome.fail(
                'no tokenizer.json: TEI stops at start-up ("tokenizer.json not found. text-embeddings-inference only supports fast tokenizers")',
                Fix(f"Take tokenizer.json from {repo}.", commands=dl, applicability=Applicability.UNSAFE),
                **ev,
            )
        warns.append(
            "no tokenizer.json: transformers rebuilds the tokenizer from vocab.json + merges.txt at every start, and the rebuilt one "
            "appends no <|endoftext|> (a stale snapshot; see tokenizer.end-token)"
        )
    if "tokenizer_config.json" not in present:
        warns.append("no tokenizer_config.json: " + (ctx.claim("model.no-tokenizer-config") or "special-token roles and model_max_length are not set"))
    if warns:
        return Outcome.warn("; ".join(warns), fix_dl, **ev)
    return Outcome.passed(f"tokenizer.json and tokenizer_config.json present ({src})", **ev)
