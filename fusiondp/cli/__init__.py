"""The ``fusiondp`` command line: run, impute, accountant, sweep, report, info.

Every ``RunConfig`` knob is a flag of ``fusiondp run``; ``--config`` loads a saved config
and flags given explicitly override it. User errors print one message (no traceback)
and exit with status 2.
"""

from __future__ import annotations

import logging
import math
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fusiondp.errors import ConfigError, FusionDPError, MissingDeclarations, PrivacyError, SpecError
from fusiondp.train.modes import ADJACENCY_EXPLAINED, get_mode

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from fusiondp.config import RunConfig
    from fusiondp.prepared import PreparedData
    from fusiondp.spec import TableSpec
    from fusiondp.text.spec import TextSpec

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Feature-level differentially private learning (FusionDP).")

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


def _build_config(config: Path | None, overrides: dict[str, Any]) -> RunConfig:
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
    return RunConfig.build(**base)


def _named_values(entries: list[str] | None, flag: str) -> dict[str, list[str]] | None:
    """``["col=a,b", …]`` → ``{"col": ["a", "b"], …}``; ``None`` when the flag was not given."""
    if not entries:
        return None
    parsed = {}
    for entry in entries:
        column, sep, values = entry.partition("=")
        if not sep or not column.strip() or not _split_list(values):
            raise typer.BadParameter(f"{flag} takes COLUMN=V1,V2,… (got {entry!r})", param_hint=flag)
        parsed[column.strip()] = _split_list(values)
    return parsed


def _bounds(entries: list[str] | None) -> dict[str, tuple[float, float]] | None:
    """``["age=20:80"]`` → ``{"age": (20.0, 80.0)}``; ``None`` when the flag was not given."""
    if not entries:
        return None
    parsed = {}
    for entry in entries:
        column, sep, values = entry.partition("=")
        low, colon, high = values.partition(":")
        try:
            if not (sep and colon and column.strip()):
                raise ValueError(entry)
            parsed[column.strip()] = (float(low), float(high))
        except ValueError:
            raise typer.BadParameter(f"--sensitive-bounds takes COLUMN=LOW:HIGH (got {entry!r})",
                                     param_hint="--sensitive-bounds") from None
    return parsed


def _require_roles(cfg: RunConfig) -> None:
    if cfg.spec is None and cfg.text is None:
        raise SpecError("No column roles: give --spec FILE, or --target COL --sensitive A,B,… (notes: --text-column "
                        "COL --target COL).")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any, digits: int = 3) -> str:
    """A table cell: "—" for missing values, short numbers, strings as they are."""
    if _missing(value):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


