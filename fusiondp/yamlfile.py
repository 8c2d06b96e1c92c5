"""Reading the YAML files users write (specs, run configs, sweep grids) with one kind of error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fusiondp.errors import FusionDPError


def read_yaml(path: str | Path, what: str, error: type[FusionDPError]) -> Any:
    """The parsed content of ``path``; a missing or unparsable file raises ``error`` naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {str(path)!r} does not exist.")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{what} {str(path)!r} is not valid YAML: {exc}") from exc
