"""Every companion notebook executes top to bottom (quick settings, headless widgets)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), (
        f"{path.name} is stored with outputs; clear them before committing")
    monkeypatch.setenv("FUSIONDP_QUICK", "1")
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(book, timeout=600, kernel_name="python3", resources=resources)
    client.execute()
    outputs = [o for cell in book.cells for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    figures = [o["data"] for o in outputs if PLOTLY in o.get("data", {})]
    assert all("image/png" in data for data in figures), "a figure without its static image is blank outside Jupyter"


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3, os.listdir(Path(__file__).resolve().parents[1] / "notebooks")


def test_notebooks_take_their_terms_from_the_library_glossary() -> None:
    """One glossary (fusiondp.glossary) for the dashboard and the notebooks, never a copy."""
    using = {p.stem for p in NOTEBOOKS  # the cells' decoded source, not the notebook file's JSON text
             if any("from fusiondp.glossary import" in cell.source for cell in nbformat.read(p, as_version=4).cells)}
    assert {"01_feature_level_dp", "03_anatomy_of_a_fusiondp_step", "04_privacy_accounting"} <= using
