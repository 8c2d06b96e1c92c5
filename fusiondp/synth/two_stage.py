"""A two-stage DP synthesizer for mixed-type tables: privacy encoding, then latent diffusion.

After the two-stage differentially private diffusion model (TDPDM, Information Sciences 732,
2026), made to work on tables: the budget is spent only in stage 1, and stage 2 is
post-processing.

Stage 1 — privacy encoding (the only code that reads private sensitive values):

1. every sensitive column is coded on its *declared* domain (one-hot over the declared
   categories) or *declared* bounds (one-hot over equal-width bins); public columns are coded on the
   training rows' public values, which are public by definition (METHOD.md §5);
2. a conditional autoencoder — encoder (sensitive, public) → latent z ∈ [−1, 1]^d (tanh),
   decoder (z, public) → sensitive — is trained with DP-SGD: Poisson sampling at rate q,
   per-row gradients clipped to norm C, Gaussian noise σ·C, T steps;
3. the latent description stage 2 needs is released through the Gaussian mechanism: the
   training rows are grouped by k-means on their *public* features (so groups and their
   sizes are public), and each group's sums of z and z² (per-row norm ≤ √(2d)) get noise
   of standard deviation σ_z·√(2d), with σ_z = ``LATENT_NOISE_FACTOR``·σ. The release is a
   DP Gaussian mixture in latent space: one component per public group.

Privacy: the relation is "one training row's sensitive values change arbitrarily" (it
covers FusionDP's replace-by-imputation relation), under which a clipped gradient or a
row's latent statistics move by up to twice their norm bound. The T DP-SGD steps and the
one latent release are composed with the chosen accountant under that replace relation —
``pld`` (dp-accounting, exact for Poisson sampling under replacement, the default), ``prv``
or ``rdp`` (opacus, which account add/remove only; the replace figure is their group-
privacy bound, conservative) — and σ is calibrated so the composition meets (ε_syn, δ_syn).

Stage 2 — latent diffusion (post-processing, no budget): a small DDPM with an MLP denoiser
learns p(z | public features) from latents drawn from the released mixture for the
training rows' public features. ``train_latent_diffusion`` receives only the stage-1
release and public features; a synthetic row's latent is sampled by reverse diffusion
given its public features and decoded by the DP decoder into values of the declared types
and categories.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from fusiondp.encode import TableEncoder
from fusiondp.errors import ConfigError, PrivacyError
from fusiondp.models import seeded_init
from fusiondp.privacy.accounting import GaussianSteps, check_budget, composed_epsilon, smallest_sigma
from fusiondp.privacy.randomness import protective_torch_generator
from fusiondp.spec import TableSpec
from fusiondp.synth.settings import SynthSettings, check_domains, declared_codes

HIDDEN = 64
"""Width of the autoencoder's hidden layers: a few thousand weights keep the DP noise per weight small."""
EXPECTED_BATCH = 256
"""Expected Poisson batch of stage 1's DP-SGD (q = 256 / N)."""
CLIP_NORM = 1.0
LEARNING_RATE = 3e-3
LATENT_JITTER = 0.1
"""Noise added to z while training the decoder, so it decodes stage 2's imperfect latents gracefully."""
LATENT_NOISE_FACTOR = 2.0
"""σ_z / σ: the latent sums aggregate hundreds of rows per group, so they tolerate more noise than a gradient."""
MAX_GROUPS = 8
MIN_GROUP_ROWS = 50
"""Groups are capped so that each holds about this many rows: fewer rows drown their moments in noise."""
VARIANCE_FLOOR = 1e-3
DIFFUSION_LEVELS = 50
DIFFUSION_ITERATIONS = 1500
DIFFUSION_BATCH = 512
DIFFUSION_HIDDEN = 128
TIME_FEATURES = 16


