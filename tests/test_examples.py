"""docs/examples: each example parses, and the qwen-doctor command in it runs, through the real CLI.

The commands are taken from the YAML as CI and Kubernetes would take them (a GitHub Actions ``run:``
script goes through bash with the job's and step's ``env:``; a container's ``command`` list is the argv, with
its ``env:``) and run here with three changes, all through the settings a user has too:
- the server port 30000 becomes a free port (30000 may be busy on this machine),
- host paths that do not exist here (the textfile directory) become temporary ones, the service URL a
  loopback one,
- QWEN_DOCTOR_SELECT=launch,host keeps these tests independent of the model/GPU/probe plugins, which need
  real model files and GPUs; every example leaves --select unset, so the environment variable applies.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
SERVER_PORT = "30000"


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def base_env(**extra: str) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_DOCTOR_") and not k.startswith("GITHUB_")}
    e["QWEN_DOCTOR_SELECT"] = "launch,host"
    e.update(extra)
    return e


def shim(tmp_path: Path) -> Path:
    """A directory with a ``qwen-doctor`` executable running this checkout, to put first on PATH."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    exe = d / "qwen-doctor"
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m qwen_doctor "$@"\n')
    exe.chmod(0o755)
    return d


def k8s_env(container: dict) -> dict:
    """A container's literal env values (valueFrom entries are secrets the cluster fills in)."""
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def test_every_example_is_valid_yaml_and_tested():
    names = sorted(p.name for p in EXAMPLES.iterdir())
    assert names == ["github-actions.yml", "k8s-cronjob.yaml", "k8s-initcontainer.yaml"]
    for p in EXAMPLES.iterdir():
        docs = list(yaml.safe_load_all(p.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs), p.name


# ------------------------------------------------------------------------------------------------
# GitHub Actions


def _gha_doctor_steps() -> tuple[dict, dict, list[dict]]:
    wf = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    ((job_name, job),) = wf["jobs"].items()
    steps = [s for s in job["steps"] if "qwen-doctor" in s.get("run", "") and "pip install" not in s["run"]]
    return wf, job, steps


def test_github_actions_example_structure():
    wf, job, steps = _gha_doctor_steps()
    assert len(steps) == 2
    gate, summary = steps
    assert "--format junit" in gate["run"] and "--output qwen-doctor.xml" in gate["run"] and "if" not in gate
    assert summary["if"] == "always()" and summary["continue-on-error"] is True and "$GITHUB_STEP_SUMMARY" in summary["run"]
    report = [s for s in job["steps"] if "junit-report" in s.get("uses", "")]
    assert report and report[0]["with"]["report_paths"] == "qwen-doctor.xml" and report[0]["if"] == "always()"
    assert "QWEN_DOCTOR_LAUNCH" in job["env"]
    for step in steps:  # each doctor step is nothing but the doctor (so running it here runs nothing else)
        assert step["run"].strip().startswith("qwen-doctor check")


def _run_gha_step(step: dict, job: dict, workdir: Path, port: str, tmp_path: Path, mutate=lambda env: env) -> subprocess.CompletedProcess:
    env = base_env(GITHUB_STEP_SUMMARY=str(tmp_path / "step-summary.md"), GITHUB_WORKSPACE=str(workdir))
    env.update({k: str(v).replace(SERVER_PORT, port) for k, v in {**job.get("env", {}), **step.get("env", {})}.items()})
    env = mutate(env)
    env["PATH"] = f"{shim(tmp_path)}{os.pathsep}{env.get('PATH', '')}"
    # GitHub runs `run:` with `bash -e {0}` (shell: bash is the default on Linux runners)
    return subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, timeout=120, env=env, cwd=workdir)


