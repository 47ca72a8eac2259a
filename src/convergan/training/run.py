"""A run directory and everything that happens around the training step.

Layout of ``out_dir``::

    config.yaml            the resolved config (re-read by ``convergan resume``)
    checkpoints/           step-XXXXXXXX.pt, atomic, last N kept (+ every keep_every)
    metrics.jsonl          one JSON object per log/eval: {"step": ..., "name": value, ...}
    tensorboard/           TensorBoard event files with the same scalars
    samples/               step-XXXXXXXX.png: fixed-noise samples (2D: with D's contour)

Only the main process writes.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from convergan.config.load import save_config
from convergan.config.schema import Config
from convergan.field import GENERATOR, State
from convergan.training.checkpoint import CheckpointManager, rng_state, set_rng_state
from convergan.training.evaluate import (
    evaluate_images,
    evaluate_toy2d,
    generate,
    load_image_feature_extractor,
)
from convergan.training.problem import is_toy2d, sample_latents

FIXED_NOISE_SEED = 2018
FIXED_SAMPLES = 1000  # 2D scatter plots
FIXED_IMAGES = 64  # an 8 x 8 grid


def fixed_labels(n: int, num_classes: int | None) -> Tensor | None:
    """Class labels for conditional sample grids: one class per row."""
    if not num_classes:
        return None
    side = max(1, int(n**0.5))
    return (torch.arange(n) // side) % num_classes


@dataclass
class TrainingState:
    """Everything that changes during training and goes into a checkpoint."""

    step: int
    x: State  # (generator, discriminator) flat parameters
    scheme_state: object | None  # SchemeState: the scheme's tensors and the optimizers' states
    ema: object
    sampler: object
    samples_seen: int = 0

    def checkpoint(self) -> dict:
        return {
            "step": self.step,
            "samples_seen": self.samples_seen,
            "theta": self.x[0].detach().cpu(),
            "psi": self.x[1].detach().cpu(),
            "has_scheme_state": self.scheme_state is not None,
            "scheme_state": _to_device(_scheme_state_dict(self.scheme_state), "cpu"),
            "ema": {k: v.cpu() for k, v in self.ema.state_dict().items()},
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
        }

    def load(self, saved: dict, device) -> None:
        self.ema.load_state_dict(saved["ema"])
        try:  # identical on every process; any process count with the same global batch
            self.sampler.load_state_dict(saved["sampler"])
        except ValueError as error:
            raise ValueError(
                f"cannot continue the data stream: {error}; keep data.batch_size x processes "
                "equal to the checkpoint's global batch"
            ) from None
        set_rng_state(saved["rng"])
        self.step, self.samples_seen = int(saved["step"]), int(saved["samples_seen"])
        self.x = (saved["theta"].to(device), saved["psi"].to(device))
        self.scheme_state = None
        if saved["has_scheme_state"]:
            from convergan.schemes import SchemeState

            state = _to_device(saved["scheme_state"], device)
            self.scheme_state = SchemeState(tuple(state["own"]), tuple(state["moves"]))


def _scheme_state_dict(state) -> dict | None:
    """A :class:`~convergan.schemes.SchemeState` as checkpointable containers: the scheme's
    own tensors and each player's optimizer state (a dict of tensors and a step count)."""
    if state is None:
        return None
    return {"own": list(state.own), "moves": list(state.moves)}


def _to_device(value, device):
    """``value`` (nested dicts, lists, tuples, tensors) with every tensor on ``device``."""
    if isinstance(value, Tensor):
        return value.detach().to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


