"""The hostile-input corpus: one generator per class of issue 13. Each returns a list of :class:`Case`.

Paths in argv use ``{d}``, the case's own temp dir. ``OUT`` (set by the test) is a directory outside every case
dir holding sentinel files that symlinks in the cases point at: they must never change.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
from pathlib import Path

from .harness import Case

FORMATS = ("json", "junit", "text", "markdown", "prometheus")
LAUNCH = ["--", "python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-Embedding-0.6B", "--is-embedding", "--port", "30000"]
QUICK = ["--offline", "--select", "launch"]
OUTSIDE: dict[str, Path] = {}  # "dir", "file": set by the test before the cases are built


def _w(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _sock(path: Path) -> None:
    """A socket file at ``path`` (bound at a short path and moved there: AF_UNIX paths are short)."""
    import tempfile

    short = tempfile.mktemp(prefix="qd-", dir="/tmp")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(short)
    finally:
        s.close()  # the socket file stays
    try:
        os.rename(short, path)
    except OSError:  # another file system: a FIFO stands in
        os.unlink(short)
        os.mkfifo(path)


def _sparse(path: Path, size: int = 5 * 1024**3) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def _compose(cmd: str = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --port 30000", extra: str = "") -> str:
    return f"services:\n  emb:\n    image: lmsysorg/sglang:v0.5.4\n    command: {json.dumps(cmd)}\n{extra}"


def _bomb(levels: int, width: int = 9, where: str = "command") -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append("services:\n  s:\n    image: lmsysorg/sglang")
    lines.append(f"    {where}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


# -- 1. unbounded reads --------------------------------------------------------------------------------------


def _bad_file_kinds() -> list[tuple[str, object]]:
    """(name, setup(path)) of files that must be refused or bounded, never read to the end."""
    return [
        ("devzero", "/dev/zero"),
        ("devurandom", "/dev/urandom"),
        ("fifo", _fifo),
        ("socket", _sock),
        ("sparse5g", _sparse),
        ("directory", lambda p: p.mkdir()),
        ("nul", lambda p: _w(p, b"\0" * 4096)),
        ("latin1", lambda p: _w(p, b'model-path = "\xff\xfe"\n')),
        ("oneline4m", lambda p: _w(p, b"x" * (5 * 1024 * 1024))),
        ("deep_brackets", lambda p: _w(p, "a = " + "[" * 50000 + "]" * 50000 + "\n")),
        ("deep_yaml", lambda p: _w(p, "services: " + "[" * 20000 + "]" * 20000 + "\n")),
        ("deep_map", lambda p: _w(p, "services:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3000)))),
        ("bomb9", lambda p: _w(p, _bomb(9))),
        ("bomb8", lambda p: _w(p, _bomb(8))),
        ("bomb_env", lambda p: _w(p, _bomb(9, where="environment"))),
        ("bomb_wide", lambda p: _w(p, _bomb(5, width=60))),
        ("recursive_alias", lambda p: _w(p, "services:\n  s: &s\n    image: lmsysorg/sglang\n    command: &c [*c]\n")),
        ("dangling_symlink", lambda p: os.symlink("/nonexistent/qwen-doctor-test", p)),
        ("symlink_devzero", lambda p: os.symlink("/dev/zero", p)),
        ("symlink_fifo", lambda p: (_fifo(p.with_name("real-fifo")), os.symlink(p.with_name("real-fifo"), p))),
        ("unreadable", lambda p: (_w(p, "x = 1\n"), os.chmod(p, 0)) if os.geteuid() != 0 else _fifo(p)),
    ]


def unbounded_reads() -> list[Case]:
    cases: list[Case] = []
    for name, kind in _bad_file_kinds():

        def setup(d: Path, kind=kind, fname="input") -> None:
            if callable(kind):
                kind(d / fname)

        def path(kind=kind) -> str:
            return kind if isinstance(kind, str) else "{d}/input"

        p = path()
        for fmt in ("json",) if name not in ("devzero", "fifo", "bomb9") else ("json", "text"):
            # --config: the settings file
            cases.append(
                Case(
                    f"read/config/{name}/{fmt}",
                    ["check", "--config", p, "--deadline", "5", *QUICK, "--format", fmt, *LAUNCH],
                    fmt,
                    {0, 1, 2},
                    setup=setup,
                    wall=10,
                )
            )
            # --from: a deployment file
            cases.append(
                Case(f"read/from/{name}/{fmt}", ["check", "--from", p, "--deadline", "5", *QUICK, "--format", fmt], fmt, {0, 1, 2}, setup=setup, wall=10)
            )
        # --samples
        cases.append(
            Case(
                f"read/samples/{name}",
                ["check", "--samples", p, "--deadline", "5", "--offline", "--select", "tokenizer", "--format", "json", *LAUNCH],
                "json",
                {0, 1, 2},
                setup=setup,
                wall=10,
            )
        )
        # QWEN_DOCTOR_CONFIG
        cases.append(
            Case(
                f"read/envconfig/{name}",
                ["check", "--deadline", "5", *QUICK, "--format", "json", *LAUNCH],
                "json",
                {0, 1, 2},
                env={"QWEN_DOCTOR_CONFIG": p},
                setup=setup,
                wall=10,
            )
        )

        # the compose project's .env, and a file named like a model file in a model dir
        def env_setup(d: Path, kind=kind) -> None:
            _w(d / "docker-compose.yaml", _compose("python3 -m sglang.launch_server --model-path ${MODEL:-Qwen/Qwen3-Embedding-0.6B} --is-embedding"))
            if callable(kind):
                kind(d / ".env")
            elif isinstance(kind, str):
                os.symlink(kind, d / ".env")

        cases.append(
            Case(
                f"read/dotenv/{name}",
                ["check", "--from", "{d}/docker-compose.yaml", "--deadline", "5", *QUICK, "--format", "json"],
                "json",
                {0, 1, 2},
                setup=env_setup,
                wall=10,
            )
        )
        for model_file in (
            ("config.json", "model.safetensors")
            if name not in ("devzero", "fifo", "sparse5g")
            else ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")
        ):

            def model_setup(d: Path, kind=kind, model_file=model_file) -> None:
                m = d / "model"
                m.mkdir()
                _w(m / "config.json", json.dumps({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024}))
                target = m / model_file
                if target.exists():
                    target.unlink()
                if callable(kind):
                    kind(target)
                elif isinstance(kind, str):
                    os.symlink(kind, target)

            cases.append(
                Case(
                    f"read/model/{model_file}/{name}",
                    [
                        "check",
                        "--deadline",
                        "8",
                        "--offline",
                        "--select",
                        "model,tokenizer",
                        "--format",
                        "json",
                        "--",
                        "vllm",
                        "serve",
                        "{d}/model",
                        "--task",
                        "embed",
                    ],
                    "json",
                    {0, 1, 2},
                    setup=model_setup,
                    wall=15,
                )
            )
    # the four cases of "Done when": exit 2, a message naming the file, within --deadline + 5 s, under 300 MB
    done_when = [
        ("config-devzero", ["--config", "/dev/zero"], "/dev/zero", None),
        ("from-devzero", ["--from", "/dev/zero"], "/dev/zero", None),
        ("from-fifo", ["--from", "{d}/fifo"], "fifo", lambda d: _fifo(d / "fifo")),
        ("config-fifo", ["--config", "{d}/fifo"], "fifo", lambda d: _fifo(d / "fifo")),
        ("from-bomb", ["--from", "{d}/bomb.yaml"], "bomb.yaml", lambda d: _w(d / "bomb.yaml", _bomb(9))),
    ]
    for name, args, named, setup in done_when:
        for fmt in FORMATS:
            cases.append(
                Case(
                    f"done-when/{name}/{fmt}",
                    ["check", *args, "--deadline", "5", "--offline", "--format", fmt],
                    fmt,
                    {2},
                    setup=setup,
                    wall=10,
                    rss_mb=300,
                    stderr_has=named,
                )
            )
    # checks.d: a FIFO, a device, a huge file named like a drop-in
    for name, kind in (("fifo", _fifo), ("sparse", _sparse), ("socket", _sock), ("dir", lambda p: p.mkdir())):

        def dropin_setup(d: Path, kind=kind) -> None:
            c = d / "checks.d"
            c.mkdir(mode=0o755)
            kind(c / "a_check.py")

        cases.append(
            Case(
                f"read/checksd/{name}",
                ["check", "--checks-dir", "{d}/checks.d", "--deadline", "5", *QUICK, "--format", "json", *LAUNCH],
                "json",
                {0, 1},
                setup=dropin_setup,
                wall=10,
            )
        )
    return cases


# -- 2. bad stdout ----------------------------------------------------------------------------------------------


def bad_stdout() -> list[Case]:
    cases: list[Case] = []
    commands = [
        ("check", ["check", *QUICK, *LAUNCH]),
        ("config", ["config"]),
        ("config-json", ["config", "--json"]),
        ("checks", ["checks"]),
        ("explain", ["explain", "launch.embedding-mode"]),
        ("help", ["--help"]),
        ("completion", ["completion", "bash"]),
    ]
    for (name, argv), mode in itertools.product(commands, ("full", "epipe", "closed")):
        cases.append(Case(f"stdout/{mode}/{name}", argv, None, {4}, stdout=mode, wall=20))
    for fmt, mode in itertools.product(FORMATS, ("full", "epipe", "closed")):
        cases.append(Case(f"stdout/{mode}/check-{fmt}", ["check", *QUICK, "--format", fmt, *LAUNCH], None, {4}, stdout=mode, wall=20))
    # the interpreter's own start with these streams: a few fresh processes
    for mode in ("full", "closed", "epipe"):
        cases.append(Case(f"stdout-fresh/{mode}/check", ["check", *QUICK, "--format", "json", *LAUNCH], None, {4}, stdout=mode, fresh=True, wall=40))
        cases.append(Case(f"stdout-fresh/{mode}/version", ["--version"], None, {4}, stdout=mode, fresh=True, wall=40))
    return cases


# -- 3. names that do not encode -----------------------------------------------------------------------------

_BAD_NAMES = [
    "caf\udce9",  # a Latin-1 byte in a UTF-8 locale
    "\udcff\udcfe",
    "m\u00e9dele-\u4e2d\u6587",  # fine in UTF-8, not in ASCII
    "emoji-\U0001f600",
    "x\udc80y",
]


def _undecodable(name: str) -> bool:
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name)


def bad_names() -> list[Case]:
    cases: list[Case] = []
    for i, name in enumerate(_BAD_NAMES):
        for enc, fmt in itertools.product(("ascii", "utf-8"), ("text", "json", "markdown", "junit")):

            def setup(d: Path, name=name) -> None:
                p = os.path.join(os.fsencode(str(d)), os.fsencode(name) + b".yaml")
                with open(p, "wb") as f:
                    f.write(_compose().encode())

            cases.append(
                Case(
                    f"names/{i}/{enc}/{fmt}/from", ["check", "--from", "{d}/" + name + ".yaml", *QUICK, "--format", fmt], fmt, {0, 1}, setup=setup, encoding=enc
                )
            )
            cases.append(
                Case(
                    f"names/{i}/{enc}/{fmt}/model",
                    ["check", *QUICK, "--format", fmt, "--", "vllm", "serve", "/models/" + name, "--task", "embed", "--served-model-name", name],
                    fmt,
                    {0, 1, 2} if _undecodable(name) else {0, 1},  # a launch argument that is not UTF-8: a usage error
                    encoding=enc,
                    stderr_has="not valid UTF-8" if _undecodable(name) else None,
                )
            )
        cases.append(Case(f"names/{i}/missing-config", ["check", "--config", "{d}/" + name + ".toml", *QUICK, *LAUNCH], None, {2}, encoding="ascii"))
    # a fresh interpreter with an ASCII stdout (PYTHONIOENCODING), as the issue ran it
    for i, name in enumerate(_BAD_NAMES[:3]):
        for fmt in ("text", "json"):
            cases.append(
                Case(
                    f"names-fresh/{i}/{fmt}",
                    ["check", *QUICK, "--format", fmt, "--", "vllm", "serve", "/models/" + name, "--task", "embed"],
                    fmt,
                    {0, 1, 2} if _undecodable(name) else {0, 1},
                    env={"LC_ALL": "C", "PYTHONIOENCODING": "ascii"},
                    fresh=True,
                    wall=40,
                )
            )
    return cases


# -- 4. numbers out of range ---------------------------------------------------------------------------------

_NUMBERS = {
    "port": ["99999999999999999999", "65536", "0", "-1", "1e400", "nan"],
    "requests": ["1000000000000000000000000000000", "0", "-5", "1e30"],
    "concurrency": ["100000000000000000000", "0", "4294967296", "-1"],
    "deadline": ["1e400", "1e300", "nan", "inf", "-1", "0", "9999999999999"],
    "timeout": ["nan", "inf", "1e300", "-0.0", "0", "1e-400"],
    "expect-dim": ["99999999999999999999999", "0", "-1", "2147483648"],
}
_TOML_NUMBERS = {
    "port": ["99999999999999999999", "65536", "0", "-1", "nan", "inf", "1e400"],
    "requests": ["9223372036854775807", "0", "1.5"],
    "concurrency": ["2147483648", "0"],
    "deadline": ["nan", "inf", "-inf", "1e400", "0", "99999999999999999999999999999999999999999999"],
    "timeout": ["nan", "inf", "1e300", "0"],
    "expect-dim": ["99999999999999999999999", "0"],
}


def numbers() -> list[Case]:
    cases: list[Case] = []
    for key, values in _NUMBERS.items():
        for i, v in enumerate(values):
            cases.append(Case(f"num/flag/{key}/{i}", ["check", f"--{key}", v, *QUICK, "--format", "json", *LAUNCH], "json", {2}, stderr_has=f"--{key}"))
            env = "QWEN_DOCTOR_" + key.upper().replace("-", "_")
            cases.append(Case(f"num/env/{key}/{i}", ["check", *QUICK, "--format", "json", *LAUNCH], "json", {2}, env={env: v}, stderr_has=env))
    for key, values in _TOML_NUMBERS.items():
        for i, v in enumerate(values):

            def setup(d: Path, key=key, v=v) -> None:
                _w(d / "qd.toml", f"{key} = {v}\n")

            cases.append(
                Case(
                    f"num/toml/{key}/{i}",
                    ["check", "--config", "{d}/qd.toml", *QUICK, "--format", "json", *LAUNCH],
                    "json",
                    {2},
                    setup=setup,
                    stderr_has="qd.toml",
                )
            )
    # serve's own numbers
    for i, v in enumerate(["1e400", "nan", "-1", "99999999999"]):
        cases.append(Case(f"num/serve-cache/{i}", ["serve", "--cache", v, "--listen", "127.0.0.1:0", *LAUNCH], None, {2}, stderr_has="--cache"))
    for i, v in enumerate(["127.0.0.1:99999999999999999999", "127.0.0.1:-1", "[::1]:65536", "host:nan"]):
        cases.append(Case(f"num/serve-listen/{i}", ["serve", "--listen", v, *LAUNCH], None, {2}))
    return cases


# -- 5. output-file targets ----------------------------------------------------------------------------------


def output_targets() -> list[Case]:
    cases: list[Case] = []
    outside_file = str(OUTSIDE["file"])
    kinds = {
        "symlink-outside": (lambda d: os.symlink(outside_file, d / "report"), "{d}/report"),
        "symlink-dangling": (lambda d: os.symlink(str(OUTSIDE["dir"]) + "/never-created", d / "report"), "{d}/report"),
        "symlink-dir": (lambda d: os.symlink(str(OUTSIDE["dir"]), d / "report"), "{d}/report"),
        "fifo": (lambda d: _fifo(d / "report"), "{d}/report"),
        "socket": (lambda d: _sock(d / "report"), "{d}/report"),
        "directory": (lambda d: (d / "report").mkdir(), "{d}/report"),
        "devnull": (None, "/dev/null"),
        "devfull": (None, "/dev/full"),
        "ww-symlink": (lambda d: ((d / "ww").mkdir(), os.chmod(d / "ww", 0o777), os.symlink(str(OUTSIDE["dir"]), d / "ww" / "link")), "{d}/ww/link/report"),
        "sticky-symlink": (
            lambda d: ((d / "st").mkdir(), os.chmod(d / "st", 0o1777), os.symlink(str(OUTSIDE["dir"]), d / "st" / "link")),
            "{d}/st/link/report",
        ),
        "missing-dir": (None, "{d}/no/such/dir/report"),
    }
    for (name, (setup, target)), fmt in itertools.product(kinds.items(), FORMATS):
        cases.append(
            Case(
                f"output/{name}/{fmt}",
                ["check", *QUICK, "--format", fmt, "-o", target, *LAUNCH],
                fmt,
                {2},
                setup=setup,
                sentinels=("{d}/report", "/dev/null", "/dev/full"),
                stderr_has="--output",
            )
        )
    # a regular file is replaced atomically, keeping its mode
    for fmt in FORMATS:

        def setup(d: Path) -> None:
            _w(d / "report", "old\n")
            os.chmod(d / "report", 0o640)

        cases.append(
            Case(f"output/regular/{fmt}", ["check", *QUICK, "--format", fmt, "-o", "{d}/report", *LAUNCH], fmt, {0, 1}, setup=setup, output="{d}/report")
        )
    return cases


# -- 6. secrets -------------------------------------------------------------------------------------------------

S = "hunter2-Zq8xV3"  # every case's secret; each form below hides it somewhere


def _secret_forms() -> list[tuple[str, list[str], dict[str, str], object]]:
    """(name, argv after 'check', env, setup) each holding S."""
    base = ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-Embedding-0.6B", "--is-embedding"]
    vllm = ["vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--task", "embed"]
    forms: list[tuple[str, list[str], dict[str, str], object]] = [
        ("api-key", ["--", *base, "--api-key", S], {}, None),
        ("api-key-eq", ["--", *base, f"--api-key={S}"], {}, None),
        ("ssl-keyfile-password", ["--", *vllm, "--ssl-keyfile-password", S], {}, None),
        ("hf-overrides-token", ["--", *vllm, "--hf-overrides", json.dumps({"token": S})], {}, None),
        ("hf-overrides-nested", ["--", *vllm, "--hf-overrides", json.dumps({"a": {"hf_token": S}})], {}, None),
        ("json-model-override", ["--", *base, "--json-model-override-args", json.dumps({"api_key": S})], {}, None),
        ("yaml-value", ["--", *vllm, "--hf-overrides", f"{{password: {S}}}"], {}, None),
        ("mistyped-api-kye", ["--", *base, "--api-kye", S], {}, None),
        ("mistyped-api_key", ["--", *base, "--api_key", S], {}, None),
        ("mistyped-apikey", ["--", *vllm, "--apikey", S], {}, None),
        ("env-prefix-token", ["--", "env", f"HF_TOKEN={S}", *base], {}, None),
        ("env-prefix-dsn", ["--", f"DATABASE_URL=postgres://app:{S}@db:5432/x", *base], {}, None),
        ("url-userinfo", ["--url", f"http://admin:{S}@127.0.0.1:9", "--select", "probe.reachable", "--timeout", "1", "--", *base], {}, None),
        ("doctor-api-key", ["--api-key", S, "--", *base], {}, None),
        ("doctor-api-key-env", ["--", *base], {"QWEN_DOCTOR_API_KEY": S}, None),
        ("authorization", ["--", *vllm, "--allowed-headers", f"Authorization: Bearer {S}"], {}, None),
        ("secret-env-name", ["--", "env", f"MY_SERVICE_SECRET={S}", *vllm], {}, None),
        ("password-flag", ["--", *vllm, "--db-password", S], {}, None),
        (
            "config-file-key",
            ["--config", "{d}/qd.toml"],
            {},
            lambda d: _w(
                d / "qd.toml",
                f'api-key = "{S}"\nlaunch = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --api-key {S}"\n',
            ),
        ),
        (
            "compose-env",
            ["--from", "{d}/c.yaml"],
            {},
            lambda d: _w(d / "c.yaml", _compose(extra=f"    environment:\n      HF_TOKEN: {S}\n      DATABASE_URL: postgres://u:{S}@db/x\n")),
        ),
        (
            "compose-command",
            ["--from", "{d}/c.yaml"],
            {},
            lambda d: _w(d / "c.yaml", _compose(f"python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --api-key {S}")),
        ),
        (
            "k8s-args",
            ["--from", "{d}/k.yaml"],
            {},
            lambda d: _w(
                d / "k.yaml",
                json.dumps(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "emb"},
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "vllm",
                                            "image": "vllm/vllm-openai:v0.11.0",
                                            "args": ["Qwen/Qwen3-Embedding-0.6B", "--task", "embed", "--api-key", S],
                                            "env": [{"name": "HF_TOKEN", "value": S}],
                                        }
                                    ]
                                }
                            }
                        },
                    }
                ),
            ),
        ),
        (
            "systemd-env",
            ["--from", "{d}/emb.service"],
            {},
            lambda d: _w(
                d / "emb.service",
                f"[Service]\nEnvironment=HF_TOKEN={S}\nExecStart=/usr/bin/python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --api-key {S}\n",
            ),
        ),
    ]
    return forms


def secrets() -> list[Case]:
    cases: list[Case] = []
    for (name, argv, env, setup), fmt in itertools.product(_secret_forms(), FORMATS):
        extra = [] if "--select" in argv else ["--select", "launch,deploy"]
        offline = [] if "--url" in argv else ["--offline"]
        head = [a for a in argv if a != "--"]
        cut = argv.index("--") if "--" in argv else len(argv)
        cmd = ["check", *offline, *extra, "--format", fmt, "-v", *argv[:cut], *argv[cut:]]
        del head
        cases.append(Case(f"secret/{name}/{fmt}", cmd, fmt, {0, 1}, secrets=(S,), env=env, setup=setup))
        if fmt == "json":
            cases.append(
                Case(
                    f"secret/{name}/o-file",
                    [*cmd[: -len(argv)], "-o", "{d}/out.json", *argv],
                    "json",
                    {0, 1},
                    secrets=(S,),
                    env=env,
                    setup=setup,
                    output="{d}/out.json",
                )
            )
    # `config` prints every setting: the key is masked
    for fmt in ("text", "json"):
        cases.append(
            Case(
                f"secret/config-command/{fmt}",
                ["config", *(["--json"] if fmt == "json" else []), "--api-key", S],
                "json" if fmt == "json" else None,
                {0},
                secrets=(S,),
            )
        )
    return cases


# -- 7. drop-ins --------------------------------------------------------------------------------------------

_CHECK = """
from qwen_doctor.plugin import Outcome