class PhaseBars:
    """``Progress`` for the terminal: one tqdm bar per preparation phase on stderr, left showing its seconds.

    Phases that take long (imputation, preflight, σ calibration) were silent before: a user could not tell
    a slow step from a hang. ``quiet`` shows nothing.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, fraction: float) -> None:
        if self.quiet:
            return
        from tqdm.auto import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            bar = self.bars[phase] = tqdm(total=100, desc=phase, file=sys.stderr,
                                          bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {elapsed_s:.1f} s")
        bar.update(round(100 * min(fraction, 1.0)) - bar.n)
        if fraction >= 1:
            bar.close()


def _print_summary(records: list) -> None:
    from fusiondp.comparison import comparison_lines
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.privacy.joint import joint_release_of_records
    from fusiondp.record import summarize
    from fusiondp.verdicts import run_verdicts, threshold_note

    table = summarize(records)
    notes = run_verdicts(records)
    comparisons = comparison_lines(records)
    joint = joint_release_of_records(records)
    shown = summary_metrics(table.columns)
    headers = ["mode", *(METRIC_LABELS[m] for m in shown), "ε spent", "δ", "σ", "q", "steps", "accountant",
               "adjacency", "imputer", "time s"]
    rows = []
    for row in table.to_dict(orient="records"):
        metrics = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_sd']:.3f}" for m in shown]
        spent = "∞ (none)" if _missing(row["epsilon_spent"]) else _cell(row["epsilon_spent"])
        ledger = [row[key] for key in ("delta", "sigma", "sampling_rate", "steps", "accountant", "adjacency")]
        rows.append([row["mode"], *metrics, spent, *map(_cell, ledger), row["imputer"], f"{row['wall_time_s']:.1f}"])
    if table.loc[table["sigma"].notna(), "epsilon"].nunique() > 1:
        headers.insert(1, "target ε")
        for row, values in zip(rows, table.to_dict(orient="records"), strict=True):
            row.insert(1, _cell(values["epsilon"]) if not _missing(values["sigma"]) else "—")
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    typer.echo(line)
    typer.echo("-" * len(line))
    for row in rows:
        typer.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    typer.echo("")
    if threshold := threshold_note(records):
        typer.echo(f"  {threshold}")
    lockstep = max(record.timing.get("models_in_lockstep", 1) for record in records)
    if lockstep > 1:
        typer.echo(f"  time s: a DP mode's ε of one seed trained in lockstep ({lockstep} models, one training); "
                   "each of their rows shows that training's time")
    for adjacency in dict.fromkeys(table["adjacency"]):
        typer.echo(f"  {adjacency}: {ADJACENCY_EXPLAINED[adjacency]}")
    records = table.to_dict(orient="records")
    totals = {r["mode"]: r["epsilon_total"] for r in records if not _missing(r["epsilon_total"])}
    if totals:
        typer.echo("  ε_total (training composed with the DP-synthetic support set's ε_syn, each under its mode's "
                   "relation): " + ", ".join(f"{m} {_cell(e)}" for m, e in totals.items()))
        replace_totals = {r["mode"]: r["epsilon_total_replace"] for r in records
                          if not _missing(r.get("epsilon_total_replace"))}
        if replace_totals:
            typer.echo("  ε_total under replace-one (any change of one row's sensitive values; comparable across "
                       "modes): " + ", ".join(f"{m} {_cell(e)}" for m, e in replace_totals.items()))
    several = len({r["epsilon"] for r in records if not _missing(r["sigma"])}) > 1
    replace = {(f"{r['mode']} at ε {r['epsilon']:g}" if several else r["mode"]): r["epsilon_replace"]
               for r in records if not _missing(r["epsilon_replace"])}
    if replace:
        typer.echo("  ε_replace (same noise, any change to one row's sensitive values, PLD accountant): "
                   + ", ".join(f"{m} {_cell(e)}" for m, e in replace.items()))
    if joint is not None:
        typer.echo(f"  joint release: {joint.line()}")
    for line in notes:
        typer.echo(f"note: {line}")
    for line in comparisons:
        typer.echo(f"note: {line}")


@app.command()
def run(
    data: DataOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    categorical: CategoricalOpt = None,
    ignore: IgnoreOpt = None,
    target_kind: TargetKindOpt = None,
    target_delimiter: TargetDelimiterOpt = None,
    target_bounds: TargetBoundsOpt = None,
    config: ConfigOpt = None,
    out: Annotated[Path, Opt(help="Output folder for results.json and config.yaml.")] = Path("fusiondp-out"),
    modes: Annotated[str | None, Opt(help="Comma-separated modes, or 'all'.")] = None,
    seeds: Annotated[int | None, Opt(help="Number of seeds (0 … N−1).")] = None,
    epsilon: Annotated[str | None, Opt(
        help="Target ε of the DP modes; several, comma-separated (0.5,1,2,4), train a privacy-utility curve from "
             "one preparation.")] = None,
    delta: Annotated[float | None, Opt(help="Target δ (below 1/N). Default: 1e-5, or 1/(10·N) rounded down for a "
                                            "table of N ≥ 100,000 rows; the note 'δ = …' says which.")] = None,
    accountant: Annotated[str | None, Opt(help="rdp, prv or pld.")] = None,
    epochs: Annotated[int | None, Opt()] = None,
    batch_size: Annotated[int | None, Opt(help="Expected Poisson batch size.")] = None,
    public_batch_size: Annotated[int | None, Opt()] = None,
    lr: Annotated[float | None, Opt()] = None,
    alpha: Annotated[float | None, Opt(help="Weight of the private correction.")] = None,
    beta: Annotated[float | None, Opt(help="Weight of the consistency term.")] = None,
    max_grad_norm: Annotated[float | None, Opt(help="Per-sample clip norm C.")] = None,
    rep_clip: Annotated[float | None, Opt(help="C_h (default: from the support set).")] = None,
    param_bound: Annotated[float | None, Opt(help="Parameter projection radius M.")] = None,
    imputer: Annotated[str | None, Opt(help="auto, gbdt, knn or tabpfn.")] = None,
    support_fraction: Annotated[float | None, Opt()] = None,
    support_data: Annotated[Path | None, Opt(help="Separate public table to use as support set.")] = None,
    support_source: Annotated[str | None, Opt(help="fraction, table or dp_synthetic.")] = None,
    epsilon_syn: Annotated[float | None, Opt(help="ε of the DP-synthetic support set (added to the total).")] = None,
    delta_syn: Annotated[float | None, Opt(help="δ of the DP-synthetic support set (default: δ).")] = None,
    sensitive_domain: Annotated[list[str] | None, Opt(
        help="Declared categories of a categorical sensitive column, COLUMN=V1,V2,… (repeat per column; use a "
             "config file for categories that contain commas).")] = None,
    sensitive_bounds: Annotated[list[str] | None, Opt(
        help="Declared range of a numeric sensitive column, COLUMN=LOW:HIGH (repeat per column).")] = None,
    synth_bins: Annotated[int | None, Opt(help="Bins of a numeric sensitive column (dp_synthetic).")] = None,
    synth_public_bins: Annotated[int | None, Opt(help="Quantile bins of a conditioning public column.")] = None,
    synth_condition_on: Annotated[str | None, Opt(
        help="Comma-separated public columns to condition the synthetic values on (default: 2 per sensitive "
             "column, selected under DP within ε_syn).")] = None,
    synthesizer: Annotated[str | None, Opt(
        help="DP-synthetic support made by 'marginal' (noisy tables) or 'two_stage' (DP autoencoder + latent "
             "diffusion).")] = None,
    synth_latent_dim: Annotated[int | None, Opt(help="Latent width of the two-stage synthesizer.")] = None,
    synth_epochs: Annotated[int | None, Opt(help="DP-SGD epochs of the two-stage synthesizer's stage 1.")] = None,
    synth_accountant: Annotated[str | None, Opt(help="pld, prv or rdp for the two-stage synthesizer.")] = None,
    val_fraction: Annotated[float | None, Opt()] = None,
    test_fraction: Annotated[float | None, Opt()] = None,
    split_seed: Annotated[int | None, Opt()] = None,
    split_column: Annotated[str | None, Opt(
        help="Column assigning each row to train, val, test or support (any case); replaces the fractions and "
             "--split-seed, and is never a feature.")] = None,
    hybrid_data: Annotated[Path | None, Opt(
        help="Precomputed imputed copy of the table (same rows, order, public columns and target; imputations in "
             "the sensitive columns), used as the hybrid view. Its provenance is your statement: computed from "
             "public columns and a public support set only.")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu or cuda.")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads for training (per worker process when runs train side by "
                                            "side: keep workers × threads within the cores).")] = None,
    workers: Annotated[int | None, Opt(
        help="Processes training runs side by side on CPU (default: one per core when there are several runs and "
             "no GPU; 1: all in this process).")] = None,
    quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
    strict: Annotated[bool, Opt(help="Refuse to train while the privacy preflight has high-severity findings.")]
    = False,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
    reproducible_noise: Annotated[bool | None, Opt(
        "--reproducible-noise/--secret-noise",
        help="Derive the DP sampling and noise from the seeds so the run can be replayed exactly. For teaching and "
             "benchmarks only: anyone who knows the seed can then regenerate the noise, so no ε holds and every "
             "output says so. Default: secret noise from the operating system's entropy.")] = None,
) -> None:
    """Train the chosen modes on a table (or notes) and print metrics with the privacy ledger."""
    roles = _roles_from_flags(spec, target, sensitive, categorical, ignore, text_column, sensitive_spans, target_kind,
                              target_delimiter, target_bounds, span_detector)
    overrides = dict(
        data=str(data) if data else None, **roles,
        modes=modes, seeds=list(range(seeds)) if seeds is not None else None,
        epsilon=_epsilons(epsilon)[0] if epsilon else None, delta=delta,
        accountant=accountant, epochs=epochs, batch_size=batch_size, public_batch_size=public_batch_size, lr=lr,
        alpha=alpha, beta=beta, max_grad_norm=max_grad_norm, rep_clip=rep_clip, param_bound=param_bound,
        imputer=imputer, support_fraction=support_fraction, support_data=str(support_data) if support_data else None,
        val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed, device=device, threads=threads,
        split_column=split_column, hybrid_data=str(hybrid_data) if hybrid_data else None,
        support_source=support_source, epsilon_syn=epsilon_syn, delta_syn=delta_syn,
        sensitive_domains=_named_values(sensitive_domain, "--sensitive-domain"),
        sensitive_bounds=_bounds(sensitive_bounds), synth_bins=synth_bins, synth_public_bins=synth_public_bins,
        synth_condition_on=_split_list(synth_condition_on), synthesizer=synthesizer,
        synth_latent_dim=synth_latent_dim, synth_epochs=synth_epochs, synth_accountant=synth_accountant,
        reproducible_noise=reproducible_noise,
    )
    if seeds is not None and seeds < 1:
        raise typer.BadParameter("--seeds must be at least 1")
    if workers is not None and workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    with _settings_named_as_flags():
        cfg = _build_config(config, overrides)
    if cfg.text is None:
        _require_roles(cfg)
    if cfg.data is None:
        raise SpecError("No table: give --data FILE (CSV, TSV, Parquet or Excel).")
    # Imported once the flags are known to be valid: a mistyped flag fails in a fraction of a second, without torch.
    from tqdm.auto import tqdm

    from fusiondp.metrics import validation_metric
    from fusiondp.parallel import TrainingPool, lockstep_groups, worker_processes
    from fusiondp.pipeline import curve_runs, privacy_plan, save_results, with_epsilon

    grid = _epsilons(epsilon) if epsilon else [cfg.epsilon]
    runs = curve_runs(cfg.modes, cfg.seeds, grid)
    # Started before the preparation, so that workers start up on the spare core while this process reads the table.
    trainings = len(lockstep_groups(runs))
    with TrainingPool(worker_processes(workers, trainings, cfg.device, cfg.data)) as pool, _worker_failures():
        progress = PhaseBars(quiet)
        with _settings_named_as_flags():
            prepared = (_prepare_notes(cfg, cfg.text, progress, strict) if cfg.text is not None
                        else _prepare_table(cfg, progress, strict, pool.executor))
        _print_preparation(prepared)
        plans = [(value, mode) for value in grid for mode in cfg.modes]
        progress("σ calibration", 0.0)
        for done, (value, mode) in enumerate(plans, start=1):  # an impossible budget fails before any training
            privacy_plan(with_epsilon(prepared, value), get_mode(mode))
            progress("σ calibration", done / len(plans))
        bar = tqdm(total=len(runs) * cfg.epochs, unit="epoch", disable=quiet, file=sys.stderr,
                   desc=f"training {len(runs)} run{'s' * (len(runs) > 1)}"
                        + (f" on {pool.processes} workers" if pool.trains_side_by_side(prepared, runs) else ""))
        validation = validation_metric(prepared.tensors.task.kind)  # val_auroc, or val_r2 for regression

        def on_epoch(index: int, report: Any) -> None:
            bar.update(1)
            epsilon_text = f" ε {runs[index][0]:g}" if report.epsilon_spent is not None else ""
            bar.set_postfix_str(f"{report.mode}{epsilon_text} seed {report.seed}: epoch {report.epoch}, "
                                f"{validation} {getattr(report, validation):.3f}")

        records = pool.train(prepared, runs, on_epoch)
        bar.close()
    _print_summary(records)
    for finding in prepared.preflight:  # said once at the top, before pages of training: said again where it counts
        if finding.severity == "high":
            typer.echo(f"note: preflight [high] {finding.evidence} → {finding.action}")
    if len(grid) > 1:
        _print_run_curve(records)
    private = [r for r in records if r.privacy.sigma is not None]
    if private:
        shown = next((r for r in private if r.mode == "fusiondp"), private[0])
        typer.echo(f"\nPrivacy statement ({shown.mode}, ε {shown.privacy.epsilon_target:g}, seed {shown.seed}):\n"
                   f"{shown.privacy.statement}")
    save_results(out, prepared, records)
    again = f" --epsilon {','.join(f'{e:g}' for e in grid)}" if len(grid) > 1 else ""
    typer.echo(f"\nresults: {out / 'results.json'} · config: {out / 'config.yaml'} "
               f"(rerun with: fusiondp run --config {out / 'config.yaml'}{again})")


@contextmanager
def _settings_named_as_flags() -> Iterator[None]:
    """The library's errors name settings by their config keys ("raise support_fraction"); on the command line the
    fix is a flag, so each key of a multi-word setting becomes its flag (--support-fraction), which also overrides a
    --config file's value. A key inside quotes (a column's name) is left as it is."""
    import re

    from fusiondp.config import RunConfig

    try:
        yield
    except FusionDPError as exc:
        if isinstance(exc, MissingDeclarations) or len(exc.args) != 1 or not isinstance(exc.args[0], str):
            raise
        keys = "|".join(key for key in RunConfig.model_fields if "_" in key)
        exc.args = (re.sub(rf"(?<![\w'\-])({keys})(?![\w'])", lambda m: "--" + m[1].replace("_", "-"), exc.args[0]),)
        raise


@contextmanager
def _worker_failures() -> Iterator[None]:
    """A worker process that dies (killed, out of memory) becomes one message saying what to do, not a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        yield
    except BrokenProcessPool as exc:
        raise ConfigError("A worker process stopped unexpectedly (often: out of memory). Rerun with --workers 1 to "
                          "keep everything in one process, or free memory.") from exc


