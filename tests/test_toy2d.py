"""2D problems, the resumable stream, MLP players, 2D metrics and 2D figures."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from matplotlib.figure import Figure
from scipy.stats import wasserstein_distance
from torch import nn

from convergan.data.distributions_2d import (
    Distribution2D,
    FourLines,
    Toy2DStream,
    make_distribution_2d,
)
from convergan.metrics.point_clouds import (
    input_gradient_norm,
    mode_coverage,
    wasserstein1,
    wasserstein1_result,
)
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.plots.samples_2d import plot_samples, plot_w1_curves, save_samples_figure
from convergan.registry import PROBLEMS_2D

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- problems


def test_registry_names_and_unknown_name_error() -> None:
    assert set(PROBLEMS_2D) == {"gaussian", "line", "circle", "four-lines", "ring8", "grid25"}
    with pytest.raises(ValueError, match="unknown 2D problem 'moons'; choose one of gaussian"):
        make_distribution_2d("moons")
    with pytest.raises(ValueError, match="invalid options"):
        make_distribution_2d("circle", radius=1.0, sigma=0.1)
    with pytest.raises(ValueError, match="std must be a positive"):
        make_distribution_2d("ring8", std=-1.0)


@pytest.mark.parametrize("name", sorted(PROBLEMS_2D))
def test_every_problem_samples_shape_dtype_and_is_deterministic(name: str) -> None:
    problem = make_distribution_2d(name)
    assert isinstance(problem, Distribution2D)
    assert problem.name == name
    x = problem.sample(64, gen(3))
    assert x.shape == (64, 2) and x.dtype == torch.float32
    assert torch.equal(x, problem.sample(64, gen(3)))
    assert not torch.equal(x, problem.sample(64, gen(4)))
    assert problem.sample(5, gen(), dtype=torch.float64).dtype == torch.float64
    assert problem.sample(0, gen()).shape == (0, 2)


def test_manifold_problems_are_flagged_not_absolutely_continuous() -> None:
    flags = {name: make_distribution_2d(name).absolutely_continuous for name in PROBLEMS_2D}
    assert flags == {
        "gaussian": True,
        "line": False,
        "circle": False,
        "four-lines": False,
        "ring8": True,
        "grid25": True,
    }


def test_gaussian_moments() -> None:
    x = make_distribution_2d("gaussian").sample(20_000, gen(), dtype=torch.float64)
    assert torch.allclose(x.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.03)
    assert torch.allclose(x.std(0), torch.ones(2, dtype=torch.float64), atol=0.03)
    assert abs(torch.corrcoef(x.T)[0, 1]) < 0.03


def test_line_lies_on_the_x_axis_and_is_uniform() -> None:
    x = make_distribution_2d("line").sample(20_000, gen())
    assert torch.all(x[:, 1] == 0)
    assert x[:, 0].min() >= -1 and x[:, 0].max() <= 1
    assert abs(x[:, 0].mean()) < 0.02
    assert abs(x[:, 0].var() - 1 / 3) < 0.01  # Var U[-1, 1] = 1/3


def test_circle_has_radius_one_and_uniform_angle() -> None:
    x = make_distribution_2d("circle").sample(20_000, gen())
    assert torch.allclose(x.norm(dim=1), torch.ones(len(x)), atol=1e-6)
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.02)  # E cos = E sin = 0
    assert abs((x**2).mean(0)[0] - 0.5) < 0.01  # E cos² = 1/2


def test_four_lines_square_lies_on_the_sides_with_equal_mass() -> None:
    x = make_distribution_2d("four-lines").sample(20_000, gen(), dtype=torch.float64)
    assert torch.allclose(x.abs().max(dim=1).values, torch.ones(len(x), dtype=torch.float64))
    # which side: bottom, right, top, left (corners have probability 0)
    side = torch.where(x[:, 1] <= -1 + 1e-12, 0, -1)
    side = torch.where(x[:, 0] >= 1 - 1e-12, 1, side)
    side = torch.where(x[:, 1] >= 1 - 1e-12, 2, side)
    side = torch.where(x[:, 0] <= -1 + 1e-12, 3, side)
    freq = torch.bincount(side, minlength=4).double() / len(x)
    assert torch.allclose(freq, torch.full((4,), 0.25, dtype=torch.float64), atol=0.015)


def test_four_lines_star_lies_on_four_lines_through_the_origin() -> None:
    problem = FourLines(layout="star")
    x = problem.sample(10_000, gen(), dtype=torch.float64)
    angles = torch.arange(4, dtype=torch.float64) * math.pi / 4
    directions = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    cross = x[:, :1] * directions[:, 1] - x[:, 1:] * directions[:, 0]  # (n, 4) distances
    assert cross.abs().min(dim=1).values.max() < 1e-12
    assert x.norm(dim=1).max() <= 1 + 1e-12
    with pytest.raises(ValueError, match="unknown four-lines layout"):
        FourLines(layout="hash")


def test_ring8_modes_and_spread() -> None:
    problem = make_distribution_2d("ring8")
    assert problem.modes.shape == (8, 2) and problem.mode_std == 0.02
    assert torch.allclose(problem.modes.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    angles = torch.atan2(problem.modes[:, 1], problem.modes[:, 0]) % (2 * math.pi)
    expected = torch.arange(8, dtype=torch.float64) * math.pi / 4
    assert torch.allclose(angles, expected, atol=1e-12)
    x = problem.sample(16_000, gen(), dtype=torch.float64)
    nearest = torch.cdist(x, problem.modes).argmin(dim=1)
    residual = x - problem.modes[nearest]
    assert torch.allclose(residual.std(0), torch.full((2,), 0.02, dtype=torch.float64), rtol=0.03)
    freq = torch.bincount(nearest, minlength=8).double() / len(x)
    assert torch.allclose(freq, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.015)


def test_grid25_modes_and_spread() -> None:
    problem = make_distribution_2d("grid25")
    ticks = [-4.0, -2.0, 0.0, 2.0, 4.0]
    expected = {(a, b) for a in ticks for b in ticks}
    assert {tuple(m) for m in problem.modes.tolist()} == expected
    assert problem.mode_std == 0.05
    x = problem.sample(25_000, gen(), dtype=torch.float64)
    nearest = torch.cdist(x, problem.modes).argmin(dim=1)
    residual = x - problem.modes[nearest]
    assert torch.allclose(residual.std(0), torch.full((2,), 0.05, dtype=torch.float64), rtol=0.03)
    counts = torch.bincount(nearest, minlength=25)
    assert counts.min() > 800 and counts.max() < 1200  # 1000 expected per mode


# --------------------------------------------------------------------------- stream


def test_stream_is_determined_by_seed() -> None:
    a = Toy2DStream("ring8", batch_size=16, seed=7)
    b = Toy2DStream(make_distribution_2d("ring8"), batch_size=16, seed=7)
    c = Toy2DStream("ring8", batch_size=16, seed=8)
    first_a, first_b = [next(a) for _ in range(3)], [next(b) for _ in range(3)]
    assert all(torch.equal(u, v) for u, v in zip(first_a, first_b, strict=True))
    assert not torch.equal(first_a[0], next(iter(c)))
    assert first_a[0].shape == (16, 2)


def test_stream_state_round_trip_resumes_the_exact_sequence() -> None:
    original = Toy2DStream("grid25", batch_size=32, seed=1)
    for _ in range(5):
        next(original)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    expected = [next(original) for _ in range(4)]

    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = Toy2DStream("grid25", batch_size=32, seed=999)
    resumed.load_state_dict(state)
    assert resumed.batches_drawn == 5 and resumed.seed == 1
    got = [next(resumed) for _ in range(4)]
    assert all(torch.equal(u, v) for u, v in zip(expected, got, strict=True))


def test_stream_rejects_a_foreign_state_and_bad_batch_size() -> None:
    state = Toy2DStream("circle", batch_size=8, seed=0).state_dict()
    with pytest.raises(ValueError, match="state is for problem 'circle'"):
        Toy2DStream("line", batch_size=8).load_state_dict(state)
    with pytest.raises(ValueError, match="batch size"):
        Toy2DStream("circle", batch_size=9).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        Toy2DStream("circle", batch_size=0)


# --------------------------------------------------------------------------- models


def test_mlp_shapes_and_depth() -> None:
    g = MLPGenerator(latent_dim=8, width=32, depth=3)
    d = MLPDiscriminator(width=32, depth=3)
    z = torch.randn(10, 8, generator=gen())
    assert g(z).shape == (10, 2)
    assert d(g(z)).shape == (10,)
    assert sum(isinstance(m, nn.Linear) for m in d.modules()) == 4  # depth hidden + output
    assert MLPDiscriminator(depth=0)(torch.zeros(3, 2)).shape == (3,)
    assert MLPGenerator(latent_dim=4, out_dim=3, width=16)(torch.zeros(2, 4)).shape == (2, 3)
    slopes = [m.negative_slope for m in g.modules() if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.2, 0.2, 0.2]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLPDiscriminator(activation="swish")
    with pytest.raises(ValueError, match="width must be"):
        MLPGenerator(latent_dim=2, width=0)


def test_mlp_has_no_batch_coupling() -> None:
    """No batch norm: each sample's output is independent of the rest of the batch."""
    torch.manual_seed(0)
    d = MLPDiscriminator(width=32)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    x = torch.randn(6, 2, generator=gen())
    whole = d(x)
    alone = torch.cat([d(x[i : i + 1]) for i in range(6)])
    assert torch.allclose(whole, alone, atol=1e-6)


