"""Matrix-free spectra of real networks: the field Jacobian and the update operators.

The object is the field ``v(θ, ψ) = (−∇_θ L_G, −∇_ψ L_D)`` of a :class:`~convergan.field.
GameField` on a *fixed* batch (the evaluation game: N real samples, N latents and any noise
draws, seeded), so that ``J = v′(x)`` is a deterministic ``n × n`` matrix. It is never formed
for large models; we only apply it:

* ``Jᵀ·w`` by **one backward** through the graph of ``v``, built once at ``x`` with plain
  autograd (``create_graph``) and kept: the cheapest product, and ``Jᵀ`` has ``J``'s
  eigenvalues, so the field's spectra run on it (``route="transpose"``, the default). This is
  the product of Berard et al.'s code (``autograd.grad(⟨∇L, w⟩, params)``), with the field of
  any method.
* ``J·u`` by **double backward** (the update operators need ``J`` itself): ``g(w) = Jᵀw`` is
  linear in ``w``, so ``J u = ∂⟨g(w), u⟩/∂w``, one backward through ``g``'s graph, built on
  first use. Or by **forward-over-reverse** (``route="forward"``: ``torch.func.jvp`` of the
  field, one forward and backward with tangents per product, nothing kept). R1/R2 make this a
  third derivative of D, which both routes handle. ``benchmarks/bench_spectrum.py`` times
  them, and ``benchmarks/bench_spectrum_vs_berard.py`` the whole solve against Berard et al.'s
  pattern.

Leading eigenvalues come from ARPACK (``scipy.sparse.linalg.eigs``) on a ``LinearOperator``:
``LR`` (largest real part: the most unstable direction), ``LM`` (largest magnitude: what
limits the learning rate), ``LI`` (largest imaginary part, in magnitude: the most rotational
direction). Every eigenpair carries its residual ``‖J u − λ u‖ / ‖u‖``. When ARPACK does not
converge, the pairs it did converge are returned with ``converged = False``.

Update operators are the scheme run on the linearised field ``u ↦ J u`` through one period
(:class:`~convergan.field.LinearField`, the same class
:func:`convergan.analysis.local.linearized_update_jacobian` uses on the Dirac-GAN), made
matrix-free: a scheme is linear on a linear field, so one period applied to ``u`` *is*
``F′ u``. The optimizer's second moments may be frozen as a diagonal
preconditioner of the gradient steps (the step RMSprop/Adam actually take, without momentum).

Reference: Berard, Gidel, Almahairi, Vincent, Lacoste-Julien, "A Closer Look at the
Optimization Landscapes of Generative Adversarial Networks", ICLR 2020.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from torch import Tensor

from convergan.analysis.operators import UNIT_CIRCLE_TOLERANCE, period_map, verdict
from convergan.analysis.which import WHICH
from convergan.field import GameField, GradientStep, LinearField, State, flatten, unflatten

Route = Literal["transpose", "double-backward", "forward"]
ROUTES: tuple[str, ...] = ("transpose", "double-backward", "forward")


# ---------------------------------------------------------------------------- J as an operator


class JacobianOperator:
    """``J = v′(x)`` of ``field`` at ``x``, applied matrix-free: :meth:`matvec` is ``J u``,
    :meth:`rmatvec` is ``Jᵀ w`` (i.e. ``wᵀ J``). Inputs of any dtype; outputs in that dtype.
    ``products`` counts the applications.

    The graph of ``v`` near ``x`` is built once, by plain autograd with ``create_graph``
    (:meth:`GameField.differentiable <convergan.field.GameField.differentiable>`), and kept:

    * ``Jᵀ w`` is one backward through it (``rmatvec``): the cheapest product there is, and
      ``Jᵀ`` has ``J``'s eigenvalues, so ``route="transpose"`` (the default) runs the field's
      eigen-solver on it (:attr:`spectrum_product`);
    * ``J u`` (``matvec``, which the update operators need) is a backward through a backward:
      ``g(w) = Jᵀw`` is linear in ``w``, so ``J u = ∂⟨g(w), u⟩/∂w``; ``g``'s graph is built on
      the first ``J u`` (``route="double-backward"`` builds it up front and runs the field's
      solver on ``J`` itself).

    ``route="forward"`` keeps nothing up front: ``J u`` by ``torch.func.jvp``
    (forward-over-reverse) and ``Jᵀ w`` by ``torch.func.vjp``, both on the field's own route.
    All routes give the same numbers; ``benchmarks/bench_spectrum.py`` times them.
    """

    def __init__(self, field: GameField, x: State, route: Route = "transpose") -> None:
        if route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, not {route!r}")
        self.route = route
        self.sizes = tuple(int(x_i.shape[-1]) for x_i in x)
        self.n = sum(self.sizes)
        self.point = flatten(tuple(x_i.detach() for x_i in x))
        self.dtype = self.point.dtype
        self.products = 0

        def flat_field(z: Tensor) -> Tensor:
            return flatten(field(unflatten(z, self.sizes)))

        self._field = flat_field
        self._pullback = self._g = None
        if route == "forward":
            self.value = flat_field(self.point).detach()
            return
        with torch.enable_grad():
            self._z = self.point.clone().requires_grad_(True)
            self._v = flatten(field.differentiable(unflatten(self._z, self.sizes)))
        self.value = self._v.detach()
        if route == "double-backward":
            self._transpose_graph()

    @property
    def spectrum_product(self) -> Callable[[Tensor], Tensor]:
        """The product the field's eigen-solver uses: ``Jᵀ`` on the transpose route."""
        return self.rmatvec if self.route == "transpose" else self.matvec

    def _transpose_graph(self) -> Tensor:
        """``g(w) = Jᵀ w`` with its graph kept, built once (``J u = ∂⟨g(w), u⟩/∂w``)."""
        if self._g is None:
            with torch.enable_grad():
                self._w = torch.zeros_like(self._v, requires_grad=True)
                (self._g,) = torch.autograd.grad(self._v, self._z, self._w, create_graph=True)
        return self._g

    def matvec(self, u: Tensor) -> Tensor:
        self.products += 1
        u_model = u.to(self.point.device, self.dtype)
        if self.route == "forward":
            out = torch.func.jvp(self._field, (self.point,), (u_model,))[1]
        else:
            with torch.enable_grad():
                g = self._transpose_graph()
                (out,) = torch.autograd.grad(g, self._w, u_model, retain_graph=True)
        return out.detach().to(u.device, u.dtype)

    def rmatvec(self, w: Tensor) -> Tensor:
        """``Jᵀ w``; a 2-D ``w`` (one vector per row) is a block of products, done as one
        batched backward where the graph allows it."""
        self.products += 1 if w.dim() == 1 else w.shape[0]
        w_model = w.to(self.point.device, self.dtype)
        if self.route == "forward":
            if self._pullback is None:
                _, self._pullback = torch.func.vjp(self._field, self.point)
            out = torch.stack([self._pullback(row)[0] for row in w_model.reshape(-1, self.n)])
            return out.reshape(w.shape).detach().to(w.device, w.dtype)
        with torch.enable_grad():
            if w.dim() == 1:
                (out,) = torch.autograd.grad(self._v, self._z, w_model, retain_graph=True)
            else:
                out = self._batched_backward(w_model)
        return out.detach().to(w.device, w.dtype)

    def _batched_backward(self, rows: Tensor) -> Tensor:
        try:
            (out,) = torch.autograd.grad(
                self._v, self._z, rows, retain_graph=True, is_grads_batched=True
            )
            return out
        except RuntimeError:  # an operation without a batching rule: one row at a time
            rows_out = [
                torch.autograd.grad(self._v, self._z, r, retain_graph=True)[0] for r in rows
            ]
            return torch.stack(rows_out)


