"""The names a spectrum is asked for by: the kinds of leading eigenvalues (``which``) and the
eigen-solvers, in a module of their own so the command line lists them without importing
scipy or torch."""

WHICH = ("LR", "LM", "LI")
SOLVERS = ("krylov-schur", "arpack")  # the first is the default
