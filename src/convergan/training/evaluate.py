"""Metrics of a generator during and after training (2D problems here; images in
:mod:`convergan.metrics`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convergan.config.schema import Config
from convergan.field import ParameterLayout


@torch.no_grad()
def generate(
    generator: nn.Module,
    flat_params: Tensor,
    latents: Tensor,
    batch: int = 4096,
    labels: Tensor | None = None,
    buffers: dict[str, Tensor] | None = None,
) -> Tensor:
    """Samples of ``generator`` with parameters ``flat_params`` (the module is left as is);
    ``labels`` for conditional generators; ``buffers`` (e.g. the EMA's averaged BatchNorm
    statistics) replace the module's own buffers, which then stay untouched."""
    layout = ParameterLayout(generator)
    if buffers:
        from torch.func import functional_call

        chunks = torch.split(flat_params, layout.sizes)
        bound = {n: c.reshape(s) for n, c, s in zip(layout.names, chunks, layout.shapes)}
        bound.update({n: b.clone() for n, b in buffers.items()})  # BN in train mode writes
        pieces = latents.split(batch)
        ys = labels.split(batch) if labels is not None else [None] * len(pieces)
        return torch.cat(
            [
                functional_call(generator, bound, (z,), {} if y is None else {"labels": y})
                for z, y in zip(pieces, ys)
            ]
        )
    if labels is None:
        bound = layout.bind(flat_params)
        return torch.cat([bound(z) for z in latents.split(batch)])
    return torch.cat(
        [layout.bind(flat_params, y)(z) for z, y in zip(latents.split(batch), labels.split(batch))]
    )


def image_metrics_requested(config: Config) -> list[str]:
    from convergan.metrics.catalog import metrics_for

    return metrics_for("images", config.eval.metrics)


def load_image_feature_extractor(config: Config, device: torch.device) -> nn.Module | None:
    """The extractor for the config's image metrics (None when none is requested). Loaded
    when a run starts, so a missing weights file fails at once rather than hours later."""
    if not image_metrics_requested(config):
        return None
    from convergan.metrics.features import load_feature_extractor

    name = config.eval.features or (
        "fashion-mnist-classifier" if config.data.name == "fashion-mnist" else "inception"
    )
    return load_feature_extractor(name).to(device).eval()


def evaluate_images(
    config: Config,
    generator: nn.Module,
    flat_params: Tensor,
    real_dataset,
    extractor: nn.Module,
    num_classes: int | None = None,
    seed: int = 12345,
) -> dict[str, float]:
    """FID / KID / precision-recall / IS of ``eval.n_samples`` generated images against as many
    real ones, in the extractor's feature space; real statistics are cached per dataset."""
    from convergan.metrics.images import evaluate_generator

    device = flat_params.device
    g = torch.Generator().manual_seed(seed)

    def sample(n: int) -> Tensor:
        latents = torch.randn(n, config.model.latent_dim, generator=g).to(device)
        labels = None
        if num_classes:
            labels = torch.randint(num_classes, (n,), generator=g).to(device)
        return generate(generator, flat_params, latents, labels=labels)

    key = f"{config.data.name}-{config.model.image_size or 'native'}"
    results = evaluate_generator(
        sample,
        real_dataset,
        extractor,
        image_metrics_requested(config),
        n=config.eval.n_samples,
        dataset=key,
    )
    return {f"eval/{name}": value for name, value in results.items()}


def evaluate_toy2d(
    config: Config,
    generator: nn.Module,
    discriminator: nn.Module,
    theta: Tensor,
    psi: Tensor,
    generator_params_for_samples: Tensor,
    seed: int = 12345,
) -> dict[str, float]:
    """W1 to fresh real samples (exact EMD, POT), mode statistics for mixtures, and D's mean
    squared input-gradient norm at real and generated points (what R1/R2 penalise)."""
    from convergan.data.toy2d import make_toy2d
    from convergan.metrics.toy2d import input_gradient_norm, mode_coverage, wasserstein1

    n = config.eval.w1_samples
    g = torch.Generator().manual_seed(seed)
    problem = make_toy2d(config.data.name)
    real = problem.sample(n, g)
    latents = torch.randn(n, config.model.latent_dim, generator=g)
    fake = generate(generator, generator_params_for_samples, latents)
    metrics = {"eval/w1": wasserstein1(real, fake, max_samples=n, seed=seed)}
    if "modes" in config.eval.metrics and hasattr(problem, "modes"):
        stats = mode_coverage(fake, problem.modes, problem.mode_std)
        metrics["eval/modes_covered"] = float(stats.modes_covered)
        metrics["eval/high_quality_fraction"] = stats.high_quality_fraction
    discriminator_at = BoundModule(discriminator, psi)
    metrics["eval/grad_norm_sq_real"] = input_gradient_norm(discriminator_at, real[:512])
    metrics["eval/grad_norm_sq_fake"] = input_gradient_norm(discriminator_at, fake[:512])
    return metrics


class BoundModule(nn.Module):
    """A module view with flat parameters bound (for metrics that call ``D(x)``)."""

    def __init__(self, module: nn.Module, flat: Tensor) -> None:
        super().__init__()
        self._bound = ParameterLayout(module).bind(flat.detach())

    def forward(self, x: Tensor) -> Tensor:
        return self._bound(x)
