"""Secret redaction for everything the doctor prints.

Command lines, headers, URLs and free text all pass through here before they reach a result.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

REDACTED = "***"

# Options whose value is a secret, on any of the servers (SGLang, vLLM, TEI) or the doctor.
SECRET_OPTIONS = (
    "--api-key",
    "--admin-api-key",
    "--hf-token",
    "--hf-api-token",
    "--token",
    "--password",
    "--secret",
    "--auth-token",
    "--access-token",
)
_SECRET_ENV = re.compile(r"(?i)^[A-Z0-9_]*(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY)[A-Z0-9_]*$")
# evidence keys that hold a secret (not "tokenizer_class", "max_tokens", ...)
_SECRET_KEY = re.compile(r"(?i)^(?:[a-z0-9]+[_-])*(?:token|secret|password|passwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|authorization)$")
_TEXT_PATTERNS = (
    # --api-key value / --api-key=value (and friends). A value never swallows a closing quote, so a redacted
    # shell-quoted command ('VLLM_API_KEY=***' vllm serve ...) stays pasteable.
    (re.compile(r"(?i)(--(?:admin-)?api[-_]key|--hf[-_](?:api[-_])?token|--token|--password|--secret)([= ]+)(\"[^\"]*\"|'[^']*'|[^\s'\"]+)"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer\s+|basic\s+|token\s+)?[^\s'\"]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|API_KEY)=)([^\s'\"]+)"), r"\1" + REDACTED),
    (re.compile(r"\b(hf_[A-Za-z0-9]{10,})"), REDACTED),
    (re.compile(r"\b(sk-[A-Za-z0-9_\-]{10,})"), REDACTED),
    (re.compile(r"(?i)(https?://[^/\s:@]+:)([^@\s/]+)(@)"), r"\1" + REDACTED + r"\3"),
)


def is_secret_env(name: str) -> bool:
    """Whether an environment variable name looks like it holds a secret (HF_TOKEN, VLLM_API_KEY, ...)."""
    return bool(_SECRET_ENV.match(name))


def is_secret_option(opt: str) -> bool:
    name = opt.split("=", 1)[0].replace("_", "-").lower()
    return any(name == s or (len(name) > 4 and s.startswith(name) and s != "--token") for s in SECRET_OPTIONS)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact secret option values and secret env assignments in an argv list."""
    out: list[str] = []
    hide_next = False
    for tok in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if tok.startswith("-") and is_secret_option(tok):
            if "=" in tok:
                out.append(tok.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(tok)
                hide_next = True
            continue
        if "=" in tok and not tok.startswith("-"):
            name = tok.split("=", 1)[0]
            if _SECRET_ENV.match(name):
                out.append(name + "=" + REDACTED)
                continue
        out.append(redact_text(tok))
    return out


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact known secret shapes and any literal secret values given."""
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, REDACTED)
    for pattern, repl in _TEXT_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_obj(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """Deep-redact strings inside evidence structures."""
    secrets = tuple(secrets)
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and _SECRET_KEY.match(k):
                out[k] = REDACTED if v else v
            else:
                out[k] = redact_obj(v, secrets)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, secrets) for v in obj)
    return obj
