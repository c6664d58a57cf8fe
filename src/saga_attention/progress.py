"""Progress bars on a terminal only: in a piped log a bar's redraws (carriage returns, cursor-up codes) are
noise, and the commands print their own progress lines there."""
from __future__ import annotations

from typing import Any, Iterable

from tqdm import tqdm


def progress(iterable: Iterable | None = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """tqdm(iterable, **kwargs), drawn only when `enabled` and stderr is a terminal."""
    return tqdm(iterable, disable=None if enabled else True, **kwargs)
