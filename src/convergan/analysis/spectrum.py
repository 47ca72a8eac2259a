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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

from convergan.analysis.eigensolver import Spectrum, complex_pairs, leading_eigenvalues
from convergan.analysis.operators import UNIT_CIRCLE_TOLERANCE, period_map, verdict
from convergan.field import GameField, GradientStep, LinearField, State, flatten, unflatten

# How the field's Jacobian products are computed (see the module docstring).
ProductRoute = Literal["transpose", "double-backward", "forward"]
PRODUCT_ROUTES: tuple[str, ...] = get_args(ProductRoute)


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

    def __init__(self, field: GameField, x: State, route: ProductRoute = "transpose") -> None:
        if route not in PRODUCT_ROUTES:
            raise ValueError(f"route must be one of {', '.join(PRODUCT_ROUTES)}, not {route!r}")
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
            self._v_parts = field.differentiable(unflatten(self._z, self.sizes))
            self._v = flatten(self._v_parts)
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
                out = self._backward(w_model)
            else:
                out = self._batched_backward(w_model)
        return out.detach().to(w.device, w.dtype)

    def _backward(self, w: Tensor) -> Tensor:
        """``Jᵀw`` by one backward, through the graph of the players whose block of ``w`` is
        not all zero only: a step of one player (AltGD's, in the update operators on ``F′ᵀ``)
        hands ``Jᵀ`` a ``w`` with the other player's block zero, and the backward then skips
        that player's part of the graph."""
        blocks = torch.split(w, self.sizes)
        used = [i for i, block in enumerate(blocks) if bool(torch.any(block != 0))]
        if len(used) == len(blocks):
            return torch.autograd.grad(self._v, self._z, w, retain_graph=True)[0]
        if not used:
            return torch.zeros_like(w)
        (out,) = torch.autograd.grad(
            [self._v_parts[i] for i in used],
            self._z,
            [blocks[i] for i in used],
            retain_graph=True,
            allow_unused=True,
        )
        return torch.zeros_like(w) if out is None else out

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


def field_spectrum(
    operator: JacobianOperator, k: int = 10, which: str = "LR", **solver
) -> Spectrum:
    """The ``k`` leading eigenvalues of the field Jacobian ``J``, from the operator's
    :attr:`~JacobianOperator.spectrum_product` (``Jᵀ`` on the default route: the same
    eigenvalues, each product one backward; the eigenvectors are then ``J``'s left ones)."""
    product = operator.spectrum_product
    # a batched block of residual products on a GPU; on the CPU one at a time is faster
    # (8 products: 0.73 s batched against 0.53 s singly on the circle run)
    batched = operator.route == "transpose" and operator.point.device.type != "cpu"
    block = operator.rmatvec if batched else None
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


class _TransposedProduct(torch.autograd.Function):
    """``z ↦ J z`` recorded on a tape at ``z = 0`` (where it is 0: nothing is computed); its
    backward is ``w ↦ Jᵀ w``, one backward through the field's kept graph."""

    @staticmethod
    def forward(ctx, z: Tensor, transposed: Callable[[Tensor], Tensor]) -> Tensor:
        if torch.count_nonzero(z):
            raise ValueError("the transposed update operator is recorded at z = 0 only")
        ctx.transposed = transposed
        return torch.zeros_like(z)

    @staticmethod
    def backward(ctx, w: Tensor):
        return ctx.transposed(w), None


def transposed_update_operator(
    scheme,
    transposed: Mapping[float, Callable[[Tensor], Tensor]],
    sizes: tuple[int, ...],
    preconditioner: tuple[Tensor, ...] | None = None,
) -> tuple[Callable[[Tensor], Tensor], int]:
    """``(w ↦ F′ᵀw, m)`` from the products ``w ↦ J_gᵀ w`` alone (``transposed``, by gain).

    One period of the scheme is recorded once on autograd's tape at ``z = 0``, each ``J z``
    in it a :class:`_TransposedProduct`; every ``F′ᵀw`` is then one backward through that
    tape, which calls ``Jᵀ`` where the period called ``J``. ``F′ᵀ`` has ``F′``'s
    eigenvalues, and a product costs the period's count of single backwards through the
    field's kept graph instead of double backwards (:class:`JacobianOperator`)."""
    recorded = {g: (lambda z, t=t: _TransposedProduct.apply(z, t)) for g, t in transposed.items()}
    forward, m = update_operator(scheme, recorded, sizes, preconditioner)
    with torch.enable_grad():
        z = torch.zeros(m, dtype=torch.float64, requires_grad=True)
        image = forward(z)

    def apply(w: Tensor) -> Tensor:
        with torch.enable_grad():
            (out,) = torch.autograd.grad(
                image, z, w.to(torch.float64), retain_graph=True, allow_unused=True
            )
        return w.to(torch.float64) * 0 if out is None else out

    return apply, m


def update_spectrum(
    scheme,
    jacobians: Mapping[float, Callable[[Tensor], Tensor]],
    sizes: tuple[int, ...],
    k: int = 10,
    preconditioner: tuple[Tensor, ...] | None = None,
    transposed: bool = False,
    **solver,
) -> UpdateSpectrum:
    """The ``k`` largest-magnitude eigenvalues of ``F′``; their maximum estimates ρ(F′).

    ``transposed``: ``jacobians`` are the products ``w ↦ J_gᵀ w`` and the solver runs on
    ``F′ᵀ`` (:func:`transposed_update_operator`: the same eigenvalues, cheaper products).

    For small rates ``F′ ≈ I + hJ`` has its eigenvalues clustered near 1. Shifting to
    ``F′ − I`` changes nothing for a Krylov method (the Krylov spaces of ``F′`` and
    ``F′ − I`` are the same); ARPACK's relative tolerance on ``F′`` is an absolute one on
    its eigenvalues near 1, which is the accuracy ρ is compared against 1 with.
    """
    build = transposed_update_operator if transposed else update_operator
    apply, m = build(scheme, jacobians, sizes, preconditioner)
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


def simgd_lr_scale_upper_bound(step_eigenvalues: np.ndarray) -> float | None:
    """SimGD's largest stable learning-rate scale allowed by the given eigenvalues of ``HPJ``:
    the end of the last of :func:`stable_lr_scale_intervals` (``min 2|Re η|/|η|²``), ``None``
    when no scale converges. An upper bound from the top-k, not a certificate (the exact
    largest scale of a small game is :func:`convergan.analysis.stable_rates.max_stable_lr_scale`).
    """
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
