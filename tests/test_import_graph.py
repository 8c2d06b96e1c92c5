"""The static import graph of ``fusiondp``: no cycle, no front end imported, a modality reached by its registry only.

The graph is read from the source with ``ast``, not by importing: every ``import x`` and ``from x import y``, at
module level and inside functions (where a cycle usually hides), relative ones resolved. Importing ``a.b.c`` also
runs the packages ``a`` and ``a.b``, so the cycle check follows those edges too. Imports under
``if TYPE_CHECKING:`` never run: the cycle check leaves them out (a type checker resolves such cycles), the other
checks count them, as they are the same dependency. ``importlib.import_module`` is no import statement: that is
how ``fusiondp.modality`` loads a modality's module on first use.
"""

from __future__ import annotations

import ast
from pathlib import Path

from fusiondp.modality import modality_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "fusiondp"
FRONT_ENDS = ("dashboard", "benchmarks", "tests", "fusiondp.cli")
"""What the library never imports: the front ends and the tests use it, not the other way round."""
MODALITIES = tuple(f"{PACKAGE}.{name}" for name in modality_names())
"""Modality packages: the core reaches them through ``fusiondp.modality`` (``modality_of``), never by an import."""
MODALITY_IMPORTS_ALLOWED = {"fusiondp.cli": "fusiondp.text"}
"""The modules outside a modality that do import it (a package: every module in it), and what they import: the
command line is a front end (like ``dashboard/``) whose notes commands call the notes' own functions."""


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(name: str, path: Path) -> dict[str, bool]:
    """The dotted names module ``name`` imports, each with whether an import of it runs (``False``: only under
    ``if TYPE_CHECKING:``). ``from x import y`` gives ``x`` and ``x.y``, as ``y`` may be a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: dict[str, bool] = {}

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runs)
            return
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        for imported in found:
            names[imported] = names.get(imported, False) or runs
        for child in ast.iter_child_nodes(node):
            visit(child, runs)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return names


def all_imports(root: Path = ROOT) -> dict[str, dict[str, bool]]:
    """``imported_names`` of every module of the package."""
    return {name: imported_names(name, path) for name, path in module_files(root).items()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def owner(imported: str, modules: set[str] | dict[str, Path]) -> str | None:
    """The package's module an imported name is or lies in (the longest that matches); ``None`` outside it."""
    parts = imported.split(".")
    return next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in modules), None)


