"""Training runs on a preparation: one model and its record (``train_run``/``fit_run``), a curve's ε of one mode
and seed in lockstep (``fit_runs``), every (mode, seed) of a config (``run``), and the files they are saved to
(``save_results``). ``model_inputs`` is what a trained model of a mode reads, for scoring and audits.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
import yaml

from fusiondp.config import RunConfig
from fusiondp.ledger import privacy_plan, run_ledger, training_relation
from fusiondp.models import TabularMLP
from fusiondp.preparation import channels_for, prepare
from fusiondp.prepared import PreparedData, torch_threads
from fusiondp.privacy.accounting import epsilon_spent
from fusiondp.privacy.joint import joint_release_of_records
from fusiondp.privacy.statement import privacy_statement
from fusiondp.record import RunRecord, summarize, write_json_atomic, write_text_atomic
from fusiondp.train.loop import EpochReport, train_models
from fusiondp.train.modes import Mode, get_mode


def for_run(prepared: PreparedData, config: RunConfig) -> PreparedData:
    """``prepared`` for a run's own ``config`` (its training knobs), keeping the δ resolved at preparation when
    ``config`` leaves δ to N."""
    if config.delta is None:
        config = config.model_copy(update={"delta": prepared.config.delta})
    return dataclasses.replace(prepared, config=config)


def model_inputs(prepared: PreparedData, mode: Mode, x: torch.Tensor, rows: pd.DataFrame,
                 channels: torch.Tensor | None = None) -> torch.Tensor:
    """``x``, the encoded ``rows`` (stacked copies of them, e.g. one per guessed value), as ``mode``'s model reads
    them: the public features only (``sgd_pub``), with the imputation channels appended (``fusiondp`` on a table),
    or as they are. ``channels``: the rows' channels where the preparation already holds them (one of its parts,
    ``prepared.tensors.channels``), so that they are not imputed again. ``x`` is encoded by the mode's encoder
    (``prepared.for_mode(mode.name).encoder``), as the channels are."""
    prepared = prepared.for_mode(mode.name)
    if mode.public_view == "public_only":
        return x[:, prepared.tensors.public_features]
    if mode.imputation_channels and prepared.tensors.channels is not None:
        channels = channels_for(prepared, rows) if channels is None else channels
        return torch.cat((x, channels.repeat(len(x) // max(len(rows), 1), 1)), 1)
    return x


def train_run(
    prepared: PreparedData,
    mode_name: str,
    seed: int,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunRecord:
    """Train one model (``mode_name``, ``seed``) on prepared data and return its record."""
    return fit_run(prepared, mode_name, seed, on_epoch=on_epoch, should_stop=should_stop)[0]


def fit_run(
    prepared: PreparedData,
    mode_name: str,
    seed: int,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[RunRecord, TabularMLP]:
    """Like ``train_run``, also returning the trained model."""
    callback = None if on_epoch is None else (lambda index, report: on_epoch(report))
    return fit_runs(prepared, mode_name, seed, [prepared.config.epsilon], on_epoch=callback,
                    should_stop=should_stop)[0]


def fit_runs(
    prepared: PreparedData,
    mode_name: str,
    seed: int,
    epsilons: Sequence[float],
    *,
    on_epoch: Callable[[int, EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[tuple[RunRecord, TabularMLP]]:
    """The runs ``(ε, mode_name, seed)`` for each ε of ``epsilons``, trained in lockstep, with their models.

    The models share the seed's initialisation and public rows and one stream of Poisson samples; each
    draws its own secret noise ξ. With ``reproducible_noise`` each model and record is what ``fit_run`` on
    ``with_epsilon(prepared, ε)`` gives (float rounding aside, as the batched pass may round differently).
    A curve's ε share one pass per step instead of one training each (``train.loop.ModeStep``); their
    records share a ``sampling_group``, so the joint release is accounted as one subsampled Gaussian
    (``fusiondp.privacy.joint``).
    ``on_epoch(k, report)`` speaks for ``epsilons[k]``. A non-private mode takes one ε (its model has none).
    """
    mode = get_mode(mode_name)
    if len(epsilons) != 1 and not mode.is_private:
        raise ValueError(f"{mode_name} trains without noise: one run, not one per ε")
    prepared = prepared.for_mode(mode_name)  # its encoding, under numeric_encoding: auto
    runs = [with_epsilon(prepared, epsilon) for epsilon in epsilons]
    plans = [privacy_plan(run_prepared, mode) for run_prepared in runs]
    q = plans[0][1]
    epsilon_at = []
    for run_prepared, (sigma, _, _, _) in zip(runs, plans, strict=True):
        if mode.is_private:
            config, relation = run_prepared.config, training_relation(run_prepared, mode)
            epsilon_at.append(lambda done, sigma=sigma, config=config, relation=relation:
                              epsilon_spent(sigma, q, done, config.delta, config.accountant, relation))
        else:
            epsilon_at.append(lambda done: None)
    settings = prepared.config.train_settings()
    with torch_threads(prepared.config.threads):
        outcomes = train_models(prepared.tensors, mode, settings, seed=seed,
                                sigmas=[plan[0] for plan in plans], epsilon_at=epsilon_at, on_epoch=on_epoch,
                                should_stop=should_stop)
    fitted = []
    sampling_group = uuid.uuid4().hex[:12] if mode.is_private else None  # the models that shared their samples
    for run_prepared, (sigma, _, _, calibration_s), outcome in zip(runs, plans, outcomes, strict=True):
        ledger = run_ledger(run_prepared, mode, sigma, q, outcome.steps_done, outcome.rep_clip)
        ledger.sampling_group = sampling_group
        ledger.statement = privacy_statement(ledger, run_prepared.spec, mode.name,
                                             public_part=run_prepared.public_part, proxies=run_prepared.proxies)
        timing = {"wall_time_s": round(outcome.wall_time_s, 3), "calibration_s": round(calibration_s, 3),
                  "impute_s": round(prepared.impute_s, 3),
                  "steps_per_s": round(outcome.steps_done / max(outcome.wall_time_s, 1e-9), 2),
                  "device": str(prepared.device), "models_in_lockstep": len(outcomes)}
        record = RunRecord(mode=mode.name, seed=seed, config=run_prepared.config.to_dict(), metrics=outcome.metrics,
                           privacy=ledger, imputer=prepared.imputer_summary(), timing=timing,
                           history=outcome.history, data=prepared.data_summary(), cancelled=outcome.cancelled,
                           lr_schedule=settings.schedule_for(mode.name), epochs=settings.epochs_for(mode.name))
        fitted.append((record, outcome.model))
    return fitted


def with_epsilon(prepared: PreparedData, epsilon: float) -> PreparedData:
    """The same preparation for a run at another target ε (ε is read by training only)."""
    return dataclasses.replace(prepared, config=prepared.config.model_copy(update={"epsilon": epsilon}))


def curve_runs(modes: list[str], seeds: list[int], epsilons: list[float]) -> list[tuple[float, str, int]]:
    """(ε, mode, seed) of a privacy-utility curve: DP modes at every ε, the others once (at the first ε)."""
    return [(epsilon, mode, seed) for mode in modes for epsilon in (epsilons if get_mode(mode).is_private
                                                                    else epsilons[:1]) for seed in seeds]


def run(
    config: RunConfig,
    *,
    table: pd.DataFrame | None = None,
    support: pd.DataFrame | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[PreparedData, list[RunRecord]]:
    """Prepare the data once, then train every (mode, seed) of ``config``."""
    prepared = prepare(config, table, support)
    for mode_name in config.modes:
        privacy_plan(prepared, get_mode(mode_name))  # an impossible budget fails before any training
    records = []
    for mode_name in config.modes:
        for seed in config.seeds:
            records.append(train_run(prepared, mode_name, seed, on_epoch=on_epoch, should_stop=should_stop))
            if records[-1].cancelled:
                return prepared, records
    return prepared, records


def save_results(out: str | Path, prepared: PreparedData, records: list[RunRecord]) -> Path:
    """Write ``results.json`` (records, summary, imputation report; with several DP models, the ε of releasing
    them together: ``joint_release``) and ``config.yaml`` to ``out``."""
    out = Path(out)
    summary = summarize(records)
    payload = {
        "schema_version": records[0].schema_version if records else 1,
        "summary": summary.to_dict(orient="records"),
        "imputer": prepared.imputer_summary(),
        "data": prepared.data_summary(),
        "records": [r.to_dict() for r in records],
    }
    joint = joint_release_of_records(records)
    if joint is not None:
        payload["joint_release"] = joint.to_dict()
    write_json_atomic(out / "results.json", payload)
    write_text_atomic(out / "config.yaml", yaml.safe_dump(prepared.config.to_dict(), sort_keys=False))
    write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
    return out
