"""The shipped R3GAN ablation specs run the five methods of issue 15 with one gamma each."""

from pathlib import Path

import pytest

from convergan.config.shipped import description
from convergan.studies.grid import expand
from convergan.studies.planning import plan
from convergan.studies.spec import load_sweep_spec

# (loss, penalties) of each ablation row, written out here rather than read from the presets:
# NS + R1, RpGAN, RpGAN + R1, RpGAN + R2, RpGAN + R1 + R2 (R3GAN).
ROWS = [
    ("nonsaturating", ("r1",)),
    ("rpgan", ()),
    ("rpgan", ("r1",)),
    ("rpgan", ("r2",)),
    ("rpgan", ("r1", "r2")),
]


@pytest.mark.parametrize(
    ("name", "bases", "seeds", "gamma"),
    [
        ("r3gan-ablation", {"ring8", "grid25"}, 5, 1.0),
        ("r3gan-ablation-fashion-mnist", {"fashion-mnist"}, 3, 10.0),
    ],
)
def test_ablation_cells_are_the_five_methods_with_one_gamma(name, bases, seeds, gamma):
    spec = load_sweep_spec(name)
    assert set(spec.bases) == bases
    assert len(expand(spec)) == len(bases) * len(ROWS) * seeds
    found = {}
    for cell in plan(spec, Path("unused")):
        method = cell.config.method
        row = (method.loss, tuple(p.name for p in method.penalties))
        found.setdefault(row, set()).update(p.gamma for p in method.penalties)
        assert method.noise is None and method.clip is None and method.consensus is None
    assert sorted(found) == sorted(ROWS)
    assert all(gammas <= {gamma} for gammas in found.values())  # RpGAN alone has none


@pytest.mark.parametrize("name", ["r3gan-ablation", "r3gan-ablation-fashion-mnist"])
def test_ablation_spec_first_comment_is_one_sentence(name):
    line = description(load_sweep_spec(name).source)
    assert line.endswith(".") and line.count(". ") == 0 and len(line) > 20