# ---------------------------------------------------------------------------- the eigen-solver


@dataclass(frozen=True)
class Spectrum:
    """Leading eigenvalues of an operator, best first by ``which``, with their residuals.

    ``residuals[j] = ‖A u_j − λ_j u_j‖ / ‖u_j‖``. ``converged`` is ARPACK's flag (always true
    for the dense solver); without convergence only the pairs ARPACK converged are listed.
    ``matvecs`` counts the products the solver needed (the residuals' are not included).
    """

    eigenvalues: np.ndarray
    residuals: np.ndarray
    which: str
    k: int
    n: int
    converged: bool
    matvecs: int
    seconds: float
    solver: str  # "arpack" or "dense"
    eigenvectors: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "which": self.which,
            "k": self.k,
            "n": self.n,
            "solver": self.solver,
            "eigenvalues": complex_pairs(self.eigenvalues),
            "residuals": [float(r) for r in self.residuals],
            "converged": self.converged,
            "n_converged": int(len(self.eigenvalues)),
            "matvecs": self.matvecs,
            "seconds": self.seconds,
        }


def complex_pairs(values) -> list[list[float]]:
    return [[float(np.real(v)), float(np.imag(v))] for v in values]


def criterion(values: np.ndarray, which: str) -> np.ndarray:
    """What ``which`` maximises: Re λ (LR), |λ| (LM), |Im λ| (LI; ARPACK's meaning for real
    operators, whose eigenvalues come in conjugate pairs)."""
    if which == "LR":
        return np.real(values)
    if which == "LM":
        return np.abs(values)
    if which == "LI":
        return np.abs(np.imag(values))
    raise ValueError(f"which must be one of {', '.join(WHICH)}, not {which!r}")


