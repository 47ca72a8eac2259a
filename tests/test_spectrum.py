"""Matrix-free spectra against dense references on small float64 games.

References, all independent of the code under test: central finite differences of the field,
the dense Jacobian from ``torch.func.jacfwd`` with ``numpy.linalg.eig``, the dense update
Jacobians of :mod:`convergan.analysis.local` (autodiff through the scheme, or the scheme on a
dense linear field), and the exact Dirac-GAN analysis.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from convergan import dirac_gan
from convergan.analysis.eigensolver import leading_eigenvalues
from convergan.analysis.local import analyze, field_jacobian
from convergan.analysis.operators import linearized_update_jacobian, update_jacobian
from convergan.analysis.spectrum import (
    PRODUCT_ROUTES,
    JacobianOperator,
    diagonal_preconditioner,
    field_spectrum,
    simgd_lr_scale_upper_bound,
    stable_lr_scale_intervals,
    transposed_update_operator,
    update_operator,
    update_spectrum,
)
from convergan.field import GameField, ParameterLayout, flatten, game_field, unflatten
from convergan.methods import Batch, make_method
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.optimizers import Adam, RMSprop
from convergan.registry import METHODS
from convergan.schemes import AltGD, Extragradient, Optimistic, SimGD, lazy

LATENT, SAMPLES = 3, 24


def mlp_game(method_name: str, width: int = 12, seed: int = 0):
    """A float64 MLP game (n = 125 parameters at width 12) at a random, non-stationary point."""
    torch.manual_seed(seed)
    generator = MLPGenerator(LATENT, 2, width=width, depth=1).double()
    discriminator = MLPDiscriminator(2, width=width, depth=1).double()
    g = torch.Generator().manual_seed(seed + 1)
    real = torch.randn(SAMPLES, 2, generator=g, dtype=torch.float64)
    batch = Batch(
        real=real,
        latent=torch.randn(SAMPLES, LATENT, generator=g, dtype=torch.float64),
        real_noise=torch.randn(SAMPLES, 2, generator=g, dtype=torch.float64),
        fake_noise=torch.randn(SAMPLES, 2, generator=g, dtype=torch.float64),
        interpolation=torch.rand(SAMPLES, generator=g, dtype=torch.float64),
    )
    field = GameField(generator, discriminator, make_method(method_name), batch)
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    return field, x


@functools.cache
def dense_jacobian(method_name: str, gain: float = 1.0, width: int = 12) -> torch.Tensor:
    """The dense reference ``v′(x)`` by ``torch.func.jacfwd`` (computed once per test run)."""
    field, x = mlp_game(method_name, width)
    return field_jacobian(field.with_regularization_gain(gain), x)


def flat_field(field, x):
    sizes = tuple(x_i.numel() for x_i in x)
    return lambda z: flatten(field(unflatten(z, sizes)))


@pytest.mark.parametrize("method_name", list(METHODS))
def test_products_match_finite_differences_and_dense_jacobian(method_name):
    field, x = mlp_game(method_name)
    f, z = flat_field(field, x), flatten(x)
    dense = dense_jacobian(method_name)
    g = torch.Generator().manual_seed(3)
    u = torch.randn(z.numel(), generator=g, dtype=torch.float64)
    w = torch.randn(z.numel(), generator=g, dtype=torch.float64)
    eps = 1e-5
    finite = (f(z + eps * u) - f(z - eps * u)) / (2 * eps)  # J u up to O(eps^2)
    scale = float(finite.norm())
    assert scale > 1e-3  # the test is not vacuous
    for route in PRODUCT_ROUTES:
        operator = JacobianOperator(field, x, route)
        ju, jtw = operator.matvec(u), operator.rmatvec(w)
        assert torch.allclose(ju, dense @ u, rtol=0, atol=1e-10 * scale), route
        assert torch.allclose(jtw, dense.T @ w, rtol=0, atol=1e-10 * float(jtw.norm())), route
        assert float((ju - finite).norm()) <= 1e-6 * scale, route
        # wᵀ(J u) from the finite difference equals (Jᵀ w)ᵀ u from the reverse product.
        assert abs(float(w @ finite - jtw @ u)) <= 1e-6 * scale * float(w.norm()), route
        assert operator.products == 2


def dense_eigenvalues(method_name: str) -> np.ndarray:
    return np.linalg.eigvals(dense_jacobian(method_name).numpy())


def assert_leading_match(found: np.ndarray, dense: np.ndarray, which: str, k: int) -> None:
    """``found`` are the top-``k`` of ``dense`` by ``which`` (conjugates may swap at ties)."""
    crit = {"LR": np.real, "LM": np.abs, "LI": lambda v: np.abs(np.imag(v))}[which]
    scale = np.abs(dense).max()
    assert len(found) == k
    expected = np.sort(crit(dense))[::-1][:k]
    np.testing.assert_allclose(np.sort(crit(found))[::-1], expected, rtol=0, atol=1e-6 * scale)
    for value in found:  # each is an eigenvalue, to 1e-6 relative to the spectrum's scale
        assert np.abs(dense - value).min() <= 1e-6 * scale


@pytest.mark.parametrize("solver", ["krylov-schur", "arpack"])
@pytest.mark.parametrize("which,k", [("LR", 6), ("LM", 6), ("LI", 4)])
def test_solvers_match_dense_eigenvalues(which, k, solver):
    """k = 6 for LR and LM. This game has only two well-separated complex pairs (|Im| 0.179,
    0.177; the next is 0.007 among ~100 real eigenvalues, inside the spectrum's hull, where
    ARPACK resolves it only with a much larger Krylov space), so LI is checked with k = 4."""
    field, x = mlp_game("r1")
    operator = JacobianOperator(field, x)
    spectrum = field_spectrum(operator, k=k, which=which, solver=solver)
    dense = dense_eigenvalues("r1")
    assert spectrum.solver == solver and spectrum.converged
    assert_leading_match(spectrum.eigenvalues, dense, which, k)
    assert np.all(spectrum.residuals <= 1e-8 * np.abs(dense).max())
    # the residuals take one fresh product per real part and per imaginary part afterwards
    after = sum(1 + bool(np.any(np.imag(spectrum.eigenvalues[j]))) for j in range(k))
    assert spectrum.matvecs == operator.products - after


def test_residuals_measure_the_eigen_equation():
    """A perturbed eigenvalue's residual grows by exactly |δ|: ‖A u − (λ+δ) u‖ = |δ|‖u‖ for an
    exact pair, which checks the residual formula with a known answer."""
    matrix = torch.tensor(
        [[0.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64
    )
    spectrum = leading_eigenvalues(lambda u: matrix @ u, 3, k=3, which="LR")
    assert spectrum.solver == "dense"
    np.testing.assert_allclose(np.sort_complex(spectrum.eigenvalues), [-1, -2j, 2j], atol=1e-14)
    assert np.all(spectrum.residuals < 1e-14)
    from convergan.analysis.eigensolver import _residuals

    apply_block = lambda rows: (torch.from_numpy(rows) @ matrix.T).numpy()  # noqa: E731
    shifted = spectrum.eigenvalues + np.array([0.25, -0.5j, 2.0])
    residuals = _residuals(apply_block, shifted, spectrum.eigenvectors)
    np.testing.assert_allclose(residuals, [0.25, 0.5, 2.0], rtol=1e-12)


@pytest.mark.parametrize("route", PRODUCT_ROUTES)
def test_block_of_transpose_products_equals_one_at_a_time(route):
    """``rmatvec`` on a block (one batched backward) is the row-by-row product, and counts
    one product per row."""
    field, x = mlp_game("r1")
    operator = JacobianOperator(field, x, route)
    rows = torch.randn(
        5, operator.n, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    block = operator.rmatvec(rows)
    single = torch.stack([operator.rmatvec(r) for r in rows])
    torch.testing.assert_close(block, single, rtol=0, atol=1e-12 * float(single.abs().max()))
    torch.testing.assert_close(block[2], dense_jacobian("r1").T @ rows[2], rtol=1e-9, atol=1e-12)
    assert operator.products == 10


@pytest.mark.parametrize("route", PRODUCT_ROUTES)
def test_every_route_finds_the_dense_eigenvalues(route):
    """The transpose route solves on ``Jᵀ`` (left eigenvectors), the others on ``J``: the
    eigenvalues are the same, and each route's residuals certify them."""
    field, x = mlp_game("r1")
    spectrum = field_spectrum(JacobianOperator(field, x, route), k=4, which="LR")
    dense = dense_eigenvalues("r1")
    assert spectrum.converged
    assert_leading_match(spectrum.eigenvalues, dense, "LR", 4)
    assert np.all(spectrum.residuals <= 1e-8 * np.abs(dense).max())


