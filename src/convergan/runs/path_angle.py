"""Path-angle between two checkpoints of a run (Berard et al., 2020), on the evaluation game."""

from __future__ import annotations

from collections.abc import Callable

from convergan.analysis.path_angle import path_statistics
from convergan.config.schema import config_at
from convergan.runs.spectrum import evaluation_field
from convergan.training.batches import evaluation_batch
from convergan.training.directory import RunDirectory, check_fits


def run_path_angle(
    run: RunDirectory,
    start: int,
    end: int,
    *,
    points: int = 50,
    samples: int | None = None,
    seed: int = 0,
    float64: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """The field along the segment from checkpoint ``start`` to ``end`` (see
    :func:`~convergan.analysis.path_angle.path_statistics`), on the evaluation game of
    ``samples`` (default: the problem's) drawn from ``seed``; one JSON-ready record."""
    from convergan.problems import make_problem

    problem = make_problem(run.config)
    # The method as in force at the end point (a γ or σ may follow a schedule).
    method = config_at(run.config, end).method.build()
    samples = samples or problem.spectrum_samples
    players = run.players()
    generator, discriminator = players.generator, players.discriminator
    batch = evaluation_batch(run.config, method, generator.latent_dim, samples, seed, problem)
    field = evaluation_field(generator, discriminator, method, batch, end, float64)
    ends = []
    for step in (start, end):
        _, checkpoint = run.load(step)
        check_fits(players, checkpoint)
        point = (checkpoint["theta"], checkpoint["psi"])
        ends.append(tuple(p.double() for p in point) if float64 else point)
    stats = path_statistics(field, *ends, points=points, progress=progress)
    return {"from": start, "to": end, "samples": samples, "seed": seed, **stats.to_dict()}