@dataclass(frozen=True)
class LatentMixture:
    """Stage 1's DP latent description: one Gaussian per public group (released with noise)."""

    centers: np.ndarray
    """Group centres in public-feature space (k-means on public features: public)."""
    means: np.ndarray
    variances: np.ndarray

    def groups(self, public_features: np.ndarray) -> np.ndarray:
        """Each row's group: its nearest centre (a function of public features only)."""
        distances = ((public_features[:, None, :] - self.centers[None, :, :]) ** 2).sum(axis=2)
        return distances.argmin(axis=1)

    def sample(self, public_features: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        """One latent per row from its group's Gaussian, clipped to [−1, 1] (what stage 2 learns from)."""
        group = torch.from_numpy(self.groups(public_features))
        means = torch.from_numpy(self.means).float()[group]
        scales = torch.from_numpy(np.sqrt(self.variances)).float()[group]
        return (means + scales * torch.randn(means.shape, generator=generator)).clamp(-1.0, 1.0)


@dataclass
class TwoStageSummary:
    """The public facts of one two-stage synthesis, for the data summary, the ledger and the report."""

    epsilon: float
    """ε_syn spent (by ``accountant``, under the replace relation); at most the target."""
    delta: float
    rows: int
    sigma: float
    """Stage 1's DP-SGD noise multiplier."""
    sampling_rate: float
    steps: int
    max_grad_norm: float
    latent_sigma: float
    """Noise multiplier of the latent-mixture release."""
    groups: int
    latent_dim: int
    accountant: str
    epsilon_by_accountant: dict[str, float | None] = field(default_factory=dict)
    """The same releases accounted by each accountant at δ_syn (replace relation); ``None``: it failed."""
    seconds: dict[str, float] = field(default_factory=dict)
    diffusion: bool = True
    """``False`` for the ablation that draws latents straight from the released mixture."""
    method: str = "two_stage"

    @property
    def rho(self) -> None:
        """No zCDP parameter: this synthesizer is accounted as Gaussian releases (``events``)."""
        return None

    def events(self) -> tuple[GaussianSteps, ...]:
        """The Gaussian releases of stage 1, for composing with training (replace relation)."""
        return (GaussianSteps(self.sigma, self.sampling_rate, self.steps), GaussianSteps(self.latent_sigma, 1.0, 1))

    def describe(self) -> str:
        latents = ("sampled by a diffusion model trained on stage-1 outputs only" if self.diffusion
                   else "drawn from the DP latent mixture (no diffusion stage)")
        return (f"DP-synthetic, two-stage ({self.rows} rows: the private training rows' public columns with "
                f"sensitive values decoded from latents {latents}; stage 1: DP-SGD autoencoder, "
                f"σ = {self.sigma:.3g}, q = {self.sampling_rate:.3g}, "
                f"{self.steps} steps, C = {self.max_grad_norm:g}, plus a {self.groups}-component latent mixture "
                f"released with σ = {self.latent_sigma:.3g}; ε_syn = {self.epsilon:.3g}, δ_syn = {self.delta:g} "
                f"({self.accountant}, replace relation))")

    def mechanism(self) -> str:
        return (f"two stages: a DP-SGD autoencoder, σ = {self.sigma:.3g}, q = {self.sampling_rate:.3g}, {self.steps} "
                f"steps, and a noisy latent mixture, σ = {self.latent_sigma:.3g}, accounted by {self.accountant} "
                "under replacement of one row's sensitive values"
                + ("; the diffusion stage is post-processing" if self.diffusion else ""))

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "rho": None}


