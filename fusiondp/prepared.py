"""What the table and the notes pipelines share: the data a run's modes and seeds train on, and what builds it.

``fusiondp.preparation`` prepares a table and ``fusiondp.text.pipeline`` a table of notes; both fill the same
``PreparedData`` (training, accounting, ledgers and records are then shared) with the same training task and
labels, check the training units against the batch size and δ the same way, and resolve a δ left to N the same
way. These live here, apart from both pipelines, so that the notes' pipeline does not import the table pipeline
that hands notes over to it (``fusiondp.modality``): neither imports the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from fusiondp.config import RunConfig
from fusiondp.encode import TableEncoder
from fusiondp.errors import ConfigError, DataError
from fusiondp.impute import Imputer, ImputerChoice, QualityReport
from fusiondp.privacy.accounting import DEFAULT_DELTA, default_delta
from fusiondp.spec import TableSpec, split_labels
from fusiondp.split import Splits
from fusiondp.task import BINARY, Task, label_scaling, support_classes
from fusiondp.train.loop import TrainTensors
from fusiondp.train.settings import DEFAULT_ENCODING, encoding_for

if TYPE_CHECKING:
    from fusiondp.privacy.preflight import Finding


PROVIDED_PROVENANCE = (
    "the user's statement, not checked by FusionDP: the imputations must have been computed from the public "
    "columns only, by a model fitted on a public support set (never on the private rows' sensitive values)"
)
"""What FusionDP knows about where user-provided imputations (``hybrid_data``) come from; shown with them."""


Progress = Callable[[str, float], None]
"""``progress(phase, fraction)``: 0 when a phase starts, 1 when it is done, values between as it goes.

