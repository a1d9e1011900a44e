"""The corpus's pool of fork servers (one per session) and the closing figures: size, worst wall time, worst RSS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .harness import Pool

_POOL: list[Pool] = []


@pytest.fixture(scope="session")
def outside(tmp_path_factory) -> Path:
    """A directory outside every case dir; symlinks in the cases point into it. It must never change."""
    d = tmp_path_factory.mktemp("outside")
    (d / "sentinel.txt").write_text("do not touch\n")
    os.chmod(d / "sentinel.txt", 0o644)
    return d


@pytest.fixture(scope="session")
def pool(tmp_path_factory, outside) -> Pool:
    from . import cases

    cases.OUTSIDE.update(dir=outside, file=outside / "sentinel.txt")
    p = Pool(tmp_path_factory.mktemp("cases"), outside)
    _POOL.append(p)
    yield p
    p.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _POOL or not _POOL[0].stats:
        return
    stats = _POOL[0].stats
    worst_wall = max(stats, key=lambda o: o.wall_s)
    worst_rss = max(stats, key=lambda o: o.max_rss_kb)
    failed = sum(1 for o in stats if o.problems)
    terminalreporter.write_line(
        f"hostile corpus: {len(stats)} cases, {failed} with problems; worst wall {worst_wall.wall_s:.2f} s ({worst_wall.case.id}); "
        f"worst peak RSS {worst_rss.max_rss_kb / 1024:.0f} MB ({worst_rss.case.id})"
    )
