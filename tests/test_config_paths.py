"""A config file's relative paths: as written from the working folder, else next to the config file (issue 29.4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fusiondp.config import RunConfig


def write_config(folder: Path, **paths: str) -> Path:
    config = folder / "run-config.yaml"
    config.write_text(yaml.safe_dump({"spec": {"target": "y", "sensitive": ["s"]}, **paths}), encoding="utf-8")
    return config


def test_a_bare_file_name_is_found_next_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's config says "put table.csv next to it": that holds wherever the command runs."""
    folder, elsewhere = tmp_path / "exported", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "table.csv").write_text("y,s\n1,2\n")
    (folder / "public.csv").write_text("y,s\n1,2\n")
    monkeypatch.chdir(elsewhere)
    config = RunConfig.from_yaml(write_config(folder, data="table.csv", support_data="public.csv"))
    assert config.data == str(folder / "table.csv") and config.support_data == str(folder / "public.csv")


def test_a_path_that_exists_as_written_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "table.csv").write_text("y,s\n1,2\n")
    (tmp_path / "table.csv").write_text("y,s\n3,4\n")
    monkeypatch.chdir(tmp_path)
    assert RunConfig.from_yaml(write_config(folder, data="table.csv")).data == "table.csv", "the working folder's"
    missing = RunConfig.from_yaml(write_config(folder, data="nowhere.csv"))
    assert missing.data == "nowhere.csv", "found in neither place: kept as written, so that the error names it"
    absolute = str(tmp_path / "table.csv")
    assert RunConfig.from_yaml(write_config(folder, data=absolute)).data == absolute
