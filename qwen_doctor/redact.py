"""The one redactor: every string the doctor prints, logs, writes or serves passes through here.

It is driven by names and by value shapes:

- option names: ``--api-key``, ``--hf-token``, ``--ssl-keyfile-password``, any option whose words include
  password/passwd/secret/token/credential(s)/apikey, or that ends in ``-key`` (not ``--ssl-keyfile``, a path),
  and any option one edit away from one of those (``--api-kye``);
- environment names: ``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*`` (not ``*TOKENS*``/``TOKENIZER``), ``*_KEY``, ``*_DSN``,
  ``*_URL`` values with a password in them;
- value shapes: URL userinfo (``scheme://user:pass@host``, any scheme: DSNs too), ``Authorization:`` headers,
  ``hf_...`` and ``sk-...`` tokens, JSON and YAML keys inside option values (``{"token": "..."}``, ``password: x``);
- literal secrets the run knows (``--api-key`` given to the doctor).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

REDACTED = "***"

# Options whose value is a secret on SGLang, vLLM, TEI or the doctor (also matched by the word rules below).
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
    "--ssl-keyfile-password",
)
_SECRET_WORDS = {"password", "passwd", "pwd", "secret", "token", "apikey", "credential", "credentials", "passphrase"}
_NOT_SECRET = {"--ssl-keyfile", "--ssl-certfile", "--ssl-ca-certs", "--tokenizer", "--tokenizer-path", "--tokenizer-mode"}


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[-_.\s]+", name.lower()) if w]


_TOKEN_KINDS = {"bos", "eos", "pad", "unk", "sep", "cls", "mask", "end", "special", "added", "start", "stop", "last", "first"}
_DESCRIPTIVE = {
    "env",
    "names",
    "name",
    "source",
    "flag",
    "flags",
    "option",
    "options",
    "given",
    "required",
    "set",
    "present",
    "count",
    "len",
    "length",
    "id",
    "ids",
    "file",
    "path",
    "kind",
    "type",
}


def _secret_name(name: str) -> bool:
    """Whether an option/key/variable name (any case, any separator) names a secret."""
    n = name.strip().lstrip("-").lower()
    if not n or ("--" + n.replace("_", "-")) in _NOT_SECRET:
        return False
    ws = _words(n)
    if not ws or ws[-1] in _DESCRIPTIVE:
        return False
    if ws[-1] == "token" and len(ws) > 1 and ws[-2] in _TOKEN_KINDS:  # eos_token, pad_token: tokenizer words
        return False
    if any(w in _SECRET_WORDS for w in ws):
        return True
    if ws[-1] in ("key", "dsn") and len(ws) > 1:
        return True
    if n.replace("-", "").replace("_", "") in ("apikey", "accesskey", "privatekey", "secretkey", "authorization"):
        return True
    return False


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by at most one insertion, deletion, substitution or adjacent transposition."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def is_secret_env(name: str) -> bool:
    """Whether an environment variable name holds a secret (HF_TOKEN, VLLM_API_KEY, DB_PASSWORD, SENTRY_DSN...)."""
    return _secret_name(name)


def is_secret_option(opt: str) -> bool:
    """``--api-key``, ``--api-key=x``, an abbreviation of a secret option, or one edit away from one (``--api-kye``)."""
    name = opt.split("=", 1)[0].replace("_", "-").lower()
    if not name.startswith("-") or name in _NOT_SECRET:
        return False
    if _secret_name(name):
        return True
    for s in SECRET_OPTIONS:
        if len(name) > 4 and s.startswith(name) and s != "--token":  # argparse abbreviation
            return True
        if len(s) >= 7 and _one_edit(name, s):
            return True
    return False


_Q = r"(?:\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_KEY_WORDS = r"[A-Za-z0-9_.\-]*(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|authorization)[A-Za-z0-9_.\-]*"
_TEXT_PATTERNS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer\s+|basic\s+|token\s+)?[^\s'\",}]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)(\bx-api-key\s*[:=]\s*)[^\s'\",}]+"), r"\1" + REDACTED),
    # JSON keys: "token": "v" / "api_key": 123 (not "max_tokens": 512: the key must end in a secret word)
    (
        re.compile(
            r"(?i)(\"(?:[A-Za-z0-9_.\-]*[_.\-])?(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|authorization)\"\s*:\s*)("
            + _Q
            + r"|[^\s,}\]]+)"
        ),
        r'\1"' + REDACTED + '"',
    ),
    # YAML / key=value: password: v, hf_token=v, client_secret: v (a bare "token" only in JSON: prose says "end token: x")
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_\-\"])((?:[A-Za-z0-9_.\-]*[_.\-])?(?:password|passwd|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)\s*[:=]\s*|(?:[A-Za-z0-9.\-]*[_.\-])?(?<!eos_)(?<!bos_)(?<!pad_)(?<!unk_)(?:hf|auth|access|api|bearer|refresh|id|session|github|gh|bot|slack)[_.\-]token\s*[:=]\s*)("
            + _Q
            + r"|[^\s,}\]'\"]+)"
        ),
        r"\1" + REDACTED,
    ),
    # environment assignments of secret-named variables
    (re.compile(r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|_DSN|CREDENTIALS)[A-Z0-9_]*=)([^\s'\"]+)"), r"\1" + REDACTED),
    (re.compile(r"\b(hf_[A-Za-z0-9]{10,})"), REDACTED),
    (re.compile(r"\b(sk-[A-Za-z0-9_\-]{10,})"), REDACTED),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,})"), REDACTED),
    # userinfo of any URL / DSN: scheme://user:pass@host (and scheme://token@host for a bare secret-looking user)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@'\"]*:)([^@\s/'\"]+)(@)"), r"\1" + REDACTED + r"\3"),
)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Redact secret option values, secret env assignments and secret shapes in an argv list."""
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
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and is_secret_env(name):
                out.append(name + "=" + REDACTED)
                continue
        out.append(redact_text(tok))
    return out


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """An environment with secret-named variables' values hidden and secret shapes inside the others redacted."""
    return {k: (REDACTED if v and is_secret_env(k) else redact_text(v)) for k, v in env.items()}