def register(registry):
    @registry.check("{cid}", "dropin check", category="launch"{extra})
    def _c(ctx):
        {body}
        return Outcome.passed("dropin ran")
"""


def _dropin(body: str = "pass", extra: str = "", top: str = "", cid: str = "launch.dropin-x") -> str:
    return top + "\n" + _CHECK.format(cid=cid, extra=extra, body=body)


def dropins() -> list[Case]:
    cases: list[Case] = []
    plain = _dropin()

    def in_dir(mode: int, src: str = plain, sub: str = "checks.d"):
        def setup(d: Path) -> None:
            c = d / sub
            c.mkdir(parents=True)
            _w(c / "x.py", src)
            os.chmod(c / "x.py", 0o644)
            os.chmod(c, mode)

        return setup

    behaviours = {
        "print": (_dropin(body="print('GARBAGE{not json')", top="print('IMPORT-GARBAGE')"), {0, 1}),
        "stdout-write": (_dropin(body="import sys; sys.stdout.write('GARBAGE<')"), {0, 1}),
        "exit0-import": (_dropin(top="import sys; sys.exit(0)"), {0, 1}),
        "exit0-register": ("import sys\ndef register(registry):\n    sys.exit(0)\n", {0, 1}),
        "exit0-check": (_dropin(body="import sys; sys.exit(0)"), {0, 1}),
        "exit3-check": (_dropin(body="raise SystemExit(3)"), {0, 1}),
        "raise-import": ("raise RuntimeError('boom')\n", {0, 1}),
        "raise-check": (_dropin(body="raise ValueError('boom')"), {0, 1}),
        "kbint-check": (_dropin(body="raise KeyboardInterrupt"), {0, 1, 130}),
        "nan-timeout": (_dropin(extra=", timeout=float('nan')"), {0, 1}),
        "inf-timeout": (_dropin(extra=", timeout=float('inf')"), {0, 1}),
        "neg-timeout": (_dropin(extra=", timeout=-1"), {0, 1}),
        "zero-timeout": (_dropin(extra=", timeout=0"), {0, 1}),
        "cycle": (
            "from qwen_doctor.plugin import Outcome\ndef register(r):\n"
            "    r.check('launch.cy-a', 'a', category='launch', depends_on=('launch.cy-b',))(lambda ctx: Outcome.passed('a'))\n"
            "    r.check('launch.cy-b', 'b', category='launch', depends_on=('launch.cy-a',))(lambda ctx: Outcome.passed('b'))\n",
            {0, 1},
        ),
        "self-cycle": (_dropin(extra=", depends_on=('launch.dropin-x',)"), {0, 1}),
        "hang-applies": (
            "import time\nfrom qwen_doctor.plugin import Outcome\ndef register(r):\n"
            "    r.check('launch.hang-applies', 'h', category='launch', timeout=1, applies=lambda t: time.sleep(3600))(lambda ctx: Outcome.passed('x'))\n",
            {0, 1},
        ),
        "hang-check": (_dropin(body="import time; time.sleep(3600)", extra=", timeout=1"), {0, 1}),
        "hang-import": (_dropin(top="import time; time.sleep(3600)"), {0, 1}),
        "hang-register": ("import time\ndef register(r):\n    time.sleep(3600)\n", {0, 1}),
        "dup-builtin-id": (_dropin(cid="launch.embedding-mode"), {0, 1}),
        "escape-summary": (
            "from qwen_doctor.plugin import Outcome\ndef register(r):\n    r.check('launch.esc', 'e\\x1b[31m', category='launch')(lambda ctx: Outcome.fail('\\x1b]0;pwned\\x07\\n✗ FAIL fake.line ok'))\n",
            {0, 1},
        ),
        "non-utf8": (b"# \xff\xfe\n" + plain.encode(), {0, 1}),
        "huge": ("#" * (2 * 1024 * 1024) + "\n" + plain, {0, 1}),
        "memory-hog-check": (_dropin(body="x = bytearray(3 * 1024**3)", extra=", timeout=5"), {0, 1}),
    }
    for (name, (src, rcs)), fmt in itertools.product(behaviours.items(), ("json", "junit", "text")):
        wall = 30 if "hang" in name else 20
        rss = 300
        cases.append(
            Case(
                f"dropin/{name}/{fmt}",
                ["check", "--checks-dir", "{d}/checks.d", "--deadline", "12", "--offline", "--select", "launch", "--format", fmt, *LAUNCH],
                fmt,
                rcs,
                setup=in_dir(0o755, src),
                wall=wall,
                rss_mb=rss,
                no_fake_line="✗ FAIL fake.line",
                slow="hang" in name,
            )
        )
    # where the drop-in lives: refused unless every directory up to / is safe
    places = {
        "world-writable": lambda d: in_dir(0o777)(d),
        "sticky": lambda d: in_dir(0o1777)(d),
        "ww-parent": lambda d: (in_dir(0o755)(d), os.chmod(d, 0o777)),
        "symlink-into-ww": lambda d: (in_dir(0o777, sub="ww")(d), os.symlink(d / "ww", d / "checks.d")),
        "file-symlink-into-ww": lambda d: (
            in_dir(0o777, sub="ww")(d),
            (d / "checks.d").mkdir(),
            os.symlink(d / "ww" / "x.py", d / "checks.d" / "x.py"),
        ),
        "ww-file": lambda d: (in_dir(0o755)(d), os.chmod(d / "checks.d" / "x.py", 0o666)),
    }
    for (name, setup), fmt in itertools.product(places.items(), ("json", "text")):
        cases.append(
            Case(
                f"dropin-place/{name}/{fmt}",
                ["check", "--checks-dir", "{d}/checks.d", *QUICK, "--format", fmt, *LAUNCH],
                fmt,
                {1},  # the refusal is an ERROR result
                setup=setup,
            )
        )
    # a group-writable directory owned by this user is trusted (only world-writable ones are refused)
    for fmt in ("json", "text"):
        cases.append(
            Case(
                f"dropin-place/group-writable/{fmt}",
                ["check", "--checks-dir", "{d}/checks.d", *QUICK, "--format", fmt, *LAUNCH],
                fmt,
                {0, 1},
                setup=in_dir(0o775),
            )
        )
    # ./checks.d in the working directory, world-writable: never loaded
    for fmt in ("json", "text"):
        cases.append(
            Case(
                f"dropin-place/cwd-ww/{fmt}", ["check", *QUICK, "--format", fmt, *LAUNCH], fmt, {0, 1}, setup=in_dir(0o777, _dropin(top="raise SystemExit(7)"))
            )
        )
    return cases


# -- 8. escapes and newlines ---------------------------------------------------------------------------------

_EVIL = [
    "\x1b[2J\x1b[31mred",
    "\x1b]0;title\x07",
    "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\",
    "a\n✗ FAIL fake.line ok",
    "a\r✗ FAIL fake.line ok",
    "\u202eevil\u202c",
    "\x9b31mc1",
    "tab\there\x00nul",
]


def escapes() -> list[Case]:
    cases: list[Case] = []
    for (i, evil), fmt in itertools.product(enumerate(_EVIL), ("text", "markdown", "junit")):
        common = dict(fmt=fmt, rc={0, 1, 2}, no_fake_line="✗ FAIL fake.line")  # 2: e.g. a NUL in an argument, a file name YAML refuses
        cases.append(
            Case(
                f"esc/{i}/{fmt}/model-name",
                ["check", *QUICK, "-v", "--format", fmt, "--", "vllm", "serve", "/m/" + evil, "--served-model-name", evil, "--task", "embed"],
                **common,
            )
        )
        cases.append(
            Case(
                f"esc/{i}/{fmt}/flag",
                ["check", *QUICK, "-v", "--format", fmt, "--", "vllm", "serve", "Qwen/Qwen3-Embedding-0.6B", "--task", "embed", "--" + evil, "1"],
                **common,
            )
        )

        def compose_setup(d: Path, evil=evil) -> None:
            name = evil.replace("\x00", "").replace("/", "_")
            body = f"services:\n  {json.dumps('svc' + evil)}:\n    image: {json.dumps('vllm/vllm-openai:' + evil)}\n    command: {json.dumps(['Qwen/Qwen3-Embedding-0.6B', '--task', 'embed', '--served-model-name', evil])}\n"
            _w(d / "c.yaml", body)
            try:
                _w(d / ("c" + name + ".yaml"), body)
            except OSError:
                pass

        cases.append(
            Case(
                f"esc/{i}/{fmt}/compose",
                ["check", "--from", "{d}/c.yaml", "--offline", "--select", "launch,deploy", "-v", "--format", fmt],
                setup=compose_setup,
                **common,
            )
        )
        name = evil.replace("\x00", "").replace("/", "_")
        cases.append(
            Case(f"esc/{i}/{fmt}/file-name", ["check", "--from", "{d}/c" + name + ".yaml", *QUICK, "-v", "--format", fmt], setup=compose_setup, **common)
        )

        def cfg_setup(d: Path, evil=evil) -> None:
            _w(d / "qd.toml", f"model-name = {json.dumps(evil)}\nserver-version = {json.dumps(evil)}\n")

        cases.append(
            Case(
                f"esc/{i}/{fmt}/config-value",
                ["check", "--config", "{d}/qd.toml", *QUICK, "-v", "--format", fmt, *LAUNCH],
                fmt,
                {0, 1, 2},
                setup=cfg_setup,
                no_fake_line="✗ FAIL fake.line",
            )
        )
        # a bad config file whose error message names the value
        cases.append(
            Case(
                f"esc/{i}/{fmt}/unknown-key",
                ["check", "--config", "{d}/bad.toml", *QUICK, "--format", fmt, *LAUNCH],
                fmt,
                {2},
                setup=lambda d, evil=evil: _w(d / "bad.toml", f"{json.dumps(evil)} = 1\n"),
                no_fake_line="✗ FAIL fake.line",
            )
        )
    return cases


# -- 9. a few garbage inputs (deterministic) -----------------------------------------------------------------


def garbage(n: int = 25, seed: int = 13) -> list[Case]:
    """Random bytes and random YAML fragments as --from and --config files (the fuzz targets of tests/test_deployfiles.py
    driven through the whole CLI)."""
    import random

    rnd = random.Random(seed)
    pieces = [
        "services:",
        "  a:",
        "    image: vllm/vllm-openai",
        "    command:",
        "      - --port",
        "      - '99999999999999999999'",
        "&x [*x]",
        "<<: *y",
        "- [",
        "{",
        "'",
        '"',
        "\t",
        "---",
        "!!python/object:os.system",
        "!!binary AAAA",
        "? [a, b]",
        ": x",
        "%YAML 1.1",
        "0o777",
        "2001-13-45",
        "1e400",
        "-.inf",
        ".nan",
    ]
    cases: list[Case] = []
    for i in range(n):
        if i % 2:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
        else:
            data = "\n".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 25))).encode()
        fmt = FORMATS[i % len(FORMATS)]
        cases.append(
            Case(
                f"garbage/from/{i}",
                ["check", "--from", "{d}/g.yaml", *QUICK, "--format", fmt],
                fmt,
                {0, 1, 2},
                setup=lambda d, data=data: _w(d / "g.yaml", data),
            )
        )
        cases.append(
            Case(
                f"garbage/config/{i}",
                ["check", "--config", "{d}/g.toml", *QUICK, "--format", fmt, *LAUNCH],
                fmt,
                {0, 1, 2},
                setup=lambda d, data=data: _w(d / "g.toml", data),
            )
        )
    return cases


__all__ = ["bad_names", "bad_stdout", "dropins", "escapes", "garbage", "numbers", "output_targets", "secrets", "unbounded_reads"]

_ = stat  # noqa: F841