class Run:
    def __init__(
        self,
        config: Config,
        dist,
        generator: nn.Module,
        discriminator: nn.Module,
        show_progress: bool,
        real_dataset=None,
        num_classes: int | None = None,
    ):
        self.config = config
        self.dist = dist
        self.directory = Path(config.out_dir)
        self.generator, self.discriminator = generator, discriminator
        self.show_progress = show_progress and dist.is_main
        self.checkpoints = CheckpointManager(
            self.directory / "checkpoints", config.train.keep_last, config.train.keep_every
        )
        self.last_metrics: dict[str, float] = {}
        self._log = None
        self.real_dataset, self.num_classes = real_dataset, num_classes
        self.extractor = None
        if dist.is_main and real_dataset is not None:
            self.extractor = load_image_feature_extractor(config, dist.device)

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.dist.is_main:
            if self.checkpoints.latest() is not None:
                raise FileExistsError(
                    f"{self.directory} already holds a run; use "
                    f"`convergan resume {self.directory}` "
                    "or choose another out_dir"
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            self._clear_leftovers()
            save_config(self.config, self.directory / "config.yaml")
        self._open_log()

    def _clear_leftovers(self) -> None:
        """Logs of an earlier attempt that stopped before its first checkpoint (say, it
        diverged at once) would otherwise be appended to; a fresh run starts clean."""
        import shutil

        leftovers = [self.directory / n for n in ("metrics.jsonl", "tensorboard", "samples")]
        leftovers = [p for p in leftovers if p.exists()]
        if leftovers:
            print(
                f"note: {self.directory} holds logs of a run without checkpoints; starting afresh",
                file=sys.stderr,
            )
        for path in leftovers:
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    def restore(self, state: TrainingState) -> None:
        """Load the latest checkpoint into ``state`` and reopen the logs."""
        _, saved = self.checkpoints.load_latest()
        state.load(saved, self.dist.device)
        if self.dist.is_main:
            save_config(self.config, self.directory / "config.yaml")  # records new overrides
        self._open_log()

    def _open_log(self) -> None:
        if self.dist.is_main:
            from convergan.training.report import MetricsLog

            self._log = MetricsLog(self.directory)

    # -- around every step -----------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, start: int, total: int):
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=start,
            disable=not self.show_progress,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        try:
            yield bar
        finally:
            bar.close()
            if self._log is not None:
                self._log.close()

    def after_step(
        self, state: TrainingState, reporter, *, lr_scale: float, bar, final: bool
    ) -> None:
        """Logging, evaluation, samples and checkpoints after ``state.step`` steps."""
        step, x = state.step, state.x
        t = self.config.train
        bar.update(1)
        if step % t.log_every == 0 or final:
            scalars = reporter.summary()
            scalars["lr/scale"] = lr_scale
            scalars["progress/samples_seen"] = float(state.samples_seen)
            self._write(step, scalars, bar)
        if (t.eval_every and step % t.eval_every == 0) or final:
            self._write(step, self.evaluate(x, state.ema), bar)
        if self.dist.is_main and ((t.sample_every and step % t.sample_every == 0) or final):
            self.save_samples(step, x, state.ema)
        if (t.checkpoint_every and step % t.checkpoint_every == 0) or final:
            self.save_checkpoint(state)

    def _write(self, step: int, scalars: dict[str, float], bar) -> None:
        self.last_metrics.update(scalars)
        if self._log is not None:
            self._log.write(step, scalars)
        shown = {
            k.split("/")[-1]
            if k.startswith("eval/")
            else k.replace("discriminator/", "D_").replace("generator/", "G_"): v
            for k, v in self.last_metrics.items()
            if not k.startswith(("progress/", "lr/", "eval/grad"))
        }
        bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)

    def generator_params(self, x: State, ema) -> Tensor:
        from convergan.training.sampling import generator_weights

        return generator_weights(self.config, x[GENERATOR], ema.average)

    def evaluate(self, x: State, ema) -> dict[str, float]:
        if not self.dist.is_main:
            return {}
        if not is_toy2d(self.config):
            if self.extractor is None:
                return {}
            return evaluate_images(
                self.config,
                self.generator,
                self.generator_params(x, ema),
                self.real_dataset,
                self.extractor,
                self.num_classes,
            )
        return evaluate_toy2d(
            self.config,
            self.generator,
            self.discriminator,
            x[0],
            x[1],
            self.generator_params(x, ema),
        )

    def save_samples(self, step: int, x: State, ema) -> None:
        """Fixed-noise samples: the EMA generator (``step-N.png``) and, for images, the raw one
        too (``step-N-raw.png``)."""
        images = not is_toy2d(self.config)
        n = FIXED_IMAGES if images else FIXED_SAMPLES
        latents = sample_latents(n, self.config.model.latent_dim, FIXED_NOISE_SEED)
        labels = fixed_labels(n, self.num_classes)
        versions = {"": self.generator_params(x, ema)}
        if images and self.config.ema.enabled:
            versions["-raw"] = x[GENERATOR]
        for suffix, params in versions.items():
            fake = generate(
                self.generator,
                params,
                latents.to(self.dist.device),
                labels=None if labels is None else labels.to(self.dist.device),
            )
            path = self.directory / "samples" / f"step-{step:08d}{suffix}.png"
            write_samples(self.config, path, fake, self.discriminator, x[1], title=f"step {step}")

    def save_checkpoint(self, state: TrainingState) -> None:
        if self.dist.is_main:
            self.checkpoints.save(state.step, state.checkpoint())


def write_samples(
    config: Config, path: Path, fake: Tensor, discriminator: nn.Module, psi: Tensor, title: str
) -> None:
    """2D: real vs generated scatter over D's contour; images: a sample grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_toy2d(config):
        from convergan.data.toy2d import make_toy2d
        from convergan.plots.toy2d import save_samples_figure
        from convergan.training.evaluate import BoundModule

        real = make_toy2d(config.data.name).sample(len(fake), torch.Generator().manual_seed(0))
        save_samples_figure(path, real, fake.cpu(), BoundModule(discriminator, psi), title=title)
    else:
        from convergan.plots.images import save_image_grid

        save_image_grid(path, fake.cpu())
