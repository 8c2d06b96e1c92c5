"""Shared set-up for the benchmarks: the prepared sample data and a JSON writer."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fusiondp.config import RunConfig
from fusiondp.preparation import prepare
from fusiondp.prepared import PreparedData
from fusiondp.record import write_json_atomic
from fusiondp.spec import TableSpec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE_CSV = ROOT / "sample_data" / "nhanes_diabetes.csv"
SAMPLE_SPEC = ROOT / "sample_data" / "nhanes_diabetes.spec.yaml"


def sample_config(**overrides: Any) -> RunConfig:
    return RunConfig.build(data=str(SAMPLE_CSV), spec=TableSpec.from_yaml(SAMPLE_SPEC), imputer="gbdt", **overrides)


def prepared_sample(**overrides: Any) -> PreparedData:
    return prepare(sample_config(**overrides))


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_threads_available": torch.get_num_threads(), "cuda": torch.cuda.is_available()}


def interleaved_medians(functions: dict[str, Callable[[], Any]], repeats: int, warmup: int = 5) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved so load changes hit all alike."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """``benchmarks/results/NAME.json``, strict JSON (an undefined figure such as a non-private run's ε is null)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"machine": machine(), **payload})
    return path


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = list(rows[0])
    cells = [[f"{r[h]:.4g}" if isinstance(r[h], float) else str(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))
