"""Move requirements/lock.txt forward: resolve, test, and rewrite the lock only if the suite passes.

    python tools/update_lock.py [--torch VERSION] [--keep] [-- PYTEST ARGS]

1. makes a fresh virtual environment in a temporary folder (your own environment is left alone);
2. installs ``torch==VERSION`` (default: the lock's torch) and then ``-e ".[dev]"`` *without* the lock, so pip
   resolves the newest releases that pyproject.toml's ranges allow;
3. runs the test suite with that environment's Python (``python -m pytest`` from the repository root; arguments
   after ``--`` are passed on);
4. only if it passes, rewrites requirements/lock.txt from that environment's ``pip freeze`` and prints what
   moved. On a failure the lock is left as it was and the exit status is pytest's.

The lock is a pip constraints file: it pins every package the dev install pulls, except the project itself and
the CUDA libraries (``nvidia-*``, ``cuda-*``) and ``triton`` that a GPU build of torch brings (torch pins those
itself), and it pins torch without a build tag, so both the CPU-only wheel (``2.13.0+cpu``) and PyPI's CUDA build
match.
Run it on the platform CI uses (Linux, the Python of .ci/run), before each release.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
LEFT_OUT = re.compile(r"^(nvidia-.*|cuda-.*|triton|pkg-resources|fusiondp)$", re.IGNORECASE)
"""Packages the lock never pins: the CUDA libraries (nvidia-*, cuda-*) and triton of a GPU torch build (torch pins
them itself, per build), Debian's pkg-resources placeholder, and the project itself."""
HEADER = """\
# Versions the test suite passed against: a pip constraints file, used by the README's set-up commands and by
# .ci/run (pip install -c requirements/lock.txt -e ".[dev]"). pyproject.toml keeps the compatible ranges.
# Do not edit by hand: `python tools/update_lock.py` resolves the newest allowed releases in a fresh virtual
# environment, runs `python -m pytest` against them and rewrites this file only if the suite passes.
# torch is pinned without a build tag, so the CPU-only wheel and PyPI's CUDA build both match it; the CUDA
# libraries (nvidia-*, cuda-*) and triton that a GPU build brings are pinned by torch itself and are left out.
"""


def _name(requirement: str) -> str:
    """The normalised project name of a ``name==version`` line (PEP 503)."""
    return re.sub(r"[-_.]+", "-", requirement.split("==", 1)[0].strip()).lower()


def lock_lines(freeze: str) -> list[str]:
    """The pinned lines of a ``pip freeze`` output that belong in the lock, sorted by name."""
    pins = []
    for line in freeze.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-e", "--")) or "==" not in line:
            continue  # comments, editable installs, options; direct references (name @ url) carry no version
        name, version = line.split("==", 1)
        if LEFT_OUT.match(_name(name)):
            continue
        if _name(name) == "torch":
            version = version.split("+", 1)[0]  # 2.13.0+cpu → 2.13.0: matches the CPU and the CUDA build
        pins.append(f"{name}=={version}")
    return sorted(pins, key=_name)


def read_pins(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of a lock's ``name==version`` lines."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name)] = version.strip()
    return pins


def _run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", help="torch version to install first (default: the lock's torch pin)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary environment and print its path")
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    args = parser.parse_args(argv)

    current = LOCK.read_text(encoding="utf-8") if LOCK.exists() else ""
    torch = args.torch or read_pins(current).get("torch")
    if not torch:
        parser.error(f"{LOCK.relative_to(ROOT)} pins no torch: say which with --torch VERSION")

    folder = Path(tempfile.mkdtemp(prefix="fusiondp-lock-"))
    environment = folder / "venv"
    scripts = environment / ("Scripts" if os.name == "nt" else "bin")
    python = str(scripts / ("python.exe" if os.name == "nt" else "python"))
    env = {**os.environ, "VIRTUAL_ENV": str(environment), "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PIP_CONSTRAINT", None)  # the point is to resolve past the current lock
    env.pop("PYTHONPATH", None)
    try:
        print(f"Fresh environment in {environment}", flush=True)
        venv.create(environment, with_pip=True)
        _run([python, "-m", "pip", "install", f"torch=={torch}"], env=env)
        _run([python, "-m", "pip", "install", "-e", ".[dev]"], env=env)
        freeze = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], check=True, cwd=ROOT,
                                env=env, capture_output=True, text=True).stdout
        pins = lock_lines(freeze)
        tested = (f"# Resolved and tested {datetime.date.today().isoformat()} on {platform.system()} "
                  f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}.\n")
        print("+", python, "-m pytest", *args.pytest_args, flush=True)
        status = subprocess.run([python, "-m", "pytest", *args.pytest_args], cwd=ROOT, env=env).returncode
        if status != 0:
            print(f"\nThe suite failed against the newest releases (exit {status}): {LOCK.relative_to(ROOT)} is "
                  "unchanged. The versions tried:\n" + "\n".join(pins), file=sys.stderr)
            return status
        before, after = read_pins(current), read_pins("\n".join(pins))
        LOCK.parent.mkdir(exist_ok=True)
        LOCK.write_text(HEADER + tested + "\n".join(pins) + "\n", encoding="utf-8")
        moved = [f"  {name}: {before.get(name, '(new)')} → {version}" for name, version in after.items()
                 if before.get(name) != version]
        moved += [f"  {name}: {version} → (gone)" for name, version in before.items() if name not in after]
        print(f"\nThe suite passed: {LOCK.relative_to(ROOT)} rewritten, {len(pins)} pins, "
              f"{len(moved)} changed" + (":\n" + "\n".join(moved) if moved else "."))
        return 0
    finally:
        if args.keep:
            print(f"Kept {environment}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