class _SensitiveCoding:
    """Sensitive columns as one-hot codes on public terms: declared categories, or equal-width bins of the bounds.

    The decoder gives a categorical column one logit per declared category, and a numeric
    column an ordinal (cumulative-logit) distribution over ``settings.bins`` bins of its
    declared range: one location output shifted by the public columns and the latent, plus
    learned thresholds. The bins fit the spikes, floors and ceilings of real measurements
    (top-coded income, ages capped at 80) that a Gaussian output cannot; the single location
    keeps the dependence on the public columns to one output per column, which DP-SGD's
    noise can still learn. A value outside the declared domain, or missing, is all zeros
    with its observed flag off, so it adds nothing to the reconstruction loss.
    """

    def __init__(self, spec: TableSpec, settings: SynthSettings) -> None:
        self.spec, self.settings = spec, settings
        self.columns = list(spec.sensitive)
        self.domains = {c: list(settings.domains[c]) for c in self.columns if spec.is_categorical(c)}
        self.bounds = {c: tuple(float(b) for b in settings.bounds[c]) for c in self.columns if c not in self.domains}
        self.bins = settings.bins
        self.sizes = [len(self.domains[c]) if c in self.domains else self.bins for c in self.columns]
        self.width = sum(self.sizes)
        self.outputs = [len(self.domains[c]) if c in self.domains else 1 for c in self.columns]
        """Decoder outputs per column: one logit per category, one ordinal location per numeric column."""

    def encode(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(one-hot values with ``width`` columns, one observed flag per sensitive column)."""
        values = np.zeros((len(frame), self.width), dtype=np.float32)
        observed = np.zeros((len(frame), len(self.columns)), dtype=np.float32)
        offset = 0
        for j, (column, size) in enumerate(zip(self.columns, self.sizes, strict=True)):
            codes = declared_codes(self.spec, self.settings, column, frame[column])
            known = np.flatnonzero(codes >= 0)
            values[known, offset + codes[known]] = 1.0
            observed[known, j] = 1.0
            offset += size
        return values, observed

    def decode(self, probabilities: list[torch.Tensor], generator: torch.Generator) -> pd.DataFrame:
        """Draw a level per column; a numeric bin becomes a uniform value within it."""
        columns: dict[str, Any] = {}
        for column, probability in zip(self.columns, probabilities, strict=True):
            picked = torch.multinomial(probability, 1, generator=generator)[:, 0]
            if column in self.domains:
                columns[column] = [self.domains[column][i] for i in picked.numpy()]
            else:
                low, high = self.bounds[column]
                within = torch.rand(len(picked), generator=generator, dtype=torch.float64)
                columns[column] = (low + (picked.double() + within) * (high - low) / self.bins).numpy()
        return pd.DataFrame(columns)


class _Autoencoder(nn.Module):
    """Encoder (sensitive, observed, public) → z ∈ [−1, 1]^d; decoder (z, public) → one distribution per column."""

    def __init__(self, coding: _SensitiveCoding, public_width: int, latent_dim: int) -> None:
        super().__init__()
        self.sizes, self.outputs = list(coding.sizes), list(coding.outputs)
        self.ordinal = [column not in coding.domains for column in coding.columns]
        self.encoder = nn.Sequential(nn.Linear(coding.width + len(coding.sizes) + public_width, HIDDEN), nn.SiLU(),
                                     nn.Linear(HIDDEN, latent_dim), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(latent_dim + public_width, HIDDEN), nn.SiLU(),
                                     nn.Linear(HIDDEN, sum(coding.outputs)))
        ordinal = sum(self.ordinal)
        self.first_threshold = nn.Parameter(torch.full((ordinal, 1), -2.0))
        self.threshold_gaps = nn.Parameter(torch.full((ordinal, coding.bins - 2), math.log(math.expm1(0.5))))

    def encode(self, values: torch.Tensor, observed: torch.Tensor, public: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([values, observed, public], dim=1))

    def log_probabilities(self, latent: torch.Tensor, public: torch.Tensor) -> list[torch.Tensor]:
        """Per column, log-probabilities of its levels (softmax, or cumulative logits for a numeric column)."""
        outputs = self.decoder(torch.cat([latent, public], dim=1))
        thresholds = torch.cat([self.first_threshold, self.first_threshold + torch.cumsum(
            nn.functional.softplus(self.threshold_gaps), dim=1)], dim=1)
        result, offset, k = [], 0, 0
        for width, ordinal in zip(self.outputs, self.ordinal, strict=True):
            block = outputs[:, offset:offset + width]
            offset += width
            if not ordinal:
                result.append(torch.log_softmax(block, dim=1))
                continue
            below = torch.sigmoid(thresholds[k][None, :] - block)
            k += 1
            edges = torch.cat([torch.zeros_like(block), below, torch.ones_like(block)], dim=1)
            result.append(torch.log((edges[:, 1:] - edges[:, :-1]).clamp(min=1e-6)))
        return result

    def forward(self, values: torch.Tensor, observed: torch.Tensor, public: torch.Tensor,
                jitter: torch.Tensor) -> torch.Tensor:
        """Per-row reconstruction loss: the negative log-likelihood of every observed column's level."""
        log_p = self.log_probabilities(self.encode(values, observed, public) + jitter, public)
        loss = torch.zeros(len(values))
        offset = 0
        for size, column_log_p in zip(self.sizes, log_p, strict=True):
            loss = loss - (values[:, offset:offset + size] * column_log_p).sum(dim=1)
            offset += size
        return loss


@dataclass
class _Stage1Release:
    """Everything stage 1 releases; all of it is differentially private."""

    model: _Autoencoder
    mixture: LatentMixture
    sigma: float
    sampling_rate: float
    steps: int
    epsilon_by_accountant: dict[str, float | None]


class TwoStageSynthesizer:
    """A DP-SGD autoencoder and a DP latent mixture (stage 1), then a latent diffusion model (stage 2).

    ``fit`` reads the private sensitive values only inside ``_privacy_encoding`` (through
    clipped, noised gradients and one noisy latent release); stage 2 and ``sample`` see the
    release and public columns only.
    """

    def __init__(self, spec: TableSpec, settings: SynthSettings) -> None:
        self.spec = spec
        self.settings = settings
        check_domains(spec, settings)
        try:
            check_budget(settings.epsilon, settings.delta)
        except PrivacyError as exc:
            raise PrivacyError(f"ε_syn / δ_syn of the two-stage synthesizer: {exc}") from exc
        if not 1 <= settings.latent_dim <= 32:
            raise ConfigError(f"synth_latent_dim must be between 1 and 32; got {settings.latent_dim}.")
        if settings.epochs < 1:
            raise ConfigError(f"synth_epochs must be at least 1; got {settings.epochs}.")
        self.coding = _SensitiveCoding(spec, settings)
        self.seconds: dict[str, float] = {}

    def fit(self, train: pd.DataFrame) -> TwoStageSynthesizer:
        """Stage 1 on ``train`` (DP), then stage 2 on the stage-1 release and public features only."""
        generator = torch.Generator().manual_seed(self.settings.seed)
        self.public_encoder_ = _fit_public_encoder(self.spec, train)
        public = _public_features(self.public_encoder_, self.spec, train)
        started = time.perf_counter()
        self.release_ = self._privacy_encoding(train, public, generator)
        self.seconds["stage1"] = time.perf_counter() - started
        started = time.perf_counter()
        self.denoiser_ = (train_latent_diffusion(self.release_.mixture, public, self.settings.seed)
                          if self.settings.diffusion else None)
        self.seconds["stage2"] = time.perf_counter() - started
        return self

    def _privacy_encoding(self, train: pd.DataFrame, public: np.ndarray,
                          generator: torch.Generator) -> _Stage1Release:
        values_np, observed_np = self.coding.encode(train)
        values, observed = torch.from_numpy(values_np), torch.from_numpy(observed_np)
        public_t = torch.from_numpy(public)
        rows = len(train)
        q = min(1.0, EXPECTED_BATCH / rows)
        steps = max(1, math.ceil(self.settings.epochs / q))
        sigma = self._calibrate(q, steps)
        model = _Autoencoder(self.coding, public.shape[1], self.settings.latent_dim)
        seeded_init(model, generator)
        # the DP-SGD sampling and noise, and the mixture's noise: secret unless reproducible_noise
        protective = protective_torch_generator(
            "cpu", (self.settings.seed, "two_stage") if self.settings.reproducible_noise else None)
        _dp_sgd(model, (values, observed, public_t), q, steps, sigma, protective)
        latent_sigma = LATENT_NOISE_FACTOR * sigma
        with torch.no_grad():
            latents = model.encode(values, observed, public_t).numpy().astype(float)
        mixture = _release_mixture(latents, public, latent_sigma, self.settings.seed, protective)
        events = (GaussianSteps(sigma, q, steps), GaussianSteps(latent_sigma, 1.0, 1))
        return _Stage1Release(model, mixture, sigma, q, steps, _epsilon_by_accountant(events, self.settings.delta))

    def _calibrate(self, q: float, steps: int) -> float:
        settings = self.settings

        def eps(sigma: float) -> float:
            events = (GaussianSteps(sigma, q, steps), GaussianSteps(LATENT_NOISE_FACTOR * sigma, 1.0, 1))
            try:
                return composed_epsilon(events, settings.delta, settings.accountant, "replace")
            except PrivacyError:
                return math.inf  # PRV fails only far above the target: the noise is too small.

        return smallest_sigma(eps, settings.epsilon, 1e-3, f"by the two-stage synthesizer with {steps} steps",
                              "Raise epsilon_syn or lower synth_epochs.")

    def sample(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows``' public columns and target, with sensitive values decoded from diffusion-sampled latents."""
        if not hasattr(self, "denoiser_"):
            raise RuntimeError("TwoStageSynthesizer.sample called before fit")
        generator = torch.Generator().manual_seed(self.settings.seed + 1)
        public = _public_features(self.public_encoder_, self.spec, rows)
        latents = (sample_latents(self.denoiser_, public, generator) if self.denoiser_ is not None
                   else self.release_.mixture.sample(public, generator))
        with torch.no_grad():
            log_p = self.release_.model.log_probabilities(latents, torch.from_numpy(public))
            sensitive = self.coding.decode([lp.exp() for lp in log_p], generator)
        synthetic = rows[[*self.spec.public, self.spec.target]].reset_index(drop=True).copy()
        for column in self.spec.sensitive:
            synthetic[column] = sensitive[column]
        return synthetic[[c for c in rows.columns if c in synthetic.columns]]

    def summary(self, rows: int) -> TwoStageSummary:
        if not hasattr(self, "release_"):
            raise RuntimeError("TwoStageSynthesizer.summary called before fit")
        release = self.release_
        spent = release.epsilon_by_accountant[self.settings.accountant]
        return TwoStageSummary(
            epsilon=float(spent if spent is not None else self.settings.epsilon), delta=self.settings.delta,
            rows=rows, sigma=release.sigma, sampling_rate=release.sampling_rate, steps=release.steps,
            max_grad_norm=CLIP_NORM, latent_sigma=LATENT_NOISE_FACTOR * release.sigma,
            groups=len(release.mixture.centers), latent_dim=self.settings.latent_dim,
            accountant=self.settings.accountant, epsilon_by_accountant=release.epsilon_by_accountant,
            seconds=dict(self.seconds), diffusion=self.settings.diffusion)


def _fit_public_encoder(spec: TableSpec, train: pd.DataFrame) -> TableEncoder:
    """An encoder whose public part is fitted on the training rows' public columns (public information).

    Its sensitive part is fitted on blanked values, so nothing about the private sensitive
    values enters it; only the public features are used.
    """
    return TableEncoder(spec).fit(public_rows=train, sensitive_rows=_blank_sensitive(spec, train))


def _blank_sensitive(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{column: np.nan for column in spec.sensitive})


def _public_features(encoder: TableEncoder, spec: TableSpec, frame: pd.DataFrame) -> np.ndarray:
    return encoder.transform(_blank_sensitive(spec, frame))[:, encoder.public_features].astype(np.float32)


def _dp_sgd(model: _Autoencoder, data: tuple[torch.Tensor, ...], q: float, steps: int, sigma: float,
            generator: torch.Generator) -> None:
    """DP-SGD (Poisson sampling, per-row clipping to ``CLIP_NORM``, noise σ·C) with Adam on the noisy mean."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    names = list(params)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    rows = len(data[0])
    latent_dim = model.encoder[-2].out_features

    def row_loss(parameters: dict[str, torch.Tensor], *row: torch.Tensor) -> torch.Tensor:
        return functional_call(model, parameters, tuple(t.unsqueeze(0) for t in row)).sum()

    per_row_grads = vmap(grad(row_loss), in_dims=(None, 0, 0, 0, 0))
    for _ in range(steps):
        picked = torch.nonzero(torch.rand(rows, generator=generator) < q).squeeze(1)
        jitter = LATENT_JITTER * torch.randn(len(picked), latent_dim, generator=generator)
        summed = {name: torch.zeros_like(p) for name, p in params.items()}
        if len(picked):
            grads = per_row_grads(params, *(t[picked] for t in data), jitter)
            norms = torch.sqrt(sum(grads[n].flatten(1).pow(2).sum(dim=1) for n in names))
            factors = (CLIP_NORM / (norms + 1e-12)).clamp(max=1.0)
            summed = {n: torch.einsum("b,b...->...", factors, grads[n]) for n in names}
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator) * sigma * CLIP_NORM
            parameter.grad = (summed[name] + noise) / (q * rows)
        optimizer.step()
        params = {name: p.detach() for name, p in model.named_parameters()}


def _release_mixture(latents: np.ndarray, public: np.ndarray, latent_sigma: float, seed: int,
                     generator: torch.Generator) -> LatentMixture:
    """Noisy per-group sums of z and z² (Gaussian mechanism); groups come from public features only."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    groups = max(1, min(MAX_GROUPS, len(public) // MIN_GROUP_ROWS))
    with threadpool_limits(1):
        centers = KMeans(groups, n_init=4, random_state=seed).fit(public).cluster_centers_.astype(np.float32)
    mixture = LatentMixture(centers, np.zeros((groups, latents.shape[1])), np.ones((groups, latents.shape[1])))
    membership = mixture.groups(public)
    statistics = np.concatenate([latents, latents**2], axis=1)
    bound = math.sqrt(statistics.shape[1])
    noise = torch.randn((groups, statistics.shape[1]), generator=generator, dtype=torch.float64).numpy()
    sums = np.stack([statistics[membership == g].sum(axis=0) for g in range(groups)]) + latent_sigma * bound * noise
    counts = np.maximum(np.bincount(membership, minlength=groups), 1)[:, None]
    dim = latents.shape[1]
    means = np.clip(sums[:, :dim] / counts, -1.0, 1.0)
    second = np.clip(sums[:, dim:] / counts, 0.0, 1.0)
    variances = np.clip(second - means**2, VARIANCE_FLOOR, 1.0)
    return LatentMixture(centers, means, variances)


def _epsilon_by_accountant(events: tuple[GaussianSteps, ...], delta: float) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    for accountant in ("pld", "prv", "rdp"):
        try:
            figures[accountant] = composed_epsilon(events, delta, accountant, "replace")
        except PrivacyError:
            figures[accountant] = None
    return figures


class _Denoiser(nn.Module):
    """ε-prediction MLP for the latent DDPM, conditioned on public features and the noise level."""

    def __init__(self, latent_dim: int, public_width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim + public_width + TIME_FEATURES, DIFFUSION_HIDDEN), nn.SiLU(),
                                 nn.Linear(DIFFUSION_HIDDEN, DIFFUSION_HIDDEN), nn.SiLU(),
                                 nn.Linear(DIFFUSION_HIDDEN, latent_dim))
        betas = _cosine_betas(DIFFUSION_LEVELS)
        self.register_buffer("betas", betas)
        self.register_buffer("alpha_bars", torch.cumprod(1 - betas, dim=0))

    def forward(self, noisy: torch.Tensor, public: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noisy, public, _time_features(level)], dim=1))


