"""The architecture's promises, checked on the source: one-way edges, small check modules, one public API."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import qwen_doctor.plugin as plugin
from qwen_doctor.registry import BUILTIN_PLUGINS, Registry, RegistryError, default_registry
from qwen_doctor.spec import SpecError, check

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "qwen_doctor"
CHECKS = PKG / "checks"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _check_modules() -> list[Path]:
    return sorted(p for p in CHECKS.rglob("*.py") if p.name != "__init__.py")


def test_plugin_api_is_versioned_and_complete():
    assert re.fullmatch(r"\d+\.\d+", plugin.API_VERSION)
    for name in plugin.__all__:
        assert hasattr(plugin, name), name
    assert isinstance(Registry(), plugin.RegistryProtocol)


def test_builtin_plugins_match_entry_points():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["qwen_doctor.checks"]
    assert dict(BUILTIN_PLUGINS) == eps


def test_builtins_load_without_problems_and_categories_are_id_prefixes():
    reg = default_registry(use_default_dirs=False)
    assert not reg.problems, reg.problems
    for c in reg:
        assert c.category == c.id.split(".", 1)[0]
        assert c.doc, f"{c.id} has no docstring for `explain`"


def test_check_modules_are_small():
    big = {str(p.relative_to(ROOT)): n for p in _check_modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not big, f"check modules over 400 lines: {big}"


def test_each_check_module_has_a_test_module():
    missing = []
    for p in _check_modules():
        if p.name.startswith("_") or p.name == "timeouts.py":
            continue
        area = p.parent.name
        if not (ROOT / "tests" / "checks" / area / f"test_{p.stem}.py").exists():
            missing.append(f"{area}/{p.name}")
    assert not missing, f"check modules without tests/checks/<area>/test_<module>.py: {missing}"


FORBIDDEN_IN_CHECKS = ("read_config", "local_dir", "version_at_least", "parse_version", "version_ge")


def test_checks_never_rederive_facts():
    bad = []
    for p in _check_modules():
        src = p.read_text()
        names = {n.split(".")[-1] for n in _imports(p)}
        for f in FORBIDDEN_IN_CHECKS:
            if f in names:
                bad.append(f"{p.relative_to(ROOT)} imports {f}")
        for line in src.splitlines():  # the model's config.json (a module's 1_Pooling/config.json is another file)
            if re.search(r"""/ ?["']config\.json["']""", line) and not re.search(r"Pooling|ppath", line):
                bad.append(f"{p.relative_to(ROOT)} opens config.json itself: {line.strip()}")
    assert not bad, bad


def test_cli_imports_no_check_module():
    for mod in ("cli.py", "entry.py", "serve.py", "runner.py", "render/__init__.py"):
        imps = _imports(PKG / mod)
        assert not [i for i in imps if ".checks" in i and "timeouts" not in i], (mod, imps)


def test_checks_d_examples_import_only_the_plugin_api():
    for p in sorted((ROOT / "checks.d").rglob("*.py")):
        mods = {i for i in _imports(p) if i.startswith("qwen_doctor")}
        assert mods <= {"qwen_doctor.plugin"} | {f"qwen_doctor.plugin.{n}" for n in plugin.__all__}, (p, mods)


def test_no_import_time_registration():
    # decorating a function registers nothing anywhere: a registry only sees what register() hands it
    @check("site.example", "Example")
    def f(ctx):
        return None

    assert len(Registry()) == 0
    reg = Registry()
    reg.add_checks(f)
    assert reg.ids() == ["site.example"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0, -1, "5", True])
def test_spec_rejects_bad_timeouts(bad):
    with pytest.raises(SpecError):
        check("site.x", "X", timeout=bad)


def test_spec_rejects_bad_ids_and_self_dependency():
    with pytest.raises(SpecError):
        check("Site.X", "X")
    with pytest.raises(SpecError):
        check("site.x", "X", requires=("site.x",))
    reg = Registry()
    with pytest.raises(RegistryError):
        reg.add_checks(lambda ctx: None)
