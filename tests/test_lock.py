"""requirements/lock.txt pins what CI tested: every project dependency, exact versions, torch without a build tag,
and none of the per-build CUDA packages (so a CPU-only and a GPU machine can both install under it)."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
LOCK = ROOT / "requirements" / "lock.txt"
_spec = importlib.util.spec_from_file_location("update_lock", ROOT / "tools" / "update_lock.py")
update_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_lock)


def _requirement_name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0]).lower()


def test_the_lock_pins_every_dependency_and_extra_exactly() -> None:
    pins = update_lock.read_pins(LOCK.read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *(r for r in extras["dev"] if not r.startswith("fusiondp["))]
    wanted += [r for extra in ("app", "ray", "bench", "presidio") for r in extras[extra]]
    missing = sorted({_requirement_name(r) for r in wanted} - set(pins))
    assert not missing, f"not in the lock (run python tools/update_lock.py): {missing}"
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.!]*", line), line


def test_torch_is_pinned_without_a_build_tag_and_no_cuda_package_is() -> None:
    pins = update_lock.read_pins(LOCK.read_text(encoding="utf-8"))
    assert "+" not in pins["torch"], "a build tag (+cpu) would refuse PyPI's CUDA build, and vice versa"
    assert not [name for name in pins if update_lock.LEFT_OUT.match(name)]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"pip install torch=={pins['torch']}" in readme, "the README installs the torch the lock was tested with"
    assert readme.count("pip install -c requirements/lock.txt -e") >= 2, "both set-up commands use the lock"
    assert "-c requirements/lock.txt" in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), "CI installs the lock"


def test_lock_lines_from_a_gpu_machine_freeze() -> None:
    freeze = "\n".join(["# Editable install with no version control (fusiondp==0.1.0)", "-e /src/fusiondp",
                        "nvidia-cublas-cu12==12.8.4.1", "cuda-bindings==12.9.2", "triton==3.5.0",
                        "torch==2.13.0+cu128", "Pandas==3.1.1", "zipp==3.23.0", "pkg_resources==0.0.0",
                        "plotly @ file:///tmp/plotly.whl"])
    assert update_lock.lock_lines(freeze) == ["Pandas==3.1.1", "torch==2.13.0", "zipp==3.23.0"]