def test_start_vector_from_a_previous_spectrum_saves_products():
    """ARPACK started from the leading eigenvectors' sum needs fewer products for the same
    eigenvalues than from a random vector."""
    from convergan.analysis.eigensolver import start_vector

    field, x = mlp_game("r1")
    operator = JacobianOperator(field, x)
    cold = field_spectrum(operator, k=4, which="LR")
    warm = field_spectrum(operator, k=4, which="LR", initial=start_vector(cold))
    np.testing.assert_allclose(
        np.sort(np.real(warm.eigenvalues)), np.sort(np.real(cold.eigenvalues)), atol=1e-8
    )
    assert warm.matvecs < cold.matvecs
    assert start_vector(None) is None


@pytest.mark.parametrize("name", ["gan", "r1"])
def test_dirac_eigenvalues_by_the_dense_fallback(name):
    """ARPACK needs k < n − 1, so the 2-parameter Dirac-GAN takes the dense path; it must give
    the exact analysis's two eigenvalues."""
    game, method = dirac_gan(), make_method(name, gamma=0.5) if name == "r1" else make_method(name)
    exact = analyze(game, method, SimGD(lr=0.5)).jacobian_eigenvalues.numpy()
    operator = JacobianOperator(game_field(game, method), game.equilibrium())
    for k in (1, 2):
        spectrum = field_spectrum(operator, k=k, which="LM")
        assert spectrum.solver == "dense" and spectrum.converged
        assert len(spectrum.eigenvalues) == k
        for value in spectrum.eigenvalues:
            assert np.abs(exact - value).min() < 1e-12
    spectrum = field_spectrum(operator, k=2, which="LI")
    np.testing.assert_allclose(
        np.sort_complex(spectrum.eigenvalues), np.sort_complex(exact), atol=1e-12
    )
    with pytest.raises(ValueError, match="too large"):
        field_spectrum(operator, k=3)