# --------------------------------------------------------------------------- W1


def test_w1_two_diracs_is_their_distance() -> None:
    assert wasserstein1(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)
    x = torch.zeros(50, 2)
    y = torch.tensor([[1.0, -2.0]]).repeat(70, 1)  # different sizes, still one point each
    assert wasserstein1(x, y) == pytest.approx(math.sqrt(5.0), rel=1e-9)


def test_w1_of_a_translated_cloud_is_the_translation_length() -> None:
    # W1 ≥ ‖mean(x) − mean(y)‖ = ‖t‖ (Jensen) and the identity coupling costs ‖t‖.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)) * [2.0, 0.5]
    t = np.array([0.3, -0.4])
    y = (x + t)[rng.permutation(300)]  # shuffled: the solver has to find the matching
    assert wasserstein1(x, y) == pytest.approx(0.5, rel=1e-9)


def test_w1_subsamples_reproducibly_and_reports_sizes() -> None:
    x = make_distribution_2d("gaussian").sample(500, gen(0))
    y = make_distribution_2d("gaussian").sample(300, gen(1))
    result = wasserstein1_result(x, y, max_samples=200, seed=5)
    assert (result.n_x, result.n_y) == (200, 200)
    assert result.value == wasserstein1(x, y, max_samples=200, seed=5)
    assert wasserstein1_result(x, y, max_samples=1000).n_x == 500
    with pytest.raises(ValueError, match="NaN or Inf"):
        wasserstein1(x, torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="same dimension"):
        wasserstein1(x, torch.zeros(3, 3))


