"""timm's feature interface without timm: FeatureInfo and the index rule of forward_intermediates."""
from __future__ import annotations

from typing import Any, Sequence


class FeatureInfo:
    """The maps a backbone gives: channels, reduction (stride) and module name of each, as timm's FeatureInfo
    (`.channels()`, `.reduction()`, `.module_name()`, `len`, indexing)."""

    def __init__(self, info: Sequence[dict[str, Any]], out_indices: Sequence[int]) -> None:
        self.info = [dict(f) for f in info]
        self.out_indices = tuple(out_indices)

    def get(self, key: str, idx: int | Sequence[int] | None = None) -> Any:
        """One value (idx an int), a list over `idx`, or a list over the selected maps (idx None)."""
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, (tuple, list)):
            return [self.info[self.out_indices[i]][key] for i in idx]
        return self.info[self.out_indices[idx]][key]

    def channels(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None) -> Any:
        return self.get("module", idx)

    def get_dicts(self) -> list[dict[str, Any]]:
        return [self.info[i] for i in self.out_indices]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return self.info[self.out_indices[idx]]

    def __len__(self) -> int:
        return len(self.out_indices)


def take_indices(count: int, indices: int | Sequence[int] | None) -> list[int]:
    """Which of `count` stages to return: None -> all; n -> the last n; a list -> those (negative from the end).
    ValueError for an index out of range."""
    if indices is None:
        return list(range(count))
    if isinstance(indices, int):
        if not 0 < indices <= count:
            raise ValueError(f"indices={indices} must take 1 to {count} of the {count} stages")
        return list(range(count - indices, count))
    taken = [i % count if -count <= i < count else None for i in indices]
    if None in taken or not taken:
        raise ValueError(f"indices must be stage numbers from {-count} to {count - 1}; got {list(indices)}")
    return sorted(set(taken))
