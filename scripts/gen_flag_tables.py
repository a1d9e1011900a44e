#!/usr/bin/env python3
"""Generate the per-release CLI flag tables shipped as package data.

    python scripts/gen_flag_tables.py [--shared DIR]           # (re)write qwen_doctor/data/flags/
    python scripts/gen_flag_tables.py [--shared DIR] --check   # exit 1 if the committed data differs

Inputs (``--shared``, default ``../shared`` relative to the repository root):

* SGLang: ``reference/sglang-flags/flags_<ver>.json`` -- real argparse dumps of
  ``ServerArgs.add_cli_args`` (one entry per action: opts, dest, action, type, nargs, choices,
  default, help). Copied almost verbatim: nargs normalised, help truncated, ``deprecated`` derived
  from the action class / help text, ``-h/--help`` added (argparse's add_help, not in the dumps).
* vLLM: ``reference/vllm-flags/vllm_flags_<ver>.txt`` -- the option strings of ``vllm serve``
  (make_arg_parser), one per line, in parser order. Existence of every option comes from these
  files only. Grouping into actions follows fixed rules (short alias after its long option,
  ``--no-X`` after ``--X``, ``--enable-X``/``--disable-X`` pairs, see ``_group_vllm``); nargs,
  action kind, deprecation and a few curated facts (type/choices/default of the options this tool
  reasons about) come from the ``VLLM_*`` tables below. Those tables were derived by building the
  same parsers from the PyPI sdists of the same eight releases (``--dump-vllm-parser`` then
  ``--derive-vllm-overlay``, below); the dumps reproduced the reference option lists exactly (0.8.5
  differs only by ``--config``, which ``vllm serve`` adds outside make_arg_parser). Every overlay
  key is checked against the option strings when generating.
* TEI: no dump exists. ``TEI_FLAGS`` below is a literal table TRANSCRIBED BY HAND from
  ``reference/vllm-tei-qwen3.md`` section C.2 and checked against ``router/src/main.rs`` of
  huggingface/text-embeddings-inference at tags v1.7.2, v1.8.0, v1.9.0 and v1.9.2 (clap derive).

The output is deterministic (no timestamps, stable order). Each ``<server>/<version>.json`` is::

    {"server", "version", "source", "positional", "positional_launcher", "allow_abbrev",
     "flags": [{"opts", "dest", "action", "nargs", "type", "choices", "default", "help",
                "deprecated"[, "env"]}, ...]}

nargs is 0 for switches (store_true/false/const, count, help, version, BooleanOptionalAction),
1 for one value (argparse's ``None``), or an int / "?" / "*" / "+".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "qwen_doctor" / "data" / "flags"
DEFAULT_SHARED = REPO.parent / "shared"
HELP_MAX = 200

# --------------------------------------------------------------------------------------------
# Versions (same ordering as qwen_doctor.flags.parse_version; kept local so the script runs
# without the package installed)
# --------------------------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^[vV]?(?P<rel>\d+(?:\.\d+)*)(?:\.?(?P<pre>a|b|rc)(?P<pre_n>\d*))?(?:\.?post(?P<post>\d*))?$")


def vkey(v: str) -> tuple:
    m = _VERSION_RE.match(v)
    if not m:
        raise ValueError(f"not a version: {v!r}")
    rel = tuple(int(x) for x in m.group("rel").split("."))
    rel = rel + (0,) * (6 - len(rel))
    pre = ({"a": 0, "b": 1, "rc": 2}[m.group("pre")], int(m.group("pre_n") or 0)) if m.group("pre") else (3, 0)
    post = int(m.group("post") or 0) if m.group("post") is not None else -1
    return (rel, pre, post)


# --------------------------------------------------------------------------------------------
# Common helpers
# --------------------------------------------------------------------------------------------

ZERO_NARGS_ACTIONS = {
    "_StoreTrueAction": "store_true",
    "_StoreFalseAction": "store_false",
    "_StoreConstAction": "store_const",
    "_AppendConstAction": "append_const",
    "_CountAction": "count",
    "_HelpAction": "help",
    "_VersionAction": "version",
    "BooleanOptionalAction": "boolean_optional",
}
ACTION_NAMES = {"_StoreAction": "store", "_AppendAction": "append", "_ExtendAction": "extend", **ZERO_NARGS_ACTIONS}

# "deprecated" in help text, but not "Replaces the deprecated --x" / "Enable deprecated metrics".
_DEPRECATED_HELP = re.compile(r"^\W*(note:\s*)?\W*deprecated\b|\bis deprecated\b|\bdeprecated alias\b|^\W*\[deprecated", re.IGNORECASE)


def help_says_deprecated(text: str | None) -> bool:
    return bool(text) and bool(_DEPRECATED_HELP.search(text))


def short_help(text: str | None) -> str:
    if not text or text == "SUPPRESS" or text == "==SUPPRESS==":
        return ""
    text = " ".join(text.split())
    if len(text) > HELP_MAX:
        text = text[: HELP_MAX - 1].rstrip() + "\u2026"
    return text


def norm_nargs(action: str, nargs):
    if action in ZERO_NARGS_ACTIONS:
        return 0
    if nargs is None:
        return 1
    return nargs


def dest_of(opts: list[str]) -> str:
    long = [o for o in opts if o.startswith("--")]
    first = (long or opts)[0].lstrip("-")
    return first.replace("-", "_")


def flag_entry(opts, dest, action, nargs, type_=None, choices=None, default=None, help_="", deprecated=False, env=None) -> dict:
    e = {
        "opts": list(opts),
        "dest": dest,
        "action": action,
        "nargs": nargs,
        "type": type_,
        "choices": [str(c) for c in choices] if choices else None,
        "default": default,
        "help": help_,
        "deprecated": bool(deprecated),
    }
    if env is not None:
        e["env"] = env
    return e


def render(table: dict) -> str:
    """Stable JSON: header keys one per line, one flag per line."""
    head = {k: v for k, v in table.items() if k != "flags"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "flags": [')
    flags = table["flags"]
    for i, f in enumerate(flags):
        sep = "," if i < len(flags) - 1 else ""
        lines.append("    " + json.dumps(f, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# SGLang
# --------------------------------------------------------------------------------------------

SGLANG_POSITIONAL_SINCE = "0.5.16"  # `sglang serve <model>` (cli/serve.py _normalize_positional_model_path)


def sglang_tables(shared: Path) -> dict[str, dict]:
    src = shared / "reference" / "sglang-flags"
    files = sorted(src.glob("flags_*.json"), key=lambda p: vkey(p.name[len("flags_") : -len(".json")]))
    if not files:
        raise SystemExit(f"gen_flag_tables: no SGLang dumps under {src}")
    out = {}
    for path in files:
        ver = path.name[len("flags_") : -len(".json")]
        raw = json.loads(path.read_text(encoding="utf-8"))
        flags = [flag_entry(["-h", "--help"], "help", "help", 0, help_="show this help message and exit (argparse add_help; not in the dump)")]
        for a in raw:
            cls = a["action"]
            action = ACTION_NAMES.get(cls, cls)
            deprecated = cls.startswith("Deprecated") or help_says_deprecated(a.get("help"))
            flags.append(
                flag_entry(
                    a["opts"],
                    a["dest"],
                    action,
                    norm_nargs(cls, a["nargs"]),
                    a.get("type"),
                    a.get("choices"),
                    a.get("default"),
                    short_help(a.get("help")),
                    deprecated,
                )
            )
        positional = vkey(ver) >= vkey(SGLANG_POSITIONAL_SINCE)
        out[ver] = {
            "server": "sglang",
            "version": ver,
            "source": (
                f"argparse dump reference/sglang-flags/{path.name} (ServerArgs.add_cli_args of the PyPI wheel); -h/--help added; help truncated to 200 chars"
            ),
            # `sglang serve <model>` only, and only as the first token after `serve` (it is rewritten
            # to `--model-path <model>` before argparse); `python -m sglang.launch_server` has none.
            "positional": "model_path" if positional else None,
            "positional_launcher": "sglang serve" if positional else None,
            "allow_abbrev": True,
            "flags": flags,
        }
    return out


# --------------------------------------------------------------------------------------------
# vLLM
# --------------------------------------------------------------------------------------------

# Derived with --derive-vllm-overlay from parser dumps of the PyPI sdists (0.8.5, 0.10.0,
# 0.10.1.1, 0.11.0, 0.12.0, 0.13.0, 0.20.0, 0.33.0). A plain value holds for every release that
# has the option; a list of [since, value] pairs changes at those releases.
# BEGIN VLLM OVERLAY
# fmt: off
VLLM_NARGS = {
    '--aggregate-engine-logging': 0,
    '--allow-credentials': 0,
    '--allowed-media-domains': '+',
    '--api-key': [['0.8.5', 1], ['0.10.1.1', '+']],
    '--collect-detailed-traces': [['0.8.5', 1], ['0.10.0', '+']],
    '--cpu-offload-params': '+',
    '--cuda-graph-sizes': '+',
    '--cudagraph-capture-sizes': '+',
    '--data-parallel-multi-port-external-lb': 0,
    '--disable-async-output-proc': 0,
    '--disable-cascade-attn': 0,
    '--disable-fastapi-docs': 0,
    '--disable-frontend-multiprocessing': 0,
    '--disable-log-requests': 0,
    '--disable-log-stats': 0,
    '--disable-mm-preprocessor-cache': 0,
    '--disable-sliding-window': 0,
    '--disable-uvicorn-access-log': 0,
    '--enable-auto-tool-choice': 0,
    '--enable-multimodal-encoder-data-parallel': 0,
    '--enable-prompt-adapter': 0,
    '--enable-prompt-tokens-details': 0,
    '--enable-reasoning': 0,
    '--enable-request-id-headers': 0,
    '--enable-server-load-tracking': 0,
    '--enable-sleep-mode': 0,
    '--enable-ssl-refresh': 0,
    '--enforce-eager': 0,
    '--grpc': 0,
    '--headless': 0,
    '--hf-token': '?',
    '--ignore-patterns': [['0.8.5', 1], ['0.10.0', '+']],
    '--kv-cache-dtype-skip-layers': '+',
    '--logits-processors': '+',
    '--long-lora-scaling-factors': '+',
    '--lora-modules': '+',
    '--lora-target-modules': '+',
    '--numa-bind-cpus': '+',
    '--numa-bind-nodes': '+',
    '--offload-params': '+',
    '--prompt-adapters': '+',
    '--return-tokens-as-token-ids': 0,
    '--served-model-name': '+',
    '--skip-tokenizer-init': 0,
    '--sleep-preserve-parameter-names': '+',
    '--trust-remote-code': 0,
    '--use-v2-block-manager': 0,
}
VLLM_ACTIONS = {
    '--ignore-patterns': [['0.8.5', 'append'], ['0.10.0', 'store']],
    '--log-config-file': [['0.10.0', 'store'], ['0.33.0', 'DeprecatedLogConfigFileAction']],
    '--lora-modules': 'LoRAParserAction',
    '--middleware': 'append',
    '--prompt-adapters': 'PromptAdapterParserAction',
}
VLLM_DEPRECATED = {
    '--cuda-graph-sizes': ('0.12.0',),
    '--disable-cascade-attn': ('0.33.0',),
    '--disable-log-requests': ('0.10.1.1', '0.11.0', '0.12.0', '0.13.0'),
    '--disable-mm-preprocessor-cache': ('0.10.1.1', '0.11.0', '0.12.0'),
    '--enable-multimodal-encoder-data-parallel': ('0.11.0', '0.12.0'),
    '--enable-prompt-adapter': ('0.10.0', '0.10.1.1'),
    '--eplb-log-balancedness': ('0.11.0',),
    '--eplb-step-interval': ('0.11.0',),
    '--eplb-window-size': ('0.11.0',),
    '--guided-decoding-backend': ('0.11.0',),
    '--guided-decoding-disable-additional-properties': ('0.11.0',),
    '--guided-decoding-disable-any-whitespace': ('0.11.0',),
    '--guided-decoding-disable-fallback': ('0.11.0',),
    '--log-config-file': ('0.33.0',),
    '--mamba-cache-mode': ('0.33.0',),
    '--num-redundant-experts': ('0.11.0',),
    '--override-pooler-config': ('0.11.0',),
    '--task': ('0.10.1.1', '0.11.0', '0.12.0'),
    '--tokenizer-pool-extra-config': ('0.8.5',),
    '--tokenizer-pool-size': ('0.8.5',),
    '--tokenizer-pool-type': ('0.8.5',),
    '--use-v2-block-manager': ('0.8.5',),
}
VLLM_FACTS = {
    '--api-key': {'type': 'optional', 'choices': None, 'default': None},
    '--config': {'type': None, 'choices': None, 'default': None},
    '--convert': [['0.10.1.1', {'type': 'str', 'choices': ['auto', 'classify', 'embed', 'none', 'reward'], 'default': 'auto'}], ['0.20.0', {'type': 'str', 'choices': ['auto', 'classify', 'embed', 'none'], 'default': 'auto'}]],
    '--cuda-graph-sizes': {'help': '--cuda-graph-sizes is deprecated and will be removed in v0.13.0 or v1.0.0, whichever is soonest. Please use --cudagraph-capture-sizes instead.'},
    '--disable-cascade-attn': {'help': '--disable-cascade-attn is deprecated and has no effect since cascade attention has been removed. It will be removed in v0.33.0.'},
    '--disable-log-requests': [['0.8.5', {'type': None, 'choices': None, 'default': False}], ['0.10.1.1', {'type': None, 'choices': None, 'default': True, 'help': '[DEPRECATED] Disable logging requests.'}]],
    '--disable-log-stats': {'type': None, 'choices': None, 'default': False},
    '--download-dir': {'type': 'optional', 'choices': None, 'default': None},
    '--dtype': [['0.8.5', {'type': 'str', 'choices': ['auto', 'half', 'float16', 'bfloat16', 'float', 'float32'], 'default': 'auto'}], ['0.10.0', {'type': 'str', 'choices': ['auto', 'bfloat16', 'float', 'float16', 'float32', 'half'], 'default': 'auto'}]],
    '--enable-chunked-prefill': {'type': None, 'choices': None, 'default': None},
    '--enable-log-requests': {'type': None, 'choices': None, 'default': False},
    '--enable-prefix-caching': {'type': None, 'choices': None, 'default': None},
    '--enable-prompt-adapter': {'help': '[DEPRECATED] Prompt adapter has been removed. Setting this flag to True or False has no effect on vLLM behavior.'},
    '--enforce-eager': {'type': None, 'choices': None, 'default': False},
    '--eplb-log-balancedness': {'help': '[DEPRECATED] --eplb-log-balancedness will be removed in v0.12.0.'},
    '--eplb-step-interval': {'help': '[DEPRECATED] --eplb-step-interval will be removed in v0.12.0.'},
    '--eplb-window-size': {'help': '[DEPRECATED] --eplb-window-size will be removed in v0.12.0.'},
    '--gpu-memory-utilization': [['0.8.5', {'type': 'float', 'choices': None, 'default': 0.9}], ['0.20.0', {'type': 'float', 'choices': None, 'default': 0.92}]],
    '--guided-decoding-backend': {'help': '[DEPRECATED] --guided-decoding-backend will be removed in v0.12.0.'},
    '--guided-decoding-disable-additional-properties': {'help': '[DEPRECATED] --guided-decoding-disable-additional-properties will be removed in v0.12.0.'},
    '--guided-decoding-disable-any-whitespace': {'help': '[DEPRECATED] --guided-decoding-disable-any-whitespace will be removed in v0.12.0.'},
    '--guided-decoding-disable-fallback': {'help': '[DEPRECATED] --guided-decoding-disable-fallback will be removed in v0.12.0.'},
    '--hf-overrides': [['0.8.5', {'type': 'loads', 'choices': None, 'default': None}], ['0.10.0', {'type': 'union_dict_and_str', 'choices': None, 'default': {}}]],
    '--host': {'type': 'optional', 'choices': None, 'default': None},
    '--kv-cache-dtype': [['0.8.5', {'type': 'str', 'choices': ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'], 'default': 'auto'}], ['0.10.0', {'type': 'str', 'choices': ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2', 'fp8_inc'], 'default': 'auto'}], ['0.11.0', {'type': 'str', 'choices': ['auto', 'bfloat16', 'fp8', 'fp8_e4m3', 'fp8_e5m2', 'fp8_inc'], 'default': 'auto'}], ['0.12.0', {'type': 'str', 'choices': ['auto', 'bfloat16', 'fp8', 'fp8_ds_mla', 'fp8_e4m3', 'fp8_e5m2', 'fp8_inc'], 'default': 'auto'}], ['0.20.0', {'type': 'str', 'choices': ['auto', 'bfloat16', 'float16', 'fp8', 'fp8_ds_mla', 'fp8_e4m3', 'fp8_e5m2', 'fp8_inc', 'fp8_per_token_head', 'int8_per_token_head', 'nvfp4', 'turboquant_3bit_nc', 'turboquant_4bit_nc', 'turboquant_k3v4_nc', 'turboquant_k8v4'], 'default': 'auto'}], ['0.33.0', {'type': 'str', 'choices': None, 'default': 'auto'}]],
    '--log-config-file': {'help': '--log-config-file is deprecated and will be removed in v0.33.0. Use --logging-config.pylogging_config_file instead.'},
    '--mamba-cache-mode': {'help': '--mamba-cache-mode is deprecated and will be removed in v0.33.0. It has no effect: Mamba prefix caching follows --enable-prefix-caching.'},
    '--max-model-len': [['0.8.5', {'type': 'human_readable_int', 'choices': None, 'default': None}], ['0.20.0', {'type': 'human_readable_int_or_auto', 'choices': None, 'default': None}]],
    '--max-num-batched-tokens': [['0.8.5', {'type': 'int', 'choices': None, 'default': None}], ['0.10.0', {'type': 'human_readable_int', 'choices': None, 'default': None}]],
    '--max-num-seqs': {'type': 'int', 'choices': None, 'default': None},
    '--model': [['0.8.5', {'type': 'str', 'choices': None, 'default': 'facebook/opt-125m'}], ['0.10.0', {'type': 'str', 'choices': None, 'default': 'Qwen/Qwen3-0.6B'}]],
    '--num-redundant-experts': {'help': '[DEPRECATED] --num-redundant-experts will be removed in v0.12.0.'},
    '--override-pooler-config': [['0.8.5', {'type': 'from_json', 'choices': None, 'default': None}], ['0.10.0', {'type': 'optional', 'choices': None, 'default': None}], ['0.11.0', {'type': 'optional', 'choices': None, 'default': None, 'help': 'Should either be a valid JSON string or JSON keys passed individually.'}]],
    '--pooler-config': {'type': 'optional', 'choices': None, 'default': None},
    '--port': {'type': 'int', 'choices': None, 'default': 8000},
    '--revision': {'type': 'optional', 'choices': None, 'default': None},
    '--runner': {'type': 'str', 'choices': ['auto', 'draft', 'generate', 'pooling'], 'default': 'auto'},
    '--seed': [['0.8.5', {'type': 'int', 'choices': None, 'default': None}], ['0.10.0', {'type': 'optional', 'choices': None, 'default': None}], ['0.12.0', {'type': 'int', 'choices': None, 'default': 0}]],
    '--served-model-name': [['0.8.5', {'type': 'str', 'choices': None, 'default': None}], ['0.10.0', {'type': 'optional', 'choices': None, 'default': None}]],
    '--task': [['0.8.5', {'type': None, 'choices': ['auto', 'generate', 'embedding', 'embed', 'classify', 'score', 'reward', 'transcription'], 'default': 'auto'}], ['0.10.0', {'type': 'str', 'choices': ['auto', 'classify', 'draft', 'embed', 'embedding', 'generate', 'reward', 'score', 'transcription'], 'default': 'auto'}], ['0.10.1.1', {'type': 'optional', 'choices': ['auto', 'classify', 'draft', 'embed', 'embedding', 'generate', 'reward', 'score', 'transcription', 'None'], 'default': None, 'help': '[DEPRECATED] The task to use the model for. If the model supports more than one model runner, this is used to select which model runner to run. Note that the model may support other tasks using the s…'}], ['0.11.0', {'type': 'optional', 'choices': ['auto', 'classify', 'draft', 'embed', 'embedding', 'generate', 'reward', 'score', 'transcription', 'None'], 'default': None}]],
    '--tensor-parallel-size': {'type': 'int', 'choices': None, 'default': 1},
    '--tokenizer': [['0.8.5', {'type': 'optional', 'choices': None, 'default': None}], ['0.10.0', {'type': 'str', 'choices': None, 'default': None}]],
    '--tokenizer-mode': [['0.8.5', {'type': 'str', 'choices': ['auto', 'slow', 'mistral', 'custom'], 'default': 'auto'}], ['0.10.0', {'type': 'str', 'choices': ['auto', 'custom', 'mistral', 'slow'], 'default': 'auto'}], ['0.12.0', {'type': 'str', 'choices': None, 'default': 'auto'}]],
    '--tokenizer-pool-extra-config': {'help': 'This parameter is deprecated and will be removed in a future release. Passing this parameter will have no effect. Please remove it from your configurations.'},
    '--tokenizer-pool-size': {'help': 'This parameter is deprecated and will be removed in a future release. Passing this parameter will have no effect. Please remove it from your configurations.'},
    '--tokenizer-pool-type': {'help': 'This parameter is deprecated and will be removed in a future release. Passing this parameter will have no effect. Please remove it from your configurations.'},
    '--trust-remote-code': {'type': None, 'choices': None, 'default': False},
    '--use-v2-block-manager': {'help': '[DEPRECATED] block manager v1 has been removed and SelfAttnBlockSpaceManager (i.e. block manager v2) is now the default. Setting this flag to True or False has no effect on vLLM behavior.'},
    '--uvicorn-log-level': [['0.8.5', {'type': 'str', 'choices': ['debug', 'info', 'warning', 'error', 'critical', 'trace'], 'default': 'info'}], ['0.10.0', {'type': 'str', 'choices': ['critical', 'debug', 'error', 'info', 'trace', 'warning'], 'default': 'info'}]],
}
VLLM_ALIASES = {
    '--device-memory-utilization': '--gpu-memory-utilization',
}
# fmt: on
# END VLLM OVERLAY

VLLM_POSITIONAL = "model_tag"  # `vllm serve [model_tag]`, nargs "?" (cli/serve.py; make_arg_parser >= 0.10)
VLLM_CURATED = (
    "--model",
    "--task",
    "--runner",
    "--convert",
    "--dtype",
    "--port",
    "--host",
    "--gpu-memory-utilization",
    "--max-model-len",
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--served-model-name",
    "--api-key",
    "--pooler-config",
    "--override-pooler-config",
    "--hf-overrides",
    "--tensor-parallel-size",
    "--trust-remote-code",
    "--tokenizer",
    "--enable-prefix-caching",
    "--enable-chunked-prefill",
    "--enforce-eager",
    "--kv-cache-dtype",
    "--uvicorn-log-level",
    "--tokenizer-mode",
    "--enable-log-requests",
    "--disable-log-requests",
    "--disable-log-stats",
    "--seed",
    "--revision",
    "--download-dir",
    "--config",
)


def _is_short(s: str) -> bool:
    return s.startswith("-") and not s.startswith("--")


def _ed_base(s: str) -> str | None:
    for p in ("--enable-", "--disable-"):
        if s.startswith(p):
            return s[len(p) :]
    return None


def _group_vllm(strings: list[str], aliases: dict[str, str]) -> list[list[str]]:
    """Option strings (parser order) -> one list per argparse action.

    Rules, checked against the parser dumps of all eight releases: ``--help`` joins ``-h``; a short
    option joins the action before it (``--tensor-parallel-size -tp``); ``--no-X`` joins ``--X``;
    in 0.33-style EnableDisableAction groups the inverse ``--disable-X``/``--enable-X`` joins
    ``--enable-X``/``--disable-X`` when no ``--no-`` form came first; ``aliases`` lists the pure
    long aliases (e.g. ``--device-memory-utilization``).
    """
    groups: list[list[str]] = []
    for s in strings:
        if groups:
            prev = groups[-1]
            if (s == "--help" and prev == ["-h"]) or (s in aliases and aliases[s] in prev) or _is_short(s):
                prev.append(s)
                continue
            if s.startswith("--no-") and "--" + s[5:] in prev:
                prev.append(s)
                continue
            b = _ed_base(s)
            if b is not None and not any(p.startswith("--no-") for p in prev) and any(_ed_base(p) == b for p in prev):
                prev.append(s)
                continue
        groups.append([s])
    return groups


def _group_kind(g: list[str]) -> str | None:
    if g[0] in ("-h", "--help"):
        return "help"
    bases = {_ed_base(o) for o in g if o.startswith(("--enable-", "--disable-"))}
    if any(o.startswith("--enable-") for o in g) and any(o.startswith("--disable-") for o in g) and len(bases) == 1:
        return "enable_disable"
    if any(o.startswith("--no-") for o in g):
        return "boolean_optional"
    return None


def _at(value, ver: str):
    """Resolve an overlay value (plain, or [[since, value], ...]) for release ``ver``."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        cur = None
        for since, v in value:
            if vkey(ver) >= vkey(since):
                cur = v
        return cur
    return value