def _cosine_betas(levels: int, offset: float = 0.008) -> torch.Tensor:
    steps = torch.arange(levels + 1, dtype=torch.float64) / levels
    alpha_bar = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999).float()


def _time_features(level: torch.Tensor) -> torch.Tensor:
    frequencies = torch.exp(torch.arange(TIME_FEATURES // 2) * (-math.log(100.0) / (TIME_FEATURES // 2)))
    angles = (level.float() / DIFFUSION_LEVELS)[:, None] * frequencies[None, :] * 2 * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def train_latent_diffusion(mixture: LatentMixture, public_features: np.ndarray, seed: int) -> _Denoiser:
    """Stage 2: fit a DDPM to latents drawn from the DP ``mixture`` for the given public features.

    The training set is generated: each example picks a training row's public features
    (public), its group's released Gaussian, and a latent from it. Nothing here reads a
    private sensitive value, so stage 2 is post-processing of stage 1 and costs no budget.
    """
    generator = torch.Generator().manual_seed(seed + 2)
    public = torch.from_numpy(public_features)
    denoiser = _Denoiser(mixture.means.shape[1], public.shape[1])
    seeded_init(denoiser, generator)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=2e-3)
    for _ in range(DIFFUSION_ITERATIONS):
        picked = torch.randint(len(public), (DIFFUSION_BATCH,), generator=generator)
        clean = mixture.sample(public_features[picked.numpy()], generator)
        level = torch.randint(DIFFUSION_LEVELS, (DIFFUSION_BATCH,), generator=generator)
        noise = torch.randn(clean.shape, generator=generator)
        alpha_bar = denoiser.alpha_bars[level][:, None]
        noisy = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
        loss = (denoiser(noisy, public[picked], level) - noise).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return denoiser.eval()


@torch.no_grad()
def sample_latents(denoiser: _Denoiser, public_features: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """Ancestral DDPM sampling of one latent per row given its public features, clipped to [−1, 1]."""
    public = torch.from_numpy(public_features)
    latent_dim = denoiser.net[-1].out_features
    latent = torch.randn(len(public), latent_dim, generator=generator)
    betas, alpha_bars = denoiser.betas, denoiser.alpha_bars
    for level in reversed(range(DIFFUSION_LEVELS)):
        predicted = denoiser(latent, public, torch.full((len(public),), level))
        alpha = 1 - betas[level]
        latent = (latent - betas[level] / (1 - alpha_bars[level]).sqrt() * predicted) / alpha.sqrt()
        if level > 0:
            posterior = betas[level] * (1 - alpha_bars[level - 1]) / (1 - alpha_bars[level])
            latent = latent + posterior.sqrt() * torch.randn(latent.shape, generator=generator)
    return latent.clamp(-1.0, 1.0)
