"""Verdicts: the plain-language lines printed beside a run's table."""

from __future__ import annotations

import pandas as pd

from fusiondp.verdicts import verdicts


def summary(rows: list[tuple[str, float | None, float, float, float]], seeds: int = 3) -> pd.DataFrame:
    return pd.DataFrame([{"mode": m, "epsilon": e, "auroc_mean": a, "auroc_sd": sd, "f1_mean": f1, "seeds": seeds}
                         for m, e, a, sd, f1 in rows])


def test_a_model_that_never_predicts_positive_is_named() -> None:
    lines = verdicts(summary([("dpsgd", 1.0, 0.78, 0.01, 0.0), ("fusiondp", 1.0, 0.80, 0.01, 0.3)]))
    assert len(lines) == 1 and lines[0].startswith("dpsgd: F1 = 0")


def test_a_zero_epsilon_reference_beating_fusiondp_is_called_out_only_beyond_the_spread() -> None:
    clear = summary([("sgd_pub", None, 0.85, 0.005, 0.4), ("fusiondp", 1.0, 0.80, 0.01, 0.3),
                     ("fusiondp", 4.0, 0.86, 0.01, 0.3)])
    (line,) = verdicts(clear)
    assert line.startswith("sgd_pub") and "ε = 1 " in line and "4" not in line.split("at ε =")[1].split("by")[0]
    within = summary([("sgd_pub", None, 0.81, 0.01, 0.4), ("fusiondp", 1.0, 0.80, 0.01, 0.3)])
    assert verdicts(within) == []


def test_one_seed_claims_no_comparison() -> None:
    rows = [("sgd_pub", None, 0.9, 0.0, 0.4), ("dpsgd", 1.0, 0.9, 0.0, 0.4), ("fusiondp", 1.0, 0.7, 0.0, 0.3)]
    assert verdicts(summary(rows, seeds=1)) == []
    assert len(verdicts(summary([(m, e, a, 0.01, f) for m, e, a, _, f in rows]))) == 2