def test_dense_path_on_request_agrees_with_arpack():
    field, x = mlp_game("gan", width=6)
    operator = JacobianOperator(field, x)
    arpack = field_spectrum(operator, k=4, which="LM")
    dense = field_spectrum(operator, k=4, which="LM", dense=True)
    assert dense.solver == "dense" and dense.matvecs == operator.n
    np.testing.assert_allclose(np.abs(arpack.eigenvalues), np.abs(dense.eigenvalues), atol=1e-8)


@pytest.mark.parametrize("solver", ["krylov-schur", "arpack"])
def test_no_convergence_is_reported_not_hidden(solver):
    field, x = mlp_game("gan")
    operator = JacobianOperator(field, x)
    spectrum = field_spectrum(operator, k=6, which="LR", maxiter=1, ncv=8, tol=1e-14, solver=solver)
    assert not spectrum.converged
    assert len(spectrum.eigenvalues) < 6
    dense = dense_eigenvalues("gan")
    for value, residual in zip(spectrum.eigenvalues, spectrum.residuals):
        assert np.abs(dense - value).min() <= max(10 * residual, 1e-8)


UPDATE_WIDTH = 5  # n = 53 (optimistic: 106), enough for k = 6 and fast


def _update_cases():
    lr = 0.5  # spreads F′'s eigenvalues away from 1, so ARPACK needs fewer products
    return {
        "simgd": SimGD(lr=lr),
        "altgd-d2": AltGD(lr_g=lr, lr_d=2 * lr, d_steps=2),
        "extragradient": Extragradient(lr=lr),
        "optimistic": Optimistic(lr=lr),
        "lazy3-simgd": lazy(SimGD(lr=lr), 3),
    }


