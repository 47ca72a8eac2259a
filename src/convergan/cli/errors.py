"""User errors: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake in what the user asked for (bad flag value, missing file...)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors on one line (``prog: error: message``) and, in every
    leaf command, accepts options and ``KEY=VALUE`` positionals in any order (argparse's
    intermixed parsing; plain argparse stops collecting positionals at the first option)."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"convergan: error: {message}\n")
    sys.exit(USAGE_ERROR)