def vllm_tables(shared: Path) -> dict[str, dict]:
    src = shared / "reference" / "vllm-flags"
    # plus dumps made in this repo from real parsers not covered by shared/ (scripts/flag-dumps/)
    files = sorted(
        [*src.glob("vllm_flags_*.txt"), *(REPO / "scripts" / "flag-dumps").glob("vllm_flags_*.txt")],
        key=lambda p: vkey(p.name[len("vllm_flags_") : -len(".txt")]),
    )
    if not files:
        raise SystemExit(f"gen_flag_tables: no vLLM option lists under {src}")
    out = {}
    seen: set[str] = set()
    for path in files:
        ver = path.name[len("vllm_flags_") : -len(".txt")]
        strings = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
        seen.update(strings)
        flags = []
        for g in _group_vllm(strings, VLLM_ALIASES):
            head = g[0]
            kind = _group_kind(g)
            if kind is not None:
                nargs = 0
                action = kind
            else:
                nargs = _at(VLLM_NARGS.get(head, 1), ver)
                nargs = 1 if nargs is None else nargs
                action = _at(VLLM_ACTIONS.get(head), ver) or ("store_true" if nargs == 0 else "store")
            facts = _at(VLLM_FACTS.get(head, {}), ver) or {}
            deprecated = ver in VLLM_DEPRECATED.get(head, ())
            dest = "help" if kind == "help" else dest_of(g if kind != "boolean_optional" else [head])
            flags.append(
                flag_entry(
                    g,
                    dest,
                    action,
                    nargs,
                    facts.get("type"),
                    facts.get("choices"),
                    facts.get("default"),
                    facts.get("help", ""),
                    deprecated,
                )
            )
        out[ver] = {
            "server": "vllm",
            "version": ver,
            "source": (
                f"option strings reference/vllm-flags/{path.name} (make_arg_parser of the PyPI sdist); "
                "grouping, nargs, action, deprecation and curated type/choices/default from the "
                "VLLM_* overlay in scripts/gen_flag_tables.py (derived from parser dumps of the same "
                "sdists); dest derived from the first long option"
            ),
            "positional": VLLM_POSITIONAL,
            "positional_launcher": "vllm serve",
            "allow_abbrev": True,
            "flags": flags,
        }
    # Every overlay key must name a real option of some release (catches typos and drift).
    missing = [k for tbl in (VLLM_NARGS, VLLM_ACTIONS, VLLM_DEPRECATED, VLLM_FACTS, VLLM_ALIASES) for k in tbl if k not in seen]
    if missing:
        raise SystemExit(f"gen_flag_tables: VLLM overlay names unknown options: {sorted(set(missing))}")
    return out


