"""FusionDP's imputation channels: the expected encoding of the imputation, shrunk toward "missing" per column.

On a table, FusionDP's model reads every row's sensitive columns twice: their real encoding, and
beside it, in input channels of their own, the imputation of them from the row's public columns.
The reference view of a row is its sensitive values missing and its imputation channels as they are,
so the private term ``ℓ(real) − ℓ(reference)`` is feature-level DP's correction to "missing", and the
public term trains the model, without noise, to use the imputation. The imputation sits in its own
channels rather than in place of the real values because the private term is clipped: where a row's
correction is clipped, part of the public term's pull on that row stays uncancelled, and with the
imputation in the real values' channels that residue taught the model the *imputed* values' relation
to the label in the channels the real values use (nafld, no noise: AUROC 0.775 clipped against 0.873
unclipped; ``benchmarks/bench_channels.py``). In channels of their own, the residue only trains the
model's use of the imputation, which real rows carry too. Two public choices shape the channels
(METHOD, docs/method.md):

1. **Expected encoding.** A categorical sensitive column's block is the imputer's class
   probabilities (the expected one-hot, "missing" included) rather than the one-hot of the most
   likely class, and a numeric column's missing indicator is the probability that it is missing.
   The expected one-hot minimises the squared error to the real one-hot given the public columns;
   a hard argmax imputes nearly everyone into the majority class when imputation is weak.
2. **Shrinkage.** Per sensitive column c, ``x̃ = d + λ_c (ê − d)`` with d the uninformative
   encoding (the value missing) and λ_c ∈ [0, 1] minimising the squared error to the real encoding
   on *support rows*, from their cross-fitted (out-of-fold) imputations (closed form). λ = 1 is the
   imputation, λ = 0 the feature-DP baseline's view: where imputation carries no information, the
   reference falls back to "missing".

Everything here is a function of public information — the support set, and the public columns
of the row being encoded — so the channels are the same in a row and its neighbour, and FusionDP's
private term is exactly zero for a row whose sensitive values are missing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fusiondp.encode import MISSING_LEVEL, TableEncoder


def expected_encoding(encoder: TableEncoder, imputed: pd.DataFrame,
                      states: Mapping[str, pd.DataFrame]) -> np.ndarray:
    """``encoder.transform(imputed)`` with soft blocks where the imputer gave state probabilities.

    ``states`` is an imputer's ``predict_proba_states`` for the same rows: per categorical column a
    probability per support state, per sometimes-missing numeric column the probability of missing.
    """
    encoded = encoder.transform(imputed)
    slices = encoder.column_slices()
    for column, probabilities in states.items():
        block = slices[column]
        by_state = {str(state): probabilities[state].to_numpy(dtype=np.float32) for state in probabilities.columns}
        if column in encoder.levels_:
            levels = encoder.levels_[column]
            if set(by_state) <= set(levels):
                encoded[:, block] = np.stack([by_state.get(level, np.zeros(len(imputed), np.float32))
                                              for level in levels], axis=1)
        elif MISSING_LEVEL in by_state and encoder.numeric_[column].missing_indicator:
            encoded[:, block.stop - 1] = by_state[MISSING_LEVEL]
    return encoded


def shrinkage(encoder: TableEncoder, real: np.ndarray, imputed: np.ndarray, blank: np.ndarray) -> dict[str, float]:
    """Per sensitive column, the λ ∈ [0, 1] minimising ‖real − (blank + λ (imputed − blank))‖² over these rows.

    Pass *support* rows (their real sensitive values are public), encoded three ways, with ``imputed`` made
    by fits that did not see them (cross-fitted): an in-sample imputation looks better than it is and
    would push λ toward 1.
    """
    slices = encoder.column_slices()
    factors = {}
    for column in encoder.spec.sensitive:
        block = slices[column]
        step = (imputed[:, block] - blank[:, block]).astype(np.float64)
        target = (real[:, block] - blank[:, block]).astype(np.float64)
        energy = float((step * step).sum())
        factors[column] = float(np.clip((step * target).sum() / energy, 0.0, 1.0)) if energy > 0 else 0.0
    return factors


def shrink(encoder: TableEncoder, imputed: np.ndarray, blank: np.ndarray, factors: Mapping[str, float]) -> np.ndarray:
    """``blank + λ_c (imputed − blank)`` on each sensitive column's block; public features untouched."""
    shrunk = imputed.copy()
    for column, block in encoder.column_slices().items():
        if column in factors:
            shrunk[:, block] = blank[:, block] + factors[column] * (imputed[:, block] - blank[:, block])
    return shrunk


def sensitive_block(encoder: TableEncoder, encoded: np.ndarray) -> np.ndarray:
    """The sensitive features of an encoding (the encoder puts every public feature before every sensitive one)."""
    return encoded[:, encoder.public_width_:]


def imputation_channels(encoder: TableEncoder, imputed: pd.DataFrame, states: Mapping[str, pd.DataFrame],
                        rows: pd.DataFrame, factors: Mapping[str, float]) -> np.ndarray:
    """The channels FusionDP's model reads beside the real values of ``rows``: the sensitive block of their
    expected encoding (``imputed`` with the imputer's ``states`` for the same rows), shrunk by ``factors``."""
    blank = encoder.transform_uninformative(rows)
    return sensitive_block(encoder, shrink(encoder, expected_encoding(encoder, imputed, states), blank, factors))
