"""What one product through the field's kept graph costs: one generator forward shared by
both players' losses, against the two losses apart, against Berard et al.'s product.

On one checkpoint (opened once: :class:`convergan.runs.at_step.CheckpointAt`) and its
evaluation game of N samples, in one process, interleaved round by round:

* ``shared``: the field as convergan builds it (:meth:`GameField.player_losses
  <convergan.field.GameField.player_losses>`: one G forward, D once per side), ``Jᵀw`` one
  backward through its kept graph;
* ``apart``: the same field with each player's loss on its own generator forward (how the
  field was built before: two G subgraphs and two D-on-fakes subgraphs under every product);
* ``berard``: the product of ``benchmarks/bench_spectrum_vs_berard.py``'s re-implementation
  of Berard et al.'s code (their losses, one ``autograd.grad`` of ``⟨∇L, w⟩``), for runs whose
  method it covers (GAN/NSGAN + R1).

Also the time to build each graph, and the largest difference between the shared and the
apart products (the same numbers, to float32 rounding).

    OMP_NUM_THREADS=1 python benchmarks/bench_shared_forward.py --case circle RUN_DIR \\
        --case dcgan RUN_DIR [--repeats 5]

Writes ``benchmarks/results/spectrum/shared_forward.json`` with the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from convergan.analysis.spectrum import JacobianOperator
from convergan.field import GameField
from convergan.field.layout import DISCRIMINATOR, GENERATOR
from convergan.runs.at_step import CheckpointAt
from convergan.training.directory import RunDirectory

sys.path.insert(0, str(Path(__file__).parent))
from bench_spectrum_vs_berard import CASES, BerardJacobianVectorProduct, peer_losses  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "spectrum" / "shared_forward.json"


@dataclasses.dataclass(frozen=True)
class ApartField(GameField):
    """The field with each player's loss on its own generator forward (the field before)."""

    def evaluate(self, x):
        if self.coupled:
            raise SystemExit("the apart field is written for fields without consensus")
        batch = self.draw_batch()
        pairs = [self._direction_and_terms(i, x, batch) for i in (GENERATOR, DISCRIMINATOR)]
        return tuple(d for d, _ in pairs), tuple(t for _, t in pairs)


def apart(field: GameField) -> ApartField:
    return ApartField(**{f.name: getattr(field, f.name) for f in dataclasses.fields(field)})


def berard_operator(at: CheckpointAt, samples: int, seed: int):
    batch, _ = at.evaluation_game(samples, seed)
    field = at.field(samples, seed)
    generator, discriminator = field.generator, field.discriminator
    for layout, x_i in zip(field.layouts, at.x):
        layout.assign(x_i)
    gen_loss, dis_loss = peer_losses(at.config.method, generator, discriminator, batch)
    gen_params, dis_params = list(generator.parameters()), list(discriminator.parameters())
    grad_gen = torch.autograd.grad(gen_loss, gen_params, create_graph=True)
    grad_dis = torch.autograd.grad(dis_loss, dis_params, create_graph=True)
    return BerardJacobianVectorProduct(grad_gen + grad_dis, gen_params + dis_params)


def measure(at: CheckpointAt, samples: int, seed: int, rounds: int, repeats: int) -> dict:
    field = at.field(samples, seed)
    n = at.n
    w = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    builders = {
        "shared": lambda: JacobianOperator(field, at.point()).rmatvec,
        "apart": lambda: JacobianOperator(apart(field), at.point()).rmatvec,
    }
    try:
        berard_operator(at, samples, seed)  # refuses a method the peer does not cover
    except SystemExit as refused:
        print(f"berard: not measured ({refused})", file=sys.stderr)
    else:

        def berard_product():
            operator = berard_operator(at, samples, seed)
            # their matrix is ∂∇L/∂params = −J: minus their product is Jᵀw
            return lambda v: -torch.as_tensor(operator._matvec(v.numpy()))

        builders["berard"] = berard_product
    rows: dict[str, dict[str, list[float]]] = {
        k: {"build": [], "product": [], "product_cpu": []} for k in builders
    }
    outputs = {}
    for round_ in range(rounds):
        order = list(builders) if round_ % 2 == 0 else list(reversed(builders))
        for who in order:
            start = time.perf_counter()
            product = builders[who]()
            rows[who]["build"].append(time.perf_counter() - start)
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.process_time()
                outputs[who] = product(w)
                rows[who]["product"].append(time.perf_counter() - start)
                rows[who]["product_cpu"].append(time.process_time() - cpu_start)
            del product
    result = {
        who: {
            "build_s": float(np.median(r["build"])),
            "product_s": float(np.median(r["product"])),
            "product_cpu_s": float(np.median(r["product_cpu"])),
            "products_timed": len(r["product"]),
        }
        for who, r in rows.items()
    }
    scale = float(outputs["apart"].abs().max())
    result["shared_vs_apart_max_difference"] = float(
        (outputs["shared"] - outputs["apart"]).abs().max() / scale
    )
    if "berard" in outputs:
        result["shared_vs_berard_max_difference"] = float(
            (outputs["shared"] - outputs["berard"]).abs().max() / scale
        )
    for who in ("apart", "berard"):
        if who in result:
            for key in ("product_s", "product_cpu_s"):
                ratio = result[who][key] / result["shared"][key]
                result[f"{who}_over_shared{'_cpu' if 'cpu' in key else ''}"] = ratio
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, action="append", metavar=("NAME", "RUN_DIR"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    for name, run_dir in args.case or []:
        run = RunDirectory.open(run_dir)
        step = run.latest_step()
        at = CheckpointAt(run, step)
        samples = CASES[name]["samples"]
        load_before = os.getloadavg()
        result = measure(at, samples, 0, args.rounds, args.repeats)
        results[name] = {
            "step": step,
            "n_parameters": at.n,
            "samples": samples,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            **result,
        }
        print(json.dumps({name: results[name]}), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