# --------------------------------------------------------------------------------------------
# TEI (transcribed, not dumped)
# --------------------------------------------------------------------------------------------

# TRANSCRIBED BY HAND from reference/vllm-tei-qwen3.md C.2 (text-embeddings-router --help), checked
# against router/src/main.rs `struct Args` (clap 4 derive) at tags v1.7.2, v1.8.0, v1.9.0, v1.9.2.
# Columns: opts, dest, nargs, type, choices, default, env, help, first release, last release
# (None = still present). clap: `bool` fields are switches (nargs 0); every option has an env var.
_T = None
TEI_FLAGS = [
    (["-h", "--help"], "help", 0, None, None, None, None, "Print help", _T, _T),
    (["-V", "--version"], "version", 0, None, None, None, None, "Print version", _T, _T),
    (
        ["--model-id"],
        "model_id",
        1,
        "str",
        None,
        "BAAI/bge-large-en-v1.5",
        "MODEL_ID",
        "HF model id or local directory; NOT required before 1.9.0 (defaults to BAAI/bge-large-en-v1.5)",
        _T,
        "1.8.3",
    ),
    (["--model-id"], "model_id", 1, "str", None, None, "MODEL_ID", "HF model id or local directory (required)", "1.9.0", _T),
    (["--revision"], "revision", 1, "str", None, None, "REVISION", "Model revision on the Hub", _T, _T),
    (
        ["--tokenization-workers"],
        "tokenization_workers",
        1,
        "int",
        None,
        None,
        "TOKENIZATION_WORKERS",
        "Tokenizer workers (default: number of CPU cores)",
        _T,
        _T,
    ),
    (["--dtype"], "dtype", 1, "str", ["float16", "float32"], None, "DTYPE", "Force the model dtype; bfloat16 only with the python backend", _T, _T),
    (
        ["--served-model-name"],
        "served_model_name",
        1,
        "str",
        None,
        None,
        "SERVED_MODEL_NAME",
        "Model name for the OpenAI-compatible routes (default: --model-id)",
        "1.9.0",
        _T,
    ),
    (
        ["--pooling"],
        "pooling",
        1,
        "str",
        ["cls", "mean", "splade", "last-token"],
        None,
        "POOLING",
        "Pooling method (default: read from 1_Pooling/config.json)",
        _T,
        _T,
    ),
    (["--max-concurrent-requests"], "max_concurrent_requests", 1, "int", None, 512, "MAX_CONCURRENT_REQUESTS", "Maximum concurrent requests", _T, _T),
    (["--max-batch-tokens"], "max_batch_tokens", 1, "int", None, 16384, "MAX_BATCH_TOKENS", "Maximum total tokens in a batch", _T, _T),
    (["--max-batch-requests"], "max_batch_requests", 1, "int", None, None, "MAX_BATCH_REQUESTS", "Maximum requests in a batch", _T, _T),
    (["--max-client-batch-size"], "max_client_batch_size", 1, "int", None, 32, "MAX_CLIENT_BATCH_SIZE", "Maximum inputs per client request", _T, _T),
    (
        ["--auto-truncate"],
        "auto_truncate",
        0,
        "bool",
        None,
        False,
        "AUTO_TRUNCATE",
        "Truncate inputs longer than the maximum supported size (switch, off by default)",
        _T,
        "1.8.3",
    ),
    (
        ["--auto-truncate"],
        "auto_truncate",
        0,
        "bool",
        None,
        True,
        "AUTO_TRUNCATE",
        "Truncation on by default; a switch only, `--auto-truncate false` does not parse before 1.9.2 (#836)",
        "1.9.0",
        "1.9.1",
    ),
    (
        ["--auto-truncate"],
        "auto_truncate",
        "?",
        "bool",
        None,
        True,
        "AUTO_TRUNCATE",
        "Truncation on by default; `--auto-truncate false` disables it (num_args 0..=1)",
        "1.9.2",
        _T,
    ),
    (
        ["--default-prompt-name"],
        "default_prompt_name",
        1,
        "str",
        None,
        None,
        "DEFAULT_PROMPT_NAME",
        "Key of the sentence-transformers `prompts` dict applied by default; conflicts with --default-prompt",
        _T,
        _T,
    ),
    (
        ["--default-prompt"],
        "default_prompt",
        1,
        "str",
        None,
        None,
        "DEFAULT_PROMPT",
        "Prompt text prepended by default; conflicts with --default-prompt-name",
        _T,
        _T,
    ),
    (["--dense-path"], "dense_path", 1, "str", None, None, "DENSE_PATH", "Path of the Dense module (candle backend)", "1.8.0", _T),
    (["--hf-api-token"], "hf_api_token", 1, "str", None, None, "HF_API_TOKEN", "[DEPRECATED IN FAVOR OF `--hf-token`] Hugging Face Hub token (hidden)", _T, _T),
    (["--hf-token"], "hf_token", 1, "str", None, None, "HF_TOKEN", "Hugging Face Hub token", _T, _T),
    (["--hostname"], "hostname", 1, "str", None, "0.0.0.0", "HOSTNAME", "IP address to listen on", _T, _T),
    (["-p", "--port"], "port", 1, "int", None, 3000, "PORT", "Port to listen on (the Docker images set PORT=80)", _T, _T),
    (["--uds-path"], "uds_path", 1, "str", None, "/tmp/text-embeddings-inference-server", "UDS_PATH", "Unix socket for the internal gRPC backends", _T, _T),
    (["--huggingface-hub-cache"], "huggingface_hub_cache", 1, "str", None, None, "HUGGINGFACE_HUB_CACHE", "Location of the Hugging Face Hub cache", _T, _T),
    (["--payload-limit"], "payload_limit", 1, "int", None, 2000000, "PAYLOAD_LIMIT", "Payload size limit in bytes", _T, _T),
    (["--api-key"], "api_key", 1, "str", None, None, "API_KEY", "Bearer token required on requests", _T, _T),
    (["--json-output"], "json_output", 0, "bool", None, False, "JSON_OUTPUT", "Log in JSON format", _T, _T),
    (["--disable-spans"], "disable_spans", 0, "bool", None, False, "DISABLE_SPANS", "Do not include the log trace through spans", _T, _T),
    (["--otlp-endpoint"], "otlp_endpoint", 1, "str", None, None, "OTLP_ENDPOINT", "OpenTelemetry gRPC endpoint", _T, _T),
    (
        ["--otlp-service-name"],
        "otlp_service_name",
        1,
        "str",
        None,
        "text-embeddings-inference.server",
        "OTLP_SERVICE_NAME",
        "OpenTelemetry service name",
        _T,
        _T,
    ),
    (["--prometheus-port"], "prometheus_port", 1, "int", None, 9000, "PROMETHEUS_PORT", "Prometheus port to listen on", _T, _T),
    (["--cors-allow-origin"], "cors_allow_origin", 1, "str", None, None, "CORS_ALLOW_ORIGIN", "Allowed CORS origin (repeatable)", _T, _T),
]
# Releases with a table. "1.9" is the 1.9.0/1.9.1 table (file name asked for as tei/1.9.json).
TEI_RELEASES = ("1.7.2", "1.8.0", "1.9", "1.9.2")


