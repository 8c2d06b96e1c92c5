"""From a table and a ``RunConfig`` to trained models and run records.

``prepare`` does everything that is shared by the modes and seeds of a run — load,
validate, split, impute (fitted on the support set only), encode (on public information
only), move tensors to the device — and ``train_run`` trains one (mode, seed) on it.
``run`` does both for every mode and seed of the config.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd
import torch
import yaml

from fusiondp.config import RunConfig
from fusiondp.data import (
    Splits,
    attach_imputations,
    check_split_column,
    imputed_column,
    load_table,
    split_table,
    typed_like_support,
)
from fusiondp.encode import TableEncoder
from fusiondp.errors import ConfigError, DataError, SpecError
from fusiondp.impute import Imputer, ImputerChoice, QualityReport, choose_imputer, quality_report
from fusiondp.impute.quality import describe_categories, unseen_categories
from fusiondp.modality import modality_of
from fusiondp.models import TabularMLP, resolve_device
from fusiondp.prepared import (
    PROVIDED_PROVENANCE,
    PreparedData,
    Progress,
    float_tensor,
    label_tensor,
    resolve_delta,
    torch_threads,
    training_size_note,
    training_task,
    with_resolved_delta,
)
from fusiondp.privacy.accounting import Relation, calibrate_sigma, compose_with_synthesizer, epsilon_spent
from fusiondp.privacy.joint import joint_release_of_records
from fusiondp.privacy.randomness import NO_GUARANTEE
from fusiondp.privacy.statement import privacy_statement
from fusiondp.record import PrivacyLedger, RunRecord, summarize, write_json_atomic, write_text_atomic
from fusiondp.reference import expected_encoding, imputation_channels, sensitive_block, shrink, shrinkage
from fusiondp.spec import TableSpec
from fusiondp.synth import TwoStageSummary
from fusiondp.synth.settings import check_domains
from fusiondp.train.loop import EpochReport, ImputationChannels, TrainTensors, planned_steps, train_models
from fusiondp.train.modes import Mode, get_mode

log = logging.getLogger(__name__)


SYNTHETIC_QUALITY_NOTE = (
    "Support source: DP-synthetic (ε_syn = {epsilon:g}). The support rows scored here are synthetic too: their "
    "sensitive values were sampled from noisy marginals given a few binned public columns, so these metrics say "
    "how well the imputer recovers the synthesizer's (coarse, noisy) dependence, not how well it imputes the real "
    "values, and the real error may be larger or smaller: the synthetic rows carry only the dependence on the "
    "conditioning columns, blurred by noise (the gap to the baseline shrinks as ε_syn falls). Measuring the error "
    "on real values would need real sensitive values, i.e. more privacy budget."
)


def _no_progress(phase: str, fraction: float) -> None:
    """The default ``Progress``: nobody is listening."""


def prepare(config: RunConfig, table: pd.DataFrame | None = None, support: pd.DataFrame | None = None,
            progress: Progress | None = None) -> PreparedData:
    """Load, validate, split, impute and encode the table named (or given) by ``config``.

    With a text spec (``config.text``), the notes' preparation (``fusiondp.text.pipeline.prepare_text``, found
    through ``fusiondp.modality``)."""
    modality = modality_of(config)
    if modality is not None:
        return modality.prepare(config, table, support, progress)
    table, support = load_inputs(config, table, support)
    return prepare_splits(config, split_for(config, table, support, progress=progress), progress)


def load_inputs(config: RunConfig, table: pd.DataFrame | None = None,
                support: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The table and the separate support table named by (or given with) ``config``, checked for consistency."""
    if table is None:
        if config.data is None:
            raise ConfigError("No table given: set `data` to a CSV/Parquet/Excel path.")
        table = load_table(config.data)
    if support is not None and config.support_source == "dp_synthetic":
        raise ConfigError("A support table was given but support_source is 'dp_synthetic'; use support_source "
                          "'table' to fit the imputer on that table, or pass no support table.")
    if support is None and config.support_data:
        support = load_table(config.support_data)
    if config.spec is None:
        raise SpecError("No column spec given: name the target and the sensitive columns.")
    return table, support


