"""deploy.command-string: Kubernetes does not split a command/args entry that holds several words.

The manifest is SGLang's docker/k8s-sglang-service.yaml (tests/data/deploy/sglang-k8s-service.yaml,
sgl-project/sglang@0b082f52), whose `command: ["python3", "-m", "sglang.launch_server"]` is correct; the broken
variant writes it as one string, as in the Kubernetes docs' warning ("Define a Command and Arguments for a Container").
"""

from __future__ import annotations

from qwen_doctor.results import Status
from tests.checks.deploy import DATA, by, one, run

from ._containers import result

SGL = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-Embedding-0.6B --is-embedding --host 0.0.0.0"


def test_real_manifest_passes():
    r = by(run([one(DATA / "sglang-k8s-service.yaml")]), "deploy.command-string")
    assert r.status is Status.PASS


def test_command_as_one_string_fails_with_the_runtime_error_and_a_split_list():
    r = result("deploy.command-string", SGL, "0.5.23", kind="kubernetes", command_strings=("python3 -m sglang.launch_server",))
    assert r.status is Status.FAIL
    assert 'exec: "python3 -m sglang.launch_server": executable file not found in $PATH' in r.summary
    assert '- "python3"\n- "-m"\n- "sglang.launch_server"' in r.fix.text


def test_an_option_with_its_value_in_one_entry():
    r = result("deploy.command-string", SGL, "0.5.23", kind="kubernetes", command_strings=("--model-path /models/Qwen3-Embedding-0.6B",))
    assert r.status is Status.FAIL and "ONE argument" in r.summary and "--model-path" in r.summary


def test_a_shell_script_after_sh_c_is_one_entry_by_design():
    script = "python3 -m sglang.launch_server --model-path /m --is-embedding"
    r = result("deploy.command-string", SGL, "0.5.23", kind="kubernetes", command_strings=(script,), shell_script=script)
    assert r.status is Status.PASS


def test_compose_is_not_applicable():
    assert result("deploy.command-string", SGL, "0.5.23", kind="compose").status is Status.SKIP
