"""σ calibration time: ours (each accountant) vs opacus' ``get_noise_multiplier``.

The reference code bisected over opacus' RDP with ~1,100 orders; we time that too.
Usage: ``python -m benchmarks.bench_calibration``. Writes benchmarks/results/calibration.json.
"""

from __future__ import annotations

import math
import time

from opacus.accountants.utils import get_noise_multiplier

from benchmarks.common import print_table, write_results
from fusiondp.privacy.accounting import calibrate_sigma, epsilon_spent

ROWS, BATCH, EPOCHS, DELTA = 3058, 128, 13, 1e-5
REFERENCE_ORDERS = [1 + x / 100.0 for x in range(1, 1000)] + list(range(12, 112))


def timed(function) -> tuple[float, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def main() -> None:
    q = BATCH / ROWS
    steps = math.ceil(EPOCHS / q)
    rows = []
    for epsilon in (1.0, 4.0):
        for accountant in ("rdp", "prv", "pld"):
            epsilon_spent.cache_clear()
            sigma, seconds = timed(lambda a=accountant, e=epsilon: calibrate_sigma(e, DELTA, q, steps, a))
            rows.append({"epsilon": epsilon, "method": f"fusiondp {accountant}", "sigma": sigma, "seconds": seconds})
        sigma, seconds = timed(lambda e=epsilon: get_noise_multiplier(
            target_epsilon=e, target_delta=DELTA, sample_rate=q, steps=steps, accountant="rdp"))
        rows.append({"epsilon": epsilon, "method": "opacus get_noise_multiplier (rdp)", "sigma": sigma,
                     "seconds": seconds})
        sigma, seconds = timed(lambda e=epsilon: get_noise_multiplier(
            target_epsilon=e, target_delta=DELTA, sample_rate=q, steps=steps, accountant="rdp",
            alphas=REFERENCE_ORDERS))
        rows.append({"epsilon": epsilon, "method": "opacus rdp, 1,099 orders (reference)", "sigma": sigma,
                     "seconds": seconds})
    print(f"σ for target ε: N = {ROWS}, B = {BATCH}, {EPOCHS} epochs ({steps} steps), δ = {DELTA}")
    print_table(rows)
    print(f"\nwrote {write_results('calibration', {'rows': rows})}")


if __name__ == "__main__":
    main()