def declared_spec(config: RunConfig) -> TableSpec:
    """The user's spec; with a DP-synthetic support set, the declared domains and bounds also declare types.

    A split column and the columns carrying user-provided imputations (``imputed_column``) are
    ignored: they travel with the rows but are never features.
    """
    if config.spec is None:
        raise SpecError("No column spec given: name the target and the sensitive columns.")
    spec = config.spec
    extra = [] if config.split_column is None else [config.split_column]
    if config.hybrid_data is not None:
        extra += [imputed_column(column) for column in spec.sensitive]
    if extra:
        spec = spec.model_copy(update={"ignore": tuple(dict.fromkeys([*spec.ignore, *extra]))})
    synth = config.synth_settings()
    if synth is None:
        return spec
    return spec.declaring(categorical=synth.domains, numeric=synth.bounds)


def split_for(config: RunConfig, table: pd.DataFrame, support: pd.DataFrame | None = None,
              imputed: pd.DataFrame | None = None, progress: Progress | None = None) -> Splits:
    """Split ``table`` by ``config``'s roles and data settings (synthesising a DP-synthetic support set).

    Reads no private sensitive value to type a column: splitting needs the roles and the
    target only, and a synthesizer takes the sensitive columns' types from their declared
    domains and bounds. With ``config.hybrid_data`` (or ``imputed`` given), the user's imputed
    copy is checked against ``table`` row for row and its sensitive values travel with their rows
    through the split (``imputed_column``), for ``prepare_splits`` to use as the hybrid view.
    ``progress`` hears ``split``, or ``synthesis`` when a DP-synthetic support set is made (start and end only).
    With a text spec (``config.text``), the notes' split (``fusiondp.text.pipeline.split_notes``, found through
    ``fusiondp.modality``).
    """
    modality = modality_of(config)
    if modality is not None:
        return modality.split(config, table, support)
    config = with_resolved_delta(config, len(table))  # a DP-synthetic support set spends δ (δ_syn's default) here
    if config.split_column is not None and config.spec is not None:
        check_split_column(config.spec, config.split_column, table.columns)  # before its role is added
    spec = declared_spec(config)
    synth = config.synth_settings()
    if config.hybrid_data is not None:
        if config.support_source != "fraction":
            raise ConfigError(
                f"hybrid_data needs the support rows to come from the table itself (support_source 'fraction', or "
                f"rows marked 'support' in a split column), not support_source {config.support_source!r}: the "
                "provided imputations are scored, and the reference view's shrinkage chosen, on support rows, and "
                "the imputed copy covers the table's rows only. To use a separate public table, append its rows "
                "to the table (and to the imputed copy) and mark them 'support' in a split column.")
        if imputed is None:
            imputed = load_table(config.hybrid_data)
        table = attach_imputations(table, imputed, spec, config.hybrid_data)
    roles = spec.with_roles(table)
    if synth is not None:
        if any(c not in synth.domains and c not in synth.bounds for c in roles.sensitive):
            check_domains(config.spec.resolve(table), synth)  # says which declarations are missing, in context
        roles = spec.resolve(table, type_rows=table[[*roles.public, roles.target]])
    phase, report = "split" if synth is None else "synthesis", progress or _no_progress
    report(phase, 0.0)
    with torch_threads(config.threads):
        splits = split_table(table, roles, support_fraction=config.support_fraction,
                             val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                             seed=config.split_seed, support=support, synthesize=synth,
                             split_column=config.split_column)
    report(phase, 1.0)
    return splits


def training_spec(config: RunConfig, splits: Splits) -> TableSpec:
    """Roles checked on the training rows; every feature column typed from the support set's (public) values.

    The target kind is the one the table was split for (declared, or inferred from all its labelled rows).
    """
    spec = declared_spec(config).model_copy(update={"target_kind": splits.target_kind})
    return spec.resolve(splits.train, type_rows=splits.support)