def _print_preparation(prepared: PreparedData) -> None:
    """The imputer used and its quality, the reference view's λ, the split sizes and the preparation's notes."""
    from fusiondp.impute import format_quality_lines

    imputer_info = prepared.imputer
    typer.echo(f"imputer: {imputer_info.used} ({_first_sentence(imputer_info.reason)})")
    for line in format_quality_lines(prepared.quality):
        typer.echo(f"  {line}")
    if prepared.builtin_quality is not None:
        typer.echo(f"  built-in imputer {prepared.builtin_quality.imputer} on the same support rows (cross-fitted), "
                   "for comparison (not used):")
        for line in format_quality_lines(prepared.builtin_quality):
            typer.echo(f"    {line}")
    if prepared.shrinkage:
        typer.echo("  fusiondp imputation channels, share of the imputation kept per column (λ, from support rows): "
                   + ", ".join(f"{column} {value:.2f}" for column, value in prepared.shrinkage.items()))
    typer.echo(f"rows: {prepared.splits.sizes()} · support: {prepared.splits.support_source} · "
               f"device: {prepared.device}")
    for note in prepared.notes:
        typer.echo(f"note: {note}")


def _first_sentence(reason: str) -> str:
    """An imputer's reason in one line; the full text (paths, download links) is in ``fusiondp info``."""
    from fusiondp.verdicts import imputer_headline

    head = imputer_headline(reason)
    return head if head == reason.rstrip(".") else f"{head}; details: fusiondp info"


