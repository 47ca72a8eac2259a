"""The problem interface and the one place that maps ``data.name`` to a problem."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from torch import Tensor, nn

from convergan.metrics.catalog import check_sample_count
from convergan.options import ConfigError
from convergan.registry import METRICS, PROBLEM_FAMILIES, problem_names


@dataclass(frozen=True)
class DataInfo:
    """What the players are built from: one sample's shape, the number of classes (``None``
    when the data is unlabelled) and whether the data is float64 (the players are then built
    in float64 too). Recorded in a run directory at training time."""

    shape: tuple[int, ...]
    num_classes: int | None = None
    float64: bool = False

    def to_dict(self) -> dict[str, Any]:
        record = {"data_shape": list(self.shape), "num_classes": self.num_classes}
        return {**record, "float64": True} if self.float64 else record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DataInfo:
        classes = record.get("num_classes")
        return cls(
            tuple(int(n) for n in record["data_shape"]),
            None if classes is None else int(classes),
            bool(record.get("float64", False)),
        )


# ``generate(latents, labels) -> samples`` with the generator whose samples are evaluated.
Generate = Callable[[Tensor, "Tensor | None"], Tensor]


class Evaluator(Protocol):
    """A problem's metrics for one run, set up once (e.g. the feature extractor loaded)."""

    metrics: tuple[str, ...]

    def __call__(self, generate: Generate, discriminator: nn.Module | None) -> dict[str, float]:
        """``{"eval/<key>": value}`` of every metric; ``discriminator`` is D at its current
        parameters (for diagnostics such as D's input-gradient norms), or ``None``."""
        ...


class Problem(ABC):
    """The data side of a game, built from a :class:`~convergan.config.Config`.

    Class attributes say how the rest of convergan treats the problem: which registered
    metrics apply (``metric_domain``, matched against ``Metric.domain``) and which are computed
    when ``eval.metrics`` is not set, the architecture a config gets by default, and how its
    samples are drawn (``sample_view``, a :data:`~convergan.registry.SAMPLE_VIEWS` name, with
    ``display_count`` fixed samples; ``show_raw_samples``: the raw generator's too, beside the
    EMA's).
    """

    metric_domain: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]
    default_architecture: ClassVar[str]
    sample_view: ClassVar[str]
    display_count: ClassVar[int]
    show_raw_samples: ClassVar[bool] = False  # also picture the raw G beside the EMA
    spectrum_samples: ClassVar[int]  # default size of the spectrum's evaluation game
    samples_key: ClassVar[str] = "n_samples"  # the eval.* key counting the samples evaluated

    def __init__(self, config: Any) -> None:
        self.config = config
        self.name = config.data.name

    @abstractmethod
    def info(self) -> DataInfo:
        """The sample shape and class count (may read the data once)."""

    @abstractmethod
    def real_stream(self, global_batch: int, seed: int, num_workers: int = 0):
        """An infinite, resumable iterator of real batches (a tensor, or ``(images, labels)``),
        with ``state_dict``/``load_state_dict``; its batches depend on ``seed`` and the batch
        size only (``num_workers`` loader processes, where the data is read from files).
        A problem whose game is fixed (:mod:`convergan.problems.fullbatch`) yields the whole
        game instead, a :class:`~convergan.methods.batch.Batch` with its latents and draws,
        the same whatever the seed and size."""

    @abstractmethod
    def real_samples(self, n: int, seed: int) -> Tensor:
        """``n`` real samples drawn from ``seed`` alone (for pictures beside the fakes)."""

    @abstractmethod
    def evaluator(self, metrics: Sequence[str], device: Any) -> Evaluator | None:
        """The run's evaluator for ``metrics`` (already checked to apply), or ``None`` when
        nothing can be computed (a warning says why)."""

    # -- shared ---------------------------------------------------------------------------
    def evaluation_samples(self) -> int:
        """How many generated samples an evaluation draws (``eval.<samples_key>``)."""
        return int(getattr(self.config.eval, self.samples_key))

    def requested_metrics(
        self, names: Sequence[str] | None, count_option: str | None = None
    ) -> tuple[str, ...]:
        """``names`` (``eval.metrics``; ``None`` = this problem's defaults), refusing in one
        line a metric that does not apply to this problem or to its sample count
        (``eval.<samples_key>``, named ``count_option`` where the user typed that instead)."""
        if names is None:
            names = self.default_metrics
        wrong = [n for n in names if METRICS[n].domain != self.metric_domain]
        if wrong:
            applicable = [n for n in METRICS.names() if METRICS[n].domain == self.metric_domain]
            verb = "does" if len(wrong) == 1 else "do"
            choose = (
                f"choose from {', '.join(applicable)}"
                if applicable
                else "no registered metric does: set eval.metrics=[]"
            )
            raise ConfigError(
                f"eval.metrics: {', '.join(map(repr, wrong))} {verb} not apply to {self.name!r} "
                f"({self.metric_domain} data); {choose}"
            )
        source = getattr(self, "source", None)
        for name in names:
            metric = METRICS[name]
            if metric.applies_to is not None and not metric.applies_to(source):
                raise ConfigError(
                    f"eval.metrics: {name!r} has nothing to compute on {self.name!r}: it needs "
                    f"{metric.needs or 'other data'}"
                )
        key = count_option or f"eval.{self.samples_key}"
        check_sample_count(names, self.evaluation_samples(), key)
        return tuple(names)


class ProblemFamily(Protocol):
    """A registered kind of problem: the names it provides and how it builds one."""

    def names(self) -> tuple[str, ...]: ...

    def build(self, config: Any) -> Problem: ...


def make_problem(config: Any) -> Problem:
    """The problem ``config.data.name`` names, from the first family that provides it."""
    name = config.data.name
    for entry in PROBLEM_FAMILIES.entries():
        if name in entry.value.names():
            return entry.value.build(config)
    raise ConfigError(
        f"data.name: unknown problem {name!r}; choose one of {', '.join(problem_names())}"
    )