def unseen_category_notes(spec: TableSpec, splits: Splits) -> list[str]:
    """Public columns' categories of the validation and test rows that the support set never shows.

    Training rows are left out: under ``dpsgd``'s relation a training row is private as a whole, public
    columns included, and one row's rare category would show in the report (``private_unseen_category_notes``
    reports them locally). Validation and test rows are scored, not protected.
    """
    rows = pd.concat([splits.val, splits.test], ignore_index=True)
    return [f"Public column {column!r}: {describe_categories(values)} never occur in the support set; the imputer "
            "treats them as missing and the encoder as an all-zero 'other' code."
            for column, values in unseen_categories(spec, splits.support, rows, spec.public).items()]


def private_unseen_category_notes(spec: TableSpec, splits: Splits) -> list[str]:
    """Categories the support set never shows: of the private rows' sensitive columns, and of the training rows'
    public columns.

    Read from values a neighbouring table may change (sensitive values; a whole training row under
    ``dpsgd``), so these notes stay out of the (public) quality report and say that they are a local diagnostic.
    """
    rows = pd.concat([splits.train, splits.val, splits.test], ignore_index=True)
    sensitive = [f"Sensitive column {column!r}: {describe_categories(values)} of the private rows never occur in "
                 "the support set. Imputers predict support categories only and the encoder gives these an all-zero "
                 "'other' code. (Read from private values: a diagnostic for the data owner, not for publication.)"
                 for column, values in unseen_categories(spec, splits.support, rows, spec.sensitive).items()]
    public = [f"Public column {column!r}: {describe_categories(values)} of the training rows never occur in the "
              "support set; the imputer treats them as missing and the encoder as an all-zero 'other' code. (Read "
              "from training rows, which dpsgd protects whole: a diagnostic for the data owner, not for publication.)"
              for column, values in unseen_categories(spec, splits.support, splits.train, spec.public).items()]
    return sensitive + public


def for_run(prepared: PreparedData, config: RunConfig) -> PreparedData:
    """``prepared`` for a run's own ``config`` (its training knobs), keeping the δ resolved at preparation when
    ``config`` leaves δ to N."""
    if config.delta is None:
        config = config.model_copy(update={"delta": prepared.config.delta})
    return dataclasses.replace(prepared, config=config)


