"""The error hierarchy: every failure a user can fix is a ``FusionDPError``.

Front-ends (CLI, dashboard, notebooks) catch ``FusionDPError`` and show its message
without a traceback, so each message names the column, file or setting at fault and
says what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class FusionDPError(Exception):
    """Base class for errors a user can act on."""


class SpecError(FusionDPError, ValueError):
    """The column roles (target / sensitive / public / categorical) do not fit the table."""


class DataError(FusionDPError, ValueError):
    """The table itself cannot be used: unreadable, empty, too small, malformed."""


class ConfigError(FusionDPError, ValueError):
    """A run setting is out of range or inconsistent with another one."""


class MissingDeclarations(ConfigError):
    """A DP-synthetic support set lacks the declared categories or bounds of some sensitive columns.

    The columns are fields (``categories``: categorical columns without declared categories,
    ``bounds``: numeric ones without a declared range) so that each front-end phrases the fix in
    its own terms from ``problem()`` and ``placeholders()``: the message names the config file's
    keys, ``fusiondp run`` adds its flags, the dashboard points at its declared-values box.
    """

    CATEGORIES = "[<category>, <category>, …]"
    BOUNDS = "[<low>, <high>]"

    def __init__(self, categories: Sequence[str], bounds: Sequence[str]) -> None:
        self.categories = tuple(categories)
        self.bounds = tuple(bounds)
        lines = [*(["sensitive_domains:"] if self.categories else []),
                 *(f"  {c}: {self.CATEGORIES}" for c in self.categories),
                 *(["sensitive_bounds:"] if self.bounds else []), *(f"  {c}: {self.BOUNDS}" for c in self.bounds)]
        super().__init__(f"{self.problem()} Add to the config:\n" + "\n".join(lines))

    def problem(self) -> str:
        """What is missing and why it must be declared, in words every front-end shares."""
        missing = [*(f"categories of {c!r}" for c in self.categories), *(f"bounds of {c!r}" for c in self.bounds)]
        return ("A DP-synthetic support set needs a declared domain for every sensitive column, taken from public "
                "knowledge (a codebook, the survey's documentation), never from the private rows' own values. "
                f"Missing: {'; '.join(missing)}.")

    def placeholders(self) -> dict[str, str]:
        """Each column to declare with the shape of its declaration: categories or ``[<low>, <high>]``."""
        return {**dict.fromkeys(self.categories, self.CATEGORIES), **dict.fromkeys(self.bounds, self.BOUNDS)}


class PrivacyError(FusionDPError, ValueError):
    """A privacy budget cannot be met, or a setting would break the privacy guarantee."""


class ImputerUnavailable(FusionDPError, RuntimeError):
    """An imputer cannot run here (missing weights or package); the message says how to fix it."""


def describe_validation_error(exc: ValidationError, what: str) -> str:
    """One readable sentence per invalid field of a pydantic model."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ").rstrip(".")
        if err["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        problems.append(f"{where}: {message}" if where else message)  # a whole-model check names its own fields
    return f"Invalid {what}: " + "; ".join(problems) + "."


def validated(model: type[Model], raw: Any, what: str, error: type[FusionDPError]) -> Model:
    """``model.model_validate(raw)``, with pydantic's errors turned into one readable ``error``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(describe_validation_error(exc, what)) from exc
