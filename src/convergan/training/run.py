"""A run directory and everything that happens around the training step.

Layout of ``out_dir``::

    config.yaml            the resolved config (re-read by ``convergan resume``)
    checkpoints/           step-XXXXXXXX.pt, atomic, last N kept (+ every keep_every)
    metrics.jsonl          one JSON object per log/eval: {"step": ..., "name": value, ...}
    tensorboard/           TensorBoard event files with the same scalars
    samples/               step-XXXXXXXX.png: fixed-noise samples (2D: with D's contour)
    .lock                  held (flock) by the process that writes the run; names it

Only the main process writes, and only while it holds the directory's lock
(:mod:`convergan.training.lock`): a second ``train`` into the same ``out_dir`` or a ``resume`` of
a run that is still training is refused with one line naming the holder.

**Resume rules.** The keys in :data:`FIXED_ON_RESUME` shape the saved tensors or the data
stream, so ``resume`` refuses to change them (one line listing them); ``data.batch_size`` may
change only together with the number of processes, keeping the global batch. Rows of
``metrics.jsonl`` (and TensorBoard events) after the checkpoint's step, written by the attempt
that crashed, are dropped when the run resumes, so every step is logged once. The reporter's
values since the last log are part of the checkpoint, so the first log after a resume
averages the same steps as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from convergan.checkpoint import CheckpointManager, rng_state, set_rng_state
from convergan.config.load import save_config
from convergan.config.schema import Config
from convergan.field import GENERATOR, DivergenceError, State
from convergan.training.evaluate import (
    evaluate_images,
    evaluate_toy2d,
    generate,
    load_image_feature_extractor,
)
from convergan.training.lock import RunLock
from convergan.training.problem import is_toy2d, sample_latents

FIXED_NOISE_SEED = 2018
FIXED_SAMPLES = 1000  # 2D scatter plots
FIXED_IMAGES = 64  # an 8 x 8 grid
FIXED_ON_RESUME = (
    "model",
    "data.name",
    "scheme.name",
    "scheme.g_steps",
    "scheme.d_steps",
    "optim.g.name",
    "optim.d.name",
    "ema.enabled",
)
"""Config keys (and sections) a ``resume`` may not change: the saved players, optimizer and
scheme states and the data stream depend on them."""


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
    world_size: int = 1

    def checkpoint(self) -> dict:
        return {
            "step": self.step,
            "world_size": self.world_size,
            "samples_seen": self.samples_seen,
            "theta": self.x[0].detach().cpu(),
            "psi": self.x[1].detach().cpu(),
            "has_scheme_state": self.scheme_state is not None,
            "scheme_state": _to_device(_scheme_state_dict(self.scheme_state), "cpu"),
            "ema": _to_device(self.ema.state_dict(), "cpu"),
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
        }

    def load(self, saved: dict, device) -> None:
        self.ema.load_state_dict(saved["ema"])
        try:  # identical on every process; any process count with the same global batch
            self.sampler.load_state_dict(saved["sampler"])
        except ValueError as error:
            from convergan.config import ConfigError

            raise ConfigError(
                f"data.batch_size: cannot continue the data stream ({error}); keep "
                "data.batch_size x processes equal to the checkpoint's global batch"
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
        self.lock = RunLock(self.directory)
        self._carried_reports: dict | None = None  # the reporter's values saved at the checkpoint
        self.real_dataset, self.num_classes = real_dataset, num_classes
        self.extractor = None
        if dist.is_main and real_dataset is not None:
            self.extractor = load_image_feature_extractor(config, dist.device)

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.dist.is_main:
            self.lock.acquire()  # creates the directory; one line if another run holds it
            if self.checkpoints.latest() is not None:
                self.lock.release()
                raise FileExistsError(
                    f"{self.directory} already holds a run; use "
                    f"`convergan resume {self.directory}` "
                    "or choose another out_dir"
                )
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
        """Load the latest checkpoint into ``state`` and reopen the logs (dropping rows that a
        crashed attempt wrote after the checkpoint)."""
        if self.dist.is_main:
            self.lock.acquire()
        try:
            step, saved = self.checkpoints.load_latest()
            check_resume_config(
                self.directory / "config.yaml",
                self.config,
                saved.get("world_size"),
                self.dist.world_size,
            )
            state.load(saved, self.dist.device)
            load_module_buffers(self.generator, saved.get("generator_buffers"))
            load_module_buffers(self.discriminator, saved.get("discriminator_buffers"))
            self._carried_reports = saved.get("reporter")
        except BaseException:
            self.lock.release()
            raise
        if self.dist.is_main:
            save_config(self.config, self.directory / "config.yaml")  # records new overrides
        self._open_log(resumed_at=step)

    def _open_log(self, resumed_at: int | None = None) -> None:
        if self.dist.is_main:
            from convergan.training.report import MetricsLog

            self._log = MetricsLog(self.directory, resumed_at=resumed_at)

    def close(self) -> None:
        """Close the logs and release the run directory (idempotent)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self.lock.release()

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
        except DivergenceError as error:
            # Say which checkpoint survives: none, when the run diverged before its first.
            latest = self.checkpoints.latest() if self.dist.is_main else None
            kept = None if latest is None else self.checkpoints.step_of(latest)
            error.last_checkpoint_step = kept
            raise
        finally:
            bar.close()
            self.close()

    def after_step(
        self, state: TrainingState, reporter, *, lr_scale: float, bar, final: bool
    ) -> None:
        """Logging, evaluation, samples and checkpoints after ``state.step`` steps."""
        step, x = state.step, state.x
        t = self.config.train
        bar.update(1)
        if self._carried_reports is not None:  # values reported before the checkpoint
            reporter.load_state_dict(self._carried_reports)
            self._carried_reports = None
        # A final log off the log_every grid (end of the budget) still leaves its values in
        # the checkpoint, so a later resume's first log averages what an uninterrupted run's
        # would have.
        pending = reporter.state_dict() if final and step % t.log_every else None
        if step % t.log_every == 0 or final:
            scalars = reporter.summary(average=self.dist.average)
            scalars["lr/scale"] = lr_scale
            scalars["progress/samples_seen"] = float(state.samples_seen)
            self._write(step, scalars, bar)
        if (t.eval_every and step % t.eval_every == 0) or final:
            self._write(step, self.evaluate(x, state.ema), bar)
        every = self.config.eval.spectrum.every
        if every and step % every == 0 and self.dist.is_main:
            from convergan.analysis.spectrum_run import spectrum_scalars

            spectra = spectrum_scalars(
                self.config, self.generator, self.discriminator, x, step, state.scheme_state
            )
            self._write(step, spectra, bar)
        if self.dist.is_main and ((t.sample_every and step % t.sample_every == 0) or final):
            self.save_samples(step, x, state.ema)
        if (t.checkpoint_every and step % t.checkpoint_every == 0) or final:
            self.save_checkpoint(state, reporter.state_dict() if pending is None else pending)

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
        ema_buffers = getattr(ema, "buffers", None) if self.config.ema.enabled else None
        versions = {"": (self.generator_params(x, ema), ema_buffers)}
        if images and self.config.ema.enabled:
            versions["-raw"] = (x[GENERATOR], None)
        for suffix, (params, buffers) in versions.items():
            fake = generate(
                self.generator,
                params,
                latents.to(self.dist.device),
                labels=None if labels is None else labels.to(self.dist.device),
                buffers=buffers,
            )
            path = self.directory / "samples" / f"step-{step:08d}{suffix}.png"
            write_samples(self.config, path, fake, self.discriminator, x[1], title=f"step {step}")

    def save_checkpoint(self, state: TrainingState, reports: dict | None = None) -> None:
        """Rank 0 writes ``state``, the players' buffers and the reporter's pending values."""
        if self.dist.is_main:
            state.world_size = self.dist.world_size
            saved = state.checkpoint()
            saved["generator_buffers"] = module_buffers(self.generator)
            saved["discriminator_buffers"] = module_buffers(self.discriminator)
            if reports is not None:
                saved["reporter"] = reports
            self.checkpoints.save(state.step, saved)


