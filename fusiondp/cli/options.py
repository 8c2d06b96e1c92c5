"""The options several commands share, declared once, and how they become a ``RunConfig``'s roles.

Every command that reads a table (or notes) takes the same role flags: ``--spec FILE``, or ``--target`` and
``--sensitive`` inline, or ``--text-column`` for notes. Declaring each ``typer.Option`` here keeps their help text
and their parsing identical from one command to the next. Only ``typer`` and the library's errors are imported at
module level: a mistyped flag must fail without importing torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fusiondp.errors import SpecError
from fusiondp.train.settings import protocol_in_words

if TYPE_CHECKING:
    from fusiondp.config import RunConfig
    from fusiondp.spec import TableSpec
    from fusiondp.text.spec import TextSpec


Opt = typer.Option


DataOpt = Annotated[Path | None, Opt(help="Table: CSV, TSV, Parquet or Excel.")]


SpecOpt = Annotated[Path | None, Opt(help="YAML file with the column roles.")]


TargetOpt = Annotated[str | None, Opt(help="Target column (instead of --spec).")]


SensitiveOpt = Annotated[str | None, Opt(help="Comma-separated sensitive columns (instead of --spec).")]


CategoricalOpt = Annotated[str | None, Opt(help="Comma-separated columns to treat as categorical.")]


IgnoreOpt = Annotated[str | None, Opt(help="Comma-separated columns to leave out.")]


TargetKindOpt = Annotated[str | None, Opt(
    help="binary, multiclass, multilabel or regression (default: the spec's, else inferred from the target's "
         "values; multilabel is never inferred).")]


TargetDelimiterOpt = Annotated[str | None, Opt(
    help="Multilabel: what separates a target cell's labels (default ';', as in 'I10;E11').")]


TargetBoundsOpt = Annotated[str | None, Opt(
    help="Regression: LOW:HIGH, the range the target can take, declared from public knowledge (e.g. 60:260 mm Hg); "
         "labels outside are clipped into it and predictions stay inside.")]


ConfigOpt = Annotated[Path | None, Opt(help="A saved config.yaml; flags given override it.")]


TextColumnOpt = Annotated[str | None, Opt(
    help="Column of free-text notes: protect sensitive spans inside it (instead of sensitive columns); needs "
         "--target, replaces --sensitive.")]


SensitiveSpansOpt = Annotated[str | None, Opt(
    help="With --text-column: comma-separated span types to protect among age, sex, ethnicity, name, date, "
         "place, identifier (default: all).")]


SpanDetectorOpt = Annotated[str | None, Opt(
    help="With --text-column: the span detector, rules (built in, the default) or presidio (the rules plus "
         "presidio-analyzer's recognizers for identifiers and dates; pip install \"fusiondp[presidio]\").")]
"""The options every command that reads a table shares (roles from --spec or given inline; notes from
--text-column), parsed by ``_roles_from_flags``."""

OWN = protocol_in_words()
"""The fair protocol's per-mode choices in words, for the help of the ``auto`` options."""

ModesOpt = Annotated[str | None, Opt(help="Comma-separated modes, or 'all'.")]
EpochsOpt = Annotated[str | None, Opt(help="A number for every mode, or auto (default): each mode's own, "
                                           f"{OWN['epochs']}, as the fair protocol chose.")]
BatchSizeOpt = Annotated[int | None, Opt(help="Expected Poisson batch size.")]
ImputerOpt = Annotated[str | None, Opt(help="auto, gbdt, knn or tabpfn.")]
SupportFractionOpt = Annotated[float | None, Opt()]
SplitColumnOpt = Annotated[str | None, Opt(help="Column assigning each row to train, val, test or support.")]
QuietOpt = Annotated[bool, Opt(help="No progress bar.")]
"""Training and data knobs that several commands take, with the same meaning (``run`` gives --split-column a
longer help of its own)."""


