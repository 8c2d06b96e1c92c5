"""Per-sample gradient engines for FusionDP's private term, as ratios to ``torch.func``.

Engines: ``ghost`` (the library's default for its MLP: one hand-written forward/backward pass
over the real and reference rows, clipped sums from per-layer Gram products, no per-sample
gradients materialised), ``torch.func`` (vmap over grad, the library's general path), opacus
``GradSampleModule``
(backward hooks; both views as 2B rows, g_i = gs[i] + gs[B+i]) and a naive per-row loop.
Usage: ``python -m benchmarks.bench_per_sample``. Writes benchmarks/results/per_sample.json.
"""

from __future__ import annotations

import copy

import torch
from opacus import GradSampleModule
from torch.nn.functional import binary_cross_entropy_with_logits

from benchmarks.common import interleaved_medians, print_table, write_results
from fusiondp.models import build_model
from fusiondp.prepared import torch_threads
from fusiondp.train.ghost import ghost_clipped_sum
from fusiondp.train.private import PrivateLoss, clip_and_sum, consistency, per_sample_gradients

BATCH, FEATURES, BETA, REP_CLIP, CLIP = 128, 60, 0.5, 1.0, 1.8


def engines(seed: int = 0) -> tuple[dict, dict]:
    model = build_model(FEATURES, (64, 32), seed, torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    x_real, x_ref = torch.randn(BATCH, FEATURES, generator=gen), torch.randn(BATCH, FEATURES, generator=gen)
    y = (torch.rand(BATCH, generator=gen) < 0.3).float()
    params = {k: v.detach() for k, v in model.named_parameters()}
    loss = PrivateLoss(model, True, BETA, REP_CLIP)
    hooked = GradSampleModule(copy.deepcopy(model), batch_first=True, loss_reduction="sum", strict=False)

    def func() -> dict:
        return clip_and_sum(per_sample_gradients(loss, params, x_real, x_ref, y)[0], CLIP)[0]

    def ghost() -> dict:
        return ghost_clipped_sum(model, x_real, x_ref, y, calibrated=True, beta=BETA, rep_clip=REP_CLIP,
                                 max_norm=CLIP)[0]

    def opacus_hooks() -> dict:
        for p in hooked.parameters():
            p.grad_sample = None
        logits, h = hooked(torch.cat([x_real, x_ref]))
        losses = (binary_cross_entropy_with_logits(logits[:BATCH], y, reduction="none")
                  - binary_cross_entropy_with_logits(logits[BATCH:], y, reduction="none")
                  + BETA * consistency(h[:BATCH], h[BATCH:], REP_CLIP))
        losses.sum().backward()
        return clip_and_sum({n.removeprefix("_module."): p.grad_sample[:BATCH] + p.grad_sample[BATCH:]
                             for n, p in hooked.named_parameters()}, CLIP)[0]

    def naive() -> dict:
        rows = [torch.autograd.grad(loss(dict(model.named_parameters()), x_real[i], x_ref[i], y[i]),
                                    list(model.parameters())) for i in range(BATCH)]
        grads = {name: torch.stack([r[j] for r in rows]) for j, (name, _) in enumerate(model.named_parameters())}
        return clip_and_sum(grads, CLIP)[0]

    reference = func()
    engines = {"ghost": ghost, "torch_func": func, "opacus_hooks": opacus_hooks, "naive_loop": naive}
    errors = {name: max((fn()[k] - reference[k]).abs().max().item() for k in reference)
              for name, fn in engines.items()}
    return engines, errors


def main() -> None:
    with torch_threads(1):
        functions, errors = engines()
        medians = interleaved_medians(functions, repeats=10, warmup=2)
    rows = [{"engine": name, "ms_per_batch": 1e3 * t, "vs_torch_func": t / medians["torch_func"],
             "max_abs_diff_vs_torch_func": errors[name]} for name, t in medians.items()]
    print(f"clipped per-sample gradient sum of the FusionDP private loss, batch {BATCH}, {FEATURES} features, "
          "1 thread")
    print_table(rows)
    print(f"\nwrote {write_results('per_sample', {'batch': BATCH, 'features': FEATURES, 'rows': rows})}")


if __name__ == "__main__":
    main()