def module_buffers(module: nn.Module) -> dict[str, Tensor]:
    """The module's buffers (BatchNorm statistics, ...) for a checkpoint."""
    return {name: b.detach().cpu().clone() for name, b in module.named_buffers()}


def load_module_buffers(module: nn.Module, saved: dict | None) -> None:
    if not saved:
        return
    with torch.no_grad():
        for name, b in module.named_buffers():
            if name in saved:
                b.copy_(saved[name])


def _flat_config(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat_config(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def check_resume_config(
    saved_path: Path, config: Config, saved_world_size: int | None, world_size: int
) -> None:
    """Refuse a ``resume`` whose config changes a key of :data:`FIXED_ON_RESUME` or the global
    batch (``data.batch_size`` × processes); one line listing every such key."""
    from convergan.config import ConfigError, load_config
    from convergan.config.schema import config_to_dict

    if not saved_path.is_file():
        return
    old = _flat_config(config_to_dict(load_config(saved_path)))
    new = _flat_config(config_to_dict(config))
    changed = sorted(
        key
        for key in old.keys() | new.keys()
        if any(key == fixed or key.startswith(fixed + ".") for fixed in FIXED_ON_RESUME)
        and old.get(key) != new.get(key)
    )
    if saved_world_size is not None:
        old_batch = old.get("data.batch_size", 0) * int(saved_world_size)
        if old_batch != new.get("data.batch_size", 0) * world_size:
            changed.append("data.batch_size")
    if changed:
        details = ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in changed)
        raise ConfigError(
            f"resume cannot change {details}: these keys are fixed for a run "
            "(data.batch_size only with the process count, keeping the global batch); "
            "start a new run with another out_dir"
        )


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