def _prepare_table(cfg: RunConfig, progress: PhaseBars, strict: bool,
                   executor: Executor | None = None) -> PreparedData:
    """Split, impute and encode a table, then print the privacy preflight (refusing on high findings if strict)."""
    from fusiondp.pipeline import load_inputs, prepare_splits, split_for
    from fusiondp.privacy.preflight import check_strict, preflight

    table, support_table = load_inputs(cfg)
    splits = split_for(cfg, table, support_table, progress=progress)
    prepared = prepare_splits(cfg, splits, progress, executor)
    progress("preflight", 0.0)
    findings = preflight(table, cfg.spec, support=support_table, config=prepared.config, splits=splits,
                         quality=prepared.builtin_quality or prepared.quality)
    progress("preflight", 1.0)
    for finding in findings:
        typer.echo(f"preflight [{finding.severity}] {finding.evidence} → {finding.action}")
    if not findings:
        typer.echo("preflight: no proxy, identifier or set-up problem found")
    if strict:
        check_strict(findings)
    prepared.preflight = findings  # the ledgers and statements are conditional on its proxies
    return prepared


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


def _prepare_notes(cfg: RunConfig, text: TextSpec, progress: PhaseBars, strict: bool) -> PreparedData:
    """Split the notes, generate hybrid notes and encode them (support notes only), then print the notes'
    preflight: identifiers the span detector misses in the public words (refusing on high findings if strict).
    """
    from fusiondp.privacy.preflight import check_strict
    from fusiondp.text.detectors import PRESIDIO_PIP, presidio_installed
    from fusiondp.text.pipeline import prepare_text
    from fusiondp.text.preflight import note_preflight

    prepared = prepare_text(cfg, progress=progress)
    splits = prepared.splits
    notes = [note for part in (splits.support, splits.train, splits.val, splits.test)
             for note in part[text.text_column].tolist()]
    progress("preflight", 0.0)
    cross_check = text.detector == "rules" and presidio_installed()
    findings = note_preflight(notes, text.sensitive_spans, text.text_column, text.detector, cross_check)
    progress("preflight", 1.0)
    if cross_check:
        typer.echo("preflight: second detector: presidio-analyzer read the notes' public words")
    elif text.detector == "rules":
        typer.echo(f"preflight: no second detector (presidio-analyzer is not installed: {PRESIDIO_PIP})")
    for finding in findings:
        typer.echo(f"preflight [{finding.severity}] {finding.evidence} → {finding.action}")
    if not findings:
        typer.echo("preflight: no identifier found outside the detected spans; the span detector can still miss "
                   "some (read a few notes and their hybrids)")
    if strict:
        check_strict(findings)
    return prepared


