"""The suite's worker processes keep grouped tests together, as ``tests/conftest.py`` relies on.

Tests that share a module fixture running the CLI or a sweep for tens of seconds are marked with one
``xdist_group`` (``SHARED_MODULE_FIXTURES``), so that ``--dist loadgroup`` sends them to one worker, which
computes the fixture once. On pytest 9.2 with pytest-xdist 3.8 the marks are silently ignored (xdist still
renames the test ids through a field pytest no longer reads): nothing fails, each worker computes each
fixture, and the suite takes minutes longer. This test runs a grouped toy suite on two workers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOY = '''
import os

import pytest


@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    with open("workers.txt", "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
'''


def test_tests_marked_with_one_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_toy.py").write_text(TOY, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not the project's options
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
                           "-q", "-p", "no:playwright", "test_toy.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6
    assert len(set(workers)) == 1, f"one group ran on {sorted(set(workers))}: --dist loadgroup does not group"