Phases: ``split`` (or ``synthesis`` when a DP-synthetic support set is made), ``imputation``, ``encoding``;
front ends add their own (``preflight``, ``σ calibration``)."""


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` intra-op CPU threads, restoring the previous setting."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class EncodedView:
    """A table encoded one way (``RunConfig.numeric_encoding``): its encoder, the tensors the modes train on and the
    reference view's λ (chosen on encoded support rows). Everything before encoding (split, imputation, quality) is
    the same for every encoding, so a preparation under ``auto`` holds one view per encoding after one imputation."""

    encoder: TableEncoder
    tensors: TrainTensors
    shrinkage: dict[str, float]


@dataclass
class PreparedData:
    """Everything a run's modes and seeds share. All of it is public information."""

    config: RunConfig
    spec: TableSpec
    splits: Splits
    imputer: ImputerChoice
    quality: QualityReport
    encoder: TableEncoder
    """The encoder of ``encoding``; under ``numeric_encoding: auto`` a mode's own is ``for_mode(mode).encoder``."""
    tensors: TrainTensors
    """The views at ``encoding``; under ``numeric_encoding: auto`` a mode's own are ``for_mode(mode).tensors``."""
    device: torch.device
    hybrid_train: pd.DataFrame
    impute_s: float
    notes: list[str] = field(default_factory=list)
    fitted_imputer: Imputer | None = None
    """The imputer fitted on the whole support set (reads only public columns of what it imputes)."""
    shrinkage: dict[str, float] = field(default_factory=dict)
    """Per sensitive column, λ of FusionDP's imputation channels (``fusiondp.reference``), chosen on support rows."""
    builtin_quality: QualityReport | None = None
    """With user-provided imputations (``hybrid_data``): the built-in imputer's cross-fitted report on the same
    support rows, beside ``quality`` (the provided imputations' own), so that the two can be compared."""
    public_part: str | None = None
    """What is public besides the label when it is not a set of columns (notes: the words outside the spans)."""
    preflight: list[Finding] = field(default_factory=list)
    """The privacy preflight's findings, when a front end ran it (``fusiondp.privacy.preflight.preflight``)."""
    encoding: str = DEFAULT_ENCODING
    """The numeric encoding ``encoder`` and ``tensors`` hold (notes: the default, unread)."""
    views: dict[str, EncodedView] = field(default_factory=dict)
    """Under ``numeric_encoding: auto``, every encoding some mode reads, by name (``encodings_for``); empty when the
    config names one encoding, or for notes. ``for_mode`` picks a mode's."""

    def for_mode(self, mode: str) -> PreparedData:
        """This preparation as ``mode`` trains on it: under ``numeric_encoding: auto``, the encoding the protocol
        chose for it (``encoding_for``), with the config naming that encoding, so that its training settings (the
        noise level is chosen per encoding), records and audits say which; otherwise itself. Every entry point
        that trains, accounts for or reads a model of ``mode`` calls this (``fusiondp.runs``, ``fusiondp.ledger``,
        the audit); it is idempotent, and a resolved preparation serves its own mode only."""
        if self.config.numeric_encoding != "auto":
            return self
        if not self.views:  # notes: nothing numeric was encoded
            return dataclasses.replace(self, config=self.config.model_copy(update={"numeric_encoding": self.encoding}))
        encoding = encoding_for("auto", mode)
        view = self.views[encoding]
        return dataclasses.replace(self, config=self.config.model_copy(update={"numeric_encoding": encoding}),
                                   encoder=view.encoder, tensors=view.tensors, shrinkage=view.shrinkage,
                                   encoding=encoding)

    @property
    def proxies(self) -> tuple[str, ...]:
        """The preflight's high-severity proxies, each in a few words: a public column (or several) that nearly
        determines a sensitive one releases it without noise, so every "the sensitive values never reach the
        model" holds only without them."""
        return tuple(f"{f.columns[0]!r} predicts {f.columns[1]!r}" if f.code == "proxy"
                     else f"the public columns together predict {f.columns[0]!r}"
                     for f in self.preflight if f.severity == "high" and f.code in ("proxy", "joint_proxy"))

    @property
    def channel_shrinkage(self) -> dict[str, float]:
        """λ per sensitive column of the imputation channels as fusiondp, the mode that reads them, reads them: under
        ``numeric_encoding: auto`` at its own encoding, whichever mode this preparation was resolved for, so that
        every record and report of a run names the same λ."""
        return self.views[encoding_for("auto", "fusiondp")].shrinkage if self.views else self.shrinkage

    def data_summary(self) -> dict[str, Any]:
        synthetic = self.splits.synthetic
        return {"source": self.config.data, "sizes": self.splits.sizes(), "support_source": self.splits.support_source,
                "synthetic_support": synthetic.to_dict() if synthetic else None,
                "n_features": self.encoder.n_features, "numeric_columns": len(self.spec.numeric), "notes": self.notes}

    def imputer_summary(self) -> dict[str, Any]:
        summary = {**self.imputer.to_dict(), "impute_s": round(self.impute_s, 3), "quality": self.quality.to_dict(),
                   "reference_shrinkage": {column: round(value, 4) for column, value in self.channel_shrinkage.items()}}
        if self.builtin_quality is not None:
            summary.update(hybrid_data=self.config.hybrid_data, provenance=PROVIDED_PROVENANCE,
                           builtin_quality=self.builtin_quality.to_dict())
        return summary


def float_tensor(array: Any, device: torch.device) -> torch.Tensor:
    """``array`` as float32 on ``device``: every view and label is trained in float32."""
    return torch.as_tensor(array, dtype=torch.float32, device=device)


def training_task(spec: TableSpec, splits: Splits) -> tuple[Task, list[Any]]:
    """The target kind's ``Task`` and the target values each label codes (class values; none for regression).

    Classes (multi-label: labels) are read from the support set's labels (``fusiondp.task.support_classes``:
    under ``dpsgd`` a training row's label is private, so no training row may decide the model's outputs);
    a regression label is standardised by the support rows' labels (``fusiondp.task.label_scaling``),
    clipped into the spec's ``target_bounds`` when it declares them.
    """
    support_target = splits.support[spec.target] if spec.target in splits.support.columns else pd.Series()
    if spec.target_kind == "regression":
        center, scale = label_scaling(support_target, spec.target, spec.target_bounds)
        return Task("regression", center=center, scale=scale, bounds=spec.target_bounds), []
    rows = pd.concat([splits.train[spec.target], splits.val[spec.target], splits.test[spec.target]],
                     ignore_index=True)
    classes = support_classes(spec, support_target, rows)
    if spec.target_kind == "multiclass":
        return Task("multiclass", len(classes)), classes
    if spec.target_kind == "multilabel":
        return Task("multilabel", len(classes), delimiter=spec.delimiter), classes
    return BINARY, classes


