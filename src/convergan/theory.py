"""The paper's closed forms for the Dirac-GAN (Mescheder et al., 2018, §3 and Table 1).

Used only to check the numerical analysis and in docs: no analysis code path depends on
anything here. ``a = f′(0) = 1/2`` and ``b = f″(0) = −1/4`` for the standard GAN's
``f(t) = −log(1 + e^{−t})``; the WGAN's ``f(t) = t`` has ``a = 1``, ``b = 0``.
"""

from __future__ import annotations

import cmath

A_GAN = 0.5  # f'(0) for the (non-)saturating GAN
B_GAN = -0.25  # f''(0)
A_WGAN = 1.0


def _pair(centre: float, discriminant: complex) -> list[complex]:
    root = cmath.sqrt(discriminant)
    return [complex(centre) + root, complex(centre) - root]


def jacobian_eigenvalues(
    method: str, gamma: float = 0.0, sigma: float = 0.0
) -> list[complex] | None:
    """Eigenvalues of ``v′(0, 0)`` on the Dirac-GAN for a preset name, ``None`` where the paper
    has no closed form (WGAN-GP: no regular equilibrium).

    * gan, nsgan: ``±a·i``
    * wgan (clipping inactive at 0): ``±i``
    * consensus: ``−γa² ± a·i``
    * instance-noise: ``bσ² ± √(b²σ⁴ − a²)``
    * r1, r2, nsgan-r1 (zero-centred GP): ``−γ/2 ± √(γ²/4 − a²)``
    """
    a, b = A_GAN, B_GAN
    if method in ("gan", "nsgan"):
        return _pair(0.0, -(a**2))
    if method == "wgan":
        return _pair(0.0, -(A_WGAN**2))
    if method == "consensus":
        return _pair(-gamma * a**2, -(a**2))
    if method == "instance-noise":
        return _pair(b * sigma**2, b**2 * sigma**4 - a**2)
    if method in ("r1", "r2", "nsgan-r1"):
        return _pair(-gamma / 2, gamma**2 / 4 - a**2)
    return None


# f'(0) and f''(0) of each loss in the paper's notation, at the Dirac-GAN's equilibrium. The
# hinge loss is linear around D = 0 (its kinks are at D = ±1), so it acts as the WGAN there.
# RpGAN sees D(G(z)) − D(x) = ψ(θ + σε_fake) − ψσε_real: without noise its losses are the
# non-saturating ones, and with noise the ψψ-curvature is (1/4)·E(σε_fake − σε_real)² = 2·(1/4)σ²,
# the separable value, so it shares the non-saturating closed form throughout.
LOSS_DERIVATIVES = {
    "saturating": (A_GAN, B_GAN),
    "nonsaturating": (A_GAN, B_GAN),
    "rpgan": (A_GAN, B_GAN),
    "wgan": (A_WGAN, 0.0),
    "hinge": (A_WGAN, 0.0),
}


def composed_jacobian(
    a: float, b: float, gamma: float = 0.0, sigma: float = 0.0, consensus: float = 0.0
) -> list[list[float]]:
    """``v′(0, 0)`` on the Dirac-GAN (paper's sign convention) for a loss with ``f′(0) = a``,
    ``f″(0) = b``, zero-centred penalties of total weight ``gamma``, Gaussian instance noise
    ``sigma`` and consensus ``consensus``.

    Derivation: with ``D_ψ(x) = ψx`` every zero-centred penalty (R1, R2, GP at interpolates)
    is ``(γ/2)ψ²``, so their weights add; instance noise turns ``f(ψθ)`` into
    ``E f(ψ(θ + ε)) + E f(−ψε)``, whose ψψ-derivative at 0 is ``2bσ²``. The unregularized
    Jacobian is ``[[0, −a], [a, 0]]``; so ``J₀ = [[0, −a], [a, 2bσ² − γ]]``, and consensus
    ``w = v − c·v′ᵀv`` has the Jacobian ``J₀ − c·J₀ᵀJ₀`` at a stationary point.
    """
    j = [[0.0, -a], [a, 2 * b * sigma**2 - gamma]]
    jtj = [[sum(j[k][r] * j[k][c] for k in range(2)) for c in range(2)] for r in range(2)]
    return [[j[r][c] - consensus * jtj[r][c] for c in range(2)] for r in range(2)]


def eigenvalues_2x2(matrix: list[list[float]]) -> list[complex]:
    """``tr/2 ± √(tr²/4 − det)``."""
    (p, q), (r, t) = matrix
    trace, det = p + t, p * t - q * r
    return _pair(trace / 2, trace**2 / 4 - det)


def simgd_max_stable_lr(eigenvalues: list[complex]) -> float | None:
    """SimGD ``x ← x + h v`` converges iff ``h < min 2|Re λ|/|λ|²`` (all Re λ < 0)."""
    if any(lam.real >= 0 for lam in eigenvalues):
        return None
    return min(2 * abs(lam.real) / abs(lam) ** 2 for lam in eigenvalues)


def instance_noise_equivalent_gamma(sigma: float) -> float:
    """The R1 strength with the same Dirac-GAN eigenvalues as instance noise ``σ``: ``γ = σ²/2``
    (equate ``bσ² = −γ/2`` with ``b = −1/4``; the determinants are both ``a²``)."""
    return sigma**2 / 2


CRITICAL_GAMMA = 2 * A_GAN  # R1/R2: real double eigenvalue −a at γ = 2a = 1


def two_point_jacobian(
    loss: str, gamma: float = 0.0, spread: float = 1.0
) -> list[list[float]] | None:
    """``v′`` at the equilibrium of the two-point game (:mod:`convergan.games.two_points`),
    state order ``(θ₁, θ₂, ψ₁, ψ₂)``, D high on real data, zero-centred penalties (R1, R2) of
    total weight ``gamma``; ``None`` for a loss without a closed form here.

    ``[[0, a·Bᵀ], [−a·B, 2b·K − γ·diag(1, c²)]]`` with ``B = diag(1, c)``,
    ``K = diag(c², c⁴/4)`` (separable losses: ``E_{p_D} φφᵀ`` for ``φ = (x, x²/2)``) or
    ``K = diag(c², 0)`` (RpGAN: the covariance of φ; ``x²/2`` is constant on the data).
    """
    if loss not in ("saturating", "nonsaturating", "rpgan"):
        return None
    a, b, c = A_GAN, B_GAN, spread
    k = (c**2, 0.0) if loss == "rpgan" else (c**2, c**4 / 4)
    coupling = (1.0, c)
    j = [[0.0] * 4 for _ in range(4)]
    for i in range(2):
        j[i][2 + i] = a * coupling[i]
        j[2 + i][i] = -a * coupling[i]
        j[2 + i][2 + i] = 2 * b * k[i] - gamma * (1.0, c**2)[i]
    return j


def two_point_eigenvalues(
    loss: str, gamma: float = 0.0, spread: float = 1.0
) -> list[complex] | None:
    """Eigenvalues of :func:`two_point_jacobian`: it decouples into the location block
    ``(θ₁, ψ₁)`` and the scale block ``(θ₂, ψ₂)``, each a 2×2 matrix."""
    j = two_point_jacobian(loss, gamma, spread)
    if j is None:
        return None
    return [
        value
        for i in range(2)
        for value in eigenvalues_2x2([[j[i][i], j[i][2 + i]], [j[2 + i][i], j[2 + i][2 + i]]])
    ]
