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
import os
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
MODALITY_NAME_STRINGS_ALLOWED = {"fusiondp.spec": {"text": "a column's value kind (ValueKind), not a config field"}}
"""The core modules that may hold a string spelled like a modality's field, the string, and what it is there."""


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
    every hook and assigns every attribute of ``Modality``, and ``RunConfig`` has the field named like it, which its
    ``spec`` validates."""
    from fusiondp.config import RunConfig
    from fusiondp.modality import Modality

    assert "text" in modality_names()
    hooks = {name for name in vars(Modality) if not name.startswith("_")}
    attributes = set(Modality.__annotations__)
    assert hooks and attributes
    modules = module_files()
    for name in modality_names():
        tree = ast.parse(modules[f"{PACKAGE}.{name}.modality"].read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} | {
            alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}
        assigned = {target.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                    for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(target, ast.Name)}
        assert hooks <= defined, (name, sorted(hooks - defined))
        assert attributes <= assigned | defined, (name, sorted(attributes - assigned - defined))
        assert name in RunConfig.model_fields, f"RunConfig has no field {name!r} for the modality's spec"


def field_name_uses(path: Path, fields: set[str]) -> list[str]:
    """Where a module names one of ``fields``: a string spelled like it (``"text"``: a validator's field, a key, a
    list of fields), an attribute of that name (``config.text``) or a class's field declared with it
    (``text: ModalitySpec | None``). Docstrings, and other strings standing alone as statements, are not code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in fields and id(node) not in prose:
            found.append(f"line {node.lineno}: the string {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in fields:
            found.append(f"line {node.lineno}: the attribute .{node.attr}")
        elif isinstance(node, ast.ClassDef):
            found.extend(f"line {item.lineno}: the field {item.target.id} of {node.name}" for item in node.body
                         if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                         and item.target.id in fields)
    return found


def test_field_name_uses_finds_a_named_field_and_skips_prose(tmp_path: Path) -> None:
    module = tmp_path / "core.py"
    module.write_text('"""Reads config.text, "text"."""\n'
                      'class Config:\n    """The text."""\n    text: object = None\n    context: str = "texts"\n'
                      'FIELDS = ("data", "text")\n'
                      'def notes(config):\n    """text"""\n    return config.text or config.textual\n',
                      encoding="utf-8")
    assert field_name_uses(module, {"text"}) == [
        "line 4: the field text of Config", "line 6: the string 'text'", "line 9: the attribute .text"]


def test_no_core_module_names_a_modality_field() -> None:
    """The core reaches a modality's field by the modality's name (``modality_names``, ``modality_of``), never by
    spelling it: a new modality adds its package, with no edit of ``config.py``, ``sweep_grid.py`` or another core
    module. Modality packages and the command line (a front end) may name their fields."""
    fields = set(modality_names())
    found = {}
    for name, path in module_files().items():
        if any(within(name, package) for package in (*MODALITIES, *MODALITY_IMPORTS_ALLOWED)):
            continue
        allowed = MODALITY_NAME_STRINGS_ALLOWED.get(name, {})
        uses = [use for use in field_name_uses(path, fields) if not any(use.endswith(f"string {string!r}")
                                                                        for string in allowed)]
        if uses:
            found[name] = uses
    assert not found, found


def test_a_modality_is_found_by_its_package_and_a_missing_one_is_named() -> None:
    import pytest

    from fusiondp.config import RunConfig
    from fusiondp.modality import modality, modality_of

    notes = RunConfig.build(text={"text_column": "note", "target": "good"})
    assert modality_of(notes) is modality("text") and modality_of(RunConfig.build()) is None
    with pytest.raises(LookupError, match="no modality 'image': a modality is a package fusiondp/image/"):
        modality("image")


IMAGE_MODALITY = '''"""A stand-in third modality: only what a config and the core's messages ask of it."""
from pydantic import BaseModel, ConfigDict

ROWS = "images"
IMPUTATION_CHECKED = "the deblurred images beat the blurred ones"


class ImageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_column: str
    target: str


def spec(value):
    return ImageSpec.model_validate(value)
'''


def test_a_new_modality_package_needs_no_core_edit(tmp_path: Path) -> None:
    """A copy of the package with one more modality package, ``image`` (its spec and words only), and nothing else
    changed: ``RunConfig`` has its field after ``text``, validated by its ``spec`` and saved with its spec's fields,
    the sweep keys the preparation by it, the refusals name it, and a record of it is no table's (a fresh
    interpreter on the copy)."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / PACKAGE / "image").mkdir()
    (tmp_path / PACKAGE / "image" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / PACKAGE / "image" / "modality.py").write_text(IMAGE_MODALITY, encoding="utf-8")
    probe = """
import pickle
from fusiondp.config import RunConfig
from fusiondp.errors import ConfigError
from fusiondp.modality import modality, modality_of
from fusiondp.sweep_grid import PREPARE_FIELDS
assert list(RunConfig.model_fields)[:5] == ["data", "spec", "image", "text", "support_source"]
assert "image" in PREPARE_FIELDS and "text" in PREPARE_FIELDS
config = RunConfig.build(image={"image_column": "scan", "target": "y"})
assert type(config.image).__name__ == "ImageSpec" and modality_of(config) is modality("image")
assert config.to_dict()["image"] == {"image_column": "scan", "target": "y"} and config.to_dict()["text"] is None
assert pickle.loads(pickle.dumps(config)) == config and modality_of(config.to_dict()) is modality("image")
for values in ({"spec": {"target": "y", "sensitive": ["a"]}}, {"support_source": "dp_synthetic"},
               {"text": {"text_column": "note", "target": "y"}}, {"image": {"target": "y"}}):
    try:
        RunConfig.build(**{"image": {"image_column": "scan", "target": "y"}, **values})
    except ConfigError as error:
        print(error)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Invalid run configuration: give the roles either as a column spec (spec) or as an image spec (image), not "
        "both.",
        "Invalid run configuration: images (image) take their support images from the table (support_source "
        "'fraction' or a split column) or a separate table; dp_synthetic and hybrid_data are for tables.",
        "Invalid run configuration: give the roles as one spec, not image and text together.",
        "Invalid run configuration: image.image_column: Field required."]


