"""Settings: flag > environment > config file > default, origins, file discovery, and errors.

Real files in temporary directories and the real CLI in a subprocess (cwd = that directory, so the
config file is found the way a user's is); the environment is cleaned of QWEN_DOCTOR_* first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_doctor.config import BY_NAME, SETTINGS, ConfigError, find_config_file, resolve

LAUNCH_OK = ["--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding", "--port", "30999"]
LAUNCH_SLASH = ["--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B/", "--is-embedding", "--port", "30999"]  # one WARN


def clean_env(**extra: str) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_") and k != "NO_COLOR"}
    e.update(extra)
    return e


def cli(*args, cwd, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=timeout, env=clean_env(**(env or {})), cwd=cwd)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------------
# the table


def test_every_setting_has_one_flag_env_var_and_key():
    flags = [f for s in SETTINGS for f in s.flags]
    assert len(flags) == len(set(flags))
    for s in SETTINGS:
        assert s.env == "QWEN_DOCTOR_" + s.name.upper()
        assert s.key == s.name.replace("_", "-")
        assert s.name == "launch" or s.flags[0].startswith("--")
        assert s.kind in {"str", "int", "float", "bool", "choice", "list", "path", "paths", "argv"}
        if s.kind == "choice":
            assert s.default is None or s.default in s.choices


def test_every_flag_is_on_the_command_line(tmp_path):
    help_text = {c: cli(c, "--help", cwd=tmp_path).stdout for c in ("check", "serve", "config")}
    for s in SETTINGS:
        for c in s.commands:
            if c in help_text and s.flags:
                assert s.flags[0] in help_text[c], (s.name, c)
                assert s.env in help_text[c] or c == "config", (s.name, c)


# ------------------------------------------------------------------------------------------------
# precedence and origins (the resolver itself)


def test_precedence_flag_env_file_default(tmp_path):
    write(tmp_path / "qwen-doctor.toml", 'fail-on = "warn"\nport = 30001\nformat = "junit"\nrequests = 7\n')
    env = {"QWEN_DOCTOR_PORT": "30002", "QWEN_DOCTOR_FORMAT": "markdown"}
    s = resolve({"format": "json"}, env=env, cwd=tmp_path)
    assert (s.format, s.origin("format")) == ("json", "flag --format")
    assert (s.port, s.origin("port")) == (30002, "env QWEN_DOCTOR_PORT")
    assert (s.fail_on, s.origin("fail_on")) == ("warn", f"file {tmp_path / 'qwen-doctor.toml'}: fail-on")
    assert (s.requests, s.where("requests")) == (7, f"{tmp_path / 'qwen-doctor.toml'}: requests")
    assert (s.concurrency, s.origin("concurrency")) == (1, "default")
    assert s.config_file is not None and s.config_file.path == tmp_path / "qwen-doctor.toml"


def test_empty_env_var_counts_as_unset(tmp_path):
    write(tmp_path / "qwen-doctor.toml", 'server-version = "0.5.6"\n')
    s = resolve({}, env={"QWEN_DOCTOR_SERVER_VERSION": ""}, cwd=tmp_path)
    assert s.server_version == "0.5.6" and s.get("server_version").source == "file"


def test_env_types_and_lists(tmp_path):
    env = {
        "QWEN_DOCTOR_DEEP": "yes",
        "QWEN_DOCTOR_OFFLINE": "0",
        "QWEN_DOCTOR_SELECT": "launch, host",
        "QWEN_DOCTOR_TIMEOUT": "2.5",
        "QWEN_DOCTOR_LAUNCH": "vllm serve /m --runner pooling",
    }
    s = resolve({}, env=env, cwd=tmp_path)
    assert s.deep is True and s.offline is False and s.select == ("launch", "host") and s.timeout == 2.5
    assert s.launch == ("vllm serve /m --runner pooling",)  # one string: split like a quoted command


def test_flag_false_beats_env_true(tmp_path):
    s = resolve({"verbose": False}, env={"QWEN_DOCTOR_VERBOSE": "1"}, cwd=tmp_path)
    assert s.verbose is False and s.origin("verbose") == "flag --verbose"


def test_pyproject_table_and_precedence_of_files(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.qwen-doctor]\nselect = ["launch"]\nignore = "host.port"\n')
    s = resolve({}, env={}, cwd=tmp_path)
    assert s.select == ("launch",) and s.ignore == ("host.port",)
    assert s.config_file.table == "[tool.qwen-doctor]" and s.origin("select") == f"file {tmp_path / 'pyproject.toml'} [tool.qwen-doctor]: select"
    # qwen-doctor.toml beside it wins (the tool's own file first)
    write(tmp_path / "qwen-doctor.toml", 'select = ["host"]\n')
    s = resolve({}, env={}, cwd=tmp_path)
    assert s.select == ("host",) and s.ignore == ()


def test_pyproject_without_the_table_is_no_config(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 100\n')
    assert find_config_file(None, {}, tmp_path) is None


def test_explicit_config_file_and_env_var(tmp_path):
    other = write(tmp_path / "conf" / "ci.toml", 'fail-on = "warn"\nchecks-dir = ["site-checks"]\nsamples = "q.txt"\noutput = "/abs/out.json"\n')
    write(tmp_path / "qwen-doctor.toml", 'fail-on = "fail"\n')
    s = resolve({}, env={}, cwd=tmp_path, config=str(other))
    assert s.fail_on == "warn"
    # relative paths in a file are relative to the file
    assert s.checks_dir == (str(tmp_path / "conf" / "site-checks"),) and s.samples == str(tmp_path / "conf" / "q.txt") and s.output == "/abs/out.json"
    s = resolve({}, env={"QWEN_DOCTOR_CONFIG": str(other)}, cwd=tmp_path)
    assert s.fail_on == "warn" and s.config_file.how == "QWEN_DOCTOR_CONFIG"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({}, env={}, cwd=tmp_path, config=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="no \\[tool.qwen-doctor\\] table"):
        resolve({}, env={}, cwd=tmp_path, config=str(write(tmp_path / "p" / "pyproject.toml", "[project]\n")))


@pytest.mark.parametrize(
    "text,needle",
    [
        ('fail_onn = "warn"\n', "unknown key 'fail_onn'; did you mean 'fail-on'?"),
        ("prot = 1\n", "unknown key 'prot'; did you mean 'port'?"),
        ("zzzzzz = 1\n", "unknown key 'zzzzzz'; valid keys: launch, server,"),
        ('port = "30000"\n', "port: expected an integer, got a string '30000'"),
        ("port = 70000\n", "port must be <= 65535, not 70000"),
        ('deep = "yes"\n', "deep: expected true or false, got a string 'yes'"),
        ("timeout = 0\n", "timeout must be > 0, not 0.0"),
        ('format = "yaml"\n', "unknown "),
        ("select = [1, 2]\n", "select: expected an array of strings"),
        ('fail-on = "warn"\nfail_on = "fail"\n', "set the same setting"),
        ("port = \n", "cannot parse config file"),
        ('[serve]\nlisten = ":9090"\n', "unknown key 'serve'"),
    ],
)
def test_bad_config_file_is_a_usage_error_naming_the_key(tmp_path, text, needle):
    write(tmp_path / "qwen-doctor.toml", text)
    with pytest.raises(ConfigError) as info:
        resolve({}, env={}, cwd=tmp_path)
    assert needle in str(info.value)
    assert str(tmp_path / "qwen-doctor.toml") in str(info.value)
    r = cli("check", "--offline", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"QWEN_DOCTOR_PORT": "eighty"}, "QWEN_DOCTOR_PORT: expected an integer, got 'eighty'"),
        ({"QWEN_DOCTOR_DEEP": "maybe"}, "QWEN_DOCTOR_DEEP: expected a boolean"),
        ({"QWEN_DOCTOR_FAIL_ON": "never"}, "unknown QWEN_DOCTOR_FAIL_ON 'never'; choose from fail, warn"),
        ({"QWEN_DOCTOR_SERVER": "ollama"}, "unknown server 'ollama' (from QWEN_DOCTOR_SERVER)"),
        ({"QWEN_DOCTOR_REQUESTS": "0"}, "QWEN_DOCTOR_REQUESTS must be >= 1"),
        ({"QWEN_DOCTOR_LAUNCH": "rm -rf /"}, "(from QWEN_DOCTOR_LAUNCH)"),
    ],
)
def test_bad_environment_is_a_usage_error_naming_the_variable(tmp_path, env, needle):
    r = cli("check", "--offline", cwd=tmp_path, env=env)
    assert r.returncode == 2 and needle in r.stderr and r.stdout == ""


def test_unknown_env_vars_are_listed_not_fatal(tmp_path):
    r = cli("config", cwd=tmp_path, env={"QWEN_DOCTOR_FAIL_ONN": "warn", "QWEN_DOCTOR_NVML_REPLAY": ""})
    assert r.returncode == 0
    assert "! QWEN_DOCTOR_FAIL_ONN is not a qwen-doctor setting (ignored here); did you mean QWEN_DOCTOR_FAIL_ON?" in r.stdout


# ------------------------------------------------------------------------------------------------
# the CLI honours the merged settings


def test_qwen_doctor_config_prints_values_and_origins(tmp_path):
    write(tmp_path / "qwen-doctor.toml", 'fail-on = "warn"\nport = 30001\napi-key = "from-file-secret"\n')
    r = cli("config", "--port", "30005", cwd=tmp_path, env={"QWEN_DOCTOR_FORMAT": "json", "QWEN_DOCTOR_API_KEY": "env-secret-value"})
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[3:] if line and not line.startswith("!")}
    assert rows["port"].split()[1:4] == ["30005", "flag", "--port"]
    assert rows["format"].split()[1:4] == ["json", "env", "QWEN_DOCTOR_FORMAT"]
    assert rows["fail-on"].split()[1:3] == ["warn", "file"]
    assert rows["requests"].split()[1:3] == ["20", "default"]
    assert rows["api-key"].split()[1] == "***"
    assert "env-secret-value" not in r.stdout and "from-file-secret" not in r.stdout
    assert r.stdout.startswith(f"config file: {tmp_path / 'qwen-doctor.toml'}")
    j = json.loads(cli("config", "--json", "--port", "30005", cwd=tmp_path).stdout)
    by = {x["key"]: x for x in j["settings"]}
    assert by["port"]["origin"] == "flag --port" and by["fail-on"]["origin"].startswith("file ") and by["port"]["env"] == "QWEN_DOCTOR_PORT"
    assert j["config_file"] == str(tmp_path / "qwen-doctor.toml")
    assert set(by) == {s.key for s in SETTINGS}


def test_check_follows_file_env_and_flag(tmp_path):
    # one WARN (trailing slash): exit 0 by default, 1 with fail-on warn from the file, 0 again when the
    # environment says fail, 1 again when the flag says warn
    args = ["check", "--offline", "--select", "launch", *LAUNCH_SLASH]
    assert cli(*args, cwd=tmp_path).returncode == 0
    write(tmp_path / "qwen-doctor.toml", 'fail-on = "warn"\n')
    assert cli(*args, cwd=tmp_path).returncode == 1
    assert cli(*args, cwd=tmp_path, env={"QWEN_DOCTOR_FAIL_ON": "fail"}).returncode == 0
    assert cli("check", "--fail-on", "warn", *args[1:], cwd=tmp_path, env={"QWEN_DOCTOR_FAIL_ON": "fail"}).returncode == 1


def test_format_launch_and_ignore_from_config(tmp_path):
    write(
        tmp_path / "pyproject.toml",
        textwrap_dedent("""
        [tool.qwen-doctor]
        format = "json"
        select = ["launch"]
        ignore = ["launch.embedding-mode"]
        offline = true
        launch = "sglang serve --model-path /m/Qwen3-Embedding-0.6B --port 30999"
    """),
    )
    r = cli("check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # the missing --is-embedding is demoted by the file's ignore
    data = json.loads(r.stdout)
    res = {x["id"]: x for x in data["results"]}
    assert res["launch.embedding-mode"]["ignored_by"] == f"ignored by {tmp_path / 'pyproject.toml'} [tool.qwen-doctor]: ignore launch.embedding-mode"
    assert data["targets"][0]["launch_command"] == "sglang serve --model-path /m/Qwen3-Embedding-0.6B --port 30999"
    # the launch command after -- beats the file's
    r = cli("check", *LAUNCH_OK, cwd=tmp_path)
    assert "--is-embedding" in json.loads(r.stdout)["targets"][0]["launch_command"]


def test_checks_and_explain_read_checks_dir_from_config(tmp_path):
    write(
        tmp_path / "site" / "mine.py",
        textwrap_dedent('''
        from qwen_doctor.results import Outcome

        def register(registry):
            @registry.check("site.always", "Always passes", "site")
            def always(ctx):
                """What it checks: nothing.

                Why it matters: it shows the config file's checks-dir is read.

                How to fix: nothing to fix.
                """
                return Outcome.passed("fine")
    '''),
    )
    write(tmp_path / "qwen-doctor.toml", 'checks-dir = ["site"]\n')
    r = cli("checks", cwd=tmp_path)
    assert r.returncode == 0 and "site.always" in r.stdout and "checks.d:mine.py" in r.stdout
    j = json.loads(cli("checks", "--json", cwd=tmp_path).stdout)
    assert {"id": "site.always", "category": "site", "plugin": "checks.d:mine.py"}.items() <= next(c for c in j["checks"] if c["id"] == "site.always").items()
    r = cli("explain", "site.always", cwd=tmp_path)
    assert r.returncode == 0 and "shows the config file's checks-dir is read" in r.stdout
    r = cli("explain", "site.alway", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean site.always" in r.stderr


def textwrap_dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n")


def test_resolver_rejects_names_that_are_not_settings():
    with pytest.raises(KeyError):
        resolve({"no_such_setting": 1}, env={})
    assert set(BY_NAME) == {s.name for s in SETTINGS}