def check_k(k: int, n: int) -> None:
    """ARPACK needs ``k < n − 1``; smaller operators use the dense solver, which needs ``k ≤ n``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k = {k} is too large: the operator has only {n} dimensions")


def leading_eigenvalues(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    k: int = 10,
    which: str = "LR",
    *,
    tol: float = 1e-10,
    maxiter: int | None = None,
    ncv: int | None = None,
    seed: int = 0,
    dense: bool | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    initial: np.ndarray | None = None,
    block: Callable[[Tensor], Tensor] | None = None,
) -> Spectrum:
    """The ``k`` leading eigenvalues of the real operator ``u ↦ matvec(u)`` (float64 tensors).

    ARPACK (implicitly restarted Arnoldi) from a seeded start vector, so the result is
    reproducible. ARPACK needs ``k < n − 1``; for smaller ``n`` (e.g. the 2-parameter
    Dirac-GAN), or when ``dense=True``, the matrix is assembled from ``n`` products with the
    unit vectors and solved densely instead (``solver = "dense"``). ``progress`` is called
    with the running product count, the products planned so far and ARPACK's restarts so far:
    ARPACK first builds a Krylov basis of ``ncv`` products, then each implicit restart adds
    about ``ncv - k``, so the plan (and a bar's estimate) covers the current basis or restart.

    ``initial``: ARPACK's start vector (default: seeded normal). A combination of a nearby
    operator's leading eigenvectors (:func:`start_vector`) saves products when several
    checkpoints of one run are analysed. ``block``: the product on a block of vectors (one
    per row), used for the residual checks, which need all their products at once.
    """
    criterion(np.zeros(1), which)  # validates which
    check_k(k, n)
    count, basis, per_restart = 0, n, 1  # dense: n products, no restarts
    restarts, solved = 0, False  # after solving, the residual checks: no new basis

    def apply(u: np.ndarray) -> np.ndarray:
        nonlocal count, restarts
        count += 1
        if progress is not None:
            if not solved:
                restarts = max(0, -(-(count - basis) // per_restart))
            progress(count, basis + restarts * per_restart, restarts)
        out = matvec(torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64)))
        return out.detach().cpu().numpy().astype(np.float64)

    def apply_block(rows: np.ndarray) -> np.ndarray:
        nonlocal count
        if block is None:
            return np.stack([apply(r) for r in rows])
        count += len(rows)
        if progress is not None:
            progress(count, basis + restarts * per_restart, restarts)
        out = block(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float64)))
        return out.detach().cpu().numpy().astype(np.float64)

    start = time.perf_counter()
    use_dense = dense if dense is not None else k >= n - 1
    if use_dense:
        matrix = np.stack([apply(e) for e in np.eye(n)], axis=1)
        values, vectors = np.linalg.eig(matrix)
        converged = True
    else:
        v0 = np.random.default_rng(seed).standard_normal(n) if initial is None else initial
        operator = LinearOperator((n, n), matvec=apply, dtype=np.float64)
        ncv = ncv or krylov_dimension(n, k, which)
        basis, per_restart = ncv, max(1, ncv - k)
        values, vectors, converged = _arpack(operator, k, which, tol, maxiter, ncv, v0)
    solved = True
    order = np.argsort(-criterion(values, which), kind="stable")[:k]
    values, vectors = values[order], vectors[:, order]
    solver_matvecs, seconds = count, time.perf_counter() - start
    residuals = _residuals(apply_block, values, vectors)
    return Spectrum(
        values, residuals, which, k, n, converged, solver_matvecs, seconds,
        "dense" if use_dense else "arpack", vectors,
    )  # fmt: skip


def krylov_dimension(n: int, k: int, which: str) -> int:
    """ARPACK's Krylov dimension: ``max(40, 5k)``, twice that for ``LI``, at most ``n``.

    Why not scipy's ``max(2k + 1, 20)``: the wanted eigenvalues of a network's field Jacobian
    sit close together at the edge of a wide spectrum, and a small basis restarts many times.
    Measured on the default circle run (2,000 steps, N = 2000, tolerance 1e-5, same start
    vector), the products ARPACK needed: k = 6: 286 at scipy's 20, 129 at 34, 104 at 40, 110
    at 60; k = 10: 542 at 21, 159 at 40, 144 at 60. The basis costs ``ncv·n`` floats.

    Eigenvalues with the largest |Im| may lie inside the spectrum's hull (small pairs among
    many real eigenvalues), where Krylov spaces resolve them late and ARPACK may converge to
    other, genuine eigenpairs instead: LI gets twice the dimension. Its residuals certify
    eigenpairs, not that they are the top-k by |Im|."""
    return min(n, max(40, 5 * k) * (2 if which == "LI" else 1))


def _arpack(operator, k, which, tol, maxiter, ncv, v0):
    try:
        values, vectors = eigs(operator, k=k, which=which, tol=tol, maxiter=maxiter, ncv=ncv, v0=v0)
        return values, vectors, True
    except ArpackNoConvergence as error:  # keep what converged, and say so
        return error.eigenvalues, error.eigenvectors, False


def _residuals(apply_block, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``‖A u − λ u‖ / ‖u‖`` for each complex ``u``, from ``A Re u`` and ``A Im u``, all
    products in one block."""
    if not len(values):
        return np.zeros(0)
    complex_columns = [j for j in range(len(values)) if np.any(vectors[:, j].imag)]
    rows = [vectors[:, j].real for j in range(len(values))]
    rows += [vectors[:, j].imag for j in complex_columns]
    images = apply_block(np.stack(rows))
    out = []
    for j in range(len(values)):
        image = images[j].astype(complex)
        if j in complex_columns:
            image = image + 1j * images[len(values) + complex_columns.index(j)]
        vector = vectors[:, j]
        out.append(np.linalg.norm(image - values[j] * vector) / np.linalg.norm(vector))
    return np.array(out, dtype=float)


