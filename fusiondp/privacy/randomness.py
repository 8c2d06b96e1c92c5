"""Protective randomness: the draws a DP guarantee rests on, secret and independent (METHOD.md §5c).

A DP guarantee assumes the reader does not know the mechanism's random draws. If the Poisson samples
and the Gaussian noise ξ came from the published seed, anyone could retrain with each candidate value
of a row and find the one that reproduces the released model exactly; if two released models shared
ξ, a linear combination of their parameters would cancel it. So every protective draw — Poisson
sampling, the noise ξ of DP-SGD, a synthesizer's noise, DP selection noise — comes from a generator
seeded from the operating system's entropy (``secrets``), one per model and mechanism, and that seed
is written nowhere. The user's seed keeps governing what need not be secret: initialisation, splits,
public batches.

``reproducible_noise`` (a config field, CLI flag and estimator parameter) derives these streams from the
seed instead, for teaching, tests and benchmarks. Its outputs carry no DP guarantee, and every ledger,
statement, report and dashboard view made with it says so (``NO_GUARANTEE``).

What this does not defend: the streams are torch's and numpy's ordinary generators (Philox / Mersenne
Twister / PCG64) with a secret 63-bit seed, not a cryptographic stream; an attacker who can observe the
process's memory, or recover the generator's state from many of its outputs, is outside the model.
Opacus' ``secure_mode`` (a CSPRNG via torchcsprng) cannot be installed beside torch 2.x.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

NO_GUARANTEE = ("no DP guarantee: reproducible_noise is on, so the sampling and noise can be regenerated from the "
                "seed and every ε printed here is void; use it for teaching and benchmarks only")
"""The line every output made with reproducible noise carries."""


def protective_seed(reproducible_key: tuple[object, ...] | None) -> int:
    """A 63-bit seed for one protective stream.

    ``None`` (the default everywhere): fresh from the OS's entropy, returned to the caller only, never
    stored in a record. A key (``reproducible_noise``): derived from it by SHA-256, so the same seed,
    mode and model give the same stream and different keys independent-looking ones.
    """
    if reproducible_key is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(repr(reproducible_key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def protective_torch_generator(device: torch.device | str,
                               reproducible_key: tuple[object, ...] | None) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by ``protective_seed`` (torch is imported here, on use)."""
    import torch

    return torch.Generator(device=device).manual_seed(protective_seed(reproducible_key))


def protective_numpy_generator(reproducible_key: tuple[object, ...] | None) -> np.random.Generator:
    """A numpy ``Generator`` seeded by ``protective_seed``: the synthesizers' and selections' noise."""
    return np.random.default_rng(protective_seed(reproducible_key))
