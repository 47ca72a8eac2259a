"""Metrics of a run's checkpoint (``convergan eval``), for the EMA and the raw generator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from convergan.options import ConfigError, each_once
from convergan.problems import make_problem
from convergan.registry import METRICS
from convergan.training.directory import RunDirectory
from convergan.training.generate import BoundModule, generate
from convergan.training.memory import check_metric_memory


def evaluate_run(
    run_dir: str | Path,
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    versions: Sequence[str] = ("ema", "raw"),
) -> tuple[int, dict[str, dict[str, float]]]:
    """``(step, {version: {"eval/<key>": value}})`` of the latest checkpoint of ``run_dir``.

    ``metrics``: registered metric names (default: the run's ``eval.metrics``, else its
    problem's defaults); one that does not apply to the run's problem is a one-line
    ``ConfigError``. ``n``: samples per side (default: the run's ``eval`` settings).
    ``versions``: ``"ema"`` (skipped when the run keeps no EMA) and/or ``"raw"``.
    """
    run = RunDirectory.open(run_dir)
    config = run.config  # reading it imports the run's plugins (their metrics included)
    if not config.ema.enabled and tuple(versions) == ("ema",):
        raise ConfigError(
            f"--ema-only: {run_dir} keeps no EMA generator (ema.enabled: false); evaluate its "
            "generator without --ema-only"
        )
    unknown = [name for name in metrics or () if name not in METRICS]
    if unknown:
        raise ConfigError(f"--metrics: {METRICS.unknown(unknown[0])}")
    each_once(list(metrics or ()), "--metrics")
    evaluation = config.eval
    if metrics:
        evaluation = replace(evaluation, metrics=list(metrics))
    if n:
        evaluation = replace(evaluation, n_samples=n, w1_samples=n)
    config = replace(config, eval=evaluation)
    problem = make_problem(config)
    option = "--n" if n else f"eval.{problem.samples_key}"
    names = problem.requested_metrics(config.eval.metrics, option)
    info = run.info
    check_metric_memory(names, problem.evaluation_samples(), info.shape, config, option)
    evaluator = problem.evaluator(names, torch.device("cpu"))
    if evaluator is None:
        raise ConfigError(f"eval.metrics: nothing to compute for {', '.join(names) or 'no metric'}")
    step, state = run.load()
    players = run.players(state)
    discriminator = BoundModule(players.discriminator, state["psi"])
    results = {}
    for version in versions:
        use_ema = version == "ema"
        if use_ema and not config.ema.enabled:
            continue
        params = run.generator_params(state, use_ema)
        buffers = run.generator_buffers(state, use_ema)

        def samples(latents: Tensor, labels: Tensor | None, params=params, buffers=buffers):
            return generate(players.generator, params, latents, labels=labels, buffers=buffers)

        results[version] = evaluator(samples, discriminator)
    return step, results
