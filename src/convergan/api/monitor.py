"""Convergence diagnostics in anyone's training loop, without changing the training.

Five lines in a loop of your own::

    from convergan.api import Monitor

    monitor = Monitor("runs/my-gan", G, D, "r1", gamma=10, real=x_eval, latent=z_eval, every=100)
    for step in range(1, steps + 1):
        ...                                  # your D and G updates, untouched
        monitor.after_step(step)
    monitor.close()

Every ``every`` steps the monitor evaluates the method's field ``v = (−∇_θ L_G, −∇_ψ L_D)``
at the players' current parameters on the fixed evaluation games (``real``, ``latent``,
``labels``, split into ``games`` independent games), and logs what convergan's trainer logs
(the same function computes both, :func:`convergan.training.diagnostics.look`):
``diagnostics/field_norm`` (``‖v‖``), ``diagnostics/field_norm_g``,
``diagnostics/field_norm_d``, ``diagnostics/distance_per_step``, ``diagnostics/cosine``, and
the sampling noise ``diagnostics/field_noise`` and ``diagnostics/field_signal_sq``. With
``spectrum_every`` it also logs the local picture every M steps (``spectrum/max_real``,
``spectrum/max_abs``, ``spectrum/update_radius``...). The folder has a run's
``metrics.jsonl`` and TensorBoard files (:mod:`convergan.training.monitor_folder`), so
``convergan verdict FOLDER --no-spectrum`` and ``convergan report FOLDER`` read it.

**Scheduled hyperparameters.** A method's numbers (a penalty's γ, the instance-noise σ, the
consensus weight) may follow a schedule, in the forms a config takes
(:mod:`convergan.schedules`: ``gamma={"schedule": "linear", "start": 10, "end": 1, "steps":
5000}`` or a :class:`~convergan.schedules.Schedule`; in a spec mapping or a
:class:`~convergan.methods.MethodSpec` too) or as a :class:`~convergan.methods.Method` holding
functions of the step. The look at ``step`` (``step`` updates done) evaluates the field, and
the local picture, with the values at the 0-based step ``step``, those of the update that
would move the players next, as the trainer's diagnostics do; it logs each scheduled value it
used as ``schedule/<dotted key>``, the trainer's name (``schedule/method.gamma`` for a preset's
γ, ``schedule/method.penalties[0].gamma``, ``schedule/method.noise.sigma``). Read the same
schedule in your loop (``schedule.value(t)`` for the update at the 0-based step ``t``), so the
loop and the monitor use one set of numbers.

**What it leaves alone**: the field is evaluated on flat copies of the parameters (the modules'
``.grad`` and parameters are not touched), buffers (BatchNorm statistics) are restored after a
look, the global torch RNGs (CPU and every initialised CUDA device) are restored, so dropout
in a look draws nothing from your stream, the evaluation game's own draws use a private
``torch.Generator``, and the optimizers' state is only read. Under DDP only rank 0 looks and
writes; other ranks' ``after_step`` returns at once (the players are unwrapped: no collective
runs in a look, so rank 0 never waits on the others).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from convergan.api.game import MethodLike, make_game
from convergan.api.players import untouched
from convergan.schedules import StepSchedule
from convergan.schemes.spec import DEFAULT_SCHEME
from convergan.training.diagnostics import game_seed, look
from convergan.training.directory import RunDirectory
from convergan.training.in_force import scheduled_scalars
from convergan.training.monitor_folder import write_monitor_record


class Monitor:
    """Records convergan's diagnostics of a training loop into ``folder``.

    Args:
        folder: where ``metrics.jsonl``, ``tensorboard/`` and ``monitor.json`` go (created).
        generator, discriminator: the players being trained (updated in place by your loop;
            wrapped by :func:`~convergan.api.adapt_generator` etc. if they are called
            differently; ``DistributedDataParallel`` is looked through).
        method: what the players minimise, as :func:`~convergan.api.make_game` takes it (a
            preset name with keywords, a spec, a ``Method`` or ``(d_loss, g_loss)``): the
            method your loop trains with. Its numbers may follow a schedule (see above).
        real, latent, labels: the fixed evaluation game, e.g. 512 held-out real samples and
            512 latents drawn once (the same at every look, so a change of ``‖v‖`` is the
            players' alone); on the players' device.
        every: look every ``every`` steps (``after_step(step)`` with ``step % every == 0``).
        spectrum_every: also the local picture every this many steps (0: never; a few
            eigen-solves per look: much dearer than a look, see the docs).
        optimizers, lr_g, lr_d, scheme, k: for the local picture, as
            :func:`~convergan.api.spectral_radius` takes them.
        games: split ``real``, ``latent`` (and ``labels``) into this many independent
            evaluation games of equal size, in row order (the trainer's
            ``eval.diagnostics.games``, default 2): the first is the diagnostics' game, the
            spread of the field over all of them measures its sampling noise
            (``diagnostics/field_noise``, ``diagnostics/field_signal_sq``), which the verdict
            needs to tell "at equilibrium" and "at noise floor" apart; 1 for a game without
            sampling noise (exact expectations).
        seed: the seed of the evaluation games' own draws (noise, interpolation), game ``k``
            seeded as the trainer seeds its games
            (:func:`~convergan.training.diagnostics.game_seed`).
        start_step: the step the loop starts from (the first look's displacement is measured
            from the parameters now, at this step).
        resume: continue the log of an earlier attempt in ``folder`` at ``start_step`` (its
            records after ``start_step`` are dropped); without it a folder holding a log is
            refused.
        tensorboard: also write TensorBoard event files.
        samples_per_step: the samples one step of your loop trains on (the global batch), for
            a schedule measured in ``samples``; not needed for schedules in ``steps``.
        method_params: the preset's hyperparameters (``gamma=10``, or a schedule:
            ``gamma={"schedule": "linear", "start": 10, "end": 1, "steps": 5000}``).
    """

    def __init__(
        self,
        folder: str | Path,
        generator: nn.Module,
        discriminator: nn.Module,
        method: MethodLike = "r1",
        *,
        real: torch.Tensor,
        latent: torch.Tensor,
        labels: torch.Tensor | None = None,
        every: int = 100,
        spectrum_every: int = 0,
        optimizers: Sequence[torch.optim.Optimizer] = (),
        lr_g: float | None = None,
        lr_d: float | None = None,
        scheme: Any = DEFAULT_SCHEME,
        k: int = 6,
        games: int = 2,
        seed: int = 0,
        start_step: int = 0,
        resume: bool = False,
        tensorboard: bool = True,
        samples_per_step: int | None = None,
        **method_params: Any,
    ) -> None:
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        if not (isinstance(spectrum_every, int) and spectrum_every >= 0):
            raise ValueError(f"spectrum_every must be an integer >= 0, got {spectrum_every!r}")
        if not (isinstance(games, int) and games >= 1):
            raise ValueError(f"games must be an integer >= 1, got {games!r}")
        if spectrum_every and lr_g is None and not optimizers:
            raise ValueError("spectrum_every needs the learning rates (lr_g, lr_d) or optimizers")
        self.folder = Path(folder)
        self.every, self.spectrum_every = every, spectrum_every
        self.local = dict(optimizers=tuple(optimizers), lr_g=lr_g, lr_d=lr_d, scheme=scheme, k=k)
        self.active = is_main_process()
        self.looks, self.look_seconds = 0, 0.0
        self._log = None
        if not self.active:
            return
        self.games = [
            make_game(
                generator,
                discriminator,
                method,
                real=part[0],
                latent=part[1],
                labels=part[2],
                seed=game_seed(seed, k),
                samples_per_step=samples_per_step,
                **method_params,
            )
            for k, part in enumerate(split_games(real, latent, labels, games))
        ]
        self.game = self.games[0]
        self.fields = [game.field(route="eager") for game in self.games]  # the trainer's route
        self._since = (start_step, torch.cat(self.game.parameters()))
        logs = RunDirectory(self.folder)  # a monitor's folder holds a run's logs
        if logs.has_metrics() and not resume:
            raise FileExistsError(
                f"{self.folder} already holds a log: pass resume=True (with start_step) to "
                "continue it, or choose another folder"
            )
        sizes = dict(zip(("generator", "discriminator"), self.game.sizes))
        write_monitor_record(
            self.folder,
            {
                "method": self.game.method.name,
                "schedules": {key: _described(f) for key, f in self.game.schedules.items()},
                "evaluation_game": {"samples": self.game.samples, "seed": seed, "games": games},
                "every": every,
                "spectrum_every": spectrum_every,
                "start_step": start_step,
                "parameters": sizes,
            },
        )
        self._log = logs.open_log(start_step if resume else None, tensorboard=tensorboard)

    def after_step(self, step: int) -> dict[str, float] | None:
        """Call after training step ``step`` (1-based: the number of steps done): looks when
        ``step`` is a multiple of ``every`` or of ``spectrum_every`` (on rank 0) and returns
        the logged scalars, else returns ``None`` at once."""
        if not self.active:
            return None
        if step % self.every and not (self.spectrum_every and step % self.spectrum_every == 0):
            return None
        return self.look(step)

    def look(self, step: int) -> dict[str, float]:
        """Look now (whatever ``every`` says) at the players after ``step`` steps, with the
        method's scheduled numbers as in force at the 0-based step ``step``; log the scalars
        at ``step`` and return them."""
        if self._log is None:
            raise RuntimeError("this monitor is closed or not on rank 0")
        started = time.perf_counter()
        game = self.game.at_step(step)
        fields = [field.at_step(step) for field in self.fields]
        with untouched(game.generator, game.discriminator):
            scalars, self._since = look(fields, game.parameters(), step, self._since)
            scalars.update(scheduled_scalars(game.schedules, step))
            if self.spectrum_every and step % self.spectrum_every == 0:
                scalars.update(self._spectrum(game))
        self._log.write(step, scalars)
        self.looks += 1
        self.look_seconds += time.perf_counter() - started
        return scalars

    def _spectrum(self, game) -> dict[str, float]:
        """The local picture of ``game`` (at the look's step) as the trainer's
        ``eval.spectrum`` logs it."""
        from convergan.api.analysis import eigenvalues, spectral_radius

        local = self.local
        spectra = [eigenvalues(game, local["k"], which) for which in ("LR", "LM")]
        update = spectral_radius(
            game,
            local["lr_g"],
            local["lr_d"],
            scheme=local["scheme"],
            optimizers=local["optimizers"],
            k=local["k"],
        )
        values = np.concatenate([s.eigenvalues for s in spectra])
        converged = all(s.converged for s in spectra) and update.spectrum.converged
        return {
            "spectrum/max_real": float(np.real(values).max()),
            "spectrum/max_abs_imag": float(np.abs(np.imag(values)).max()),
            "spectrum/max_abs": float(np.abs(values).max()),
            "spectrum/update_radius": update.spectral_radius,
            "spectrum/converged": float(converged),
        }

    @property
    def seconds_per_look(self) -> float:
        """The mean wall time of a look so far (NaN before the first)."""
        return self.look_seconds / self.looks if self.looks else math.nan

    def close(self) -> None:
        """Flush and close the log (rank 0; a no-op elsewhere and when closed)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _described(number: Any) -> str:
    """A scheduled number as ``monitor.json`` records it: the schedule's own words, or the
    function's name."""
    if isinstance(number, StepSchedule):
        return str(number)
    return f"a function of the step ({getattr(number, '__qualname__', type(number).__name__)})"


def split_games(real, latent, labels, games: int) -> list[tuple]:
    """``(real, latent, labels)`` of each of ``games`` equal parts, in row order."""
    n = real.shape[0]
    if n % games:
        raise ValueError(f"{n} evaluation samples do not split into {games} equal games")
    size = n // games
    rows = [slice(k * size, (k + 1) * size) for k in range(games)]
    return [(real[r], latent[r], None if labels is None else labels[r]) for r in rows]


def is_main_process() -> bool:
    """Rank 0 of an initialised ``torch.distributed`` group, or the only process."""
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank() == 0
    return True