def prepare_splits(config: RunConfig, splits: Splits, progress: Progress | None = None,
                   executor: Executor | None = None) -> PreparedData:
    """Type the columns, impute and encode — each fitted on ``splits.support`` only — and move to the device.

    The imputer is fitted once, on the whole support set; its quality report, the reference view's λ and
    the support tensors behind C_h use its cross-fitted (out-of-fold) imputations of the support rows.
    ``progress`` hears the phases ``imputation`` and ``encoding``; an ``executor`` (worker processes, e.g. a
    ``fusiondp.parallel.TrainingPool``'s) shares the imputer's fits with this process. With a text spec
    (``config.text``), the notes' preparation: hybrid notes and the notes' encoder
    (``fusiondp.text.pipeline.prepare_note_splits``, found through ``fusiondp.modality``).
    """
    config, splits = resolve_delta(config, splits)
    modality = modality_of(config)
    if modality is not None:
        return modality.prepare_splits(config, splits, progress)
    spec = training_spec(config, splits)
    splits = typed_like_support(splits, spec)
    notes = list(splits.notes)
    delta_note = training_size_note(config, len(splits.train), "row")
    if delta_note is not None:
        notes.append(delta_note)
        log.warning(delta_note)

    choice = choose_imputer(config.imputer, config.imputer_params)
    log.info("imputer: %s (%s)", choice.used, choice.reason)
    report = progress or _no_progress
    report("imputation", 0.0)
    started = time.perf_counter()
    # One fit: the cross-validation that picks model vs baseline per column leaves every support row's
    # out-of-fold imputation, which scores the imputer and tunes the reference view honestly.
    imputer = choice.build(spec, config.split_seed)
    imputer.fit(splits.support, progress=lambda fraction: report("imputation", 0.9 * fraction), executor=executor)
    crossfit = imputer.cross_fitted_
    scored = splits.support.iloc[crossfit.rows].reset_index(drop=True)
    quality = quality_report(choice.used, spec, scored, scored, crossfit.imputed, selection=imputer.selection_,
                             cross_fitted=crossfit.folds)
    public_columns = list(spec.public)
    if config.hybrid_data is None:
        hybrid, states = {}, {}
        for part in ("train", "val", "test"):
            hybrid[part], states[part] = _imputed_with_states(imputer, getattr(splits, part)[[*public_columns,
                                                                                               spec.target]])
        scored_imputed, scored_states = crossfit.imputed, crossfit.states
    else:
        hybrid = {part: provided_imputations(spec, getattr(splits, part), config.hybrid_data)
                  for part in ("train", "val", "test")}
        scored_imputed = provided_imputations(spec, scored, config.hybrid_data)
        # no state probabilities: the reference encodes the user's values hard
        scored_states, states = {}, {part: {} for part in hybrid}
    impute_s = time.perf_counter() - started
    report("imputation", 1.0)
    if splits.synthetic is not None:
        quality.synthetic = True
        quality.notes.append(SYNTHETIC_QUALITY_NOTE.format(epsilon=splits.synthetic.epsilon))
    quality.notes.extend(getattr(imputer, "notes_", []))
    quality.notes.extend(unseen_category_notes(spec, splits))
    builtin_quality = None
    if config.hybrid_data is not None:
        builtin_quality = quality
        quality = provided_quality(config.hybrid_data, spec, splits, scored, scored_imputed,
                                   [hybrid["train"], hybrid["val"]])
        choice = ImputerChoice("hybrid_data", quality.imputer, f"read as given; provenance: {PROVIDED_PROVENANCE}",
                               {})
    for warning in private_unseen_category_notes(spec, splits):
        log.warning(warning)  # local diagnostic only: never written to results or reports

    report("encoding", 0.0)
    encoder = TableEncoder(spec).fit(public_rows=splits.support, sensitive_rows=splits.support)
    device = resolve_device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    task, classes = training_task(spec, splits)

    def labels(frame: pd.DataFrame) -> torch.Tensor:
        return label_tensor(task, classes, frame[spec.target], device)

    # Support rows encoded three ways: their real (public) values, the out-of-fold reference, and blank.
    # λ and C_h are read from them; the out-of-fold reference is as far from the real values as a
    # private row's reference is from its own.
    support_real, support_blank = encoder.transform(scored), encoder.transform_uninformative(scored)
    support_expected = expected_encoding(encoder, scored_imputed, scored_states)
    shrinkage_factors = shrinkage(encoder, support_real, support_expected, support_blank)
    train_blank = encoder.transform_uninformative(splits.train)
    train_reference = shrink(encoder, expected_encoding(encoder, hybrid["train"], states["train"]), train_blank,
                             shrinkage_factors)
    support_reference = shrink(encoder, support_expected, support_blank, shrinkage_factors)

    def channels_of(part: str) -> torch.Tensor:
        return float_tensor(imputation_channels(encoder, hybrid[part], states[part], getattr(splits, part),
                                                shrinkage_factors), device)
    tensors = TrainTensors(
        x_real=float_tensor(encoder.transform(splits.train), device),
        x_hybrid=float_tensor(encoder.transform(hybrid["train"]), device),
        x_blank=float_tensor(train_blank, device),
        y=labels(splits.train),
        x_val_hybrid=float_tensor(encoder.transform(hybrid["val"]), device),
        y_val=labels(splits.val),
        x_test=float_tensor(encoder.transform(splits.test), device),
        y_test=labels(splits.test),
        support_real=float_tensor(support_real, device),
        support_hybrid=float_tensor(encoder.transform(scored_imputed), device),
        support_blank=float_tensor(support_blank, device),
        public_features=torch.as_tensor(encoder.public_features, device=device),
        x_reference=float_tensor(train_reference, device),
        support_reference=float_tensor(support_reference, device),
        task=task,
        channels=ImputationChannels(train=float_tensor(sensitive_block(encoder, train_reference), device),
                                    val=channels_of("val"), test=channels_of("test"),
                                    support=float_tensor(sensitive_block(encoder, support_reference), device)),
    )
    report("encoding", 1.0)
    return PreparedData(config, spec, splits, choice, quality, encoder, tensors, device, hybrid["train"],
                        impute_s, notes, fitted_imputer=imputer, shrinkage=shrinkage_factors,
                        builtin_quality=builtin_quality)