def runtime_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Per module, the package's modules whose import runs when it is imported: each one it imports and their
    enclosing packages (except its own, which are already importing)."""
    modules = module_files(root)
    graph = {}
    for name, imports in all_imports(root).items():
        edges = set()
        for imported in (imported for imported, runs in imports.items() if runs):
            target = owner(imported, modules)
            if target is None:
                continue
            parts = target.split(".")
            edges.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
        graph[name] = {target for target in edges if not within(name, target)}
    return graph


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as the modules along it (the first repeated at the end), or ``None``."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def _outermost(names: set[str]) -> list[str]:
    """``names`` without those inside another of them (``x.y`` beside ``x``), sorted."""
    return sorted(name for name in names if not any(within(name, other) and name != other for other in names))


def test_the_graph_reads_function_level_relative_and_type_checking_imports(tmp_path: Path) -> None:
    source = ("from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    from .c import C\n"
              "def f():\n    from ..other import g\n    import fusiondp.x\n")
    (tmp_path / "a.py").write_text(source, encoding="utf-8")
    names = imported_names("fusiondp.sub.a", tmp_path / "a.py")
    assert names["fusiondp.sub.b"] and names["fusiondp.other.g"] and names["fusiondp.x"]
    assert names["fusiondp.sub.c"] is False
    graph = runtime_graph()
    assert "fusiondp.privacy.accounting" in graph["fusiondp.synth.two_stage"]
    assert {"fusiondp.impute", "fusiondp.impute.quality"} <= graph["fusiondp.preparation"]


def test_find_cycle_reports_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_fusiondp_modules() -> None:
    cycle = find_cycle(runtime_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def front_end_imports(imports: dict[str, dict[str, bool]]) -> set[str]:
    """Each import of a front end (a module of the ``fusiondp.cli`` package among them) from outside it."""
    return {f"{name} imports {imported}" for name, names in imports.items() for imported in names
            for front_end in FRONT_ENDS if within(imported, front_end) and not within(name, front_end)}


def _allowed(name: str, imported: str) -> bool:
    return any(within(name, importer) and within(imported, allowed)
               for importer, allowed in MODALITY_IMPORTS_ALLOWED.items())


def modality_imports(imports: dict[str, dict[str, bool]], modules: set[str] | dict[str, Path]) -> set[str]:
    """Each import of a modality from outside it that ``MODALITY_IMPORTS_ALLOWED`` does not allow."""
    return {f"{name} imports {owner(imported, modules)}" for name, names in imports.items()
            for imported in names for modality in MODALITIES
            if within(imported, modality) and not within(name, modality) and not _allowed(name, imported)}


def test_the_checks_see_the_cli_package_as_one_front_end() -> None:
    """Every module of ``fusiondp/cli/`` is the front end: it may import itself and the notes, the core neither."""
    modules = {"fusiondp.preparation", "fusiondp.cli", "fusiondp.cli.run", "fusiondp.cli.options", "fusiondp.text",
               "fusiondp.text.pipeline"}
    inside = {"fusiondp.cli.run": {"fusiondp.cli.options": True, "fusiondp.text.pipeline": True}}
    assert not front_end_imports(inside) and not modality_imports(inside, modules)
    core = {"fusiondp.preparation": {"fusiondp.cli.options._build_config": True, "fusiondp.text.pipeline": True}}
    assert front_end_imports(core) == {"fusiondp.preparation imports fusiondp.cli.options._build_config"}
    assert modality_imports(core, modules) == {"fusiondp.preparation imports fusiondp.text.pipeline"}


def test_fusiondp_imports_no_front_end() -> None:
    found = front_end_imports(all_imports())
    assert not found, _outermost(found)


def test_only_a_modality_imports_itself() -> None:
    found = modality_imports(all_imports(), module_files())
    assert not found, sorted(found)


def test_every_modality_module_provides_the_interface_and_has_its_config_field() -> None:
    """A package with a ``modality.py`` is a modality (``fusiondp.modality.modality_names``): its module defines
    every hook of ``Modality`` and ``RunConfig`` has the field named like it, which its ``spec`` validates."""
    from fusiondp.config import RunConfig
    from fusiondp.modality import Modality

    assert "text" in modality_names()
    wanted = {name for name in vars(Modality) if not name.startswith("_")}
    modules = module_files()
    for name in modality_names():
        tree = ast.parse(modules[f"{PACKAGE}.{name}.modality"].read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} | {
            alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}
        assert wanted <= defined, (name, sorted(wanted - defined))
        assert name in RunConfig.model_fields, f"RunConfig has no field {name!r} for the modality's spec"


def test_a_modality_is_found_by_its_package_and_a_missing_one_is_named() -> None:
    import pytest

    from fusiondp.config import RunConfig
    from fusiondp.modality import modality, modality_of

    notes = RunConfig.build(text={"text_column": "note", "target": "good"})
    assert modality_of(notes) is modality("text") and modality_of(RunConfig.build()) is None
    with pytest.raises(LookupError, match="no modality 'image': a modality is a package fusiondp/image/"):
        modality("image")


def test_a_notes_config_is_validated_without_the_notes_pipeline_or_torch() -> None:
    """``RunConfig.text`` is validated by the notes' modality module, which imports their pipeline only in the hooks
    that run it: reading a config stays quick (a fresh interpreter, since this one has torch)."""
    import subprocess
    import sys

    probe = ("import sys\nfrom fusiondp.config import RunConfig\n"
             "config = RunConfig.build(text={'text_column': 'note', 'target': 'good'})\n"
             "assert type(config.text).__name__ == 'TextSpec'\n"
             "print(sorted(m for m in ('torch', 'sklearn', 'fusiondp.text.pipeline') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_command_line_help_and_a_flag_error_import_no_torch() -> None:
    """``fusiondp --help`` and a refused flag answer in about a second because they never import torch (the
    commands import it only once their flags are valid): a fresh interpreter, since this one has torch."""
    import subprocess
    import sys

    probe = ("import sys\nfrom typer.testing import CliRunner\nfrom fusiondp.cli import app\n"
             "runner = CliRunner()\n"
             "assert runner.invoke(app, ['--help']).exit_code == 0\n"
             "assert runner.invoke(app, ['run', '--help']).exit_code == 0\n"
             "refused = runner.invoke(app, ['run', '--epsilon', 'lots'])\n"
             "assert refused.exit_code == 2, refused.output\n"
             "print(sorted(m for m in ('torch', 'sklearn', 'streamlit') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_old_pipeline_module_is_for_user_scripts_only() -> None:
    """``fusiondp.pipeline`` keeps scripts exported before the split running (their first import line below);
    the library itself imports from where the code lives, so the old module can go when those scripts have."""
    importers = {name for name, imported in all_imports().items()
                 if name != "fusiondp.pipeline" and any(within(i, "fusiondp.pipeline") for i in imported)}
    assert not importers
    namespace: dict[str, object] = {}
    exec("from fusiondp.pipeline import curve_runs, prepare, save_results", namespace)
    from fusiondp.preparation import prepare
    assert namespace["prepare"] is prepare
