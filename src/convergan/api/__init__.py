"""The public API for any GAN: does *your* pair of ``nn.Module``s converge under your method?

Nothing here needs convergan's trainer, configs or run directories::

    from convergan import api

    game = api.make_game(G, D, "r1", gamma=10, real=x_eval, latent=z_eval)
    api.field_value(game).norm                       # ‖v‖ on the evaluation batch
    api.eigenvalues(game, k=6, which="LR")           # leading eigenvalues of the Jacobian
    api.spectral_radius(game, optimizers=[opt_g, opt_d])   # ρ of alternating Adam steps, now
    api.path_angle(game, before, after)              # Berard et al.'s path-angle
    api.verdict("runs/my-gan")                       # from a Monitor's folder

and in a training loop, :class:`Monitor` records the convergence diagnostics every N steps
into a folder that ``convergan verdict`` and ``convergan report`` read.

* :func:`make_game` / :class:`Game` (:mod:`convergan.api.game`): the players, a method (a
  preset name, a spec, a :class:`~convergan.methods.Method` or two plain loss callables) and
  the fixed evaluation batch;
* :func:`adapt_generator` / :func:`adapt_discriminator` (:mod:`convergan.api.players`):
  players called ``G(z, c)``, ``D(x, c)`` with per-sample outputs of any shape;
* :func:`field_value`, :func:`eigenvalues`, :func:`spectral_radius`, :func:`path_angle`,
  :func:`verdict` (:mod:`convergan.api.analysis`): the answers, typed records with
  ``to_dict()``;
* :class:`Monitor` (:mod:`convergan.api.monitor`): the diagnostics in anyone's training loop.
"""

from convergan.reexport import lazy_exports

_EXPORTS = {
    "Adapted": "convergan.api.players",
    "FieldValue": "convergan.api.analysis",
    "Game": "convergan.api.game",
    "Monitor": "convergan.api.monitor",
    "PlainLosses": "convergan.api.game",
    "Verdict": "convergan.api.analysis",
    "adapt_discriminator": "convergan.api.players",
    "adapt_generator": "convergan.api.players",
    "eigenvalues": "convergan.api.analysis",
    "evaluation_batch": "convergan.api.game",
    "field_value": "convergan.api.analysis",
    "make_game": "convergan.api.game",
    "path_angle": "convergan.api.analysis",
    "plain_losses": "convergan.api.game",
    "resolve_method": "convergan.api.game",
    "spectral_radius": "convergan.api.analysis",
    "torch_preconditioner": "convergan.api.analysis",
    "verdict": "convergan.api.analysis",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
