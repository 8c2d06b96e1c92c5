"""``fusiondp audit``: attack models trained on the table (attribute and membership inference): an evaluation of
the user's own data, not a DP release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fusiondp.cli.options import (
    BatchSizeOpt,
    CategoricalOpt,
    ConfigOpt,
    DataOpt,
    EpochsOpt,
    IgnoreOpt,
    ModesOpt,
    Opt,
    SensitiveOpt,
    SensitiveSpansOpt,
    SpanDetectorOpt,
    SpecOpt,
    SplitColumnOpt,
    SupportFractionOpt,
    TargetOpt,
    TextColumnOpt,
    _build_config,
    _require_roles,
    _roles_from_flags,
    _split_list,
)
from fusiondp.cli.output import PhaseBars, _first_sentence, _missing


def audit(
    data: DataOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    categorical: CategoricalOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    modes: ModesOpt = "sgd_ori,sgd_pub,dpsgd,fusiondp",
    epsilons: Annotated[str, Opt(help="Comma-separated ε values for the DP modes.")] = "0.5,2,8",
    epochs: EpochsOpt = None,
    rows: Annotated[int, Opt(help="Training and held-out rows attacked per model.")] = 500,
    seed: Annotated[int, Opt()] = 0,
    out: Annotated[Path | None, Opt(help="Write audit.json to this folder.")] = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
    split_column: SplitColumnOpt = None,
    support_fraction: SupportFractionOpt = None,
    batch_size: BatchSizeOpt = None,
    delta: Annotated[float | None, Opt(help="Target δ (below 1/N).")] = None,
    shadow: Annotated[bool, Opt(help="Train a shadow model per audited model for the learned attacks.")] = True,
) -> None:
    """Attack trained models: attribute inference on sensitive columns (notes: on age, sex and ethnicity spans)
    and membership inference."""
    from fusiondp.preparation import prepare
    from fusiondp.privacy.audit import audit_grid
    from fusiondp.privacy.audit_report import REAL_ROWS_NOTE

    cfg = _build_config(config, dict(
        data=str(data) if data else None,
        **_roles_from_flags(spec, target, sensitive, categorical, ignore, text_column, sensitive_spans,
                            span_detector=span_detector),
        modes=modes, epochs=epochs, split_column=split_column, support_fraction=support_fraction,
        batch_size=batch_size, delta=delta))
    _require_roles(cfg)
    try:
        epsilon_values = [float(e) for e in _split_list(epsilons) or []]
    except ValueError as exc:
        raise typer.BadParameter(f"--epsilons must be numbers separated by commas ({exc})") from exc
    prepared = prepare(cfg, progress=PhaseBars(quiet=False))
    typer.echo(f"imputer: {prepared.imputer.used} ({_first_sentence(prepared.imputer.reason)})")
    typer.echo("The audit attacks real training rows: an evaluation of your own data, not a DP release.")
    table = audit_grid(prepared, cfg.modes, epsilon_values, seed=seed, rows=rows, shadow=shadow)
    shown = table.drop(columns=["report", "verdict"])
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for row in table.to_dict(orient="records"):
        at = "" if _missing(row["epsilon"]) else f" at ε {row['epsilon']:g}"
        typer.echo(f"{row['mode']}{at}: {row['verdict']}")
    if cfg.text is None:
        typer.echo("attribute_advantage = attack accuracy on training rows − on held-out rows (0 = no measurable "
                   "leak); imputer_acc = what the public imputer alone guesses.")
    else:
        typer.echo("Notes: the attacker reads a note's public words, its label and its other spans, and guesses a span "
                   "type's value (age group, sex, ethnicity group) as the one under which the model finds the label "
                   "most likely. attribute_advantage = attack accuracy on training notes − on held-out notes (0 = no "
                   "measurable leak); imputer_acc = what the hybrid-note generator alone guesses from the public "
                   "words (what a public model already infers).")
    for note in dict.fromkeys(note for report in table["report"] for note in report["notes"]):
        if note != REAL_ROWS_NOTE:  # said above
            typer.echo(f"note: {note}")
    if out is not None:
        from fusiondp.record import write_json_atomic

        write_json_atomic(out / "audit.json", table.to_dict(orient="records"))
        typer.echo(f"audit: {out / 'audit.json'}")
