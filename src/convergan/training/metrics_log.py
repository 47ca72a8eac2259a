"""A run's ``metrics.jsonl``: one writer, one reader, one trimming rule.

Each line is one JSON object ``{"step": int, "<name>": value, ...}``; the loop writes training
scalars and evaluations as separate records. **The rule for a bad line**, the same for reading
and trimming: a line that is not a JSON object with an integer ``step`` (typically the last
line, torn by a kill in mid-write) is skipped when read and dropped when trimmed; lines after
it are kept. The writer mirrors every record to TensorBoard event files beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from convergan.files import write_text


def _records(path: Path) -> list[tuple[str, dict | None]]:
    """``(line, record or None when the line breaks the rule)`` for every line."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        valid = isinstance(record, dict) and isinstance(record.get("step"), int)
        out.append((line, record if valid else None))
    return out


def last_step(path: str | Path, tail: int = 8192) -> int | None:
    """The step of the last valid record, read from the file's last ``tail`` bytes only (a
    progress bar asks often, of files that grow long); ``None`` when there is none there."""
    try:
        with open(path, "rb") as file:
            file.seek(0, 2)
            file.seek(max(0, file.tell() - tail))
            lines = file.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            return record["step"]
    return None


def read_metrics(path: str | Path) -> list[dict]:
    """Every valid record of a ``metrics.jsonl`` file, in file order."""
    return [record for _, record in _records(Path(path)) if record is not None]


def metrics_by_step(path: str | Path) -> list[dict]:
    """The records merged into one row per step, steps ascending (a later record of a step
    updates the earlier one)."""
    rows: dict[int, dict] = {}
    for record in read_metrics(path):
        rows.setdefault(record["step"], {"step": record["step"]}).update(record)
    return [rows[s] for s in sorted(rows)]


def trim_metrics(path: str | Path, last_step: int) -> int:
    """Keep the valid records with ``step <= last_step`` (atomically: temp file, fsync, rename);
    returns how many lines were dropped. Called by the writer of a resumed run, under the
    run's lock, so no live writer can be appending to the file being replaced."""
    path = Path(path)
    lines = _records(path)
    kept = [line for line, record in lines if record is not None and record["step"] <= last_step]
    dropped = len(lines) - len(kept)
    if dropped:
        write_text(path, "".join(line + "\n" for line in kept))
    return dropped


class MetricsLog:
    """Appends ``{"step": ..., **scalars}`` lines to the file ``path`` and mirrors them to
    TensorBoard event files in the folder ``tensorboard`` (none when ``None``). The paths are
    a run's (:meth:`~convergan.training.directory.RunDirectory.open_log`).

    ``resumed_at``: the checkpoint's step when a run resumes. Records of later steps were
    written by the attempt that crashed and will be written again, so they are trimmed (see
    :func:`trim_metrics`) and TensorBoard purges its events after that step.
    """

    def __init__(
        self, path: Path, tensorboard: Path | None = None, resumed_at: int | None = None
    ) -> None:
        self.path = Path(path)
        if resumed_at is not None:
            trim_metrics(self.path, resumed_at)
        self._file = self.path.open("a", encoding="utf-8")
        self._writer = None
        if tensorboard is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(
                log_dir=str(tensorboard),
                purge_step=None if resumed_at is None else resumed_at + 1,
            )

    def write(self, step: int, scalars: dict[str, float]) -> None:
        record = {"step": step, **{k: _json_number(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._writer is not None:
            for name, value in scalars.items():
                if value is not None and math.isfinite(value):
                    self._writer.add_scalar(name, value, step)
            self._writer.flush()

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