def tei_tables() -> dict[str, dict]:
    out = {}
    for ver in TEI_RELEASES:
        flags = []
        for opts, dest, nargs, type_, choices, default, env, help_, first, last in TEI_FLAGS:
            if first is not None and vkey(ver) < vkey(first):
                continue
            if last is not None and vkey(ver) > vkey(last):
                continue
            action = "help" if dest == "help" else "version" if dest == "version" else ("store_true" if nargs == 0 else "store")
            if dest == "cors_allow_origin":
                action = "append"
            deprecated = help_.startswith("[DEPRECATED")
            flags.append(flag_entry(opts, dest, action, nargs, type_, choices, default, help_, deprecated, env))
        out[ver] = {
            "server": "tei",
            "version": ver,
            "source": (
                "TRANSCRIBED by hand (not a dump) from reference/vllm-tei-qwen3.md C.2, checked against "
                "router/src/main.rs at tags v1.7.2, v1.8.0, v1.9.0, v1.9.2" + ("; this table covers 1.9.0 and 1.9.1" if ver == "1.9" else "")
            ),
            "positional": None,
            "positional_launcher": None,
            "allow_abbrev": False,  # clap: no prefix matching of long options
            "flags": flags,
        }
    return out


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def build(shared: Path) -> dict[Path, str]:
    files: dict[Path, str] = {}
    for server, tables in (("sglang", sglang_tables(shared)), ("vllm", vllm_tables(shared)), ("tei", tei_tables())):
        for ver, table in tables.items():
            files[OUT_DIR / server / f"{ver}.json"] = render(table)
    return files


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def existing_files() -> set[Path]:
    return {p for server in ("sglang", "vllm", "tei") for p in (OUT_DIR / server).glob("*.json")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared reference directory (default: ../shared next to the repository)")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 when the committed tables differ from a fresh build")
    ap.add_argument(
        "--dump-vllm-parser",
        nargs=2,
        metavar=("SDIST_DIR", "OUT_JSON"),
        help="(maintenance) build `vllm serve`'s parser from an unpacked vLLM sdist and dump it",
    )
    ap.add_argument("--derive-vllm-overlay", nargs="+", metavar="DUMP_JSON", help="(maintenance) print the VLLM_* overlay tables derived from parser dumps")
    args = ap.parse_args(argv)

    if args.dump_vllm_parser:
        return dump_vllm_parser(*args.dump_vllm_parser)
    if args.derive_vllm_overlay:
        print(derive_vllm_overlay(args.derive_vllm_overlay))
        return 0

    shared = args.shared.resolve()
    if not (shared / "reference").is_dir():
        print(f"gen_flag_tables: {shared}/reference not found (pass --shared DIR)", file=sys.stderr)
        return 2
    files = build(shared)
    stale = existing_files() - set(files)
    if args.check:
        bad = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if bad or stale:
            for p in sorted(bad):
                print(f"out of date: {_rel(p)}", file=sys.stderr)
            for p in sorted(stale):
                print(f"stale (no longer generated): {_rel(p)}", file=sys.stderr)
            print("run: python scripts/gen_flag_tables.py", file=sys.stderr)
            return 1
        print(f"flag tables up to date ({len(files)} files)")
        return 0
    for p in sorted(stale):
        p.unlink()
    total = 0
    for p, text in sorted(files.items()):
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
    print(f"wrote {len(files)} flag tables under {_rel(OUT_DIR)} ({total} bytes)")
    return 0


