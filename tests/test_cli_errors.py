"""Every CLI error is one line on stderr that names the real problem (issue 29, items 16–18 and 22).

Run through the real entry point (``python -m fusiondp.cli``), as a user would: typer's test runner
bypasses ``main``, where the one-line rule and the progress bars' shutdown live.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run_cli
from tests.conftest import SAMPLE_CSV, SAMPLE_SPEC

pytestmark = pytest.mark.slow  # each test starts the CLI in a subprocess (about 4 s of imports)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr and "Usage:" not in result.stderr
    return errors[0]


def test_a_bad_flag_value_is_one_line_not_a_usage_box() -> None:
    line = _one_error_line(_cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--epsilon", "abc"))
    assert "--epsilon" in line and "'abc'" in line
    line = _one_error_line(_cli("run", "--seeds", "three"))
    assert "--seeds" in line
    line = _one_error_line(_cli("run", "--epsilonn", "1"))
    assert "--epsilonn" in line
    line = _one_error_line(_cli("run", "--fixed-clip", "--noise-level", "3"))
    assert "--fixed-clip and --noise-level contradict" in line
    line = _one_error_line(_cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--noise-level", "loud"))
    assert "--noise-level" in line and "got 'loud'" in line and "'auto'" in line
    line = _one_error_line(_cli("run", "--data", str(SAMPLE_CSV), "--spec", str(SAMPLE_SPEC), "--numeric-encoding",
                                "log"))
    assert line.endswith("--numeric-encoding: Input should be 'auto', 'standard' or 'quantile'.")


def test_a_folder_as_data_is_named_as_a_folder(tmp_path: Path) -> None:
    line = _one_error_line(_cli("run", "--data", str(tmp_path), "--spec", str(SAMPLE_SPEC)))
    assert "is a folder, not a table file" in line and "does not exist" not in line


def test_a_mistyped_target_given_as_a_flag_is_named_by_its_role() -> None:
    line = _one_error_line(_cli("run", "--data", str(SAMPLE_CSV), "--target", "diabetis", "--sensitive", "age"))
    assert "'diabetis' (given as target) is not in the table" in line and "Did you mean 'diabetes'" in line
    assert "spec" not in line


def test_an_error_after_a_progress_bar_starts_its_own_line_and_no_bar_follows(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("".join(SAMPLE_CSV.read_text().splitlines(keepends=True)[:301]))
    result = _cli("run", "--data", str(small), "--spec", str(SAMPLE_SPEC))
    line = _one_error_line(result)
    assert "support set" in line
    after = result.stderr[result.stderr.index("Error: "):]
    assert "%|" not in after, "a progress bar was drawn after the error"
    before = result.stderr[:result.stderr.index("Error: ")]
    assert before == "" or before.endswith("\n"), "the error must start its own line"
