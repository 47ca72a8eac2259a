"""The costs behind small design choices in the code; each choice points here.

* ``wasserstein1`` (:mod:`convergan.metrics.point_clouds`): the exact solve at n points a side,
  the reason for its ``max_samples`` default of 2000;
* the field's two differentiation routes (:class:`convergan.field.GameField`): one evaluation
  of the R1 field of the default 2D players (MLP 3×256, batch 256), eager and functional;
* the Fashion-MNIST feature classifier (:mod:`convergan.metrics.features`): one training step
  as shipped, and with a batch norm after each convolution (which it does not have);
* the Dirac-GAN analysis (:mod:`convergan.analysis.local`): one player move of the trajectory
  fallback (``MAX_FALLBACK_MOVES``), the update Jacobian of a period of m moves by reverse
  mode through the field (``MAX_DIFFERENTIATED_MOVES``) against its composition from the field
  Jacobians (``linearized_update_jacobian``), and the exact stable-rate search of a period of
  m moves (:mod:`convergan.analysis.exact_rates`, ``MAX_EXACT_DEGREE``).

The variants run round-robin in one process, so load from elsewhere hits them alike; each
figure is the median of ``--rounds``. Prints JSON and writes it to ``--out``
(benchmarks/results/small_costs.json), with the load average and the thread count.

    .venv/bin/python benchmarks/bench_small_costs.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from convergan import dirac_gan
from convergan.analysis.local import field_jacobians_by_gain
from convergan.analysis.moves import moves_per_period
from convergan.analysis.operators import linearized_update_jacobian, update_jacobian
from convergan.analysis.stable_rates import stable_lr_ranges
from convergan.analysis.trajectories import simulate
from convergan.data.distributions_2d import make_distribution_2d
from convergan.field import GameField, ParameterLayout, game_field
from convergan.methods import make_method
from convergan.methods.batch import Batch
from convergan.metrics.features import FashionMNISTClassifier
from convergan.metrics.point_clouds import wasserstein1
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.schemes import AltGD, SimGD

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_STEPS = 200


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def w1_cases() -> dict[str, Callable[[], object]]:
    generator = torch.Generator().manual_seed(0)
    ring = make_distribution_2d("ring8")
    cases = {}
    for n in (500, 1000, 2000):
        x, y = ring.sample(n, generator), ring.sample(n, generator)
        cases[f"w1 exact, {n} x {n} (s)"] = lambda x=x, y=y, n=n: wasserstein1(x, y, n)
    return cases


def route_cases(batch: int = 256) -> dict[str, Callable[[], object]]:
    generator = torch.Generator().manual_seed(0)
    players = MLPGenerator(latent_dim=2), MLPDiscriminator(in_dim=2)
    data = Batch(
        real=make_distribution_2d("circle").sample(batch, generator),
        latent=torch.randn(batch, 2, generator=generator),
    )
    method = make_method("r1", gamma=1.0)
    x = tuple(ParameterLayout(p).flat() for p in players)
    cases = {}
    for route in ("eager", "functional"):
        field = GameField(*players, method, data, route=route)
        cases[f"R1 field of the 2D MLPs, batch {batch}, {route} route (ms)"] = lambda field=field: (
            field(x)
        )
    return cases


def with_batch_norm(model: FashionMNISTClassifier) -> nn.Module:
    """The classifier with a BatchNorm2d after each convolution."""
    layers = []
    for layer in model.body:
        layers.append(layer)
        if isinstance(layer, nn.Conv2d):
            layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*layers, model.head)


def classifier_cases(batch: int = 128) -> dict[str, Callable[[], object]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 1, 28, 28, generator=generator) * 2 - 1
    labels = torch.randint(0, 10, (batch,), generator=generator)
    shipped = FashionMNISTClassifier()
    models = {"as shipped": shipped, "with batch norm": with_batch_norm(FashionMNISTClassifier())}
    cases = {}
    for name, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, optimizer=optimizer):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()

        cases[f"classifier step, batch {batch}, {name} (ms)"] = step
    return cases


def dirac_cases() -> dict[str, Callable[[], object]]:
    game, method = dirac_gan(), make_method("r1", gamma=0.3)
    x = game.equilibrium()
    field = game_field(game, method, route="eager")
    starts = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    steps = FALLBACK_STEPS
    cases = {
        f"fallback, 8 trajectories x {steps} SimGD steps (s)": lambda: simulate(
            game, method, SimGD(lr=0.1), starts, steps
        )
    }
    for moves in (16, 64, 256):
        scheme = AltGD(lr=0.1, d_steps=moves - 1)
        cases[f"update Jacobian, {moves} moves, reverse mode (s)"] = lambda s=scheme: (
            update_jacobian(s, field, x)
        )

        def composed(s=scheme):
            jacobians = field_jacobians_by_gain(field.with_regularization_gain, x, (1.0,))
            return linearized_update_jacobian(s, jacobians, (1, 1))

        cases[f"update Jacobian, {moves} moves, composed (s)"] = composed
    jacobians = field_jacobians_by_gain(field.with_regularization_gain, x, (1.0,))
    for moves in (4, 16, 64):
        scheme = AltGD(lr=0.1, d_steps=moves - 1)
        cases[f"exact stable-rate search, {moves} moves (s)"] = lambda s=scheme: stable_lr_ranges(
            s, jacobians, (1, 1)
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/small_costs.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = {**w1_cases(), **route_cases(), **classifier_cases(), **dirac_cases()}
    for work in cases.values():  # warm-up: first-call imports and allocations
        work()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, work in cases.items():
            times[name].append(seconds(work))
    medians = {
        name: statistics.median(t) * (1000 if name.endswith("(ms)") else 1)
        for name, t in times.items()
    }
    fallback = next(name for name in medians if name.startswith("fallback"))
    moves = FALLBACK_STEPS * moves_per_period(SimGD(lr=0.1))
    medians["fallback, per player move (ms)"] = medians[fallback] / moves * 1000
    result = {
        "rounds": args.rounds,
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "medians": {name: round(value, 4) for name, value in medians.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