# --------------------------------------------------------------------------------------------
# Maintenance: how the VLLM_* overlay was made (needs torch, pydantic, transformers, fastapi, ...
# in the running interpreter; missing modules imported from vLLM's tree are mocked, as in vLLM's
# own docs/mkdocs/hooks/generate_argparse.py). Not used when generating the tables.
# --------------------------------------------------------------------------------------------


def dump_vllm_parser(sdist_dir: str, out_json: str) -> int:  # pragma: no cover - maintenance only
    import importlib
    import importlib.abc
    import importlib.metadata as md
    import importlib.util
    import logging
    import os
    from importlib.machinery import ModuleSpec
    from unittest.mock import MagicMock

    root = os.path.abspath(sdist_dir)
    sys.path.insert(0, root)
    logging.disable(logging.CRITICAL)
    mocked: list[str] = []
    # Optional accelerator probes must stay missing, or every platform plugin "activates".
    nomock = set(sys.stdlib_module_names) | {
        "libtpu",
        "torch_xla",
        "habana_frameworks",
        "transformers_neuronx",
        "neuronx_distributed_inference",
        "neuronxcc",
        "amdsmi",
        "intel_extension_for_pytorch",
        "oneccl_bindings_for_pytorch",
        "tpu_info",
        "tpu_commons",
        "tpu_inference",
        "vllm_tpu",
        "ray",
        "sphinx",
    }

    class PMock(MagicMock):
        def __init__(self, *a, **k):
            name = k.pop("name", None)
            super().__init__(*a, **k)
            self._mock_name = name or "mock"
            self.__spec__ = ModuleSpec(name, None)
            self.__path__ = []

        def __get_pydantic_core_schema__(self, source_type, handler):
            from pydantic_core import core_schema

            return core_schema.any_schema()

    class MockFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            f = sys._getframe(1)
            while f is not None and (f.f_code.co_filename.startswith("<frozen") or "importlib" in f.f_code.co_filename):
                f = f.f_back
            if f is None or not f.f_code.co_filename.startswith(root) or name.split(".")[0] in nomock:
                return None
            mocked.append(name)
            return importlib.util.spec_from_loader(name, self)

        def create_module(self, spec):
            return PMock(name=spec.name)

        def exec_module(self, module):
            pass

    sys.modules["vllm._C"] = PMock(name="vllm._C")
    sys.meta_path.append(MockFinder())
    orig_version = md.version

    def version(name):  # vLLM picks the CPU platform from a "+cpu" version
        if name == "vllm":
            return "0.0.0+cpu"
        try:
            return orig_version(name)
        except md.PackageNotFoundError:
            return "0.0.0"

    md.version = version
    cli_mod = next(
        m for m in ("vllm.entrypoints.common.cli_args", "vllm.entrypoints.openai.cli_args") if os.path.exists(os.path.join(root, *m.split(".")) + ".py")
    )
    cli = importlib.import_module(cli_mod)
    fap_mod = "vllm.utils.argparse_utils" if os.path.exists(os.path.join(root, "vllm/utils/argparse_utils.py")) else "vllm.utils"
    fap = importlib.import_module(fap_mod).FlexibleArgumentParser
    parser = cli.make_arg_parser(fap(prog="vllm serve"))
    deprecated = {id(a) for a in (getattr(parser, "_deprecated", None) or getattr(fap, "_deprecated", None) or ())}
    hidden: dict[int, list[str]] = {}
    for opt, a in parser._option_string_actions.items():
        if opt not in a.option_strings:
            hidden.setdefault(id(a), []).append(opt)

    def jsonable(x):
        try:
            json.dumps(x)
            return x
        except TypeError:
            return repr(x)

    actions = []
    for a in parser._actions:
        t = a.type
        actions.append(
            {
                "opts": list(a.option_strings) + hidden.get(id(a), []),
                "dest": a.dest,
                "action": type(a).__name__,
                "nargs": a.nargs,
                "type": None if t is None else (getattr(t, "__name__", None) or type(t).__name__),
                "choices": [str(c) for c in a.choices] if a.choices else None,
                "default": jsonable(a.default),
                "help": a.help if isinstance(a.help, str) else None,
                "deprecated": bool(getattr(a, "deprecated", False)) or id(a) in deprecated,
            }
        )
    Path(out_json).write_text(json.dumps({"mocked": sorted(set(mocked)), "actions": actions}, indent=0))
    print(f"{len(actions)} actions, {len(set(mocked))} modules mocked -> {out_json}")
    return 0


