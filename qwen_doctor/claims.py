"""Claims: what the doctor says about how a server, model, tokenizer, GPU or driver behaves, as data with sources.

A *claim* is a :class:`~qwen_doctor.versions.Behaviour` table whose rows are ``(server, release range, statement,
source)``: the statement holds for that server's releases in the range, and the source says where that is written
(a file at a tag, an issue or PR, a man page, or a named experiment in this repository with its result). A row for
every server (``server="*"``, :data:`~qwen_doctor.versions.ANY_SERVER`) states a fact that does not depend on the
server (the GPU, the driver, the model files, the tokenizer, a library) and is printed whatever the server.

The registry of claims is every module-level ``Behaviour`` of the built-in check packages (``qwen_doctor.checks.*``,
the version tables beside the checks and the prose claims in each area's ``_claims.py``) and of
``qwen_doctor.gpu.memory``; a table with non-statement values (``True``, a tuple of routes, ...) is a claim too: its
value is shown by ``qwen-doctor explain``. A check declares the claims it can make (``@check(..., claims=(ID, ...))``)
and prints one with ``ctx.claim(ID, **values)``, which gives the statement for the release at hand, or None when
no row holds (a claim outside its range is never printed).

Adding a claim: one row (or one table) with its source, and one test at each boundary of its range
(tests/claims/).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .versions import ANY_SERVER, Behaviour, Range, Row

if TYPE_CHECKING:  # pragma: no cover
    from .facts import ServerFacts

#: modules scanned for claims besides every module of the qwen_doctor.checks packages
EXTRA_MODULES = ("qwen_doctor.gpu.memory",)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ClaimError(LookupError):
    """A claim ID that no table has, or a check printing a claim it did not declare."""


def says(server: str, spec: str, statement: str, source: str) -> Row[str]:
    """One claim row: ``statement`` holds for ``server`` releases in ``spec``; ``source`` says where that is written."""
    return Row(server, Range(spec), statement, source)


def anywhere(statement: str, source: str) -> Row[str]:
    """A server-independent claim row (GPU, driver, model, tokenizer, a library): printed whatever the server."""
    return Row(ANY_SERVER, Range(""), statement, source)


def claim(id: str, doc: str, *rows: Row[str]) -> Behaviour[str]:
    """A claim table: ``doc`` says what it is about; rows are :func:`says` / :func:`anywhere` rows."""
    return Behaviour(id, doc, tuple(rows))


# -- the registry ---------------------------------------------------------------------------------
def _modules() -> list[str]:
    import qwen_doctor.checks as pkg

    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return sorted(names) + list(EXTRA_MODULES)


def tables_of(modules: Iterable[Any]) -> list[Behaviour[Any]]:
    """The module-level Behaviour tables of ``modules`` (module objects), in module then definition order."""
    out: list[Behaviour[Any]] = []
    for m in modules:
        out.extend(v for v in vars(m).values() if isinstance(v, Behaviour))
    return out


@lru_cache(maxsize=1)
def _scan() -> tuple[Mapping[str, Behaviour[Any]], tuple[str, ...]]:
    found: dict[str, Behaviour[Any]] = {}
    problems: list[str] = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a broken module never breaks a run; tests/claims asserts there is none
            problems.append(f"{name}: cannot import: {type(exc).__name__}: {exc}")
            continue
        for table in tables_of([module]):
            prev = found.get(table.id)
            if prev is not None and prev is not table and prev != table:
                problems.append(f"two different claim tables have the ID {table.id!r} (one is in {name})")
                continue
            found.setdefault(table.id, table)
    return dict(found), tuple(problems)


def builtin_claims() -> Mapping[str, Behaviour[Any]]:
    """Every built-in claim table by ID (the first of two different tables with one ID; see :func:`problems`)."""
    return _scan()[0]


def problems() -> tuple[str, ...]:
    """What breaks the one-registry rule: two different tables with one ID, a module that does not import."""
    return _scan()[1]


def resolve(item: "str | Behaviour[Any]", own: Sequence["str | Behaviour[Any]"] = ()) -> Behaviour[Any]:
    """The table of a claim ID (built-in, or one of the check's own tables), or the table itself."""
    if isinstance(item, Behaviour):
        return item
    for o in own:
        if isinstance(o, Behaviour) and o.id == item:
            return o
    table = builtin_claims().get(item)
    if table is None:
        raise ClaimError(f"no claim has the ID {item!r}")
    return table


def claim_id(item: "str | Behaviour[Any]") -> str:
    return item.id if isinstance(item, Behaviour) else item


# -- reading a claim --------------------------------------------------------------------------------
def row_for(table: Behaviour[Any], server: "ServerFacts | None") -> Row[Any] | None:
    """The row that holds for ``server`` (a ServerFacts), or None. Server-independent rows hold always; a server
    row holds only for a known server at a release in its range (a release older than every one the doctor knows
    is in no range)."""
    for r in table.rows:
        if r.server == ANY_SERVER:
            return r
        if server is not None and not server.below_known and r.holds(server.kind, server.assumed):
            return r
    return None


def fill(statement: str, values: Mapping[str, Any]) -> str:
    """``{name}`` fields of a statement filled from ``values`` (other braces, e.g. JSON, are left alone)."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise ClaimError(f"statement needs a value for {{{key}}}: {statement!r}")
        return str(values[key])

    return _FIELD.sub(sub, statement)


def statement(table: Behaviour[Any], server: "ServerFacts | None", **values: Any) -> str | None:
    """The statement of ``table`` for ``server`` with its fields filled, or None when no row holds."""
    r = row_for(table, server)
    if r is None:
        return None
    if not isinstance(r.value, str):
        raise ClaimError(f"claim {table.id} holds values, not statements: read it with ctx.server.at()")
    return fill(r.value, values)


def where(r: Row[Any]) -> str:
    """``every server`` or ``sglang >=0.5.1``."""
    if r.server == ANY_SERVER:
        return "every server"
    return f"{r.server} {r.range}" if r.range.spec.strip() not in ("", "*") else f"{r.server} (every release)"


def describe(table: Behaviour[Any]) -> dict[str, Any]:
    """A claim table as plain data (for ``explain --json``)."""
    return {
        "id": table.id,
        "about": table.doc,
        "rows": [
            {
                "server": r.server,
                "releases": r.range.spec.strip() or "*",
                "holds_for": where(r),
                "statement": r.value if isinstance(r.value, str) else repr(r.value),
                "source": r.source,
            }
            for r in table.rows
        ],
    }


def render(table: Behaviour[Any], indent: str = "  ") -> str:
    """A claim table as text: its ID and doc, then per row where it holds, the statement and its source."""
    lines = [f"{indent}{table.id}: {table.doc}"]
    for r in table.rows:
        value = r.value if isinstance(r.value, str) else repr(r.value)
        lines.append(f"{indent}  - {where(r)}: {value}")
        lines.append(f"{indent}    source: {r.source}")
    return "\n".join(lines)
