"""Two CPU processes (torchrun, gloo) train exactly like one process with the global batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "configs/toy2d/circle.yaml",
    "train.steps=3",
    "model.width=16",
    "model.depth=1",
    # SGD: adaptive optimizers turn float-rounding differences of near-zero gradient entries
    # into sign flips of size lr/sqrt(1-alpha), which would hide real disagreements.
    "optim.g.name=sgd",
    "optim.d.name=sgd",
    "optim.g.lr=0.05",
    "optim.d.lr=0.05",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
]


def run(args, processes):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
    ]
    command = [
        *(launcher if processes > 1 else [sys.executable]),
        "-m",
        "convergan",
        "train",
        *args,
        "--quiet",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def final_state(run_dir):
    return torch.load(run_dir / "checkpoints" / "step-00000003.pt", weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["r1", "r3gan"])
def test_two_processes_equal_one_process_with_the_global_batch(tmp_path, method):
    """r3gan pairs real row i with generated row i (RpGAN): each process keeps the same rows of
    both, so its pairs are the global batch's."""
    two = run([*COMMON, "data.batch_size=16", f"method={method}", f"out_dir={tmp_path / 'two'}"], 2)
    run([*COMMON, "data.batch_size=32", f"method={method}", f"out_dir={tmp_path / 'one'}"], 1)
    a, b = final_state(tmp_path / "one"), final_state(tmp_path / "two")
    for key in ("theta", "psi"):
        assert torch.allclose(a[key], b[key], atol=1e-6), (key, (a[key] - b[key]).abs().max())
    assert a["step"] == b["step"] == 3
    assert two.stdout.count("run directory") == 1  # only rank 0 reports and writes


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_on_one_process(tmp_path):
    run_dir = tmp_path / "run"
    run([*COMMON, "data.batch_size=16", f"out_dir={run_dir}"], 2)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "convergan",
            "resume",
            str(run_dir),
            "train.steps=5",
            "data.batch_size=32",
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    reference = tmp_path / "reference"
    run(
        [*COMMON[:1], *COMMON[2:], "train.steps=5", "data.batch_size=32", f"out_dir={reference}"], 1
    )
    a = torch.load(run_dir / "checkpoints" / "step-00000005.pt", weights_only=True)
    b = torch.load(reference / "checkpoints" / "step-00000005.pt", weights_only=True)
    for key in ("theta", "psi"):
        assert torch.allclose(a[key], b[key], atol=1e-6)