@pytest.mark.parametrize("case", list(_update_cases()))
def test_update_eigenvalues_match_dense_update_jacobian(case):
    scheme = _update_cases()[case]
    field, x = mlp_game("r1", UPDATE_WIDTH)
    sizes = tuple(x_i.numel() for x_i in x)
    gains = scheme.regularization_gains
    dense_jacobians = {g: dense_jacobian("r1", g, UPDATE_WIDTH) for g in gains}
    dense = linearized_update_jacobian(scheme, dense_jacobians, sizes).numpy()
    if case == "simgd":  # at any point, SimGD's F′ is also the autodiff Jacobian of its step
        np.testing.assert_allclose(update_jacobian(scheme, field, x).numpy(), dense, atol=1e-12)
    operators = {g: JacobianOperator(field.with_regularization_gain(g), x).matvec for g in gains}
    result = update_spectrum(scheme, operators, sizes, k=6)
    reference = np.linalg.eigvals(dense)
    assert result.spectrum.n == dense.shape[0]  # optimistic: the augmented state
    assert result.spectrum.converged
    assert_leading_match(result.spectrum.eigenvalues, reference, "LM", 6)
    assert result.spectral_radius == pytest.approx(np.abs(reference).max(), rel=1e-9)


@pytest.mark.parametrize("case", list(_update_cases()))
def test_transposed_update_operator_is_the_dense_update_jacobian_transposed(case):
    """F′ᵀ from J's transpose products alone (recorded once, a backward per product),
    assembled column by column, against the scheme run on the dense J (with a frozen P)."""
    scheme = _update_cases()[case]
    field, x = mlp_game("r1", UPDATE_WIDTH)
    sizes = tuple(x_i.numel() for x_i in x)
    gains = scheme.regularization_gains
    g = torch.Generator().manual_seed(7)
    p = tuple(torch.rand(s, generator=g, dtype=torch.float64) + 0.5 for s in sizes)
    dense_jacobians = {gain: dense_jacobian("r1", gain, UPDATE_WIDTH) for gain in gains}
    # The reference: the direct operator (checked against the dense scheme above) on dense J.
    direct, m = update_operator(
        scheme, {gain: (lambda z, j=j: j @ z) for gain, j in dense_jacobians.items()}, sizes, p
    )
    dense = torch.stack([direct(e) for e in torch.eye(m, dtype=torch.float64)], dim=1).numpy()
    transposed = {
        gain: JacobianOperator(field.with_regularization_gain(gain), x).rmatvec for gain in gains
    }
    apply, _ = transposed_update_operator(scheme, transposed, sizes, p)
    columns = [apply(e).numpy() for e in torch.eye(m, dtype=torch.float64)]
    np.testing.assert_allclose(np.stack(columns, axis=1), dense.T, atol=1e-12)
    result = update_spectrum(scheme, transposed, sizes, 6, p, transposed=True)
    assert result.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(dense)).max(), rel=1e-9)


