"""A table's preparation: what the modes and seeds of a run share, computed once per table.

``prepare`` loads, validates, splits (``split_for``), imputes (fitted on the support set only), encodes (on
public information only) and moves tensors to the device (``prepare_splits``); ``channels_for`` applies that
preparation to other rows of the table. Training on it is ``fusiondp.runs``. The module is not named
``prepare``: importing a submodule sets it as an attribute of its package, which would hide the public
``fusiondp.prepare`` function.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor

import pandas as pd
import torch

from fusiondp.config import RunConfig
from fusiondp.data import load_table
from fusiondp.encode import TableEncoder
from fusiondp.errors import ConfigError, SpecError
from fusiondp.hybrid_data import attach_imputations, imputed_column, provided_imputations
from fusiondp.impute import Imputer, ImputerChoice, QualityReport, choose_imputer, quality_report
from fusiondp.impute.quality import describe_categories, unseen_categories
from fusiondp.modality import modality_of
from fusiondp.models import resolve_device
from fusiondp.prepared import (
    PROVIDED_PROVENANCE,
    EncodedView,
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
from fusiondp.reference import expected_encoding, imputation_channels, sensitive_block, shrink, shrinkage
from fusiondp.spec import TableSpec
from fusiondp.split import Splits, check_split_column, split_table, typed_like_support
from fusiondp.synth.settings import check_domains
from fusiondp.train.loop import ImputationChannels, TrainTensors
from fusiondp.train.settings import encodings_for

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


def prepare_splits(config: RunConfig, splits: Splits, progress: Progress | None = None,
                   executor: Executor | None = None) -> PreparedData:
    """Type the columns, impute and encode — each fitted on ``splits.support`` only — and move to the device.

    The imputer is fitted once, on the whole support set; its quality report, the reference view's λ and
    the support tensors behind C_h use its cross-fitted (out-of-fold) imputations of the support rows. Under
    ``numeric_encoding: auto`` the imputed table is then encoded once per encoding some mode reads
    (``encodings_for``; ``PreparedData.views``, ``PreparedData.for_mode``), so each mode trains at its own.
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

    device = resolve_device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    encodings = encodings_for(config.numeric_encoding)
    views = {}
    for done, encoding in enumerate(encodings):  # everything before this is the same for every encoding
        report("encoding", done / len(encodings))
        views[encoding] = _encoded_view(encoding, spec, splits, scored, scored_imputed, scored_states, hybrid, states,
                                        device)
    report("encoding", 1.0)
    primary = views[encodings[0]]
    return PreparedData(config, spec, splits, choice, quality, primary.encoder, primary.tensors, device,
                        hybrid["train"], impute_s, notes, fitted_imputer=imputer, shrinkage=primary.shrinkage,
                        builtin_quality=builtin_quality, encoding=encodings[0],
                        views=views if config.numeric_encoding == "auto" else {})


def _encoded_view(encoding: str, spec: TableSpec, splits: Splits, scored: pd.DataFrame, scored_imputed: pd.DataFrame,
                  scored_states: dict[str, pd.DataFrame], hybrid: dict[str, pd.DataFrame],
                  states: dict[str, dict[str, pd.DataFrame]], device: torch.device) -> EncodedView:
    """The table encoded one way (``EncodedView``): the encoder fitted on the support set (public information), the
    views and labels as tensors on ``device``, and λ chosen on the encoded support rows."""
    encoder = TableEncoder(spec, encoding).fit(public_rows=splits.support, sensitive_rows=splits.support)
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
    return EncodedView(encoder, tensors, shrinkage_factors)


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