# --api-key value / --api-key=value / --api-kye value (any secret option, by the rules of is_secret_option). A value
# never swallows a closing quote, so a redacted shell-quoted command ('VLLM_API_KEY=***' vllm serve ...) stays pasteable.
_OPTION_VALUE = re.compile(r"(?<![\w-])(--[A-Za-z0-9][A-Za-z0-9_-]*)([= ]+)(\"[^\"]*\"|'[^']*'|[^\s'\"]+)")


def _option_value(m: re.Match) -> str:
    opt, sep, value = m.group(1), m.group(2), m.group(3)
    if not is_secret_option(opt) or (sep.strip() != "=" and value.startswith("--")):
        return m.group(0)
    if sep.strip() != "=" and _prose_after_typo(opt, value):
        return m.group(0)  # "--api-kye does not exist": a misspelt option named in prose, followed by a word, not a value
    return opt + sep + REDACTED


_PROSE_WORD = re.compile(r"[a-z]{1,12}[.,;:]?")


def _prose_after_typo(opt: str, value: str) -> bool:
    """A word of prose after an option that is a secret one only by the one-edit rule (argv is redacted by redact_argv,
    which knows values; in free text a misspelt option name is followed by a word of the message)."""
    name = opt.split("=", 1)[0].replace("_", "-").lower()
    exact = _secret_name(name) or any(len(name) > 4 and s.startswith(name) for s in SECRET_OPTIONS)
    return not exact and bool(_PROSE_WORD.fullmatch(value))


#: a text with none of these (case-insensitive) holds no secret shape the patterns know (a cheap first look)
_TRIGGERS = re.compile(r"(?i)--|://|authoriz|x-api-key|password|passwd|secret|token|key|credential|_dsn|hf_|sk-|gh[pousr]_")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact known secret shapes and any literal secret values given."""
    if not text:
        return text
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, REDACTED)
    if not _TRIGGERS.search(text):
        return text
    if "--" in text:
        text = _OPTION_VALUE.sub(_option_value, text)
    for pattern, repl in _TEXT_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_obj(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """Deep-redact strings inside evidence structures (a secret-named key hides its whole value)."""
    secrets = tuple(secrets)
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and _secret_name(k) and not isinstance(v, bool) and v not in (None, "", 0):
                out[k] = REDACTED
            else:
                out[k] = redact_obj(v, secrets)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v, secrets) for v in obj)
    return obj
