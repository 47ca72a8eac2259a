"""``python -m convergan`` is the ``convergan`` command (``torchrun -m convergan`` too)."""

import sys

from convergan.cli.main import main

sys.exit(main())
