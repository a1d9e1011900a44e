"""model.permissions, and the user resolution it reads (qwen_doctor.users)."""

from __future__ import annotations

import os
import stat

from qwen_doctor.checks.model.permissions import server_files
from qwen_doctor.results import Status
from qwen_doctor.users import UserSpec, may, resolve_user
from tests.testkit import modeldirs as md

from .conftest import nobody, run, variant


def test_permissions_name_the_file_and_the_missing_permission(open_tmp):
    nb = nobody()
    d = variant(open_tmp, "unreadable")  # chmod 000 model.safetensors
    res = run(model_path=d, as_user="nobody")
    r = res["model.permissions"]
    assert r.status is Status.FAIL
    assert str(d / "model.safetensors") in r.summary and "read permission" in r.summary
    assert r.summary.startswith(f"user nobody (uid {nb.pw_uid}")  # the user, not a chmod class letter
    (problem,) = r.evidence["problems"]
    assert problem["path"] == str(d / "model.safetensors") and problem["mode"] == "0000" and problem["class"] == "other"
    assert r.evidence["uid"] == nb.pw_uid
    assert any(c.startswith("chmod o+r ") and c.endswith("model.safetensors") for c in r.fix.commands)


def test_permissions_pytest_tmp_dir_is_really_closed_to_others(tiny):
    """pytest's tmp root is 0700: the check finds the blocking ancestor directory, not the files."""
    nobody()
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    closed_dirs = [p for p in r.evidence["problems"] if os.path.isdir(p["path"])]
    assert r.status is Status.FAIL and closed_dirs
    assert all("search (x)" in p["missing"] and int(p["mode"], 8) & 0o001 == 0 for p in closed_dirs)


def test_permissions_safetensors_save_file_writes_0600(open_tmp):
    """A real pitfall: safetensors' save_file creates the weights with mode 0600 whatever the umask (seen with
    safetensors 0.8), so a checkpoint saved by root is unreadable to an unprivileged serving user."""
    nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="fresh")
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    assert r.status is Status.FAIL
    assert [p["path"] for p in r.evidence["problems"]] == [str(tiny / "model.safetensors")]
    assert r.fix.commands == (f"chmod o+r {tiny / 'model.safetensors'}",)
    os.chmod(tiny / "model.safetensors", 0o644)
    assert run(model_path=tiny, as_user="nobody")["model.permissions"].status is Status.PASS


def test_permissions_directory_search_bit(open_tmp):
    nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="tiny")
    os.chmod(tiny / "model.safetensors", 0o644)
    sub = tiny / "1_Pooling"
    os.chmod(sub, 0o700)
    try:
        r = run(model_path=tiny, as_user="nobody")["model.permissions"]
        assert r.status is Status.FAIL
        assert any(p["path"] == str(sub) and "search (x)" in p["missing"] for p in r.evidence["problems"])
        # root is the owner: with the bits given to the owner only, root passes (and root always does)
        assert run(model_path=tiny, as_user="root")["model.permissions"].status is Status.PASS
    finally:
        os.chmod(sub, 0o755)


def test_permissions_group_and_owner_classes(open_tmp):
    nb = nobody()
    tiny = md.build_tiny_model_dir(open_tmp, name="tiny")
    os.chmod(tiny / "model.safetensors", 0o644)
    f = tiny / "config.json"
    os.chown(f, 0, nb.pw_gid)
    os.chmod(f, 0o640)  # group may read: nobody is in its primary group
    assert run(model_path=tiny, as_user="nobody")["model.permissions"].status is Status.PASS
    os.chmod(f, 0o604)  # only 'other' may read, but nobody is matched as 'group' first and the group may not
    r = run(model_path=tiny, as_user="nobody")["model.permissions"]
    assert r.status is Status.FAIL and r.evidence["problems"][0]["class"] == "group"
    assert any(c.startswith("chmod g+r") for c in r.fix.commands)
    os.chown(f, nb.pw_uid, 0)
    os.chmod(f, 0o044)  # the owner class decides even though group and other may read
    r = run(model_path=tiny, as_user=f"{nb.pw_uid}")["model.permissions"]
    assert r.status is Status.FAIL and r.evidence["problems"][0]["class"] == "owner"
    os.chown(f, 0, 0)
    os.chmod(f, 0o644)


def test_permissions_unknown_user_is_an_error(tiny):
    r = run(model_path=tiny, as_user="no-such-user-qd")["model.permissions"]
    assert r.status is Status.ERROR and "no user named" in r.summary


def test_may_follows_kernel_class_order():
    def st_(mode, uid, gid):
        return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))

    u = UserSpec("user u (uid 1000", 1000, frozenset({100, 200}), "--as-user")
    assert may(u, st_(0o400, 1000, 0), 4) == (True, "owner")
    assert may(u, st_(0o044, 1000, 200), 4) == (False, "owner")
    assert may(u, st_(0o040, 0, 200), 4) == (True, "group")
    assert may(u, st_(0o004, 0, 200), 4) == (False, "group")
    assert may(u, st_(0o004, 0, 300), 4) == (True, "other")
    assert may(u, st_(0o750, 0, 100), 1) == (True, "group")
    root = UserSpec("user root (uid 0", 0, frozenset({0}), "--as-user")
    assert may(root, st_(0o000, 5, 5), 4) == (True, "root")


def test_resolve_user_forms():
    me = resolve_user(None)
    assert isinstance(me, UserSpec) and me.current and me.uid == os.geteuid() and me.source == "the current user"
    by_uid = resolve_user("0")
    assert isinstance(by_uid, UserSpec) and by_uid.uid == 0 and by_uid.source == "--as-user"
    assert resolve_user("no-such-user-qd") == "--as-user no-such-user-qd: no user named 'no-such-user-qd' on this machine"
    assert "no group named" in resolve_user("root:no-such-group-qd")
    proc = resolve_user(None, os.getpid())  # the server process: its owner and groups
    assert isinstance(proc, UserSpec) and proc.uid == os.geteuid() and proc.source == f"the server process {os.getpid()}"


def test_the_cli_takes_user_resolution_from_its_own_module():
    import ast

    import qwen_doctor.cli as cli_mod

    tree = ast.parse(open(cli_mod.__file__, encoding="utf-8").read())
    imported = {(n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "users" in imported
    assert not any(m.startswith(("checks.model", "checks.tokenizer", "qwen_doctor.checks.model", "qwen_doctor.checks.tokenizer")) for m in imported)


def test_server_files_lists_what_servers_read(tiny):
    (tiny / "README.md").write_text("docs")
    (tiny / ".git").mkdir()
    (tiny / ".git" / "config").write_text("x")
    names = {str(p.relative_to(tiny)) for p in server_files(tiny)}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json", "1_Pooling/config.json"} <= names
    assert "README.md" not in names and not any(n.startswith(".git") for n in names)
