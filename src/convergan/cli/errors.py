"""User errors: one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from convergan import options

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

    def print_help(self, file=None) -> None:
        """The help, written and flushed: argparse drops a failed write without a word, so
        ``convergan --help > /dev/full`` printed nothing and exited 0. The ``OSError`` now
        reaches the command's one-line handler."""
        file = file or sys.stdout
        file.write(self.format_help())
        file.flush()

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


class Version(argparse.Action):
    """``--version``: the line, written and flushed (argparse's own drops a failed write)."""

    def __init__(self, option_strings, version: str, dest=argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.version = version

    def __call__(self, parser, namespace, values, option_string=None) -> NoReturn:
        sys.stdout.write(f"{self.version}\n")
        sys.stdout.flush()
        parser.exit()


def integer(**bounds: float) -> Callable[[str], int]:
    """An argparse ``type`` for an integer within ``bounds`` (``ge``, ``le``, ...): a value
    out of range is refused while parsing, in one line, before any work."""
    return _bounded(options.integer, bounds, "an integer")


def number(**bounds: float) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number within ``bounds``."""
    return _bounded(options.number, bounds, "a number")


def _bounded(check, bounds: dict, noun: str) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            value = int(text) if check is options.integer else float(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        try:
            return check(value, "", **bounds)
        except options.ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.bounds = dict(bounds)  # what tests/test_user_errors.py reads
    convert.__name__ = noun
    return convert


# numpy's generators take seeds in [0, 2**32); torch's more, so this is the range of both.
SEED = integer(ge=0, le=2**32 - 1)
COUNT = integer(ge=1)
STEP = integer(ge=0)  # a training step (checkpoints are named by it)


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"convergan: error: {message}\n")
    sys.exit(USAGE_ERROR)