def start_vector(previous: Spectrum | None) -> np.ndarray | None:
    """A start vector for the next ARPACK run from a previous spectrum's eigenvectors (the
    sum of their real and imaginary parts, each normalised), or ``None``."""
    if previous is None or previous.eigenvectors is None or not len(previous.eigenvalues):
        return None
    vectors = previous.eigenvectors
    parts = [p for p in (*vectors.real.T, *vectors.imag.T) if np.any(p)]
    return np.sum([p / np.linalg.norm(p) for p in parts], axis=0)


def field_spectrum(
    operator: JacobianOperator, k: int = 10, which: str = "LR", **solver
) -> Spectrum:
    """The ``k`` leading eigenvalues of the field Jacobian ``J``, from the operator's
    :attr:`~JacobianOperator.spectrum_product` (``Jᵀ`` on the default route: the same
    eigenvalues, each product one backward; the eigenvectors are then ``J``'s left ones)."""
    product = operator.spectrum_product
    block = operator.rmatvec if product == operator.rmatvec else None
    return leading_eigenvalues(product, operator.n, k, which, block=block, **solver)


# ---------------------------------------------------------------------------- update operators


@dataclass(frozen=True)
class UpdateSpectrum:
    """Leading eigenvalues of one period's update Jacobian ``F′`` (``which = "LM"``)."""

    scheme: str
    period: int
    lrs: tuple[float, float]
    preconditioned: bool
    spectrum: Spectrum

    @property
    def spectral_radius(self) -> float:
        """``max |μ|`` over the eigenvalues found: a lower bound on ρ(F′) if ARPACK did not
        converge (it then found fewer than ``k`` of the largest)."""
        values = self.spectrum.eigenvalues
        return float(np.abs(values).max()) if len(values) else float("nan")

    @property
    def verdict(self) -> str:
        if not len(self.spectrum.eigenvalues):
            return "undefined"
        return verdict(self.spectral_radius)

    def to_dict(self) -> dict:
        return {
            "scheme": self.scheme,
            "period": self.period,
            "lr_g": self.lrs[0],
            "lr_d": self.lrs[1],
            "preconditioned": self.preconditioned,
            "update_eigenvalues": complex_pairs(self.spectrum.eigenvalues),
            "update_residuals": [float(r) for r in self.spectrum.residuals],
            "spectral_radius": self.spectral_radius,
            "rate_per_step": self.spectral_radius ** (1.0 / self.period),
            "verdict": self.verdict,
            "converged": self.spectrum.converged,
            "matvecs": self.spectrum.matvecs,
            "seconds": self.spectrum.seconds,
        }