def _epsilons(text: str) -> list[float]:
    """``--epsilon 1`` or ``--epsilon 0.5,1,2,4``: each a valid budget, in increasing order."""
    from fusiondp.privacy.accounting import check_epsilon

    try:
        values = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise typer.BadParameter(f"give a number or comma-separated numbers, e.g. 0.5,1,2,4 (got {text!r}).",
                                 param_hint="--epsilon") from None
    if not values:
        raise typer.BadParameter("--epsilon needs at least one value, e.g. 1 or 0.5,1,2,4.", param_hint="--epsilon")
    for value in values:
        try:
            check_epsilon(value)
        except PrivacyError as exc:  # a bad flag value is a configuration error, like every other knob's
            raise ConfigError(str(exc)) from None
    return values


def _print_run_curve(records: list) -> None:
    """The selection metric (AUROC; R² for regression; mean ± sd over seeds) per ε and mode: one run's curve."""
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.record import summarize

    table = summarize(records)
    private = table[table["epsilon_spent"].notna() & (table["sigma"].notna())]
    references = table[table["sigma"].isna()]
    modes = list(dict.fromkeys(private["mode"]))
    metric = summary_metrics(table.columns)[0]
    typer.echo(f"\nPrivacy-utility curve ({METRIC_LABELS[metric]} on the real test rows, mean ± sd over seeds):")
    typer.echo("  " + "ε".ljust(6) + "".join(m.ljust(16) for m in modes))
    for value, group in private.groupby("epsilon", sort=True):
        cells = {row["mode"]: f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_sd']:.3f}"
                 for _, row in group.iterrows()}
        typer.echo("  " + f"{value:g}".ljust(6) + "".join(cells.get(m, "—").ljust(16) for m in modes))
    for _, row in references.iterrows():
        typer.echo(f"  reference {row['mode']}: {row[f'{metric}_mean']:.3f} ± {row[f'{metric}_sd']:.3f} (no ε: "
                   f"{ADJACENCY_EXPLAINED[row['adjacency']]})")