point_clouds = st.integers(1, 12).flatmap(
    lambda n: arrays(np.float64, (n, 2), elements=st.floats(-10, 10, allow_nan=False, width=32))
)


@settings(max_examples=40, deadline=None)
@given(x=point_clouds, y=point_clouds)
def test_w1_properties(x: np.ndarray, y: np.ndarray) -> None:
    assert wasserstein1(x, x) == pytest.approx(0.0, abs=1e-9)
    forward, backward = wasserstein1(x, y), wasserstein1(y, x)
    assert forward == pytest.approx(backward, rel=1e-9, abs=1e-9)
    assert forward >= np.linalg.norm(x.mean(0) - y.mean(0)) - 1e-9


@settings(max_examples=30, deadline=None)
@given(x=point_clouds, y=point_clouds)
def test_w1_on_a_line_matches_scipy_1d(x: np.ndarray, y: np.ndarray) -> None:
    """Embedded in 2D on the x-axis, W1 equals SciPy's independent 1D (quantile) formula."""
    flat_x, flat_y = x.copy(), y.copy()
    flat_x[:, 1] = 0.0
    flat_y[:, 1] = 0.0
    expected = wasserstein_distance(flat_x[:, 0], flat_y[:, 0])
    assert wasserstein1(flat_x, flat_y) == pytest.approx(expected, rel=1e-7, abs=1e-9)


# --------------------------------------------------------------------------- modes


