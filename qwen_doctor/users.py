"""The user a server runs as, and what the mode bits let it do (not a check: the CLI validates --as-user with it).

``--as-user NAME|UID[:GROUP|GID]``, else the owner of the running server process, else the doctor's own user.
Read by the model.permissions check and by the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["UserSpec", "may", "owner_names", "resolve_user"]


@dataclass(frozen=True)
class UserSpec:
    label: str  # for messages, without the closing parenthesis: "user nobody (uid 65534"
    uid: int
    gids: frozenset[int]
    source: str  # --as-user | the server process | the current user
    current: bool = False  # the doctor's own user: os.access also sees ACLs and capabilities


def _proc_groups(pid: int) -> set[int]:
    from .readers import ReadError, read_text

    try:
        text = read_text(f"/proc/{pid}/status", "proc")
    except ReadError:
        return set()
    for line in text.splitlines():
        if line.startswith("Groups:"):
            return {int(x) for x in line.split()[1:] if x.isascii() and x.isdigit()}
    return set()


def resolve_user(spec: str | None, pid: int | None = None) -> UserSpec | str:
    """The user the server runs as: ``--as-user NAME|UID[:GROUP|GID]``, else the owner of the running server process,
    else the doctor's user. Returns an error string for an unknown name."""
    import grp
    import pwd

    if spec:
        name, _, group = spec.partition(":")
        gids: set[int] = set()
        pw = None
        try:
            pw = pwd.getpwuid(int(name)) if name.isascii() and name.isdigit() else pwd.getpwnam(name)
        except KeyError:
            if not (name.isascii() and name.isdigit()):
                return f"--as-user {spec}: no user named {name!r} on this machine"
        except (OverflowError, ValueError):
            return f"--as-user {spec}: not a user name or uid"
        uid = pw.pw_uid if pw else int(name)
        if pw is not None:
            try:
                gids.update(os.getgrouplist(pw.pw_name, pw.pw_gid))
            except (OSError, AttributeError):
                gids.add(pw.pw_gid)
        if group:
            try:
                gids.add(int(group) if group.isascii() and group.isdigit() else grp.getgrnam(group).gr_gid)
            except KeyError:
                return f"--as-user {spec}: no group named {group!r} on this machine"
        label = f"user {pw.pw_name} (uid {uid}" if pw else f"uid {uid} (no passwd entry: only owner and 'other' bits count"
        return UserSpec(label, uid, frozenset(gids), "--as-user")
    if pid is not None:
        try:
            import psutil

            p = psutil.Process(pid)
            uid = p.uids().effective
            gids = {p.gids().effective} | _proc_groups(pid)
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = f"uid {uid}"
            return UserSpec(f"user {name} (uid {uid}", uid, frozenset(gids), f"the server process {pid}")
        except Exception:  # noqa: BLE001 - fall back to the current user
            pass
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    return UserSpec(f"user {name} (uid {uid}", uid, frozenset({os.getegid(), *os.getgroups()}), "the current user", current=True)


def owner_names(st: os.stat_result) -> str:
    """``owner:group`` of a stat result, by name where the names are known."""
    import grp
    import pwd

    try:
        u = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        u = str(st.st_uid)
    try:
        g = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        g = str(st.st_gid)
    return f"{u}:{g}"


def may(user: UserSpec, st: os.stat_result, want: int) -> tuple[bool, str]:
    """Whether ``user`` has the ``want`` bits (4 read, 1 search/execute) on a file with ``st``, from its mode bits, owner
    and group (the first matching class decides, as the kernel does), and which class applied."""
    if user.uid == 0:
        return True, "root"
    mode = st.st_mode
    if st.st_uid == user.uid:
        bits = (mode >> 6) & 7
        cls = "owner"
    elif st.st_gid in user.gids:
        bits = (mode >> 3) & 7
        cls = "group"
    else:
        bits = mode & 7
        cls = "other"
    return (bits & want) == want, cls