def provided_imputations(spec: TableSpec, rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """``rows``' public columns and target with the user's imputations (carried by ``split_for``) as sensitive values.

    The same layout as an imputer's ``transform``, so that the rest of the preparation cannot tell them apart.
    """
    carried = {column: imputed_column(column) for column in spec.sensitive}
    if not set(carried.values()) <= set(rows.columns):
        raise ConfigError(f"hybrid_data is {name!r} but these splits carry no imputations: split the table with "
                          "fusiondp.pipeline.split_for, which checks the imputed copy and aligns its rows.")
    hybrid = rows[[*spec.public, spec.target]].assign(**{c: rows[carried[c]].to_numpy() for c in spec.sensitive})
    for column in spec.sensitive:
        if column in spec.numeric:
            values = hybrid[column].dropna()
            junk = values[pd.to_numeric(values, errors="coerce").isna()]
            if len(junk):
                examples = ", ".join(repr(v) for v in junk.unique()[:3])
                raise DataError(f"The imputed copy {name} holds non-numeric values in numeric sensitive column "
                                f"{column!r} ({examples}; {len(junk)} rows). Give numbers, or leave the cell empty "
                                "for 'missing'.")
    return hybrid


def provided_quality(name: str, spec: TableSpec, splits: Splits, scored: pd.DataFrame,
                     scored_imputed: pd.DataFrame, hybrid_parts: list[pd.DataFrame]) -> QualityReport:
    """The user's imputations scored on the support rows the built-in imputer is scored on (cross-fitted there).

    Their real sensitive values are public, so this report is public too; it is the one that describes
    the hybrid view actually used. The baseline is the support set's mean / majority, as for the
    built-in imputer, so the two reports compare like for like.
    """
    report = quality_report(f"user-provided imputations from {name}", spec, scored, scored, scored_imputed)
    report.notes = [f"User-provided imputations from {name}, scored on the same {len(scored)} support rows as the "
                    f"built-in imputer. Provenance: {PROVIDED_PROVENANCE}. If they were fitted on these support "
                    "rows, the scores are in-sample (optimistic)."]
    provided = pd.concat([*hybrid_parts, scored_imputed], ignore_index=True)
    report.notes += [f"Sensitive column {column!r}: the provided imputations hold {describe_categories(values)}, "
                     "absent from the support set; the encoder codes them as an all-zero 'other'."
                     for column, values in unseen_categories(spec, splits.support, provided, spec.sensitive).items()]
    report.notes.extend(unseen_category_notes(spec, splits))
    return report


def _imputed_with_states(imputer: Imputer, rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``rows`` imputed, and the imputer's state probabilities for them if it offers them (reads their public
    columns); from one prediction per model where the imputer can (``impute_with_states``)."""
    both = getattr(imputer, "impute_with_states", None)
    if both is not None:
        return both(rows)
    soft = getattr(imputer, "predict_proba_states", None)
    return imputer.transform(rows), soft(rows) if soft is not None else {}


def channels_for(prepared: PreparedData, rows: pd.DataFrame) -> torch.Tensor:
    """The imputation channels of any rows of the table (``fusiondp.reference.imputation_channels``): the prepared
    imputer on their public columns, expected encoding, the prepared λ."""
    spec, encoder = prepared.spec, prepared.encoder
    if prepared.config.hybrid_data is not None:
        imputed, states = provided_imputations(spec, rows, prepared.config.hybrid_data), {}
    else:
        assert prepared.fitted_imputer is not None, "a table's preparation keeps its imputer"
        imputed, states = _imputed_with_states(prepared.fitted_imputer, rows[list(spec.public)])
    return float_tensor(imputation_channels(encoder, imputed, states, rows, prepared.shrinkage), prepared.device)


def model_inputs(prepared: PreparedData, mode: Mode, x: torch.Tensor, rows: pd.DataFrame,
                 channels: torch.Tensor | None = None) -> torch.Tensor:
    """``x``, the encoded ``rows`` (stacked copies of them, e.g. one per guessed value), as ``mode``'s model reads
    them: the public features only (``sgd_pub``), with the imputation channels appended (``fusiondp`` on a table),
    or as they are. ``channels``: the rows' channels where the preparation already holds them (one of its parts,
    ``prepared.tensors.channels``), so that they are not imputed again."""
    if mode.public_view == "public_only":
        return x[:, prepared.tensors.public_features]
    if mode.imputation_channels and prepared.tensors.channels is not None:
        channels = channels_for(prepared, rows) if channels is None else channels
        return torch.cat((x, channels.repeat(len(x) // max(len(rows), 1), 1)), 1)
    return x


def training_relation(prepared: PreparedData, mode: Mode) -> Relation:
    """The relation ``mode``'s training is calibrated and accounted under on this data (``Mode.relation_for``)."""
    return mode.relation_for(prepared.splits.synthetic is not None)