def test_github_actions_example_runs(tmp_path):
    wf, job, (gate, summary) = _gha_doctor_steps()
    work = tmp_path / "checkout"
    work.mkdir()
    port = free_port()
    r = _run_gha_step(gate, job, work, port, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    root = ET.parse(work / "qwen-doctor.xml").getroot()
    assert root.tag == "testsuites" and int(root.get("tests")) > 0 and root.get("failures") == "0"
    names = {c.get("name") for c in root.iter("testcase")}
    assert {"launch.embedding-mode", "launch.unknown-flags", "host.port"} <= names
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["server_version"] == "0.5.23" and props["version_source"] == "--server-version"  # from the job's env
    assert f"--port {port}" in props["launch_command"]
    r = _run_gha_step(summary, job, work, port, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "step-summary.md").read_text().startswith("## qwen-doctor report")
    # the gate closes when the launch command is wrong: drop --is-embedding
    r = _run_gha_step(gate, job, work, port, tmp_path, mutate=lambda e: {**e, "QWEN_DOCTOR_LAUNCH": e["QWEN_DOCTOR_LAUNCH"].replace("--is-embedding", "")})
    assert r.returncode == 1
    fail = [c for c in ET.parse(work / "qwen-doctor.xml").getroot().iter("testcase") if c.get("name") == "launch.embedding-mode"][0]
    assert "--is-embedding" in fail.find("failure").text


# ------------------------------------------------------------------------------------------------
# Kubernetes initContainer


def _deployment() -> dict:
    (dep,) = list(yaml.safe_load_all((EXAMPLES / "k8s-initcontainer.yaml").read_text()))
    assert dep["kind"] == "Deployment"
    return dep


def test_initcontainer_gates_the_same_launch_command():
    spec = _deployment()["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    (server,) = spec["containers"]
    cmd = init["command"] + init.get("args", [])
    assert cmd[:2] == ["qwen-doctor", "check"]
    launch = cmd[cmd.index("--") + 1 :]
    assert launch == server["command"] + server.get("args", [])  # the doctor checks exactly what will run
    assert init["image"] == server["image"]  # same image: same installed SGLang version
    assert init["resources"]["limits"]["nvidia.com/gpu"] == server["resources"]["limits"]["nvidia.com/gpu"]
    mounts = {m["mountPath"] for m in init["volumeMounts"]}
    model = launch[launch.index("--model-path") + 1]
    assert any(model.startswith(m + "/") for m in mounts)  # the doctor sees the model files
    probe = server["readinessProbe"]
    assert probe["httpGet"]["path"] == "/health" and probe["timeoutSeconds"] > 20  # SGLang's /health takes up to 20 s


def test_initcontainer_command_runs(tmp_path):
    (init,) = _deployment()["spec"]["template"]["spec"]["initContainers"]
    port = free_port()
    argv = [a.replace(SERVER_PORT, port) if a == SERVER_PORT else a for a in init["command"] + init.get("args", [])]
    env = base_env(**k8s_env(init))
    r = subprocess.run([sys.executable, "-m", "qwen_doctor", *argv[1:]], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr  # exit 0: the server container may start
    assert "Summary: 0 fail, 0 error" in r.stdout and "\x1b[" not in r.stdout  # plain text for kubectl logs
    assert f"--port {port}" in r.stdout
    # the gate holds the pod when the command is wrong (the folklore flag instead of --is-embedding)
    bad = [("--embedding" if a == "--is-embedding" else a) for a in argv]
    r = subprocess.run([sys.executable, "-m", "qwen_doctor", *bad[1:]], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 1 and "FAIL" in r.stdout and "--is-embedding" in r.stdout


# ------------------------------------------------------------------------------------------------
# Kubernetes CronJob


def _cron_container() -> tuple[dict, dict]:
    (cron,) = list(yaml.safe_load_all((EXAMPLES / "k8s-cronjob.yaml").read_text()))
    assert cron["kind"] == "CronJob"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return pod, c


def test_cronjob_writes_a_textfile_node_exporter_reads():
    pod, c = _cron_container()
    cmd = c["command"] + c.get("args", [])
    assert cmd[:2] == ["qwen-doctor", "check"]
    assert cmd[cmd.index("--format") + 1] == "prometheus"
    out = cmd[cmd.index("--output") + 1]
    assert out.endswith(".prom")  # node_exporter's textfile collector reads *.prom only
    mount = next(m for m in c["volumeMounts"] if out.startswith(m["mountPath"] + "/"))
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert vol["hostPath"]["path"] == "/var/lib/node_exporter/textfile_collector"
    assert pod["restartPolicy"] == "Never"


def test_cronjob_command_runs(tmp_path):
    pod, c = _cron_container()
    argv = c["command"] + c.get("args", [])
    out = tmp_path / "textfile" / "qwen_doctor.prom"
    out.parent.mkdir()
    port = free_port()
    subst = {argv[argv.index("--output") + 1]: str(out), argv[argv.index("--url") + 1]: f"http://127.0.0.1:{port}"}
    argv = [subst.get(a, a) for a in argv]
    r = subprocess.run([sys.executable, "-m", "qwen_doctor", *argv[1:]], capture_output=True, text=True, timeout=120, env=base_env(**k8s_env(c)), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""  # everything went to the textfile
    fams = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    assert fams["qwen_doctor_last_run_timestamp_seconds"].samples[0].value > 0
    info = fams["qwen_doctor_target_info"].samples[0].labels
    assert info["server"] == "sglang"
    assert [p.name for p in out.parent.iterdir()] == ["qwen_doctor.prom"]


def test_examples_never_suggest_what_the_pitfalls_call_false():
    text = "\n".join(p.read_text() for p in EXAMPLES.iterdir())
    for bad in ("--disable-flash-attn", "--gpu-reset", "--enable-embedding", "--max-num-seqs", "tcpSocket"):
        assert bad not in text
