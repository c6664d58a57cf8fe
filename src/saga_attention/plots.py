"""Small matplotlib helpers shared by the benchmark, rank and training plots."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter


def log_y(ax: Axes) -> None:
    """A log-scale y axis (call it after plotting) labelled with plain numbers at 1, 2 and 5 times each power of
    ten, or at every whole multiple where the data span less than a decade; no minor labels."""
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if high >= 10 * low else tuple(float(m) for m in range(1, 10))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def integer_x(ax: Axes) -> None:
    """Whole-number ticks on the x axis (epochs, layers)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
