"""The verdict's expensive parts, saved in the run directory and reused.

The local picture (the ARPACK runs) and the path-angle of ``convergan verdict`` depend on the
checkpoints they read, the settings (k, the evaluation game's N and seed, the path's points)
and the code; the trend and the rules are cheap and always recomputed. Each part is one JSON
file ``RUN/verdict/<part>.json`` holding the part and the key it was computed under: the
checkpoint files' step, size and modification time, the settings and convergan's version. A
part is reused only under an identical key, so ``verdict --json`` then ``verdict --html``
computes it once, and a new checkpoint, other settings or another version compute it again.
The ARPACK start vectors of the last local picture are kept too (``start-vectors.pt``): the
next verdict of the run, at a later checkpoint, starts its solves from them.
Files are written atomically (temp file, fsync, rename); a run directory that cannot be
written to only loses the reuse.
"""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path

from convergan.files import write_text

VECTORS = "start-vectors.pt"


class VerdictStore:
    """The saved parts of the verdict of ``run`` (a
    :class:`~convergan.training.directory.RunDirectory`) at checkpoint ``step``."""

    def __init__(self, run, step: int, settings: dict) -> None:
        self.run, self.step, self.settings = run, step, settings

    def _key(self, part: str, other_step: int | None) -> dict:
        from convergan import __version__

        steps = [self.step] if other_step is None else [other_step, self.step]
        return {
            "part": part,
            "version": __version__,
            "settings": self.settings,
            "checkpoints": [self._stamp(s) for s in steps],
        }

    def _stamp(self, step: int) -> list:
        path = self.run.checkpoints.path_for(step)
        try:
            stat = path.stat()
        except OSError:
            return [step, None, None]
        return [step, stat.st_size, stat.st_mtime_ns]

    def _path(self, part: str) -> Path:
        return self.run.verdict_folder / f"{part}.json"

    def read(self, part: str, other_step: int | None = None):
        """The saved ``part`` when its key matches, else ``None``."""
        try:
            saved = json.loads(self._path(part).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("key") != self._key(part, other_step):
            return None
        return saved.get("value")

    def write(self, part: str, value, other_step: int | None = None):
        """Save ``value`` under its key (atomically; silently not where the directory is
        read-only); returns ``value`` as JSON
        reads it back (non-finite floats as ``None``)."""
        from convergan.runs.verdict import json_ready

        value = json_ready(value)  # what a later read returns, so both give one verdict
        text = json.dumps({"key": self._key(part, other_step), "value": value})
        with suppress(OSError):
            self._path(part).parent.mkdir(parents=True, exist_ok=True)
            write_text(self._path(part), text + "\n")
        return value

    def start_vectors(self) -> dict:
        """The ARPACK start vectors an earlier verdict of this run saved (any checkpoint:
        neighbouring checkpoints have nearby leading eigenvectors), by solve; ``{}`` if none."""
        from convergan.checkpoint import CheckpointError, load_checkpoint

        path = self.run.verdict_folder / VECTORS
        try:
            saved = load_checkpoint(path) if path.is_file() else {}
        except CheckpointError:
            return {}
        return {k: v.double().numpy() for k, v in saved.items() if hasattr(v, "numpy")}

    def save_start_vectors(self, warm: dict) -> None:
        """Save each solve's start vector for the next verdict (atomically; silently not
        where the directory is read-only)."""
        import torch

        from convergan.analysis.spectrum import start_vector
        from convergan.checkpoint import CheckpointWriteError, save_checkpoint

        vectors = {}
        for key, spectrum in warm.items():
            vector = start_vector(spectrum) if hasattr(spectrum, "eigenvectors") else spectrum
            if vector is not None:
                vectors[key] = torch.as_tensor(vector, dtype=torch.float32)
        with suppress(OSError, CheckpointWriteError):
            save_checkpoint(self.run.verdict_folder / VECTORS, vectors)
