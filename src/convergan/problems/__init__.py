"""Problems: what training, evaluation, sampling and the spectrum need to know about the data.

A :class:`Problem` is built from a config by :func:`make_problem`, which asks every registered
problem family (:data:`~convergan.registry.PROBLEM_FAMILIES`) whether it provides
``data.name``: the 2D problems (:data:`~convergan.registry.PROBLEMS_2D`) and the image
datasets (:data:`~convergan.registry.IMAGE_DATASETS`) are the built-in families, so a 2D
problem or a dataset registered by a plugin is a problem at once; a new *kind* of problem is
one family registered from one file. Nothing else in convergan asks "is this 2D or images?".
"""

from convergan.problems.base import DataInfo, Evaluator, Problem, make_problem

__all__ = ["DataInfo", "Evaluator", "Problem", "make_problem"]
