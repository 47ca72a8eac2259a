"""User errors: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake in what the user asked for (bad flag value, missing file...)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors on one line (``prog: error: message``)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"convergan: error: {message}\n")
    sys.exit(USAGE_ERROR)
