"""Path-angle between two checkpoints of a run (Berard et al., 2020), on the evaluation game."""

from __future__ import annotations

from collections.abc import Callable

from convergan.analysis.path_angle import path_statistics
from convergan.runs.at_step import CheckpointAt
from convergan.training.directory import RunDirectory


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
    at_end: CheckpointAt | None = None,
) -> dict:
    """The field along the segment from checkpoint ``start`` to ``end`` (see
    :func:`~convergan.analysis.path_angle.path_statistics`), on the evaluation game of
    ``samples`` (default: the problem's) drawn from ``seed``; one JSON-ready record.

    The field is the method as in force at ``end`` (a γ or σ may follow a schedule) on the
    game drawn there: ``at_end``, the checkpoint ``end`` already opened, lends its game and
    field (the verdict's local picture uses the same)."""
    at_end = CheckpointAt(run, end) if at_end is None else at_end
    at_start = at_end.next(start)
    field = at_end.field(samples, seed, float64)
    _, samples = at_end.evaluation_game(samples, seed)
    ends = [at.point(float64) for at in (at_start, at_end)]
    stats = path_statistics(field, *ends, points=points, progress=progress)
    return {"from": start, "to": end, "samples": samples, "seed": seed, **stats.to_dict()}