@app.command()
def impute(
    data: DataOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    categorical: CategoricalOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    imputer: Annotated[str | None, Opt(help="auto, gbdt, knn or tabpfn.")] = None,
    support_fraction: Annotated[float | None, Opt()] = None,
    support_data: Annotated[Path | None, Opt()] = None,
    report: Annotated[Path | None, Opt(
        help="Folder for imputation.json and imputation.html (works offline); notes: support_hybrids.csv too.")
    ] = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
    split_column: Annotated[str | None, Opt(help="Column assigning each row to train, val, test or support.")] = None,
) -> None:
    """Fit the imputer on the support set and print its quality on its cross-fitted support rows (notes: the
    hybrid-note generator, and each support note's cross-fitted hybrid)."""
    from fusiondp.impute import format_quality_lines
    from fusiondp.impute.figures import report_html
    from fusiondp.pipeline import prepare

    cfg = _build_config(config, dict(
        data=str(data) if data else None,
        **_roles_from_flags(spec, target, sensitive, categorical, ignore, text_column, sensitive_spans,
                            span_detector=span_detector),
        imputer=imputer, support_fraction=support_fraction, split_column=split_column,
        support_data=str(support_data) if support_data else None))
    _require_roles(cfg)
    if cfg.text is not None:
        _impute_notes(cfg, report)
        return
    prepared = prepare(cfg, progress=PhaseBars(quiet=False))
    quality = prepared.quality
    typer.echo(f"imputer: {prepared.imputer.used} ({_first_sentence(prepared.imputer.reason)})")
    typer.echo(quality.scored_on())
    for line in format_quality_lines(quality):
        typer.echo(line)
    for note in [*quality.notes, *prepared.notes]:
        typer.echo(f"note: {note}")
    if report is not None:
        from fusiondp.record import write_json_atomic, write_text_atomic

        summary = prepared.imputer_summary()
        write_json_atomic(report / "imputation.json", summary)
        write_text_atomic(report / "imputation.html", report_html(quality, summary, cfg.sensitive_domains))
        typer.echo(f"report: {report / 'imputation.json'} · {report / 'imputation.html'}")


def _impute_notes(cfg: RunConfig, report: Path | None) -> None:
    """``fusiondp impute`` for notes: split, fit the hybrid-note generator on the support notes, print its
    cross-fitted quality per span type and a few support notes beside their hybrids; with ``report``, write every
    support note's hybrid. Only support notes are shown or written: a private note's spans never are."""
    from fusiondp.impute import format_quality_lines
    from fusiondp.text.pipeline import generator_choice, generator_quality, load_notes, support_generator
    from fusiondp.text.preview import support_hybrids

    text = cfg.text
    assert text is not None
    splits = load_notes(cfg)
    generator = support_generator(cfg, splits)
    quality = generator_quality(generator, len(splits.support), text.text_column)
    choice = generator_choice(generator, len(splits.support))
    typer.echo(f"imputer: {choice.used} ({choice.reason})")
    typer.echo(f"support: {splits.support_source} · {quality.scored_on()}")
    for line in format_quality_lines(quality):
        typer.echo(line)
    for kind, made in generator.choices_.items():
        typer.echo(f"  {kind}: {made.reason}")
    hybrids = support_hybrids(generator)
    changed = hybrids[hybrids["note"] != hybrids["hybrid_note"]]
    typer.echo(f"{len(changed)} of {len(hybrids)} support notes differ from their cross-fitted hybrid; for example:")
    for _, row in changed.head(3).iterrows():
        note, hybrid = _excerpts(row["note"], row["hybrid_note"])
        typer.echo(f"  support note: {note}\n  hybrid note:  {hybrid}")
    if report is not None:
        from fusiondp.impute.figures import report_html
        from fusiondp.record import write_json_atomic, write_text_atomic

        summary = {**choice.to_dict(), "quality": quality.to_dict(), "support_source": splits.support_source}
        write_json_atomic(report / "imputation.json", summary)
        write_text_atomic(report / "imputation.html", report_html(quality, summary))
        write_text_atomic(report / "support_hybrids.csv", hybrids.to_csv(index=False))
        typer.echo(f"report: {report / 'imputation.json'} · {report / 'imputation.html'} · "
                   f"{report / 'support_hybrids.csv'} (support notes only)")


