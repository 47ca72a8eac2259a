"""A wall-clock budget stops the run early, with the final evaluation and checkpoint."""

from convergan.checkpoint import CheckpointManager
from convergan.config import load_config
from convergan.runs import train
from convergan.training.metrics_log import read_metrics


def test_time_budget_stops_early_and_finishes_cleanly(tmp_path):
    config = load_config(
        "configs/toy2d/circle.yaml",
        [
            "train.steps=100000",
            "train.time_budget_minutes=0.02",
            "model.width=16",
            "eval.w1_samples=200",
            "train.sample_every=0",
            f"out_dir={tmp_path}",
        ],
    )
    result = train(config, progress=False)
    assert 0 < result.steps < 100000
    manager = CheckpointManager(tmp_path / "checkpoints")
    assert manager.step_of(manager.latest()) == result.steps
    evals = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "eval/w1" in r]
    assert evals[-1]["step"] == result.steps