def privacy_plan(prepared: PreparedData, mode: Mode) -> tuple[float | None, float, int, float]:
    """σ (``None`` for non-private modes), q, T and the calibration time for ``mode``."""
    config = prepared.config
    q, steps, _ = planned_steps(len(prepared.tensors.y), config.train_settings())
    if not mode.is_private:
        return None, q, steps, 0.0
    started = time.perf_counter()
    sigma = calibrate_sigma(config.epsilon, config.delta, q, steps, config.accountant,
                            training_relation(prepared, mode))
    return sigma, q, steps, time.perf_counter() - started


def _ledger(prepared: PreparedData, mode: Mode, sigma: float | None, q: float, steps: int,
            rep_clip: float | None) -> PrivacyLedger:
    ledger = _training_ledger(prepared, mode, sigma, q, steps, rep_clip)
    synthetic = prepared.splits.synthetic
    if synthetic is not None:
        # Both releases must be read under one relation about the sensitive values. dpsgd's own
        # relation (a whole row present or not) is not one: for a change of one row's sensitive
        # values its training is bounded by the replace-one ε of the same noise.
        relation = "replace" if mode.name == "dpsgd" else training_relation(prepared, mode)
        epsilon_train = ledger.epsilon_replace if mode.name == "dpsgd" else ledger.epsilon_spent
        total = compose_with_synthesizer(
            epsilon_train, ledger.delta or 0.0, synthetic.epsilon, synthetic.delta, synthetic.rho,
            synth_events=synthetic.events() if isinstance(synthetic, TwoStageSummary) else None,
            sigma=sigma, q=q, steps=steps, accountant=ledger.accountant, relation=relation)
        ledger.epsilon_syn, ledger.delta_syn, ledger.rho_syn = synthetic.epsilon, synthetic.delta, synthetic.rho
        ledger.synth_mechanism = synthetic.mechanism()
        ledger.epsilon_total, ledger.delta_total, ledger.composition = total.epsilon, total.delta, total.method
        if total.basic_epsilon is not None and total.epsilon != total.basic_epsilon:
            ledger.notes.append(f"basic composition would give ε_total = {total.basic_epsilon:.3g}")
        if relation == "replace" or ledger.epsilon_replace is None:
            ledger.epsilon_total_replace = ledger.epsilon_total
        else:  # the same total read under replace-one, the one relation every mode's total can be compared on
            ledger.epsilon_total_replace = compose_with_synthesizer(
                ledger.epsilon_replace, ledger.delta or 0.0, synthetic.epsilon, synthetic.delta, synthetic.rho,
                synth_events=synthetic.events() if isinstance(synthetic, TwoStageSummary) else None,
                sigma=sigma, q=q, steps=steps, accountant="pld", relation="replace").epsilon
    return ledger


def proxy_condition(proxies: tuple[str, ...]) -> str:
    """The clause that makes a claim about the sensitive values conditional on the preflight's proxies ('' without
    any): a public column that nearly determines a sensitive one releases it, whatever ε says."""
    if not proxies:
        return ""
    return f" — unless a public column is a proxy: the preflight found {len(proxies)} ({'; '.join(proxies)})"