def _excerpts(note: str, hybrid: str, width: int = 120) -> tuple[str, str]:
    """The same stretch of a note and its hybrid, on one line each, starting a little before they first differ."""
    note, hybrid = " ".join(note.split()), " ".join(hybrid.split())
    first = next((i for i, (a, b) in enumerate(zip(note, hybrid, strict=False)) if a != b), 0)
    start = max(0, first - width // 3)

    def cut(text: str) -> str:
        return ("…" if start else "") + text[start:start + width] + ("…" if len(text) > start + width else "")

    return cut(note), cut(hybrid)


@app.command()
def accountant(
    epsilon: Annotated[float | None, Opt(help="Target ε → σ.")] = None,
    sigma: Annotated[float | None, Opt(help="Noise multiplier σ → ε.")] = None,
    delta: Annotated[float, Opt()] = 1e-5,
    sample_rate: Annotated[float | None, Opt("--q", help="Sampling rate q (or --batch-size with --rows).")] = None,
    batch_size: Annotated[int | None, Opt()] = None,
    rows: Annotated[int | None, Opt(help="Private training rows N.")] = None,
    epochs: Annotated[float | None, Opt()] = None,
    steps: Annotated[int | None, Opt()] = None,
) -> None:
    """σ ↔ ε calculator for the Poisson-subsampled Gaussian, with every accountant."""
    from fusiondp.privacy.accounting import ACCOUNTANTS, calibrate_sigma, epsilon_spent

    if (epsilon is None) == (sigma is None):
        raise typer.BadParameter("give exactly one of --epsilon (to get σ) or --sigma (to get ε)")
    if sample_rate is None:
        if not (batch_size and rows):
            raise typer.BadParameter("give --q, or both --batch-size and --rows")
        sample_rate = batch_size / rows
    if steps is None:
        if epochs is None:
            raise typer.BadParameter("give --steps or --epochs")
        steps = math.ceil(epochs / sample_rate - 1e-9)
    typer.echo(f"q = {sample_rate:.5g}, steps = {steps}, δ = {delta:g}")
    for name in ACCOUNTANTS:
        try:
            if epsilon is not None:
                noise = calibrate_sigma(epsilon, delta, sample_rate, steps, name)
                spent = epsilon_spent(noise, sample_rate, steps, delta, name)
            else:
                noise, spent = sigma, epsilon_spent(sigma, sample_rate, steps, delta, name)
            replace = epsilon_spent(noise, sample_rate, steps, delta, "pld", "replace")
            typer.echo(f"  {name}: σ = {noise:.4f} → ε = {spent:.4f} (remove relation); "
                       f"ε_replace = {replace:.4f} (PLD)")
        except FusionDPError as exc:
            typer.echo(f"  {name}: {exc}")


def _print_curve(results: Any) -> None:
    """The per-ε table (the kind's first two summary metrics, mean ± sd over seeds: AUROC and AUPRC for a
    binary target, AUROC and accuracy for a multi-class one, AUROC and micro-F1 for a multi-label one, R² and RMSE
    for regression)."""
    from fusiondp.metrics import METRIC_LABELS, summary_metrics
    from fusiondp.report import per_epsilon_table

    table = per_epsilon_table(results)
    shown = summary_metrics(table.columns)[:2]
    tuned = "epsilon_tuning" in table.columns  # a selected model's guarantee is its tuning's, shown beside ε spent
    headers = ["ε", "mode", "seeds", *(METRIC_LABELS[m] for m in shown), "ε spent",
               *(["ε with tuning", "δ with tuning", "K"] * tuned)]
    rows = [["ref" if _missing(r["epsilon"]) else f"{r['epsilon']:g}", r["mode"], str(r["seeds"]),
             *(f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_sd']:.3f}" for m in shown), _cell(r.get("epsilon_spent")),
             *([_cell(r["epsilon_tuning"]), _cell(r["delta_tuning"]), _cell(r["candidates"], 0)] if tuned else [])]
            for r in table.to_dict(orient="records")]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        typer.echo("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)))


@app.command()
def sweep(
    grid: Annotated[Path, typer.Argument(help="YAML file: base: (a run config) and grid: (setting → list of values).")],
    out: Annotated[Path, Opt(help="Output folder: runs.jsonl (streamed), results.csv, grid.yaml.")] = Path(
        "fusiondp-sweep"),
    backend: Annotated[str, Opt(help="local (worker processes on this machine) or ray.")] = "local",
    workers: Annotated[int | None, Opt(help="Runs in parallel (default: one per CPU core).")] = None,
    address: Annotated[str | None, Opt(help="Ray cluster address, e.g. ray://head:10001 (backend ray).")] = None,
    resume: Annotated[bool, Opt(help="Skip the runs already finished in OUT/runs.jsonl.")] = False,
    quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
    audit: Annotated[bool, Opt(help="Also attack each trained model (attribute and membership inference) and "
                                    "add the figures to its row; slower. Same as 'audit: true' in the grid file.")
                     ] = False,
    data: Annotated[Path | None, Opt(help="Table (replaces the grid's base data).")] = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
) -> None:
    """Run a grid of configs (modes × ε × seeds × α, β, C …) and write one tidy table, one row per run.

    Roles given as flags (--target/--sensitive, or --text-column for notes) replace the grid base's."""
    from fusiondp.config import RunConfig
    from fusiondp.report import prepare_for_report
    from fusiondp.sweep import SweepGrid, expand, run_sweep

    if backend not in ("local", "ray"):
        raise typer.BadParameter("--backend must be 'local' or 'ray'")
    spec = SweepGrid.from_yaml(grid)
    roles = _roles_from_flags(None, target, sensitive, None, None, text_column, sensitive_spans,
                              span_detector=span_detector)
    named = any(value is not None for value in roles.values())
    given = {**({"data": str(data)} if data else {}), **(roles if named else {})}
    if given:
        spec = spec.model_copy(update={"base": RunConfig.build(**{**spec.base.to_dict(), **given})})
    if audit:
        spec = spec.model_copy(update={"audit": True})
    typer.echo(f"{len(expand(spec))} runs (non-private modes once per seed, ignored knobs collapsed) · "
               f"backend {backend} · output {out}{' · audited' if spec.audit else ''}")
    try:
        table = run_sweep(spec, out, backend=backend, workers=workers, resume=resume, address=address,
                          progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted: finished runs are kept in {out / 'runs.jsonl'}; continue with "
                   f"fusiondp sweep {grid} --out {out} --resume", err=True)
        raise typer.Exit(130) from None
    results, selection = prepare_for_report(table)
    if selection:
        typer.echo(f"knob settings per mode, ε and seed: {selection}")
    _print_curve(results)
    typer.echo(f"\nresults: {out / 'results.csv'} · report: fusiondp report {out}")


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="Folder written by fusiondp sweep or fusiondp run (--out).")],
    select: Annotated[str, Opt(help="How to pick α, β, C per ε when the sweep tuned them: val_hybrid (imputed "
                                    "validation rows, public) or val_real (real rows: not accounted).")] = "val_hybrid",
) -> None:
    """Write report.html (curves, FusionDP gain, per-ε table, ledger, imputation) and the main curve as SVG/PNG."""
    from fusiondp.metrics import summary_metrics
    from fusiondp.report import (
        build_html_report,
        curve_stem,
        export_figure_images,
        load_results,
        prepare_for_report,
        privacy_utility_figure,
    )

    if select not in ("val_hybrid", "val_real"):
        raise typer.BadParameter("--select must be 'val_hybrid' or 'val_real'")
    path = build_html_report(results_dir, select)
    results, selection = prepare_for_report(load_results(results_dir)[0], select)
    if selection:
        typer.echo(f"knob settings per mode, ε and seed: {selection}")
    _print_curve(results)
    typer.echo(f"\nreport: {path}")
    metric = summary_metrics(results.columns)[0]  # the kind's selection metric: AUROC, or R² for regression
    written, problem = export_figure_images(privacy_utility_figure(results, metric), results_dir / curve_stem(metric))
    for image in written:
        typer.echo(f"curve: {image}")
    if problem:
        typer.echo(f"warning: the main curve was not saved as SVG/PNG: {problem}. The HTML report holds the "
                   "interactive figure (its camera button saves a PNG).", err=True)


