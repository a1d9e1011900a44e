"""Launch commands from deployment files (qwen_doctor.deployfiles): the reader. The deploy.* checks are tested in
tests/checks/deploy/ (one module per check).

The manifests in tests/data/deploy/ are public deployment examples of SGLang, vLLM and TEI (each file
names its repository, path and commit at the top, and what was adapted); broken variants are derived
from them here. Fuzzed YAML and command lines (hypothesis) must never crash the doctor: the only
exception allowed is the documented DeployFileError / LaunchError (a usage error, exit 2).
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_doctor.deployfiles import DeployFileError, image_entrypoint, read_deploy_file, targets_from_file, unwrap_shell
from qwen_doctor.launch import LaunchError, split_command
from qwen_doctor.render import RenderOptions, Report
from qwen_doctor.render.json_format import render_json
from qwen_doctor.render.text import render_text
from qwen_doctor.results import Status
from qwen_doctor.target import build_target
from tests.checks.deploy import DATA
from tests.checks.deploy import by as _by
from tests.checks.deploy import dump as _dump
from tests.checks.deploy import one as _one
from tests.checks.deploy import run as _results
from tests.checks.deploy import write as _write

# --------------------------------------------------------------------------------------------
# the public examples


@pytest.mark.parametrize(
    "name, label, server, port, model, launcher, container_ports",
    [
        ("sglang-compose.yaml", "sglang-compose.yaml:sglang", "sglang", 30000, "Qwen/Qwen3-Embedding-0.6B", "python -m sglang.launch_server", []),
        (
            "sglang-k8s-service.yaml",
            "sglang-k8s-service.yaml:Deployment/qwen3-embedding-sglang/qwen3-embedding-sglang",
            "sglang",
            30000,
            "Qwen/Qwen3-Embedding-0.6B",
            "python -m sglang.launch_server",
            [30000],
        ),
        (
            "sglang-k8s-distributed-sts.yaml",
            "sglang-k8s-distributed-sts.yaml:StatefulSet/distributed-sglang/sglang-container",
            "sglang",
            8000,
            "/llm-folder",
            "python -m sglang.launch_server",
            [],
        ),
        ("vllm-k8s-gpu.yaml", "vllm-k8s-gpu.yaml:Deployment/qwen3-embedding/qwen3-embedding", "vllm", 8000, "Qwen/Qwen3-Embedding-0.6B", "vllm serve", [8000]),
        ("vllm-k8s-cpu.yaml", "vllm-k8s-cpu.yaml:Deployment/vllm-server/vllm", "vllm", 8000, "Qwen/Qwen3-Embedding-0.6B", "vllm serve", [8000]),
        ("vllm-compose.yaml", "vllm-compose.yaml:vllm", "vllm", 8000, "Qwen/Qwen3-Embedding-0.6B", "vllm serve", [8000]),
        ("tei-compose.yaml", "tei-compose.yaml:embeddings", "tei", 80, "Qwen/Qwen3-Embedding-0.6B", "text-embeddings-router", [80]),
        ("sglang-embedding.service", "sglang-embedding.service:ExecStart", "sglang", 30000, "/models/Qwen3-Embedding-4B", "python -m sglang.launch_server", []),
    ],
)
def test_public_examples_become_targets(name, label, server, port, model, launcher, container_ports, monkeypatch):
    monkeypatch.chdir(DATA)
    t = _one(name)
    assert t.label == label
    assert (t.server, t.port, t.model_path) == (server, port, model)
    assert t.launch.launcher == launcher
    assert t.deployment.container_ports == tuple(container_ports)
    assert t.url is None  # a file describes a server elsewhere: static checks only
    assert t.source == t.deployment.kind in ("compose", "kubernetes", "systemd")


def test_systemd_unit_continuations_environment_and_notes():
    t = _one(DATA / "sglang-embedding.service")
    assert t.model_path == "/models/Qwen3-Embedding-4B"  # ${MODEL_DIR} from Environment=
    assert dict(t.env)["CUDA_VISIBLE_DEVICES"] == "0" and dict(t.env)["HF_HUB_OFFLINE"] == "1"
    assert t.deployment.user == "sglang"
    assert any("EnvironmentFile=-/etc/default/sglang" in n for n in t.deployment.notes)
    results = _results([t])
    for cid in ("deploy.entrypoint", "deploy.probes", "deploy.port-mapping"):
        assert _by(results, cid).status is Status.SKIP


def test_file_without_a_server_is_a_usage_error_naming_the_services():
    with pytest.raises(DeployFileError) as e:
        targets_from_file(DATA / "prometheus-grafana-compose.yaml")
    msg = str(e.value)
    assert "no SGLang, vLLM or TEI launch command found" in msg and "prom/prometheus" in msg
    assert "\n" not in msg
    assert isinstance(e.value, LaunchError) and isinstance(e.value, ValueError)


# --------------------------------------------------------------------------------------------
# file shapes


def test_every_workload_kind_one_target_per_server_container(tmp_path):
    def pod(cmd, name="server"):
        return {
            "containers": [
                {"name": name, "image": "vllm/vllm-openai:v0.12.0", "args": cmd},  # ENTRYPOINT vllm serve (positional model)
                {"name": "proxy", "image": "envoyproxy/envoy:v1.30", "args": ["-c", "/etc/envoy.yaml"]},
            ]
        }

    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"template": {"spec": pod(["/m/Qwen3-Embedding-0.6B", "--runner", "pooling"])}},
        },
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": {"template": {"spec": pod(["/m/a", "--port", "8001"])}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": pod(["/m/b"])}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(["/m/c"])}}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod(["/m/d"])},
        {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p2"}, "spec": pod(["/m/e"])}]},
        None,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}},
    ]
    targets, notes = read_deploy_file(_dump(tmp_path, "all.yaml", docs))
    labels = [t.label for t in targets]
    assert labels == [f"{tmp_path / 'all.yaml'}:{k}/server" for k in ("Deployment/d", "DaemonSet/ds", "Job/j", "CronJob/cj", "Pod/p", "Pod/p2")]
    assert [t.model_path for t in targets] == ["/m/Qwen3-Embedding-0.6B", "/m/a", "/m/b", "/m/c", "/m/d", "/m/e"]
    assert targets[1].port == 8001
    assert sum("proxy" in n and "skipped" in n for n in notes) == 6


def test_duplicate_names_get_distinct_labels(tmp_path):
    d = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "emb"},
        "spec": {"template": {"spec": {"containers": [{"name": "s", "image": "vllm/vllm-openai", "args": ["/m/x"]}]}}},
    }
    targets = targets_from_file(_dump(tmp_path, "dup.yaml", [d, d]))
    assert len({t.label for t in targets}) == 2 and targets[1].label.endswith("#2")


def test_k8s_variable_expansion_and_env(tmp_path):
    ctr = {
        "name": "s",
        "image": "lmsysorg/sglang:latest",
        "command": ["python3", "-m", "sglang.launch_server"],
        "args": ["--model-path", "$(MODEL)", "--port", "$(PORT)", "--served-model-name", "$$(literal)", "--tp", "$(UNSET)"],
        "env": [{"name": "MODEL", "value": "/models/Qwen3-Embedding-8B"}, {"name": "PORT", "value": "31000"}, {"name": "CUDA_VISIBLE_DEVICES", "value": "1"}],
    }
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [ctr]}}
    t = _one(_dump(tmp_path, "p.yaml", [doc]))
    assert (t.model_path, t.port) == ("/models/Qwen3-Embedding-8B", 31000)
    assert t.option("served_model_name") in ("$(literal)", ["$(literal)"])
    assert dict(t.env)["CUDA_VISIBLE_DEVICES"] == "1"
    assert t.deployment.runtime_vars == ("UNSET",)


def test_compose_interpolation_env_list_and_dotenv(tmp_path, monkeypatch):
    monkeypatch.delenv("EMB_PORT", raising=False)
    monkeypatch.setenv("MODEL_DIR", "/models/Qwen3-Embedding-0.6B")
    (tmp_path / ".env").write_text("# comment\nIMAGE_TAG='v0.5.23'\n")
    doc = {
        "services": {
            "emb": {
                "image": "lmsysorg/sglang:${IMAGE_TAG}",
                "command": [
                    "python3",
                    "-m",
                    "sglang.launch_server",
                    "--model-path",
                    "${MODEL_DIR}",
                    "--port",
                    "${EMB_PORT:-30001}",
                    "--api-key",
                    "$${NOT_INTERPOLATED}",
                ],
                "environment": ["CUDA_VISIBLE_DEVICES=0,1", "SGLANG_HEALTH_CHECK_TIMEOUT=40", "FROM_SHELL"],
                "ports": [{"target": 30001, "published": "9000", "host_ip": "0.0.0.0"}],
            }
        }
    }
    t = _one(_dump(tmp_path, "compose.yaml", [doc]))
    assert t.deployment.image == "lmsysorg/sglang:v0.5.23"
    assert (t.model_path, t.port) == ("/models/Qwen3-Embedding-0.6B", 30001)
    assert dict(t.env)["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert any("FROM_SHELL" in n for n in t.deployment.notes)
    assert t.deployment.ports[0].published == 9000
    assert "${NOT_INTERPOLATED}" not in t.launch.display()  # an --api-key value is redacted in every display


def test_secrets_from_files_never_reach_the_report(tmp_path):
    secret = "hf_abcdefghijklmnopqrstuvwx"
    doc = {
        "services": {
            "emb": {
                "image": "ghcr.io/huggingface/text-embeddings-inference:1.8",
                "command": f"--model-id Qwen/Qwen3-Embedding-0.6B --api-key sk-verysecretvalue123 --hf-token {secret}",
                "environment": {"HF_TOKEN": secret},
                "ports": ["8080:80"],
            }
        }
    }
    targets = targets_from_file(_dump(tmp_path, "compose.yaml", [doc]))
    results = _results(targets)
    report = Report(tuple(targets), tuple(results))
    for text in (render_json(report, RenderOptions()), render_text(report, RenderOptions(verbose=True))):
        assert secret not in text and "sk-verysecretvalue123" not in text


def test_several_targets_in_one_report_are_titled_by_source():
    targets = (
        targets_from_file(DATA / "vllm-compose.yaml")
        + targets_from_file(DATA / "sglang-k8s-service.yaml")
        + targets_from_file(DATA / "sglang-embedding.service")
    )
    results = _results(targets)
    report = Report(tuple(targets), tuple(results))
    data = json.loads(render_json(report, RenderOptions()))
    labels = [t["label"] for t in data["targets"]]
    assert labels == [t.label for t in targets] and len(set(labels)) == 3
    assert {r["target"] for r in data["results"]} == set(labels)
    assert [t["source"] for t in data["targets"]] == ["compose", "kubernetes", "systemd"]
    text = render_text(report, RenderOptions(width=400))
    positions = [text.index(label) for label in labels]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("bad.yaml", "services:\n  a: [unclosed\n", "is not valid YAML"),
        ("tabs.yaml", "services:\n\tembed: {}\n", "is not valid YAML"),
        ("scalar.yaml", "just a string\n", "no compose services, Kubernetes workloads"),
        ("empty.yaml", "", "no compose services, Kubernetes workloads"),
        ("svc.yaml", "services: [a, b]\n", "'services' must be a mapping"),
        ("cmd.yaml", "services:\n  a:\n    image: vllm/vllm-openai\n    command: [{x: 1}]\n", "every item must be a string"),
        ("quote.yaml", 'services:\n  a:\n    command: "python3 -m sglang.launch_server --model-path \'x"\n', "cannot split"),
        ("env.yaml", "services:\n  a:\n    image: vllm/vllm-openai\n    command: x\n    environment: 5\n", "environment must be a list or a mapping"),
        ("ports.yaml", "services:\n  a:\n    image: vllm/vllm-openai\n    command: x\n    ports: '8000:8000'\n", "ports must be a list"),
        ("containers.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: {a: 1}\n", "spec.containers must be a list"),
        (
            "chart.yaml",
            "spec:\n  containers:\n  - name: {{ .Chart.Name }}\n    image: {{ .Values.image }}\n  {{- with .Values.probes }}\n",
            "render it first: helm template",
        ),
        ("deep.yaml", "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("alias.yaml", "services:\n  a: &x\n    image: vllm/vllm-openai\n    command: &c [*c]\n", "nested too deeply"),
        ("nounit.service", "[Unit]\nDescription=x\n", "no ExecStart="),
        ("split.service", "[Service]\nExecStart=/usr/bin/python3 -m sglang.launch_server --model-path 'x\n", "cannot split the command"),
    ],
)
def test_malformed_files_are_one_line_usage_errors(tmp_path, name, content, words):
    p = _write(tmp_path, name, content)
    with pytest.raises(DeployFileError) as e:
        targets_from_file(p)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(DeployFileError, match="No such file"):
        targets_from_file(tmp_path / "missing.yaml")
    with pytest.raises(DeployFileError, match="is a directory"):
        targets_from_file(tmp_path)
    p = tmp_path / "latin1.yaml"
    p.write_bytes("services:\n  caf\xe9: {}\n".encode("latin-1"))
    with pytest.raises(DeployFileError, match="not UTF-8"):
        targets_from_file(p)


def test_unwrap_shell_finds_the_server_in_a_script():
    argv, script = unwrap_shell(
        ["/bin/bash", "-o", "pipefail", "-ec", "pip install -q x && \\\n  exec python3 -m sglang.launch_server --model-path /m --port 1 # comment\necho done"]
    )
    assert argv[-4:] == ["--model-path", "/m", "--port", "1"] and "exec" in argv
    assert script is not None
    assert unwrap_shell(["sh", "run.sh"]) == (["sh", "run.sh"], None)


@pytest.mark.parametrize(
    "image, server, entry",
    [
        ("vllm/vllm-openai:v0.11.0", "vllm", ("python3", "-m", "vllm.entrypoints.openai.api_server")),
        ("vllm/vllm-openai:v0.12.0", "vllm", ("vllm", "serve")),
        ("vllm/vllm-openai:latest", "vllm", ("vllm", "serve")),
        ("docker.io/vllm/vllm-openai@sha256:abc", "vllm", ("vllm", "serve")),
        ("ghcr.io/huggingface/text-embeddings-inference:hopper-1.8", "tei", ("text-embeddings-router",)),
        ("lmsysorg/sglang:v0.5.23-cu129", "sglang", ()),
        ("registry.example.com:5000/team/app:1", None, None),
        ("postgres:16", None, None),
    ],
)
def test_image_entrypoints(image, server, entry):
    s, e, _ = image_entrypoint(image)
    assert (s, e) == (server, entry)


# --------------------------------------------------------------------------------------------
# fuzzing: nothing but the documented usage error


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _fuzz_file(tmp_path, text, suffix=".yaml"):
    p = tmp_path / f"fuzz{suffix}"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        targets, notes = read_deploy_file(p)
    except DeployFileError as e:
        assert "\n" not in str(e)
        return
    for t in targets:
        json.dumps(t.to_dict())


@FUZZ
@given(text=st.text(max_size=400))
def test_fuzzed_text_never_crashes(tmp_path, text):
    _fuzz_file(tmp_path, text)


_yaml_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "services:",
                "  emb:",
                "    image: vllm/vllm-openai",
                "    image: lmsysorg/sglang",
                "    command:",
                "    entrypoint: [sh, -c]",
                "      - python3 -m sglang.launch_server --port 1",
                "    ports: ['8000:8000']",
                "    environment: {A: 1}",
                "apiVersion: v1",
                "kind: Pod",
                "spec:",
                "  containers:",
                "  - name: x",
                '    args: ["--model", "$(X)"]',
                "---",
                "[Service]",
                "ExecStart=vllm serve m \\",
                "  --port 9",
                "    healthcheck: {test: [CMD, curl, http://x:1/]}",
                "    livenessProbe: {tcpSocket: {port: http}}",
                "  - &a [*a]",
                "'",
                '"',
                "{",
                "- ",
                ": :",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    ),
    max_size=25,
)


@FUZZ
@given(lines=_yaml_lines)
def test_fuzzed_yaml_lines_never_crash(tmp_path, lines):
    _fuzz_file(tmp_path, "\n".join(lines))


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "vllm/vllm-openai",
            "lmsysorg/sglang:latest",
            "ghcr.io/huggingface/text-embeddings-inference:1.8",
            "--port",
            "8000:80",
            "python3 -m sglang.launch_server --model-path /m",
            "vllm serve /m",
            "text-embeddings-router",
            "/bin/sh",
            "-c",
            "$(X)",
            "${Y:-1}",
        ]
    ),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "image",
                    "command",
                    "entrypoint",
                    "args",
                    "ports",
                    "environment",
                    "env",
                    "name",
                    "value",
                    "valueFrom",
                    "containerPort",
                    "target",
                    "published",
                    "httpGet",
                    "tcpSocket",
                    "path",
                    "port",
                    "healthcheck",
                    "test",
                    "network_mode",
                    "containers",
                    "spec",
                    "template",
                    "livenessProbe",
                    "readinessProbe",
                    "startupProbe",
                    "timeoutSeconds",
                    "metadata",
                    "hostNetwork",
                    "deploy",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@FUZZ
@given(services=st.dictionaries(st.text(min_size=1, max_size=8), _value, max_size=3))
def test_fuzzed_compose_structures_never_crash(tmp_path, services):
    _fuzz_file(tmp_path, yaml.safe_dump({"services": services}, allow_unicode=True))


@FUZZ
@given(
    kind=st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "List", "Service"]),
    containers=st.lists(
        st.dictionaries(
            st.sampled_from(["name", "image", "command", "args", "env", "ports", "livenessProbe", "readinessProbe", "startupProbe", "resources"]),
            _value,
            max_size=6,
        ),
        max_size=3,
    ),
    wrap=st.booleans(),
)
def test_fuzzed_k8s_structures_never_crash(tmp_path, kind, containers, wrap):
    pod = {"containers": containers, "hostNetwork": wrap}
    spec = pod if kind == "Pod" else {"jobTemplate": {"spec": {"template": {"spec": pod}}}} if kind == "CronJob" else {"template": {"spec": pod}}
    doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    _fuzz_file(tmp_path, yaml.safe_dump_all([doc, {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": "http"}]}}], allow_unicode=True))


@FUZZ
@given(
    unit=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "[Service]",
                    "ExecStart=",
                    "ExecStart=-/usr/bin/python3 -m sglang.launch_server \\",
                    "  --port ${P} $ARGS",
                    "Environment=\"P=1\" ARGS='--tp 2'",
                    "Environment='unterminated",
                    "EnvironmentFile=/x",
                    "# c",
                    "; c",
                    "\\",
                ]
            ),
            st.text(max_size=30),
        ),
        max_size=12,
    )
)
def test_fuzzed_systemd_units_never_crash(tmp_path, unit):
    _fuzz_file(tmp_path, "\n".join(unit), suffix=".service")


_token = st.one_of(
    st.sampled_from(
        [
            "python3",
            "-m",
            "sglang.launch_server",
            "vllm",
            "serve",
            "text-embeddings-router",
            "sglang",
            "--port",
            "--port=",
            "-p",
            "--model-path",
            "--model",
            "--is-embedding",
            "--is-embed",
            "--api-key",
            "--host",
            "::1",
            "0",
            "99999",
            "--",
            "-",
            "env",
            "A=B",
            "nohup",
            "--tp",
            "--json-model-override-args",
            '{"is_matryoshka": true}',
            "--max-model-len",
            "1e9",
            "-1",
            "--served-model-name",
            "a:b",
            "--context-length",
            "--task",
            "embed",
            "--runner",
            "pooling",
        ]
    ),
    st.text(max_size=12),
)


@FUZZ
@given(argv=st.lists(_token, min_size=1, max_size=14), server=st.sampled_from([None, "sglang", "vllm", "tei"]))
def test_fuzzed_command_lines_only_raise_launch_error(argv, server):
    try:
        t = build_target(argv, server=server)
    except LaunchError:
        return
    json.dumps(t.to_dict())
    if t.launch is not None:
        t.launch.display()


@FUZZ
@given(
    argv=st.lists(_token, min_size=1, max_size=10),
    image=st.sampled_from(["vllm/vllm-openai", "lmsysorg/sglang", "ghcr.io/huggingface/text-embeddings-inference:1.8", "busybox"]),
)
def test_fuzzed_commands_in_compose_files(tmp_path, argv, image):
    _fuzz_file(
        tmp_path,
        yaml.safe_dump(
            {"services": {"s": {"image": image, "command": argv, "ports": ["8000:8000"], "healthcheck": {"test": ["CMD", "curl", "http://localhost:1/"]}}}},
            allow_unicode=True,
        ),
    )


# --------------------------------------------------------------------------------------------
# containers (issue 12): image tags set the release; what the container can see is read into the Deployment


def _k8s_vllm(image, args, **pod):
    ctr = {"name": "vllm", "image": image, "args": args, "ports": [{"containerPort": 8000}]}
    ctr.update(pod.pop("container", {}))
    spec = {"containers": [ctr], **pod}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "emb"}, "spec": {"template": {"spec": spec}}}]


def test_k8s_vllm_0_11_task_embed_is_read_with_the_0_11_table(tmp_path):
    """The issue's case: vllm/vllm-openai:v0.11.0 with --task embed was checked against the newest table, where --task
    is unknown, and `embed` became the model."""
    t = _one(_dump(tmp_path, "k8s.yaml", _k8s_vllm("vllm/vllm-openai:v0.11.0", ["--model", "Qwen/Qwen3-Embedding-0.6B", "--task", "embed"])))
    assert (t.version.version, t.version.source, t.table.version) == ("0.11.0", "image tag v0.11.0", "0.11.0")
    assert t.model_path == "Qwen/Qwen3-Embedding-0.6B" and t.deployment.image_version == "0.11.0"
    assert t.launch.launcher == "python -m vllm.entrypoints.openai.api_server"  # the 0.11.0 image's ENTRYPOINT
    results = _results([t])
    r = _by(results, "launch.unknown-flags")
    assert r.status in (Status.PASS, Status.ERROR)  # ERROR only when another module breaks the check itself
    assert r.status is not Status.FAIL
    for res in results:  # every corrected command still parses and keeps the model
        if res.fix is not None and res.fix.launch_command:
            again = build_target(split_command(res.fix.launch_command), server="vllm", server_version="0.11.0")
            assert again.model_path == "Qwen/Qwen3-Embedding-0.6B", (res.id, res.fix.launch_command)
    # on the newest release --task is unknown, but `embed` is its value, never the model
    latest = _one(_dump(tmp_path, "k8s2.yaml", _k8s_vllm("vllm/vllm-openai:latest", ["--model", "Qwen/Qwen3-Embedding-0.6B", "--task", "embed"])))
    assert latest.model_path == "Qwen/Qwen3-Embedding-0.6B" and latest.version.version is None
    assert any("not pinned to a release (tag latest)" in n for n in latest.deployment.notes)


def test_image_tags_set_the_version_in_compose_and_server_version_overrides(tmp_path):
    doc = {"services": {"emb": {"image": "ghcr.io/huggingface/text-embeddings-inference:cpu-1.8", "command": "--model-id Qwen/Qwen3-Embedding-0.6B"}}}
    p = _dump(tmp_path, "compose.yaml", [doc])
    t = _one(p)
    assert (t.version.version, t.version.source, t.table.version) == ("1.8", "image tag cpu-1.8", "1.8.0")
    assert (t.deployment.image_tag, t.deployment.gpu_image) == ("cpu-1.8", False)
    from qwen_doctor.facts import server_facts

    assert server_facts(t).version_source == "image" and "image tag cpu-1.8" in server_facts(t).describe()
    o = _one(p, server_version="1.7.2")
    assert (o.version.version, o.version.source) == ("1.7.2", "--server-version")


def test_public_examples_fill_the_container_facts(monkeypatch):
    monkeypatch.chdir(DATA)
    monkeypatch.setenv("HOME", "/home/op")
    s = _one("sglang-compose.yaml")
    d = s.deployment
    assert d.ipc_host and d.gpus_granted == "deploy.resources.reservations.devices (device_ids 0)" and d.gpu_devices == ("0",)
    assert d.volumes == (("/home/op/.cache/huggingface", "/root/.cache/huggingface"),) and d.image_tag == "latest" and d.gpu_image
    v = _one("vllm-compose.yaml").deployment
    assert v.gpus_granted == "deploy.resources.reservations.devices (count all)" and not v.ipc_host and v.shm_size is None
    k = _one("vllm-k8s-gpu.yaml").deployment
    assert k.gpus_granted == "resources.limits nvidia.com/gpu: 1" and k.shm_memory_volume and k.shm_size == 2 * 2**30
    assert k.command_strings == ()  # the one long string is the script of `sh -c`
    cpu = _one("vllm-k8s-cpu.yaml").deployment
    assert cpu.gpus_granted is None and cpu.gpu_image is True


def test_compose_and_k8s_container_facts_and_model_on_the_host(tmp_path):
    from tests.testkit import modeldirs

    models = tmp_path / "models"
    modeldirs.build_tiny_model_dir(models, name="Qwen3-Embedding-0.6B")
    compose = {
        "services": {
            "emb": {
                "image": "lmsysorg/sglang:v0.5.6.post2-cu126",
                "entrypoint": ["python3", "-m", "sglang.launch_server"],
                "command": ["--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--host", "0.0.0.0", "--tp", "2"],
                "volumes": ["./models:/models:ro", "hf:/root/.cache/huggingface"],
                "gpus": "all",
                "shm_size": "16gb",
                "env_file": [".env.prod"],
            }
        }
    }
    c = _one(_dump(tmp_path, "compose.yaml", [compose]))
    d = c.deployment
    assert (c.version.version, d.image_version, d.gpus_granted, d.shm_size) == ("0.5.6.post2", "0.5.6.post2", "gpus: all", 16 * 2**30)
    assert d.volumes == ((str(models), "/models"),) and d.env_files == (".env.prod",)
    assert c.model_path == str(models / "Qwen3-Embedding-0.6B") and "--model-path /models/Qwen3-Embedding-0.6B" in c.launch.display()
    assert any("inside the container" in n and "bind mount" in n for n in d.notes)
    pod = _k8s_vllm(
        "vllm/vllm-openai:v0.12.0",
        ["/models/Qwen3-Embedding-0.6B", "--runner pooling"],
        hostIPC=True,
        volumes=[{"name": "m", "hostPath": {"path": str(tmp_path)}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}],
        container={
            "volumeMounts": [{"name": "m", "mountPath": "/models", "subPath": "models"}, {"name": "shm", "mountPath": "/dev/shm"}],
            "resources": {"limits": {"nvidia.com/gpu": 2}},
        },
    )
    k = _one(_dump(tmp_path, "k8s.yaml", pod))
    kd = k.deployment
    assert kd.gpus_granted == "resources.limits nvidia.com/gpu: 2" and kd.ipc_host and kd.shm_memory_volume and kd.shm_size is None
    assert kd.volumes == ((str(models), "/models"),) and k.model_path == str(models / "Qwen3-Embedding-0.6B")
    assert kd.command_strings == ("--runner pooling",)
    assert any("hostPath volume" in n for n in kd.notes)


@FUZZ
@given(
    volumes=st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["./a:/b", "~/x:/y:ro", "/h:/m", "n:/v", ":", "/a"])), max_size=4),
    shm=st.one_of(st.none(), st.integers(-1, 10**12), st.text(max_size=6), st.sampled_from(["1g", "64m", "2Gi"])),
    gpus=st.one_of(
        st.none(), st.sampled_from(["all", 2]), st.lists(st.dictionaries(st.sampled_from(["driver", "count", "device_ids"]), _scalar, max_size=3), max_size=2)
    ),
    image=st.sampled_from(["vllm/vllm-openai:v0.11.0", "lmsysorg/sglang:v0.5.6-cu126", "ghcr.io/huggingface/text-embeddings-inference:86-1.8.3", "x"]),
)
def test_fuzzed_container_facts_never_crash(tmp_path, volumes, shm, gpus, image):
    svc = {
        "image": image,
        "command": ["python3", "-m", "sglang.launch_server", "--model-path", "/m"],
        "volumes": volumes,
        "shm_size": shm,
        "gpus": gpus,
        "ipc": "host",
    }
    _fuzz_file(tmp_path, yaml.safe_dump({"services": {"s": svc}}, allow_unicode=True))


@FUZZ
@given(
    volumes=st.lists(st.dictionaries(st.sampled_from(["name", "hostPath", "emptyDir", "persistentVolumeClaim"]), _value, max_size=3), max_size=3),
    mounts=st.lists(st.dictionaries(st.sampled_from(["name", "mountPath", "subPath"]), _value, max_size=3), max_size=3),
    resources=_value,
    deploy=_value,
    host_ipc=_scalar,
)
def test_fuzzed_k8s_and_compose_container_facts_never_crash(tmp_path, volumes, mounts, resources, deploy, host_ipc):
    ctr = {"name": "c", "image": "vllm/vllm-openai:v0.12.0", "args": ["/m", "--runner pooling"], "volumeMounts": mounts, "resources": resources}
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [ctr], "volumes": volumes, "hostIPC": host_ipc}}
    _fuzz_file(tmp_path, yaml.safe_dump(doc, allow_unicode=True))
    svc = {"image": "lmsysorg/sglang:v0.5.6", "command": "python3 -m sglang.launch_server --model-path /m", "deploy": deploy, "runtime": "nvidia"}
    _fuzz_file(tmp_path, yaml.safe_dump({"services": {"s": svc}}, allow_unicode=True))