def _training_ledger(prepared: PreparedData, mode: Mode, sigma: float | None, q: float, steps: int,
                     rep_clip: float | None) -> PrivacyLedger:
    config = prepared.config
    notes = [n for n in prepared.notes if "δ" in n]
    void = config.reproducible_noise and (mode.is_private or prepared.splits.synthetic is not None)
    if void:
        notes.insert(0, NO_GUARANTEE)
    unless = proxy_condition(prepared.proxies)
    if not mode.is_private:
        spent = None if mode.name == "sgd_ori" else 0.0
        if spent is None:
            notes.append("no privacy: trains on the real sensitive values")
        elif prepared.splits.synthetic is None:
            notes.append(f"ε = 0 for the sensitive columns: their real values never reach the model{unless}")
        else:
            notes.append("training spends ε = 0 on the sensitive columns; their real values reach the model only "
                         f"through the DP-synthetic support set the imputer was fitted on (ε_syn){unless}")
        return PrivacyLedger(None, spent, None, None, None, steps, None, None, mode.adjacency, notes=notes,
                             reproducible_noise=void)
    relation = training_relation(prepared, mode)
    if relation != mode.relation:
        notes.append("accounted under replace-one: the imputation that defines FusionDP's removal relation was "
                     "fitted on the DP-synthetic support set, so it depends on the synthesizer's randomness and "
                     "cannot serve as a fixed neighbouring table")
    if relation == "replace" and config.accountant != "pld":
        notes.append("replace-one relation accounted by group privacy over the remove relation (conservative)")
    if mode.name == "dpsgd" and prepared.splits.synthetic is not None:
        notes.append("the DP-synthetic support set copies the training rows' public columns and label, and the "
                     "imputer and encoders are fitted on it: the model protects the sensitive values only (the "
                     "total ε, replace-one), not whole rows")
    if unless and (mode.name != "dpsgd" or prepared.splits.synthetic is not None):  # whole rows: proxies included
        notes.append(f"ε bounds what the model reveals about the sensitive values{unless}")
    return PrivacyLedger(
        epsilon_target=config.epsilon,
        epsilon_spent=epsilon_spent(sigma, q, steps, config.delta, config.accountant, relation),
        delta=config.delta, sigma=sigma, sampling_rate=q, steps=steps, max_grad_norm=config.max_grad_norm,
        accountant=config.accountant, adjacency=mode.adjacency_for(prepared.splits.synthetic is not None,
                                                                   prepared.tensors.channels is not None),
        epsilon_replace=epsilon_spent(sigma, q, steps, config.delta, "pld", "replace"),
        rep_clip=rep_clip, notes=notes, relation=relation, reproducible_noise=void,
    )


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
    with torch_threads(prepared.config.threads):
        outcomes = train_models(prepared.tensors, mode, prepared.config.train_settings(), seed=seed,
                                sigmas=[plan[0] for plan in plans], epsilon_at=epsilon_at, on_epoch=on_epoch,
                                should_stop=should_stop)
    fitted = []
    sampling_group = uuid.uuid4().hex[:12] if mode.is_private else None  # the models that shared their samples
    for run_prepared, (sigma, _, _, calibration_s), outcome in zip(runs, plans, outcomes, strict=True):
        ledger = _ledger(run_prepared, mode, sigma, q, outcome.steps_done, outcome.rep_clip)
        ledger.sampling_group = sampling_group
        ledger.statement = privacy_statement(ledger, run_prepared.spec, mode.name,
                                             public_part=run_prepared.public_part, proxies=run_prepared.proxies)
        timing = {"wall_time_s": round(outcome.wall_time_s, 3), "calibration_s": round(calibration_s, 3),
                  "impute_s": round(prepared.impute_s, 3),
                  "steps_per_s": round(outcome.steps_done / max(outcome.wall_time_s, 1e-9), 2),
                  "device": str(prepared.device), "models_in_lockstep": len(outcomes)}
        record = RunRecord(mode=mode.name, seed=seed, config=run_prepared.config.to_dict(), metrics=outcome.metrics,
                           privacy=ledger, imputer=prepared.imputer_summary(), timing=timing,
                           history=outcome.history, data=prepared.data_summary(), cancelled=outcome.cancelled)
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
