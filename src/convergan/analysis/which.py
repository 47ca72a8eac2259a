"""The kinds of leading eigenvalues a spectrum asks ARPACK for (its ``which``), in a module of
their own so the command line lists them without importing scipy or torch."""

WHICH = ("LR", "LM", "LI")