def _split_list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _spec_from_flags(spec: Path | None, target: str | None, sensitive: str | None,
                     categorical: str | None, ignore: str | None, target_kind: str | None = None,
                     target_delimiter: str | None = None, target_bounds: str | None = None) -> TableSpec | None:
    from fusiondp.spec import TableSpec

    if spec is not None and (target or sensitive):
        raise SpecError("Give the column roles either with --spec FILE or with --target/--sensitive, not both.")
    target_flags = {"--target-kind": target_kind, "--target-delimiter": target_delimiter,
                    "--target-bounds": target_bounds}
    if spec is not None:
        roles = TableSpec.from_yaml(spec).to_dict()
    elif target is None and sensitive is None:
        given = [flag for flag, value in target_flags.items() if value is not None]
        if given:
            raise SpecError(f"{given[0]} needs column roles: give --spec FILE, or --target COL --sensitive A,B,….")
        return None
    elif not target or not sensitive:
        raise SpecError("Inline column roles need both --target COL and --sensitive A,B,… (the rest is public).")
    else:
        roles = {"target": target, "sensitive": _split_list(sensitive), "categorical": _split_list(categorical) or [],
                 "ignore": _split_list(ignore) or []}
    if target_kind is not None:
        roles["target_kind"] = target_kind
    if target_delimiter is not None:
        roles["target_delimiter"] = target_delimiter
    if target_bounds is not None:
        roles["target_bounds"] = _target_bounds(target_bounds)
    return TableSpec.from_dict(roles, source=str(spec) if spec is not None else "command line")


def _target_bounds(value: str) -> tuple[float, float]:
    """``"60:260"`` → ``(60.0, 260.0)`` (``TableSpec.target_bounds`` checks the order)."""
    low, colon, high = value.partition(":")
    try:
        if not colon:
            raise ValueError(value)
        return float(low), float(high)
    except ValueError:
        raise typer.BadParameter(f"--target-bounds takes LOW:HIGH, e.g. 60:260 (got {value!r})",
                                 param_hint="--target-bounds") from None


def _roles_from_flags(spec: Path | None, target: str | None, sensitive: str | None, categorical: str | None,
                      ignore: str | None, text_column: str | None, sensitive_spans: str | None,
                      target_kind: str | None = None, target_delimiter: str | None = None,
                      target_bounds: str | None = None, span_detector: str | None = None) -> dict[str, Any]:
    """A command's ``spec`` and ``text`` overrides: the column roles (--spec, or --target/--sensitive inline) or,
    with --text-column, the notes' text spec; one parser for every command that reads a table or notes."""
    text = _text_spec_from_flags(spec, text_column, target, sensitive, sensitive_spans, target_kind, span_detector)
    if text is not None:
        target = target_kind = None  # the roles travel in the text spec
    return {"spec": _spec_from_flags(spec, target, sensitive, categorical, ignore, target_kind, target_delimiter,
                                     target_bounds), "text": text}


def _text_spec_from_flags(spec: Path | None, text_column: str | None, target: str | None, sensitive: str | None,
                          sensitive_spans: str | None, target_kind: str | None,
                          span_detector: str | None = None) -> TextSpec | None:
    """The notes' roles from ``--text-column``, ``--target`` and ``--sensitive-spans``; ``None`` for a table."""
    if text_column is None:
        if sensitive_spans is not None:
            raise SpecError("--sensitive-spans needs --text-column COL (the column holding the notes).")
        if span_detector is not None:
            raise SpecError("--span-detector needs --text-column COL (the column holding the notes).")
        return None
    from fusiondp.text.spec import TextSpec

    if spec is not None or sensitive is not None:
        raise SpecError("--text-column protects spans inside the notes: give --target and optionally "
                        "--sensitive-spans, not --spec or --sensitive.")
    if target is None:
        raise SpecError("--text-column needs --target COL (the label to predict from the notes).")
    roles: dict[str, Any] = {"text_column": text_column, "target": target}
    if sensitive_spans is not None:
        roles["sensitive_spans"] = sensitive_spans
    if span_detector is not None:
        roles["detector"] = span_detector
    if target_kind is not None:
        roles["target_kind"] = target_kind
    return TextSpec.build(**roles)


def _build_config(config: Path | None, overrides: dict[str, Any], unset: tuple[str, ...] = ()) -> RunConfig:
    """The config file's settings under the flags given (``overrides``, None: not given); ``unset`` names settings a
    flag sets to None, which ``overrides`` cannot say."""
    from fusiondp.config import RunConfig

    base = RunConfig.from_yaml(config).to_dict() if config else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    if "support_data" in given and "support_source" not in given:
        given["support_source"] = "table"
    elif given.get("support_source") not in (None, "table") and "support_data" not in given:
        base.pop("support_data", None)  # a new support source replaces the config file's support table
    for key in ("sensitive_domains", "sensitive_bounds"):
        if key in given:
            given[key] = {**base.get(key, {}), **given[key]}
    base.update(given)
    base.update(dict.fromkeys(unset))
    return RunConfig.build(**base)


def _require_roles(cfg: RunConfig) -> None:
    if cfg.spec is None and cfg.text is None:
        raise SpecError("No column roles: give --spec FILE, or --target COL --sensitive A,B,… (notes: --text-column "
                        "COL --target COL).")
