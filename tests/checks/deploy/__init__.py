"""Shared helpers of the deploy.* check tests: targets from deployment files, run through the launch, host and
deploy plugins. The manifests in tests/data/deploy/ are public deployment examples (each names its source)."""

from __future__ import annotations

from pathlib import Path

import yaml

from qwen_doctor.checks import deploy, host, launch
from qwen_doctor.deployfiles import targets_from_file
from qwen_doctor.registry import Registry
from qwen_doctor.runner import Runner

DATA = Path(__file__).resolve().parents[2] / "data" / "deploy"


def reg() -> Registry:
    reg = Registry()
    for m in (launch, host, deploy):
        reg.load_plugin(m.__name__, m.register, m.__name__)
    assert not reg.problems, reg.problems
    return reg


def run(targets):
    return Runner(reg()).run(list(targets))


def one(path, **kw):
    ts = targets_from_file(path, **kw)
    assert len(ts) == 1, [t.label for t in ts]
    return ts[0]


def by(results, check_id, label=None):
    hits = [r for r in results if r.id == check_id and (label is None or r.target == label)]
    assert len(hits) == 1, (check_id, [r.target for r in hits])
    return hits[0]


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def dump(tmp_path, name, docs):
    return write(tmp_path, name, yaml.safe_dump_all(docs, sort_keys=False))


def load(name):
    return list(yaml.safe_load_all((DATA / name).read_text()))


def sglang_deployment(probes: dict, ports=None, args_extra=(), services=()):
    ctr = {
        "name": "embed",
        "image": "lmsysorg/sglang:v0.5.23",
        "command": ["python3", "-m", "sglang.launch_server"],
        "args": ["--model-path", "/models/Qwen3-Embedding-0.6B", "--is-embedding", "--host", "0.0.0.0", *args_extra],
        "ports": ports if ports is not None else [{"containerPort": 30000, "name": "http"}],
        **probes,
    }
    docs = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "emb"}, "spec": {"template": {"spec": {"containers": [ctr]}}}}]
    for s in services:
        docs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": s[0]}, "spec": {"ports": [{"port": 80, "targetPort": s[1]}]}})
    return docs


GOOD = {
    "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 60, "timeoutSeconds": 30},
    "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 30},
    "livenessProbe": {"httpGet": {"path": "/health", "port": 30000}, "periodSeconds": 30, "timeoutSeconds": 30, "failureThreshold": 5},
}