def label_tensor(task: Task, classes: list[Any], target: pd.Series, device: torch.device) -> torch.Tensor:
    """Labels as trained: binary 1.0 for the positive class, the class index, a 0/1 row per label (multilabel),
    or the standardised value (clipped into the task's declared bounds first)."""
    if task.kind == "binary":
        return float_tensor((target == classes[1]).to_numpy(dtype=float), device)
    if task.kind == "multiclass":
        codes = pd.Categorical(target, categories=classes).codes
        if (codes < 0).any():
            unseen = sorted({str(v) for v in target[codes < 0]})
            raise DataError(f"Target {target.name!r} has class(es) {unseen} outside the support set's classes; "
                            "give the support set rows of every class (merge or drop rare classes).")
        return float_tensor(codes.astype(float), device)
    if task.kind == "multilabel":
        return float_tensor(multilabel_indicators(task, classes, target), device)
    values = task.clip(pd.to_numeric(target, errors="coerce").to_numpy(dtype=float))
    return float_tensor((values - task.center) / task.scale, device)


def multilabel_indicators(task: Task, labels: list[Any], target: pd.Series) -> np.ndarray:
    """``(rows, labels)`` 0/1: which of the support set's ``labels`` (``training_task``) each row's target cell lists.

    A label outside them is one clear error, as an unseen class is (``training_task`` checks that the support set
    holds every label of the rows trained and scored on)."""
    index = {label: k for k, label in enumerate(labels)}
    indicators = np.zeros((len(target), task.classes))
    for row, cell in enumerate(split_labels(target, task.delimiter)):
        unseen = [label for label in cell if label not in index]
        if unseen:
            raise DataError(f"Target {target.name!r} has label(s) {unseen} outside the support set's labels; give "
                            "the support set rows of every label (merge or drop rare labels).")
        indicators[row, [index[label] for label in cell]] = 1.0
    return indicators


def training_size_note(config: RunConfig, n_train: int, unit: str) -> str | None:
    """Refuse a batch larger than the ``n_train`` private training ``unit``s; the note to add when δ ≥ 1/N."""
    if config.batch_size > n_train:
        raise ConfigError(f"batch_size {config.batch_size} exceeds the {n_train} private training {unit}s; lower it.")
    if config.delta >= 1 / n_train:
        return (f"δ = {config.delta:g} is not below 1/N = {1 / n_train:.2g}: a mechanism that publishes one {unit} "
                "at random would meet it. Use a smaller δ.")
    return None


def with_resolved_delta(config: RunConfig, n_rows: int) -> RunConfig:
    """``config`` with its δ: as given, or, left to N (``None``), ``default_delta`` of the table's ``n_rows``.

    Resolved where N is first known (the split, the preparation), so that training, the ledger and the saved
    config.yaml all hold the δ used, and a rerun from that file uses it again.
    """
    if config.delta is not None:
        return config
    return config.model_copy(update={"delta": default_delta(n_rows)})


def delta_choice_note(delta: float, n_rows: int) -> str:
    """Which δ a run that named none got, and why: the front-ends print it, the ledger keeps it."""
    if delta == DEFAULT_DELTA:
        return f"δ = {delta:g} (the default: below 1/N = {1 / n_rows:.2g} for the table's {n_rows:,} rows)."
    return (f"δ = {delta:g}, not the usual {DEFAULT_DELTA:g}: the table has {n_rows:,} rows and δ must stay below "
            "1/N, so the default is 1/(10·N), rounded down. Set delta to choose another.")


def table_rows(splits: Splits) -> int:
    """The N of the default δ: the rows of the table split (its labelled parts and dropped rows if not recorded)."""
    return splits.table_rows if splits.table_rows is not None else sum(splits.sizes().values()) + splits.dropped_rows


def resolve_delta(config: RunConfig, splits: Splits) -> tuple[RunConfig, Splits]:
    """``config`` and ``splits`` as a preparation reads them: a δ left to N resolved for the table ``splits`` came
    from (``with_resolved_delta``), and ``splits`` noting which δ it got (``delta_choice_note``)."""
    if config.delta is not None:
        return config, splits
    n_rows = table_rows(splits)
    config = with_resolved_delta(config, n_rows)
    return config, dataclasses.replace(splits, notes=[*splits.notes, delta_choice_note(config.delta, n_rows)])