@pytest.mark.parametrize("name,scheme", [("gan", SimGD(lr=0.5)), ("r1", AltGD(lr=0.5))])
def test_update_eigenvalues_on_the_dirac_gan(name, scheme):
    game, method = dirac_gan(), make_method(name)
    exact = analyze(game, method, scheme)
    operator = JacobianOperator(game_field(game, method), game.equilibrium())
    result = update_spectrum(scheme, {1.0: operator.matvec}, (1, 1), k=2)
    np.testing.assert_allclose(
        np.sort_complex(result.spectrum.eigenvalues),
        np.sort_complex(exact.update_eigenvalues.numpy()),
        atol=1e-12,
    )
    assert result.verdict == exact.verdict
    # DESIGN's worked values: unregularized SimGD 1.0308, R1 AltGD 0.8476 at h = 0.5.
    assert result.spectral_radius == pytest.approx({"gan": 1.0308, "r1": 0.8476}[name], abs=1e-4)


def test_preconditioned_update_is_the_scaled_step():
    """SimGD with a frozen diagonal P: F′ = I + h·P·J, built by hand from the dense J."""
    field, x = mlp_game("r2", UPDATE_WIDTH)
    sizes = tuple(x_i.numel() for x_i in x)
    g = torch.Generator().manual_seed(5)
    p = tuple(torch.rand(s, generator=g, dtype=torch.float64) * 3 + 0.1 for s in sizes)
    jac = dense_jacobian("r2", 1.0, UPDATE_WIDTH)
    expected = np.linalg.eigvals(
        (torch.eye(sum(sizes)) + 0.5 * torch.diag(torch.cat(p)) @ jac).numpy()
    )
    result = update_spectrum(SimGD(lr=0.5), {1.0: JacobianOperator(field, x).matvec}, sizes, 5, p)
    assert result.preconditioned
    assert_leading_match(result.spectrum.eigenvalues, expected, "LM", 5)


def test_diagonal_preconditioner_from_optimizer_state():
    v = torch.tensor([4.0, 0.25, 0.0], dtype=torch.float64)
    rms = diagonal_preconditioner({"step": 7, "square_avg": v}, RMSprop(eps=1e-8))
    np.testing.assert_allclose(rms.numpy(), [1 / (2 + 1e-8), 1 / (0.5 + 1e-8), 1e8])
    # Adam at step 3 with beta2 = 0.99: v̂ = v / (1 − 0.99³), the bias correction of its step.
    adam = diagonal_preconditioner(
        {"step": 3, "exp_avg_sq": v, "exp_avg": v}, Adam(betas=(0.0, 0.99), eps=1e-8)
    )
    corrected = 1 - 0.99**3
    np.testing.assert_allclose(
        adam.numpy()[:2], [1 / (2 / corrected**0.5 + 1e-8), 1 / (0.5 / corrected**0.5 + 1e-8)]
    )
    assert diagonal_preconditioner({}, RMSprop()) is None
    assert diagonal_preconditioner({"momentum_buffer": v}, RMSprop()) is None


def test_diagonal_preconditioner_reproduces_an_adam_step_without_momentum():
    """With β₁ = 0, Adam's next move of a tiny gradient g (which leaves v as it was) is
    −lr·P·g up to the change of bias correction between steps: P is the step Adam takes."""
    adam = Adam(betas=(0.0, 0.99), eps=1e-8)
    x = torch.zeros(4, dtype=torch.float64)
    g1 = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    _, state = adam.update(x, g1, 0.1, adam.init(x))
    moved, _ = adam.update(x, 1e-9 * g1, 0.1, state)  # a tiny gradient leaves v almost frozen
    p = diagonal_preconditioner(state, adam)
    # Adam's step-2 bias correction differs from the frozen step-1 one by a known factor:
    # v̂₂/v̂₁ = 0.99·(1 − 0.99)/(1 − 0.99²), so its step is P·ratio with
    ratio = ((1 - 0.99**2) / (0.99 * (1 - 0.99))) ** 0.5  # step-2 vs frozen step-1 correction
    np.testing.assert_allclose(moved.numpy(), (-0.1 * 1e-9 * g1 * p * ratio).numpy(), rtol=1e-6)


