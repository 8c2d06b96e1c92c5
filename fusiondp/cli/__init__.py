"""The ``fusiondp`` command line: run, impute, accountant, sweep, report, audit, info.

One module per command (``run.py``, ``impute.py``, …), the options several commands share declared once in
``options.py``, what they print in ``output.py``; this module makes the app from them and is its entry point
(``fusiondp``, or ``python -m fusiondp.cli``). User errors print one message (no traceback) and exit with status 2.
Importing the package imports no torch: each command imports the library once its flags are known to be valid.
"""

from __future__ import annotations

import logging
import sys

import typer

from fusiondp.cli import accountant, audit, impute, info, report, run, sweep
from fusiondp.cli.output import _print_summary as _print_summary  # read by tests/test_comparison.py
from fusiondp.errors import FusionDPError, MissingDeclarations

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Feature-level differentially private learning (FusionDP).")
# in this order in --help
app.command()(run.run)
app.command()(impute.impute)
app.command()(accountant.accountant)
app.command()(sweep.sweep)
app.command()(report.report)
app.command()(audit.audit)
app.command()(info.info)


def error_message(exc: FusionDPError) -> str:
    """A library error as the command line phrases it: a missing declaration also names `fusiondp run`'s flags."""
    if isinstance(exc, MissingDeclarations):
        flags = [*(f"--sensitive-domain {c}=V1,V2,…" for c in exc.categories),
                 *(f"--sensitive-bounds {c}=LOW:HIGH" for c in exc.bounds)]
        return f"{exc}\n(or pass {' '.join(flags)} to `fusiondp run`)."
    return str(exc)


def main() -> None:
    """Entry point: run the app, turning user errors — the library's and a bad flag alike — into one line on
    stderr (after any progress bar, which stops there) and exit status 2."""
    # click's base error, whichever click typer runs on (its own vendored copy, or the click package)
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        status = app(standalone_mode=False)
    except FusionDPError as exc:
        _fail(error_message(exc), 2)
    except click_error as exc:  # a flag's value or a usage error: one line too, not click's usage box
        if not exc.format_message():  # no command given: click has printed the help
            sys.exit(exc.exit_code)
        _fail(f"{exc.format_message()} (see --help)", exc.exit_code)
    except typer.Abort:
        _fail("Aborted.", 1)
    if isinstance(status, int) and status:
        sys.exit(status)


def _fail(message: str, status: int) -> None:
    """Close the progress bars still drawn (each ends its own line and draws no more), then the message."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
    sys.stderr.flush()
    typer.echo(f"Error: {message}", err=True)
    sys.exit(status)