def _compress(per_version: dict[str, object]):
    """{ver: value} over releases that have the option -> value, or [[since, value], ...]."""
    vers = sorted(per_version, key=vkey)
    vals = [per_version[v] for v in vers]
    if all(json.dumps(x, sort_keys=True) == json.dumps(vals[0], sort_keys=True) for x in vals):
        return vals[0]
    out, last = [], None
    for v, x in zip(vers, vals):
        key = json.dumps(x, sort_keys=True)
        if key != last:
            out.append([v, x])
            last = key
    return out


def derive_vllm_overlay(dump_paths: list[str]) -> str:  # pragma: no cover - maintenance only
    """Dumps named ``<version>.json`` -> the text of the VLLM_* overlay block."""
    dumps = {Path(p).stem: json.loads(Path(p).read_text())["actions"] for p in dump_paths}
    nargs, actions, deprecated, facts, aliases = {}, {}, {}, {}, {}
    type_names = {"_optional_type": "optional", "<lambda>": None}
    for ver, acts in sorted(dumps.items(), key=lambda kv: vkey(kv[0])):
        for a in acts:
            g = a["opts"]
            if not g:
                continue
            head = g[0]
            # pure long aliases the grouping rules cannot see
            for o in g[1:]:
                if head != "-h" and o.startswith("--") and not o.startswith("--no-") and _ed_base(o) is None:
                    aliases[o] = head
            kind = _group_kind(g)
            n = norm_nargs(a["action"], a["nargs"])
            if kind is None:
                nargs.setdefault(head, {})[ver] = n
                default_action = "store_true" if n == 0 else "store"
                actions.setdefault(head, {})[ver] = ACTION_NAMES.get(a["action"], a["action"])
                actions[head].setdefault("_default", {})[ver] = default_action
            if a["deprecated"] or help_says_deprecated(a["help"]):
                deprecated.setdefault(head, []).append(ver)
            f = {}
            if head in VLLM_CURATED:
                f = {"type": type_names.get(a["type"], a["type"]), "choices": a["choices"], "default": a["default"]}
            if head in deprecated and ver in deprecated[head] and short_help(a["help"]):
                f["help"] = short_help(a["help"])
            if f:
                facts.setdefault(head, {})[ver] = f
    nargs_out = {k: _compress(v) for k, v in sorted(nargs.items()) if any(x != 1 for x in v.values())}
    actions_out = {}
    for k, v in sorted(actions.items()):
        dflt = v.pop("_default")
        if any(v[ver] != dflt[ver] for ver in v):
            actions_out[k] = _compress(v)
    facts_out = {k: _compress(v) for k, v in sorted(facts.items())}
    lines = ["VLLM_NARGS = {"] + [f"    {k!r}: {v!r}," for k, v in nargs_out.items()] + ["}"]
    lines += ["VLLM_ACTIONS = {"] + [f"    {k!r}: {v!r}," for k, v in actions_out.items()] + ["}"]
    lines += ["VLLM_DEPRECATED = {"] + [f"    {k!r}: {tuple(v)!r}," for k, v in sorted(deprecated.items())] + ["}"]
    lines += ["VLLM_FACTS = {"] + [f"    {k!r}: {v!r}," for k, v in facts_out.items()] + ["}"]
    lines += ["VLLM_ALIASES = {"] + [f"    {k!r}: {v!r}," for k, v in sorted(aliases.items())] + ["}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