@app.command()
def audit(
    data: DataOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    sensitive: SensitiveOpt = None,
    categorical: CategoricalOpt = None,
    ignore: IgnoreOpt = None,
    config: ConfigOpt = None,
    modes: Annotated[str, Opt(help="Comma-separated modes, or 'all'.")] = "sgd_ori,sgd_pub,dpsgd,fusiondp",
    epsilons: Annotated[str, Opt(help="Comma-separated ε values for the DP modes.")] = "0.5,2,8",
    epochs: Annotated[int | None, Opt()] = None,
    rows: Annotated[int, Opt(help="Training and held-out rows attacked per model.")] = 500,
    seed: Annotated[int, Opt()] = 0,
    out: Annotated[Path | None, Opt(help="Write audit.json to this folder.")] = None,
    text_column: TextColumnOpt = None,
    sensitive_spans: SensitiveSpansOpt = None,
    span_detector: SpanDetectorOpt = None,
    split_column: Annotated[str | None, Opt(help="Column assigning each row to train, val, test or support.")] = None,
    support_fraction: Annotated[float | None, Opt()] = None,
    batch_size: Annotated[int | None, Opt(help="Expected Poisson batch size.")] = None,
    delta: Annotated[float | None, Opt(help="Target δ (below 1/N).")] = None,
    shadow: Annotated[bool, Opt(help="Train a shadow model per audited model for the learned attacks.")] = True,
) -> None:
    """Attack trained models: attribute inference on sensitive columns (notes: on age, sex and ethnicity spans)
    and membership inference."""
    from fusiondp.pipeline import prepare
    from fusiondp.privacy.audit import REAL_ROWS_NOTE, audit_grid

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


@app.command()
def info() -> None:
    """Versions, the compute device and which imputers can run here (and why not)."""
    import torch

    from fusiondp.impute import available_imputers

    typer.echo(f"python {platform.python_version()} on {platform.platform()}")
    for package in ("fusiondp", "torch", "opacus", "dp-accounting", "scikit-learn", "pandas", "tabpfn"):
        try:
            typer.echo(f"{package}: {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            typer.echo(f"{package}: not installed")
    cuda = torch.cuda.is_available()
    typer.echo(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if cuda else 'cpu (no CUDA GPU found)'}")
    for name, reason in available_imputers().items():
        typer.echo(f"imputer {name}: {'available' if reason is None else 'unavailable: ' + reason}")


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