def test_mode_coverage_on_constructed_samples() -> None:
    problem = make_distribution_2d("ring8")
    modes, std = problem.modes, problem.mode_std
    offsets = torch.tensor([[0.01, 0.0], [0.0, -0.02], [0.03, 0.03]], dtype=torch.float64)
    good = [modes[i] + offsets[j % 3] for i in range(5) for j in range(30)]  # 5 modes × 30
    few = [modes[5] + offsets[0]] * 10  # mode 5: 10 good samples, fewer than min_count
    bad = [torch.zeros(2, dtype=torch.float64)] * 40  # the origin: 100 std from every mode
    samples = torch.stack(good + few + bad)
    stats = mode_coverage(samples, modes, std, threshold=3.0, min_count=20)
    assert stats.modes_covered == 5
    assert stats.high_quality_fraction == pytest.approx(160 / 200)
    assert stats.num_modes == 8
    assert stats.high_quality_counts == (30, 30, 30, 30, 30, 10, 0, 0)
    assert mode_coverage(samples, modes, std, min_count=10).modes_covered == 6
    # 0.03·√2 ≈ 0.042 > 2·std: the third offset is not high quality at threshold 2
    assert mode_coverage(samples, modes, std, threshold=2.0).high_quality_fraction == (
        pytest.approx(110 / 200)
    )


def test_mode_coverage_of_the_true_distribution_matches_rayleigh() -> None:
    problem = make_distribution_2d("grid25")
    x = problem.sample(20_000, gen(2))
    stats = mode_coverage(x, problem.modes, problem.mode_std)
    assert stats.modes_covered == 25
    assert stats.high_quality_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.004)


# --------------------------------------------------------------------------- input gradient


def test_input_gradient_norm_of_a_linear_discriminator_is_squared_weight_norm() -> None:
    d = nn.Linear(2, 1)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[3.0, -4.0]]))
        d.bias.fill_(0.7)
    x = torch.randn(64, 2, generator=gen())
    with torch.no_grad():  # a metric: must work inside no_grad blocks too
        assert input_gradient_norm(d, x) == pytest.approx(25.0)
    assert d.weight.grad is None and d.bias.grad is None


def test_input_gradient_norm_averages_per_sample_squared_norms() -> None:
    class Quadratic(nn.Module):  # D(x) = ‖x‖², ∇D = 2x, ‖∇D‖² = 4‖x‖²
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x**2).sum(dim=1)

    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert input_gradient_norm(Quadratic(), x) == pytest.approx(4 * (1 + 4 + 2) / 3)
    mlp = MLPDiscriminator(width=16, depth=2)
    assert input_gradient_norm(mlp, x) >= 0.0


# --------------------------------------------------------------------------- plots


def test_save_samples_figure_writes_a_png(tmp_path) -> None:
    problem = make_distribution_2d("ring8")
    real, fake = problem.sample(300, gen(0)), 1.5 * problem.sample(300, gen(1))
    path = save_samples_figure(
        tmp_path / "figs" / "samples.png",
        real,
        fake,
        discriminator=MLPDiscriminator(width=16, depth=1),
        title="ring8",
    )
    assert path.read_bytes()[:8] == PNG_MAGIC
    plain = save_samples_figure(tmp_path / "plain.png", real.numpy(), fake.numpy())
    assert plain.read_bytes()[:8] == PNG_MAGIC


def test_plot_samples_draws_into_a_given_axes() -> None:
    figure = Figure()
    axes = figure.subplots(1, 2)
    real = make_distribution_2d("circle").sample(100, gen())
    returned = plot_samples(real, real + 0.1, ax=axes[1], title="b", bounds=(-2, 2, -2, 2))
    assert returned is axes[1]
    assert returned.get_xlim() == (-2, 2) and returned.get_title() == "b"
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        plot_samples(torch.zeros(5, 3), real)


def test_plot_w1_curves_writes_a_png(tmp_path) -> None:
    steps = np.arange(0, 1000, 100)
    curves = {"unregularized": (steps, 1.0 + 0 * steps), "R1 γ=1": (steps, np.exp(-steps / 300))}
    path = plot_w1_curves(curves, tmp_path / "w1.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="10 steps but 3 values"):
        plot_w1_curves({"bad": (steps, [1.0, 2.0, 3.0])}, tmp_path / "bad.png")
