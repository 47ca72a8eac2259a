"""A user's update scheme in one file: Lookahead (Zhang et al., 2019) around any scheme.

The fast weights take ``k`` steps of the inner scheme; then the slow weights move a fraction
``alpha`` of the way to them and the fast weights restart from there::

    slow ← slow + α (fast − slow),   fast ← slow        (every k steps)

Its period is ``lcm(k, inner.period)``: the first step count after which both the
synchronisation and the inner scheme repeat. Use it from a config or the command line:

    convergan dirac analyze plugins=[examples/plugins/lookahead.py] --method gan \\
        --scheme lookahead scheme.k=5 scheme.alpha=0.5 --lr 0.1
    convergan train configs/toy2d/circle.yaml plugins=[examples/plugins/lookahead.py] \\
        scheme=lookahead scheme.k=5 scheme.inner=altgd
"""

from dataclasses import dataclass, field

from convergan.registry import SCHEMES
from convergan.schemes import Scheme, SchemeState, SimGD, combined_period


@SCHEMES.register("lookahead", description="Lookahead (Zhang et al., 2019) around an inner scheme")
@dataclass(frozen=True, kw_only=True)
class Lookahead(Scheme):
    k: int = 5
    alpha: float = 0.5
    inner: Scheme = field(default_factory=SimGD)
    name = "lookahead"

    def __post_init__(self):
        super().__post_init__()
        if self.k < 1 or not 0 < self.alpha <= 1:
            raise ValueError(
                f"lookahead needs k >= 1 and 0 < alpha <= 1, got {self.k}, {self.alpha}"
            )
        # One place for learning rates: the inner scheme's are Lookahead's.
        object.__setattr__(self, "inner", self.inner.with_rates(self.lr_g, self.lr_d))

    @property
    def period(self):
        return combined_period(self.k, self.inner.period)

    @property
    def regularization_gains(self):
        return self.inner.regularization_gains

    def init_own(self, field, x):
        return (*x, *self.inner.init_own(field, x))  # the slow weights, then the inner's state

    def step(self, field, mover, x, state, t):
        n = len(x)
        slow, inner_own = state.own[:n], state.own[n:]
        inner_state = SchemeState(inner_own, state.moves)
        x, inner_state = self.inner.step(field, mover, x, inner_state, t)
        if (t + 1) % self.k == 0:
            slow = tuple(s + self.alpha * (f - s) for s, f in zip(slow, x))
            x = slow
        return x, SchemeState((*slow, *inner_state.own), inner_state.moves)
