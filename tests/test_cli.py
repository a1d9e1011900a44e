"""The CLI contract: exit codes, JSON schema, one-line errors, explain/checks, import discipline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_doctor.entry import main
from qwen_doctor.render import OutputFormat, RenderOptions, Report, renderer_for

ROOT = Path(__file__).resolve().parents[1]
SGL = ["--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--is-embedding"]


def cli(*args, env=None, timeout=60):
    """Run the real console entry point in a subprocess (cwd = a temp dir so ./checks.d is not picked up)."""
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e["QWEN_DOCTOR_NVML_REPLAY"] = ""
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "qwen_doctor", *args], capture_output=True, text=True, timeout=timeout, env=e, cwd=e.get("_CWD", "/tmp"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version_fast_path_imports_nothing_heavy():
    code = "import sys; from qwen_doctor.entry import main; main(['--version']); bad=[m for m in ('transformers','torch','pynvml','typer','rich','httpx') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[0].startswith("qwen-doctor ")
    assert out.stdout.splitlines()[-1] == "[]"


def test_static_check_does_not_import_transformers_or_pynvml():
    port = _free_port()
    code = (
        "import sys\nfrom qwen_doctor.entry import main\n"
        f"rc = main(['check', '--offline', '--format', 'json', '--', 'sglang', 'serve', '--model-path', 'Qwen/Qwen3-Embedding-0.6B', '--is-embedding', '--port', '{port}'])\n"
        "print('HEAVY', [m for m in ('transformers','torch') if m in sys.modules], file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/tmp")
    assert "HEAVY []" in out.stderr


def test_json_output_is_only_json_and_follows_the_schema():
    port = _free_port()
    r = cli(
        "check",
        "--format",
        "json",
        "--offline",
        "--",
        "sglang",
        "serve",
        "--model-path",
        "/m/qwen3-embedding-0.6b",
        "--port",
        str(port),
        "--api-key",
        "hunter2hunter2",
    )
    data = json.loads(r.stdout)  # nothing but JSON on stdout
    assert data["schema_version"] == 1 and data["tool_version"]
    assert isinstance(data["targets"], list) and data["targets"][0]["server"] == "sglang"
    for res in data["results"]:
        assert set(["id", "status", "title", "summary", "evidence", "fix", "duration_ms"]) <= set(res)
        assert res["status"] in {"pass", "warn", "fail", "skip", "error"}
    ids = {x["id"]: x for x in data["results"]}
    assert ids["launch.embedding-mode"]["status"] == "fail"
    assert sum(data["counts"].values()) == len(data["results"])
    assert "hunter2hunter2" not in r.stdout + r.stderr
    assert r.returncode == 1


def test_exit_0_when_clean():
    port = _free_port()
    r = cli(
        "check",
        "--offline",
        "--select",
        "launch",
        "--",
        "sglang",
        "serve",
        "--model-path",
        "/m/Qwen3-Embedding-0.6B",
        "--is-embedding",
        "--port",
        str(port),
        env={"QWEN_DOCTOR_SERVER_VERSION": ""},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Summary:" in r.stdout


def test_fail_on_warn_turns_warnings_into_exit_1():
    args = ["check", "--offline", "--select", "launch", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B/", "--is-embedding"]
    assert cli(*args).returncode == 0
    assert cli("check", "--fail-on", "warn", *args[1:]).returncode == 1


@pytest.mark.parametrize(
    "args,needle",
    [
        (["check", "--", "sglang serve --model-path 'oops"], "no closing quotation"),
        (["check", "--server", "ollama"], "unknown server"),
        (["check", "--", " "], "empty launch command"),
        (["check", "--format", "yaml"], "unknown --format"),
        (["check", "--", "rm", "-rf", "/"], "not a known server launch command"),
        (["explain", "launch.embeding-mode"], "did you mean launch.embedding-mode"),
        (["check", "--no-such-option"], "No such option"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle):
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_non_utf8_argument_is_a_usage_error():
    e = dict(os.environ)
    r = subprocess.run(
        [sys.executable, "-m", "qwen_doctor", "check", "--", "sglang", "serve", "--model-path", b"/m/\xff\xfe"],
        capture_output=True,
        env=e,
        timeout=60,
        cwd="/tmp",
    )
    assert r.returncode == 2 and b"not valid UTF-8" in r.stderr and b"Traceback" not in r.stderr


def test_megabyte_command_line_is_a_usage_error(tmp_path):
    # passed through the API (execve caps a single argument at 128 KiB)
    from qwen_doctor.launch import LaunchError
    from qwen_doctor.target import build_target

    with pytest.raises(LaunchError, match="bytes long"):
        build_target(["sglang serve --model-path /m " + "--x y " * 200_000])
    r = subprocess.run(
        [sys.executable, "-m", "qwen_doctor", "check", "--", "sglang", "serve", *(["--x", "y" * 1500]) * 700],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/tmp",
    )
    assert r.returncode == 2 and "bytes long" in r.stderr


def test_internal_error_exits_3(monkeypatch, capsys):
    import qwen_doctor.cli as cli_mod

    def broken(*a, **k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli_mod, "write_output", broken)
    rc = main(
        [
            "check",
            "--offline",
            "--select",
            "launch",
            "--output",
            "/tmp/x.json",
            "--",
            "sglang",
            "serve",
            "--model-path",
            "/m/Qwen3-Embedding-0.6B",
            "--is-embedding",
        ]
    )
    assert rc == 3
    assert "internal error: RuntimeError: simulated bug" in capsys.readouterr().err


def test_output_file_written_atomically(tmp_path):
    out = tmp_path / "report.json"
    r = cli("check", "--offline", "--format", "json", "--output", str(out), "--select", "launch", *SGL)
    assert r.stdout == "" and json.loads(out.read_text())["schema_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_text_report_groups_and_fixes_plain_when_not_a_tty():
    r = cli("check", "--offline", "--select", "launch", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--embedding")
    assert "\x1b[" not in r.stdout  # no colour codes when piped
    assert "launch\n" in r.stdout
    assert "fix:" in r.stdout and "corrected launch command:" in r.stdout
    assert "--is-embedding" in r.stdout
    assert "passed" in r.stdout and "(use -v to list)" in r.stdout
    v = cli("check", "-v", "--offline", "--select", "launch", "--", "sglang", "serve", "--model-path", "/m/Qwen3-Embedding-0.6B", "--embedding")
    assert "PASS  launch.launcher" in v.stdout


def test_explain_and_checks():
    r = cli("explain", "launch.embedding-mode")
    assert r.returncode == 0
    for part in ("What it checks:", "Why it matters:", "How to fix:", "--is-embedding"):
        assert part in r.stdout
    c = cli("checks")
    assert c.returncode == 0 and "host.port" in c.stdout and "launch.embedding-mode" in c.stdout and "builtin" in c.stdout


def test_repo_checks_d_examples_load_via_checks_dir(tmp_path):
    # a copy under the test's own (trusted) temp dir: the checkout itself may sit below a world-writable /tmp,
    # where the doctor rightly refuses to run drop-ins
    import shutil

    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "checks.d" / "examples", examples)
    port = 30042
    r = cli(
        "check",
        "--offline",
        "--format",
        "json",
        "--checks-dir",
        str(examples),
        "--select",
        "site",
        "--port",
        "8080",
        "--model-path",
        "/home/me/Qwen3-Embedding-0.6B",
        "--server",
        "sglang",
    )
    data = json.loads(r.stdout)
    ids = {x["id"]: x for x in data["results"]}
    assert ids["site.port-range"]["status"] == "fail" and "30000-30099" in ids["site.port-range"]["summary"]
    assert ids["site.model-root"]["status"] == "fail"
    r = cli(
        "check",
        "--offline",
        "--format",
        "json",
        "--checks-dir",
        str(examples),
        "--select",
        "site",
        "--port",
        str(port),
        "--model-path",
        "/models/Qwen3-Embedding-0.6B",
        "--server",
        "sglang",
    )
    ids = {x["id"]: x for x in json.loads(r.stdout)["results"]}
    assert ids["site.port-range"]["status"] == "pass" and ids["site.model-root"]["status"] == "pass"


def test_every_output_format_has_a_renderer():
    report = Report(targets=(), results=())
    for fmt in OutputFormat:
        text = renderer_for(fmt)(report, RenderOptions())
        assert isinstance(text, str) and text


def test_python_dash_m_help():
    r = cli("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout


DEPLOY = Path(__file__).parent / "data" / "deploy"


def test_from_file_gives_one_section_per_container_and_targets_in_json():
    r = cli("check", "--offline", "--format", "json", "--from", str(DEPLOY / "vllm-k8s-monitoring.yaml"), "--from", str(DEPLOY / "sglang-compose.yaml"))
    data = json.loads(r.stdout)
    labels = [t["label"] for t in data["targets"]]
    assert len(labels) >= 2 and any("vllm-k8s-monitoring.yaml:" in l for l in labels) and any("sglang-compose.yaml:" in l for l in labels)
    assert {res["target"] for res in data["results"]} >= set(labels)
    ent = [x for x in data["results"] if x["id"] == "deploy.entrypoint" and "monitoring" in x["target"]]
    assert ent and ent[0]["status"] == "fail"  # upstream example runs `vllm serve serve ...`


def test_from_missing_or_malformed_file_is_a_usage_error(tmp_path):
    r = cli("check", "--from", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [unclosed\n")
    r = cli("check", "--from", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_zero_arguments_checks_readiness_and_says_how_to_point_the_doctor():
    r = cli("check", "--offline", "--format", "json")
    data = json.loads(r.stdout)
    notes = " ".join(data["notes"])
    if data["targets"][0]["label"].startswith("pid "):
        pytest.skip("a real server runs on this host; discovery took over")
    assert "--url" in notes and "--from" in notes
    t = data["targets"][0]
    assert t["server"] == "sglang" and t["port"] == 30000


def test_bad_as_user_and_missing_samples_are_usage_errors(tmp_path):
    r = cli("check", "--as-user", "no-such-user-xyz", "--model-path", str(tmp_path))
    assert r.returncode == 2 and "no-such-user-xyz" in r.stderr
    assert r.stderr.count("--as-user") == 1  # said once, not "--as-user: --as-user ..."
    r = cli("check", "--samples", str(tmp_path / "none.txt"), "--model-path", str(tmp_path))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = cli("check", "--samples", str(tmp_path), "--model-path", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"qwen-doctor: error: --samples {tmp_path}: is a directory, not a file\n"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:30000", "file:///tmp/sock", "unix:/run/sglang.sock", "ws://host:1"])
def test_url_with_a_non_http_scheme_is_a_usage_error(url):
    r = cli("check", "--offline", "--url", url)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"qwen-doctor: error: --url {url}: ")
    assert "only http:// and https://" in r.stderr


def test_url_without_a_scheme_or_with_http_is_accepted():
    from qwen_doctor.cli import _url_problem

    for ok in ("http://127.0.0.1:30000", "HTTPS://h", "127.0.0.1:30000", "localhost:8000/v1", "[::1]:8000", "svc"):
        assert _url_problem(ok) is None, ok


def test_one_corrected_command_with_every_safe_fix():
    r = cli(
        "check",
        "--offline",
        "--format",
        "json",
        "--select",
        "launch",
        "--",
        "python",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "/models/Qwen3-Embedding-0.6B/",
        "--embedding",
        "--max-num-seqs",
        "64",
        "--api-key",
        "k3y-k3y-k3y",
    )
    t = json.loads(r.stdout)["targets"][0]
    cmd = t["corrected_launch_command"]
    assert set(t["corrected_by"]) >= {"launch.unknown-flags", "launch.model-path"}
    from qwen_doctor.launch import split_command

    toks = split_command(cmd)
    assert "--is-embedding" in toks and "--embedding" not in toks and "--max-num-seqs" not in toks
    assert toks[toks.index("--max-running-requests") + 1] == "64"
    assert "/models/Qwen3-Embedding-0.6B" in toks and "k3y-k3y-k3y" not in cmd
    # the corrected command is clean for the launch checks it fixed
    again = cli("check", "--offline", "--format", "json", "--select", "launch.unknown-flags,launch.model-path,launch.embedding-mode", "--", *toks)
    assert all(x["status"] == "pass" for x in json.loads(again.stdout)["results"])
