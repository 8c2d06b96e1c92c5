"""``fusiondp run``: every ``RunConfig`` knob as a flag; prepare once, train the modes (an ε curve in lockstep),
print metrics with the privacy ledger and save the results.

``--config`` loads a saved config and the flags given explicitly override it. The library (and torch) is imported
only once the flags are known to be valid.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fusiondp.cli.options import (
    OWN,
    BatchSizeOpt,
    CategoricalOpt,
    ConfigOpt,
    DataOpt,
    EpochsOpt,
    IgnoreOpt,
    ImputerOpt,
    ModesOpt,
    Opt,
    QuietOpt,
    SensitiveOpt,
    SensitiveSpansOpt,
    SpanDetectorOpt,
    SpecOpt,
    SupportFractionOpt,
    TargetBoundsOpt,
    TargetDelimiterOpt,
    TargetKindOpt,
    TargetOpt,
    TextColumnOpt,
    _build_config,
    _require_roles,
    _roles_from_flags,
    _split_list,
)
from fusiondp.cli.output import PhaseBars, _print_preparation, _print_run_curve, _print_summary
from fusiondp.errors import ConfigError, FusionDPError, MissingDeclarations, PrivacyError, SpecError
from fusiondp.train.modes import get_mode

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from fusiondp.config import RunConfig
    from fusiondp.prepared import PreparedData
    from fusiondp.text.spec import TextSpec


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
    modes: ModesOpt = None,
    seeds: Annotated[int | None, Opt(help="Number of seeds (0 … N−1).")] = None,
    epsilon: Annotated[str | None, Opt(
        help="Target ε of the DP modes; several, comma-separated (0.5,1,2,4), train a privacy-utility curve from "
             "one preparation.")] = None,
    delta: Annotated[float | None, Opt(help="Target δ (below 1/N). Default: 1e-5, or 1/(10·N) rounded down for a "
                                            "table of N ≥ 100,000 rows; the note 'δ = …' says which.")] = None,
    accountant: Annotated[str | None, Opt(help="rdp, prv or pld.")] = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    public_batch_size: Annotated[int | None, Opt()] = None,
    lr: Annotated[float | None, Opt()] = None,
    lr_schedule: Annotated[str | None, Opt(
        help=f"auto (default: {OWN['lr_schedule']}, as the fair protocol chose), constant, or cosine (the learning "
             "rate falls from --lr to 0 by the last step).")] = None,
    numeric_encoding: Annotated[str | None, Opt(
        help=f"auto (default: {OWN['numeric_encoding']}, as the fair protocol chose; the table is imputed once and "
             "encoded both ways), standard (z-scores for every mode) or quantile (normal scores for every mode).")]
    = None,
    alpha: Annotated[float | None, Opt(help="Weight of the private correction.")] = None,
    beta: Annotated[float | None, Opt(help="Weight of the consistency term.")] = None,
    max_grad_norm: Annotated[float | None, Opt(
        help="Per-sample clip norm C; with a noise level (the default), the smallest C.")] = None,
    noise_level: Annotated[str | None, Opt(
        help="C = max(C, noise level / σ): clipping loosens as ε grows. auto (default): each mode at the level the "
             f"fair protocol chose for it at the numeric encoding it reads ({OWN['noise_level']}), or a number for "
             "every mode (--fixed-clip, or noise_level: null in a config, fixes C).")]
    = None,
    fixed_clip: Annotated[bool, Opt(
        "--fixed-clip",
        help="Clip at --max-grad-norm at every ε (no noise level): the clip rule of configs saved before it.")]
    = False,
    rep_clip: Annotated[float | None, Opt(help="C_h (default: from the support set).")] = None,
    param_bound: Annotated[float | None, Opt(help="Parameter projection radius M.")] = None,
    imputer: ImputerOpt = None,
    support_fraction: SupportFractionOpt = None,
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
    quiet: QuietOpt = False,
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
        lr_schedule=lr_schedule, numeric_encoding=numeric_encoding, alpha=alpha, beta=beta,
        max_grad_norm=max_grad_norm, noise_level=noise_level,
        rep_clip=rep_clip, param_bound=param_bound,
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
    if fixed_clip and noise_level is not None:
        raise typer.BadParameter("--fixed-clip and --noise-level contradict each other: give one (--fixed-clip "
                                 "clips at --max-grad-norm at every ε)")
    with _settings_named_as_flags():
        cfg = _build_config(config, overrides, unset=("noise_level",) if fixed_clip else ())
    if cfg.text is None:
        _require_roles(cfg)
    if cfg.data is None:
        raise SpecError("No table: give --data FILE (CSV, TSV, Parquet or Excel).")
    # Imported once the flags are known to be valid: a mistyped flag fails in a fraction of a second, without torch.
    from tqdm.auto import tqdm

    from fusiondp.ledger import privacy_plan
    from fusiondp.metrics import validation_metric
    from fusiondp.parallel import TrainingPool, lockstep_groups, worker_processes
    from fusiondp.runs import curve_runs, save_results, with_epsilon

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
        settings = cfg.train_settings()
        bar = tqdm(total=sum(settings.epochs_for(mode) for _, mode, _ in runs), unit="epoch", disable=quiet,
                   file=sys.stderr,
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


def _prepare_table(cfg: RunConfig, progress: PhaseBars, strict: bool,
                   executor: Executor | None = None) -> PreparedData:
    """Split, impute and encode a table, then print the privacy preflight (refusing on high findings if strict)."""
    from fusiondp.preparation import load_inputs, prepare_splits, split_for
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
