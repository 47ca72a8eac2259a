"""Readable tick labels for log axes, shared by every figure (training, studies, spectra).

Over less than a decade, matplotlib labels a log axis with minor ticks in scientific notation
(``1.975×10⁰``); plain numbers (``1.975``) read at a glance. Matplotlib only, no torch.
"""

from __future__ import annotations

# A log axis whose limits span less than this factor gets plain labels on every tick.
PLAIN_BELOW = 10.0


def plain_log_ticks(ax, which: str = "y") -> None:
    """Label the ticks of ``ax``'s log ``which`` axis ("x" or "y") as plain numbers when its
    range (as drawn: call after plotting) spans less than :data:`PLAIN_BELOW`."""
    from matplotlib.ticker import FuncFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    low, high = ax.get_ylim() if which == "y" else ax.get_xlim()
    if axis.get_scale() != "log" or not (0 < low < high) or high / low >= PLAIN_BELOW:
        return
    plain = FuncFormatter(lambda value, _: f"{value:.4g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain)