def update_operator(
    scheme,
    jacobians: Mapping[float, Callable[[Tensor], Tensor]],
    sizes: tuple[int, ...],
    preconditioner: tuple[Tensor, ...] | None = None,
) -> tuple[Callable[[Tensor], Tensor], int]:
    """``(u ↦ F′u, m)``: one period of ``scheme`` on the linearised field, on the augmented
    state of size ``m`` (``n`` plus the scheme's own state, e.g. optimistic GD's previous
    field value), read generically from what ``scheme.init`` returns."""
    linear = LinearField(dict(jacobians), sizes)
    linear = linear.with_regularization_gain(scheme.regularization_gains[-1])
    mover = GradientStep(preconditioner=preconditioner)  # constraints: inactive, left out
    zero = unflatten(torch.zeros(sum(sizes), dtype=torch.float64), sizes)
    own = scheme.init(linear, mover, zero).own
    state_sizes = tuple(int(s.shape[-1]) for s in own)
    operator = period_map(scheme, linear, mover, sizes, state_sizes)
    return operator, sum(sizes) + sum(state_sizes)


def update_spectrum(
    scheme,
    jacobians: Mapping[float, Callable[[Tensor], Tensor]],
    sizes: tuple[int, ...],
    k: int = 10,
    preconditioner: tuple[Tensor, ...] | None = None,
    **solver,
) -> UpdateSpectrum:
    """The ``k`` largest-magnitude eigenvalues of ``F′``; their maximum estimates ρ(F′).

    For small rates ``F′ ≈ I + hJ`` has its eigenvalues clustered near 1; the Krylov space of
    ``F′`` equals that of ``J``, and the arithmetic of the scheme is float64, so ARPACK
    separates them as well as it separates those of ``J``.
    """
    apply, m = update_operator(scheme, jacobians, sizes, preconditioner)
    spectrum = leading_eigenvalues(apply, m, k, "LM", **solver)
    lrs = (float(scheme.lr_g), float(scheme.lr_d))
    return UpdateSpectrum(scheme.name, scheme.period, lrs, preconditioner is not None, spectrum)


