"""gpu.other-processes: real child processes hold the "GPU memory" of the replayed busy H200 (psutil reads their
pid, user and command line)."""

from __future__ import annotations

import json

from qwen_doctor.results import Status

from .helpers import FACTS, RESET_REFUSED, busy_replay_with_pid, texts


def test_holder_named_with_redacted_command_line(run, tmp_path, holder):
    import getpass

    p, secret = holder
    res = run(busy_replay_with_pid(tmp_path, p.pid), model_path="Qwen/Qwen3-Embedding-0.6B")
    r = res["gpu.other-processes"]
    assert r.status is Status.WARN
    h = r.evidence["holders"][0]
    assert h["pid"] == p.pid and h["used_bytes"] == 4563402752 and h["gpu"] == 0
    assert h["user"] == getpass.getuser()
    assert "--api-key ***" in h["cmdline"]
    assert f"pid {p.pid}" in r.summary and "4.2 GiB" in r.summary
    assert all(secret not in x for x in texts(res) + [json.dumps(r.to_dict())])
    assert RESET_REFUSED in r.fix.text and "kills every process" not in r.fix.text
    # memory-fit still passes (145 GB free) but names the holder nowhere it is not needed
    assert res["gpu.memory-fit"].status is Status.PASS


def test_the_examined_server_itself_is_not_another_holder(run, tmp_path, holder):
    p, _ = holder
    res = run(busy_replay_with_pid(tmp_path, p.pid), model_path="Qwen/Qwen3-Embedding-0.6B", pid=p.pid, label=f"pid {p.pid}", deep=True)
    assert res["gpu.other-processes"].status is Status.PASS
    # its own memory counts as free for the fit (the verdict is about starting it again) ...
    ev = res["gpu.memory-fit"].evidence
    assert ev["own_process_bytes"] == 4563402752
    assert ev["free_bytes"] == FACTS["nvml_busy"]["memory_info_v2"]["free"] + 4563402752
    # ... but the trial allocation never competes with the running server
    assert res["gpu.trial-allocation"].status is Status.SKIP and f"pid {p.pid}" in res["gpu.trial-allocation"].summary


def test_holder_from_another_pid_namespace(run, tmp_path):
    # the recorded holder pid (415 on the H200 host) is not a process here (or is an unrelated one): make sure it is absent
    import psutil

    pid = 4_000_000 - 7
    assert not psutil.pid_exists(pid)
    res = run(busy_replay_with_pid(tmp_path, pid))
    r = res["gpu.other-processes"]
    assert r.status is Status.WARN and "another container or PID namespace" in r.summary
