"""From a table of notes and a ``RunConfig`` with a ``TextSpec`` to the same ``PreparedData`` tables give.

``prepare_text`` splits the table as tables are split (seeded, label-stratified; a support
fraction, a split column or a separate public table of notes), detects the sensitive spans of
every note (``fusiondp.text.spans``), fits the hybrid-note generator and the notes' encoder on the
support notes only, and fills ``TrainTensors`` with four views of each note: real, hybrid
(surrogates: FusionDP's reference), uninformative (type placeholders: the feature-DP baseline's
view) and public-only (the public block: ``sgd_pub``). Training, accounting, ledgers, privacy
statements and records are then the tables' own.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from fusiondp.config import RunConfig
from fusiondp.data import load_table
from fusiondp.errors import ConfigError, DataError, SpecError
from fusiondp.impute import ImputerChoice, QualityReport
from fusiondp.impute.quality import ColumnQuality
from fusiondp.models import resolve_device
from fusiondp.prepared import (
    PreparedData,
    Progress,
    label_tensor,
    resolve_delta,
    torch_threads,
    training_size_note,
    training_task,
)
from fusiondp.spec import _did_you_mean
from fusiondp.split import Splits, split_table
from fusiondp.text.detectors import describe
from fusiondp.text.features import NoteVectorizer, hybrid_tokens, placeholder_tokens, real_tokens
from fusiondp.text.hybrid import CROSS_FIT_FOLDS, GENERATOR, HybridNote, HybridNoteGenerator, parse_notes
from fusiondp.text.spec import SpanType, TextSpec
from fusiondp.train.loop import TrainTensors

PARTS = ("train", "val", "test")


def _no_progress(phase: str, fraction: float) -> None:
    """Nobody is listening."""


def check_text_table(spec: TextSpec, table: pd.DataFrame, what: str = "The table") -> pd.DataFrame:
    """``table`` with its text column as strings (empty for a missing note); errors name the column at fault."""
    columns = [str(c) for c in table.columns]
    for role, column in (("text column", spec.text_column), ("target", spec.target)):
        if column not in columns:
            raise SpecError(f"{what} has no {role} {column!r}.{_did_you_mean(column, columns)}")
    text = table[spec.text_column]
    written = text.dropna()
    if len(written) and not written.map(lambda v: isinstance(v, str)).all():
        raise DataError(f"Text column {spec.text_column!r} holds non-text values (e.g. "
                        f"{written[~written.map(lambda v: isinstance(v, str))].iloc[0]!r}); name the column that "
                        "holds the notes.")
    return table.assign(**{spec.text_column: text.fillna("").astype(str)})


def split_notes(config: RunConfig, table: pd.DataFrame, support: pd.DataFrame | None = None) -> Splits:
    """Split a table of notes as ``fusiondp.split.split_table`` splits tables."""
    spec = _text_spec(config)
    keep = [spec.text_column, spec.target, *([config.split_column] if config.split_column else [])]
    table = check_text_table(spec, table)[keep]
    if support is not None:
        support = check_text_table(spec, support, "The support table")[[spec.text_column, spec.target]]
    with torch_threads(config.threads):
        return split_table(table, spec.split_spec(), support_fraction=config.support_fraction,
                           val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                           seed=config.split_seed, support=support, split_column=config.split_column)


def _text_spec(config: RunConfig) -> TextSpec:
    if config.text is None:
        raise SpecError("No text spec: name the text column, the target and the sensitive span types.")
    return config.text


def prepare_text(config: RunConfig, table: pd.DataFrame | None = None, support: pd.DataFrame | None = None,
                 progress: Progress | None = None) -> PreparedData:
    """Load, split, generate hybrid notes and encode — each fitted on the support notes only."""
    report = progress or _no_progress
    report("split", 0.0)
    splits = load_notes(config, table, support)
    report("split", 1.0)
    config, splits = resolve_delta(config, splits)
    return prepare_note_splits(config, splits, progress)


def load_notes(config: RunConfig, table: pd.DataFrame | None = None, support: pd.DataFrame | None = None) -> Splits:
    """The notes named by (or given with) ``config``, split (``split_notes``)."""
    _text_spec(config)
    if table is None:
        if config.data is None:
            raise ConfigError("No table given: set `data` to a CSV/Parquet/Excel path.")
        table = load_table(config.data)
    if support is None and config.support_data:
        support = load_table(config.support_data)
    return split_notes(config, table, support)


def prepare_note_splits(config: RunConfig, splits: Splits, progress: Progress | None = None) -> PreparedData:
    """Spans, hybrid notes, encoder (support notes only), then the tensors of every view; ``config``'s δ resolved
    (``fusiondp.prepared.resolve_delta``)."""
    spec = _text_spec(config)
    notes = list(splits.notes)
    delta_note = training_size_note(config, len(splits.train), "note")
    if delta_note is not None:
        notes.append(delta_note)
    report = progress or _no_progress
    report("imputation", 0.0)
    started = time.perf_counter()
    text = spec.text_column
    generator = support_generator(config, splits)
    report("imputation", 0.5)
    hybrids = {part: generator.transform(getattr(splits, part)[text].tolist()) for part in PARTS}
    impute_s = time.perf_counter() - started
    report("imputation", 1.0)

    report("encoding", 0.0)
    support_parsed = parse_notes(splits.support[text].tolist(), spec.sensitive_spans, spec.detector)
    encoder = NoteVectorizer(spec).fit(support_parsed)
    device = resolve_device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    ledger_spec = spec.ledger_spec(splits.target_kind)
    task, classes = training_task(ledger_spec.model_copy(update={"target": spec.target}), splits)

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float32, device=device)

    def labels(frame: pd.DataFrame) -> torch.Tensor:
        return label_tensor(task, classes, frame[spec.target], device)

    def views(hybrid: list[HybridNote]) -> dict[str, np.ndarray]:
        parsed = [note.parsed for note in hybrid]
        public = encoder.public_block(parsed)
        return {"real": encoder.transform(public, [real_tokens(n) for n in parsed]),
                "hybrid": encoder.transform(public, [hybrid_tokens(n) for n in hybrid]),
                "blank": encoder.transform(public, [placeholder_tokens(n) for n in parsed])}

    train, val, test = (views(hybrids[part]) for part in PARTS)
    support_views = views(generator.cross_fitted_)
    tensors = TrainTensors(
        x_real=tensor(train["real"]), x_hybrid=tensor(train["hybrid"]), x_blank=tensor(train["blank"]),
        y=labels(splits.train), x_val_hybrid=tensor(val["hybrid"]), y_val=labels(splits.val),
        x_test=tensor(test["real"]), y_test=labels(splits.test),
        support_real=tensor(support_views["real"]), support_hybrid=tensor(support_views["hybrid"]),
        support_blank=tensor(support_views["blank"]),
        public_features=torch.as_tensor(encoder.public_features, device=device), task=task)
    report("encoding", 1.0)

    notes += span_notes(spec, generator, hybrids["train"])
    choice = generator_choice(generator, len(splits.support))
    hybrid_train = splits.train.assign(**{text: [note.text for note in hybrids["train"]]})
    return PreparedData(config, ledger_spec, splits, choice, generator_quality(generator, len(splits.support), text),
                        encoder, tensors, device, hybrid_train, impute_s, notes, public_part=spec.public_part())


def support_generator(config: RunConfig, splits: Splits) -> HybridNoteGenerator:
    """The run's hybrid-note generator: fitted on the support notes only, seeded by the split seed, so that a refit
    (the preview, the audit's baseline) is the run's own fit."""
    spec = _text_spec(config)
    return HybridNoteGenerator(spec.sensitive_spans, seed=config.split_seed, detector=spec.detector).fit(
        splits.support[spec.text_column].tolist())


def generator_choice(generator: HybridNoteGenerator, support_notes: int) -> ImputerChoice:
    """The generator as outputs name the imputer that made the hybrid view: what each span type got, and why."""
    return ImputerChoice("hybrid notes", f"hybrid notes: {generator.describe()}",
                         f"Span detector: {describe(generator.detector)}. Surrogate generator: {GENERATOR}, "
                         f"fitted on the {support_notes} support notes only.", {})


def span_notes(spec: TextSpec, generator: HybridNoteGenerator, train: list[HybridNote]) -> list[str]:
    """Public facts about the run's notes: the detector, what each span type got, and how many notes have spans.

    The share of training notes with spans counts detections, not values: which spans a note has is
    visible in every view (placeholders keep their place), so it is treated as public like the note's
    other words. How many notes equal their hybrid is not said: it compares the private spans' values
    with their surrogates.
    """
    with_spans = sum(bool(note.parsed.spans) for note in train)
    lines = [f"Span detector: {describe(spec.detector)}.",
             f"Hybrid notes: {GENERATOR}; per span type: "
             + "; ".join(f"{kind} → {choice.reason}" for kind, choice in generator.choices_.items()) + ".",
             f"{with_spans} of {len(train)} training notes have detected sensitive spans."]
    placeholders = [kind for kind, choice in generator.choices_.items() if choice.used == "placeholder"]
    if placeholders:
        lines.append("Placeholders, not predicted surrogates, stand in for: " + ", ".join(placeholders) + ".")
    return lines


def _surrogate_confusion(generator: HybridNoteGenerator, kind: SpanType) -> dict[str, list[Any]]:
    """``labels`` and ``matrix[value][surrogate]`` over the support notes with a span of ``kind`` (cross-fitted)."""
    pairs = [(note.parsed.attributes[kind], note.surrogates[kind]) for note in generator.cross_fitted_
             if kind in note.parsed.attributes and kind in note.surrogates]
    labels = sorted({value for pair in pairs for value in pair})
    real, surrogate = [value for value, _ in pairs], [value for _, value in pairs]
    return {"labels": labels, "matrix": confusion_matrix(real, surrogate, labels=labels).tolist()}


def generator_quality(generator: HybridNoteGenerator, support_notes: int, text_column: str) -> QualityReport:
    """The generator's cross-fitted accuracy per predicted span type beside the majority value, on support notes,
    with the confusion of each note's value and its cross-fitted surrogate (support notes: public)."""
    columns = []
    for kind, choice in generator.choices_.items():
        if choice.baseline_accuracy is None:
            continue
        model = None if choice.cv_accuracy is None else {"accuracy": choice.cv_accuracy,
                                                          "macro_f1": choice.cv_macro_f1}
        baseline = {"accuracy": choice.baseline_accuracy, "macro_f1": choice.baseline_macro_f1}
        columns.append(ColumnQuality(
            column=f"{kind} (note-level value)", kind="categorical", rows=choice.notes,
            metrics=model if choice.used == "model" and model is not None else baseline, baseline=baseline,
            selection={"value": {"used": choice.used, "reason": choice.reason, "metric": "accuracy",
                                 "model": None if model is None else model["accuracy"],
                                 "baseline": choice.baseline_accuracy}},
            confusion=_surrogate_confusion(generator, kind)))
    report = QualityReport(GENERATOR, support_notes, support_notes, columns, cross_fitted=CROSS_FIT_FOLDS,
                           text_column=text_column)
    report.notes = [f"{kind}: {choice.reason}" for kind, choice in generator.choices_.items()
                    if choice.used == "placeholder"]
    return report