def scaled_field_operator(
    jacobian: Callable[[Tensor], Tensor],
    sizes: tuple[int, ...],
    lrs: tuple[float, float],
    preconditioner: tuple[Tensor, ...] | None = None,
    transposed: bool = False,
) -> Callable[[Tensor], Tensor]:
    """``u ↦ H P J u`` with ``H = diag(lr_g, lr_d)`` per player and ``P`` the preconditioner:
    SimGD's update Jacobian is ``I + c·HPJ`` at learning-rate scale ``c``.

    ``transposed``: ``jacobian`` is ``w ↦ Jᵀw`` and the operator ``u ↦ Jᵀ(HP u)``, which is
    ``(HPJ)ᵀ``: the same eigenvalues, one backward per product."""
    scale = [torch.full((s,), float(h), dtype=torch.float64) for s, h in zip(sizes, lrs)]
    if preconditioner is not None:
        scale = [h * p.to(torch.float64) for h, p in zip(scale, preconditioner)]
    diagonal = torch.cat(scale)
    if transposed:
        return lambda u: jacobian(diagonal.to(u.device, u.dtype) * u)
    return lambda u: diagonal.to(u.device, u.dtype) * jacobian(u)


def stable_lr_scale_intervals(step_eigenvalues: np.ndarray) -> list[tuple[float, float]]:
    """Every range of scales ``c > 0`` with ``|1 + c·η| < 1`` for every given eigenvalue ``η``
    of ``HPJ`` (SimGD's update ``I + c·HPJ``), like ``dirac analyze``'s stable ranges.

    ``|1 + cη|² = 1 + c(2 Re η + c|η|²)``, so one ``η`` allows exactly ``0 < c < 2|Re η|/|η|²``
    when ``Re η < 0`` and no ``c`` otherwise: the set is one interval ``[(0, min 2|Re η|/|η|²)]``,
    or ``[]`` if some ``Re η ≥ 0``; ``[(0, inf)]`` for no eigenvalues.

    **An upper bound, not a certificate**: eigenvalues outside the top-k may bind tighter, so
    the true stable set lies within this interval.
    """
    values = np.asarray(step_eigenvalues)
    if np.any(np.real(values) >= -UNIT_CIRCLE_TOLERANCE * np.maximum(1.0, np.abs(values))):
        return []
    bounds = 2 * np.abs(np.real(values)) / np.abs(values) ** 2
    return [(0.0, float(bounds.min()) if len(bounds) else math.inf)]


def max_stable_lr_scale(step_eigenvalues: np.ndarray) -> float | None:
    """The end of the last of :func:`stable_lr_scale_intervals` (``min 2|Re η|/|η|²``), ``None``
    when no scale converges. An upper bound, not a certificate."""
    intervals = stable_lr_scale_intervals(step_eigenvalues)
    return intervals[-1][1] if intervals else None


def diagonal_preconditioner(optimizer_state: Mapping | None, optimizer) -> Tensor | None:
    """The effective per-parameter step factor ``1/(√v̂ + ε)`` of an adaptive optimizer, from
    its second moments frozen at their checkpoint values (``None`` for SGD or no state).

    RMSprop: ``v = square_avg``. Adam: ``v̂ = exp_avg_sq / (1 − β₂^t)`` (bias-corrected, as
    its step uses). Momentum and Adam's first moment are not part of this linearisation.
    """
    if not optimizer_state:
        return None
    from convergan.optimizers import second_moments

    second = second_moments(optimizer_state)
    if second is None:
        return None
    second = second.to(torch.float64)
    betas = getattr(optimizer, "betas", None)
    if betas is not None and "exp_avg_sq" in optimizer_state:
        steps = int(optimizer_state.get("step", 0))
        if steps > 0:
            second = second / (1 - betas[1] ** steps)
    return 1.0 / (second.sqrt() + float(getattr(optimizer, "eps", 1e-8)))
