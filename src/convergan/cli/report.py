"""``convergan report DIR``: tables, figures and one HTML page for a sweep or a run."""

from __future__ import annotations

from pathlib import Path

from convergan.cli.errors import UsageError
from convergan.cli.outputs import writable_folder


def register(commands) -> None:
    parser = commands.add_parser(
        "report",
        help="tables (CSV, Markdown), figures and one HTML page for a sweep or a run",
        description="Summarize a sweep directory (from `convergan sweep`) or a single run "
        "directory: results.csv (one row per run), summary.csv (per cell over seeds: n, mean, "
        "std, 95% Student-t interval), comparisons.csv (Welch tests, Holm-adjusted), "
        "report.md, figures/ and a self-contained report.html, beside each cell the exact "
        "Dirac-GAN verdict for the same method, scheme and learning rates.",
    )
    parser.add_argument("directory", metavar="DIR", help="sweep or run directory")
    parser.add_argument("--out", help="report folder (default DIR/report)")
    parser.set_defaults(run=run_report)


def run_report(args) -> int:
    from convergan.studies.markdown import markdown_table
    from convergan.studies.report import write_report
    from convergan.studies.tables import partial_note, summary_rows

    if not Path(args.directory).is_dir():
        raise UsageError(f"no such directory: {args.directory}")
    writable_folder(args.out or Path(args.directory) / "report", "--out")
    try:
        report = write_report(args.directory, args.out, progress=True)
    except ValueError as error:
        raise UsageError(str(error)) from None
    note = partial_note(report.sweep)
    if note:
        print(note)
        print()
    print(markdown_table(*summary_rows(report)))
    print()
    for name in ("report.html", "report.md", "results.csv", "summary.csv", "comparisons.csv"):
        print(report.out / name)
    return 0