def test_simgd_lr_scale_upper_bound_by_hand():
    # η = −1 ± 2i: |1 + cη|² = (1 − c)² + 4c² < 1  ⇔  c < 2/5.
    assert simgd_lr_scale_upper_bound(np.array([-1 + 2j, -1 - 2j])) == pytest.approx(0.4)
    # η = −3 (real): |1 − 3c| < 1 ⇔ c < 2/3; the tighter one wins.
    assert simgd_lr_scale_upper_bound(np.array([-1 + 2j, -3.0])) == pytest.approx(0.4)
    assert simgd_lr_scale_upper_bound(np.array([-3.0, -0.1])) == pytest.approx(2 / 3)
    # Re η > 0: no scale works.
    assert simgd_lr_scale_upper_bound(np.array([-1.0, 0.5 + 1j])) is None
    assert simgd_lr_scale_upper_bound(np.array([-1.0, 2j])) is None  # on the imaginary axis


def test_scaled_field_operator_is_hpj_and_its_transpose():
    """``u ↦ HPJu`` against H, P and the dense J multiplied by hand; the transposed form
    ``u ↦ Jᵀ(HPu)`` is its transpose, so it has the same eigenvalues."""
    from convergan.analysis.spectrum import scaled_field_operator

    field, x = mlp_game("r1")
    sizes = tuple(x_i.numel() for x_i in x)
    operator = JacobianOperator(field, x)
    g = torch.Generator().manual_seed(5)
    preconditioner = tuple(torch.rand(s, generator=g, dtype=torch.float64) + 0.5 for s in sizes)
    lrs = (0.3, 0.02)
    h = torch.cat([torch.full((s,), lr, dtype=torch.float64) for s, lr in zip(sizes, lrs)])
    expected = torch.diag(h * torch.cat(preconditioner)) @ dense_jacobian("r1")
    eye = torch.eye(operator.n, dtype=torch.float64)
    direct = scaled_field_operator(operator.matvec, sizes, lrs, preconditioner)
    transposed = scaled_field_operator(operator.rmatvec, sizes, lrs, preconditioner, True)
    built = torch.stack([direct(e) for e in eye], dim=1)
    built_t = torch.stack([transposed(e) for e in eye], dim=1)
    torch.testing.assert_close(built, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(built_t, expected.T, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_stable_lr_scale_intervals_equal_a_scan(seed):
    # Random eigenvalues of H*P*J, mostly in the left half-plane; the scan below tests
    # |1 + c·η| < 1 for every η directly, at 20,001 scales.
    rng = np.random.default_rng(seed)
    values = rng.normal(size=5) * 3 + 1j * rng.normal(size=5) * 3
    values = values - (0.0 if seed == 5 else np.abs(values.real) + 0.5)  # seed 5: some Re η > 0
    intervals = stable_lr_scale_intervals(values)
    scales = np.linspace(1e-6, 2.0, 20_001)
    stable = np.all(np.abs(1 + scales[:, None] * values[None, :]) < 1, axis=1)
    if seed == 5:
        assert intervals == [] and not stable.any() and simgd_lr_scale_upper_bound(values) is None
        return
    ((lo, hi),) = intervals
    assert lo == 0.0 and 0 < hi < 2.0
    inside = (scales > lo) & (scales < hi)
    spacing = scales[1] - scales[0]
    near = np.abs(scales - hi) <= spacing
    np.testing.assert_array_equal(stable[~near], inside[~near])
    assert simgd_lr_scale_upper_bound(values) == hi  # one definition: the end of the last range


def test_stable_lr_scale_intervals_edge_cases():
    assert stable_lr_scale_intervals(np.array([], dtype=complex)) == [(0.0, math.inf)]
    assert stable_lr_scale_intervals(np.array([-1.0, 2j])) == []  # on the imaginary axis
    assert stable_lr_scale_intervals(np.array([-3.0, -0.1])) == [(0.0, pytest.approx(2 / 3))]
