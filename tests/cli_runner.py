"""``fusiondp …`` run inside the test process: the command's exit status, stdout and stderr, as a subprocess gives them.

A subprocess pays a fresh interpreter and a fresh torch import (about 4 CPU-seconds) before the command does
anything; dozens of CLI tests paid that again and again. In the test process torch is already imported, so a
flag error or a two-epoch run costs only what the command itself does. What the user sees is produced by the
same code: ``fusiondp.cli.main`` (the console script's entry point) with ``sys.argv`` set, its stdout and stderr
captured, its exit status read from ``SystemExit``, and the library's warnings logged to that stderr in the
entry point's format. An exception the entry point lets through becomes exit status 1 with its traceback on
stderr, as the interpreter would print it. The real console entry point keeps its own subprocess tests
(``tests/test_end_to_end.py``, ``tests/test_bad_input.py``, ``tests/dashboard/test_first_use.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``fusiondp *args`` in this process (in ``cwd`` if given)."""
    from fusiondp.cli import main

    argv = ["fusiondp", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []  # so that the entry point's logging.basicConfig logs to the captured stderr, as it does alone
    saved_argv, saved_cwd = sys.argv, Path.cwd()
    status = 0
    try:
        sys.argv = argv
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
                if exit_.code is not None and not isinstance(exit_.code, int):
                    print(exit_.code, file=sys.stderr)
            except Exception:  # reported as the interpreter would: a traceback and status 1
                traceback.print_exc()
                status = 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        root.handlers, root.level = handlers, level
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())