def modules_a_fresh_interpreter_imports(probe: str, watched: tuple[str, ...]) -> list[str]:
    """Run ``probe`` (code whose own asserts must hold) in a new interpreter — this one has torch already — and
    return which of the ``watched`` modules it imported, sorted."""
    import subprocess
    import sys

    code = f"{probe}\nimport sys\nprint(sorted(m for m in {watched!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip())


def test_a_notes_config_is_validated_without_the_notes_pipeline_or_torch() -> None:
    """``RunConfig.text`` is validated by the notes' modality module, which imports their pipeline only in the hooks
    that run it: reading a config stays quick (a fresh interpreter, since this one has torch)."""
    probe = ("from fusiondp.config import RunConfig\n"
             "config = RunConfig.build(text={'text_column': 'note', 'target': 'good'})\n"
             "assert type(config.text).__name__ == 'TextSpec'\n")
    assert modules_a_fresh_interpreter_imports(probe, ("torch", "sklearn", "fusiondp.text.pipeline")) == []


def test_the_command_line_help_and_a_flag_error_import_no_torch() -> None:
    """``fusiondp --help`` and a refused flag answer in about a second because they never import torch (the
    commands import it only once their flags are valid): a fresh interpreter, since this one has torch."""
    probe = ("from typer.testing import CliRunner\nfrom fusiondp.cli import app\n"
             "runner = CliRunner()\n"
             "assert runner.invoke(app, ['--help']).exit_code == 0\n"
             "assert runner.invoke(app, ['run', '--help']).exit_code == 0\n"
             "refused = runner.invoke(app, ['run', '--epsilon', 'lots'])\n"
             "assert refused.exit_code == 2, refused.output\n")
    assert modules_a_fresh_interpreter_imports(probe, ("torch", "sklearn", "streamlit")) == []


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
