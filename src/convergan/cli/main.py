"""The ``convergan`` command line: ``convergan dirac …`` (exact analysis) and friends."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from convergan.cli import (
    configs,
    dirac,
    evaluate,
    features,
    report,
    spectrum,
    study,
    sweep,
    train,
    verdict,
)
from convergan.cli.errors import USAGE_ERROR, ArgumentParser, UsageError, Version, fail

DESCRIPTION = """\
Does this GAN training method converge?

  convergan dirac analyze --method r1 --gamma 1 --scheme altgd --lr 0.5
  convergan dirac simulate --method gan --scheme simgd --lr 0.1 --steps 500 --start 1 1
  convergan dirac table
  convergan dirac figure --out out/dirac
  convergan configs
  convergan train toy2d/circle method=r1 method.gamma=1
  convergan resume runs/toy2d/circle train.steps=20000
  convergan sample runs/toy2d/circle --n 2000 --out samples.png
  convergan eval runs/fashion-mnist/dcgan-r1 --metrics fid kid pr
  convergan study toy2d --problems circle --methods gan r1 --steps 1000
  convergan sweep toy2d-methods --out out/toy2d-methods
  convergan sweep status out/toy2d-methods
  convergan report out/toy2d-methods
  convergan features train fashion-mnist
  convergan spectrum runs/toy2d/circle --k 10 --which LR LM --scheme run --json
  convergan path-angle runs/toy2d/circle --from 5000 --to 10000 --plot path-angle.png
  convergan verdict runs/toy2d/circle --html verdict.html
"""

COMMAND_MODULES = [
    dirac,
    train,
    evaluate,
    study,
    sweep,
    report,
    features,
    spectrum,
    configs,
    verdict,
]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="convergan",
        description=DESCRIPTION,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=Version, version=_version(), help="show the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _version() -> str:
    from convergan import __version__

    return f"convergan {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version or a usage error: what they printed
        if exit_.code == 0:  # must reach the user (``--help > /dev/full`` said nothing)
            _flush_stdout()
        raise
    except BrokenPipeError:  # --help | head
        _silence_stdout()
        return 0
    except OSError as error:  # --help or --version onto a full device (both flush)
        _silence_stdout()
        fail(file_system_error(error))
    if argv is None:  # the command itself (a caller such as a test keeps its own warnings)
        import warnings

        warnings.showwarning = _one_line_warning
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a full device fails here, inside the one-line handler below
        if argv is None:  # the process ends here (not a caller such as a test)
            _skip_final_collection()
        return code
    except UsageError as error:
        fail(str(error))
    except KeyboardInterrupt:
        sys.stderr.write("convergan: interrupted\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as error:  # a full disk, a read-only folder: whatever no command foresaw
        _silence_stdout()
        fail(file_system_error(error))
    return USAGE_ERROR  # unreachable: fail() exits


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line, ``convergan: warning: ...``, without the source line that
    Python shows by default (which means nothing to a user)."""
    text = " ".join(str(message).split())
    try:
        (file or sys.stderr).write(f"convergan: warning: {text}\n")
    except (OSError, ValueError):  # stderr gone: nothing else to tell
        pass


def file_system_error(error: OSError) -> str:
    """One line for a file-system failure: the file, the reason, what to do."""
    reason = error.strerror or str(error)
    if error.filename is None:  # a write to stdout (``> /dev/full``) has no file name
        return f"cannot write the output ({reason}); free space or redirect it elsewhere"
    return f"cannot use {error.filename} ({reason}); choose another path or free space"


def _flush_stdout() -> None:
    """Flush what a command printed; a failure is one line and a non-zero exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as error:
        _silence_stdout()
        fail(file_system_error(error))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of text it could not
    write does not print a second error (Python's advice for a closed pipe)."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # stdout replaced (a test) or closed
        pass


def _skip_final_collection() -> None:
    """Spare the exiting interpreter its garbage collections over every object torch made
    ("Speed of dirac analyze" in docs/results/benchmarks.md): collect once now, so that
    cyclic garbage is finalised (files flushed), then freeze what lives; the process exits
    next."""
    import gc

    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
