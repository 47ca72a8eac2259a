"""Schedules: a hyperparameter that follows training progress instead of staying constant.

A schedulable number of a config (a penalty's γ, the instance-noise σ, each learning rate,
Adam's β's, the EMA half-life) is a constant or a :class:`Schedule`, written in YAML and on the
command line as one mapping::

    {schedule: cosine, start: 0.05, end: 0.005, samples: 20000000}
    {schedule: linear, start: 2e-4, end: 5e-5, steps: 10000, warmup_steps: 500, hold_steps: 0}

``steps`` or ``samples`` (the unit: training steps, or samples seen = step × global batch) is
where the value reaches ``end``, warm-up and hold included; ``warmup_*`` ramps linearly from
``warmup_start`` (default 0) to ``start``, ``hold_*`` then keeps ``start``; afterwards the value
decays to ``end`` (cosine or linear) and stays there. The cosine form is R3GAN's
``cosine_decay_with_warmup`` (Huang et al., NeurIPS 2024, ``training/training_loop.py``),
formula for formula; :meth:`Schedule.value` gives it. Validation lives with every other check
in :mod:`convergan.options`; this module is pure Python (no torch), at the bottom of the layers.

**Numbers in force.** The parts a run is built from (a penalty, the instance noise, a
scheme's learning rates, an optimizer, the EMA) hold each schedulable number as a constant or
a function of the 0-based training step, as optax keeps a schedule inside its transform: the
config's :class:`Schedule` becomes one with :func:`on_steps` (the run's samples per step turn
steps into samples seen), and a part reads the value it uses with :func:`value_at`, at the step
it runs. :func:`value_at` is the one answer to "the value of a number at step t":
:func:`resolve` applies it to a whole spec (a config, a method spec) for whatever needs the
values of one step as plain numbers (the spectrum of a checkpoint, the Dirac verdict, the
``schedule/<key>`` scalars). The training step with 0-based index ``t`` uses the values at
``(t, t × global batch)``, as R3GAN's loop does before it counts the batch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("linear", "cosine")
UNITS = ("steps", "samples")


@dataclass(frozen=True)
class Schedule:
    """``start`` → ``end`` over ``length`` steps or samples (``unit``), after an optional
    linear warm-up from ``warmup_start`` and a hold at ``start``."""

    kind: str  # linear or cosine
    start: float
    end: float
    length: int  # where the value reaches ``end``; warm-up and hold included
    unit: str = "steps"  # steps or samples
    warmup: int = 0
    hold: int = 0
    warmup_start: float = 0.0

    def at(self, step: int, samples: int) -> float:
        """The value at 0-based ``step``, after ``samples`` samples (the unit picks one)."""
        return self.value(step if self.unit == "steps" else samples)

    def value(self, n: float) -> float:
        """The value after ``n`` units of progress (R3GAN's ``cosine_decay_with_warmup``)."""
        if n > self.length:
            return self.end
        if n < self.warmup:
            slope = (self.start - self.warmup_start) / self.warmup
            return slope * n + self.warmup_start
        plateau = self.warmup + self.hold
        if n <= plateau:  # the end of the warm-up, and the hold
            return self.start
        progress = (n - plateau) / float(self.length - plateau)
        if self.kind == "cosine":
            decay = 0.5 * (1 + math.cos(math.pi * progress))
            return self.start + (1 - decay) * (self.end - self.start)
        return self.start + progress * (self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form; ``options.schedule`` of it gives this schedule back. Zero warm-up
        and hold are left out."""
        out: dict[str, Any] = {
            "schedule": self.kind,
            "start": self.start,
            "end": self.end,
            self.unit: self.length,
        }
        if self.warmup:
            out[f"warmup_{self.unit}"] = self.warmup
            if self.warmup_start:
                out["warmup_start"] = self.warmup_start
        if self.hold:
            out[f"hold_{self.unit}"] = self.hold
        return out

    def __str__(self) -> str:
        extra = f", warm-up {self.warmup}" if self.warmup else ""
        extra += f", hold {self.hold}" if self.hold else ""
        return f"{self.kind} {self.start:g}->{self.end:g} over {self.length} {self.unit}{extra}"


@dataclass(frozen=True)
class StepSchedule:
    """A :class:`Schedule` on a run's step count: called with the 0-based step, its value
    there, ``samples_per_step`` (the global batch) turning steps into samples seen."""

    schedule: Schedule
    samples_per_step: int

    def __call__(self, step: int) -> float:
        return self.schedule.at(step, step * self.samples_per_step)

    def __str__(self) -> str:
        return str(self.schedule)


StepValue = Any  # a constant (float or tensor), or a function of the 0-based training step


def value_at(number: StepValue, step: int) -> Any:
    """The value of ``number`` at the 0-based training ``step``: a function of the step (a
    :class:`StepSchedule`, or any callable) called there; a constant is itself."""
    if callable(number):
        return number(step)
    if isinstance(number, Schedule):
        raise TypeError(f"the schedule {number} needs a run's clock: on_steps(schedule, batch)")
    return number


def numbers_at(part: Any, step: int) -> Any:
    """A frozen dataclass ``part`` (an optimizer) with every field that is a function of the
    step, alone or in a tuple (Adam's ``betas``), replaced by its :func:`value_at`; ``part``
    itself when none is."""
    changes = {}
    for f in dataclasses.fields(part):
        value = getattr(part, f.name)
        if _follows_the_step(value):
            changes[f.name] = (
                tuple(value_at(v, step) for v in value)
                if isinstance(value, tuple)
                else value_at(value, step)
            )
    return dataclasses.replace(part, **changes) if changes else part


def has_step_functions(part: Any) -> bool:
    """Whether :func:`numbers_at` would change ``part`` at some step."""
    return any(_follows_the_step(getattr(part, f.name)) for f in dataclasses.fields(part))


def _follows_the_step(value: Any) -> bool:
    return callable(value) or (isinstance(value, tuple) and any(callable(v) for v in value))


def on_steps(tree: Any, samples_per_step: int) -> Any:
    """``tree`` with every :class:`Schedule` made a :class:`StepSchedule` of a run with
    ``samples_per_step`` samples per step (what the parts are built with)."""
    return _map_schedules(tree, lambda s: StepSchedule(s, samples_per_step))


def resolve(tree: Any, step: int, samples_per_step: int) -> Any:
    """``tree`` with every :class:`Schedule` replaced by its value at the 0-based ``step`` of
    a run with ``samples_per_step`` samples per step (:func:`value_at` of it).

    ``tree`` is any nesting of frozen dataclasses, tuples, lists and dicts (a config, a method
    spec); parts without schedules are returned as they are (the same objects).
    """
    return _map_schedules(tree, lambda s: value_at(StepSchedule(s, samples_per_step), step))


def _map_schedules(tree: Any, change: Callable[[Schedule], Any]) -> Any:
    """``tree`` with ``change`` applied to every :class:`Schedule` in it."""
    if isinstance(tree, Schedule):
        return change(tree)
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        changes = {}
        for f in dataclasses.fields(tree):
            if not f.init:
                continue
            value = getattr(tree, f.name)
            mapped = _map_schedules(value, change)
            if mapped is not value:
                changes[f.name] = mapped
        return dataclasses.replace(tree, **changes) if changes else tree
    if isinstance(tree, (list, tuple)):
        items = [_map_schedules(v, change) for v in tree]
        if all(a is b for a, b in zip(items, tree)):
            return tree
        return type(tree)(items) if not hasattr(tree, "_fields") else type(tree)(*items)
    if isinstance(tree, dict):
        items = {k: _map_schedules(v, change) for k, v in tree.items()}
        return tree if all(items[k] is tree[k] for k in tree) else items
    return tree


def find_schedules(tree: Any, prefix: str = "") -> dict[str, Schedule]:
    """Every schedule in a plain tree (dicts and lists, as a spec's ``to_dict`` gives them
    before schedules become mappings), by its dotted key: ``optim.g.lr``,
    ``optim.g.betas[1]``, ``method.penalties[0].gamma``."""
    if isinstance(tree, Schedule):
        return {prefix: tree}
    found: dict[str, Schedule] = {}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            found.update(find_schedules(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            found.update(find_schedules(value, f"{prefix}[{i}]"))
    return found


def plain(tree: Any) -> Any:
    """``tree`` with every schedule written as its mapping (YAML-safe)."""
    if isinstance(tree, Schedule):
        return tree.to_dict()
    if isinstance(tree, Mapping):
        return {k: plain(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [plain(v) for v in tree]
    return tree
