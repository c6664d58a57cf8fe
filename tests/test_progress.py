"""Progress bars are drawn on a terminal only."""
from saga_attention.progress import progress


def test_bars_are_off_in_a_piped_log_and_when_not_wanted():
    assert progress(range(3)).disable        # pytest captures stderr: not a terminal
    assert progress(range(3), enabled=False).disable
    assert list(progress(range(3))) == [0, 1, 2]
