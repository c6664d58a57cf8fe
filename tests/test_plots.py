"""The shared plot helpers."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saga_attention.plots import log_y  # noqa: E402


def labels(values):
    fig, ax = plt.subplots()
    ax.plot(range(len(values)), values)
    log_y(ax)
    fig.canvas.draw()
    low, high = ax.get_ylim()
    shown = [float(t) for t in ax.yaxis.get_majorticklocs() if low <= t <= high]
    plt.close(fig)
    return shown


def test_log_axis_under_a_decade_labels_every_whole_multiple():
    assert labels([1.05, 1.6, 3.04, 1.2]) == [1.0, 2.0, 3.0]   # 1, 2 only before


def test_log_axis_over_decades_labels_1_2_5():
    assert labels([3.0, 40.0, 900.0]) == [5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
