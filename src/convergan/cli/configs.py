"""``convergan configs``: the shipped configs and sweep specs, by name, with a line each."""

from __future__ import annotations


def register(commands) -> None:
    parser = commands.add_parser(
        "configs",
        help="list the shipped configs and sweep specs (names for train and sweep)",
        description="List the configs and sweep specs shipped with convergan. Their names "
        "work wherever a file does: `convergan train toy2d/circle`, `convergan sweep "
        "toy2d-methods`, a sweep spec's base: entries.",
    )
    parser.set_defaults(run=run_configs)


def wrapped(head: str, text: str) -> str:
    """``head`` then ``text``, on a terminal wrapped to its width and continued under the
    text's start (piped, one line per entry, for grep)."""
    import shutil
    import sys
    import textwrap

    if not sys.stdout.isatty():
        return head + text
    columns = max(shutil.get_terminal_size().columns, len(head) + 30)
    return textwrap.fill(text, columns, initial_indent=head, subsequent_indent=" " * len(head))


def run_configs(args) -> int:
    from convergan.config.shipped import CONFIGS, SWEEPS, description, shipped

    for title, kind, usage in (
        ("configs", CONFIGS, "convergan train NAME"),
        ("sweep specs", SWEEPS, "convergan sweep NAME"),
    ):
        files = shipped(kind)
        width = max(map(len, files))
        print(f"{title} ({usage}):")
        for name, path in files.items():
            print(wrapped(f"  {name:<{width}}  ", description(path)))
    return 0
