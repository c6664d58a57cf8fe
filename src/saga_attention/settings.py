"""Typed settings from text: numbers in every spelling, bounded YAML, and dataclass fields that carry
their own range. Used by the model specs (models/) and the training config (train/); imports nothing
of the package."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import yaml

MAX_YAML_BYTES = 1 << 20      # a settings file is a few hundred bytes; refuse anything near a megabyte


def short(value: Any, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters (error messages never echo a huge input)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + " ...>"


MAX_YAML_DEPTH = 8            # settings are flat; a model spec's option may hold a short list


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader for settings: no anchors, aliases or merge keys (aliases are how a few hundred bytes
    expand into gigabytes), no duplicate keys, and at most MAX_YAML_DEPTH levels of nesting."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse("aliases (*name) are not allowed in settings", event)
        if getattr(event, "anchor", None):
            self._refuse("anchors (&name) are not allowed in settings", event)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            self._refuse(f"settings nest at most {MAX_YAML_DEPTH} levels deep", event)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node):
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "merge keys (<<) are not allowed in settings",
                                                        key.start_mark)
        seen = set()
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(None, None, "keys of settings are plain names",
                                                        key.start_mark)
            name = key.value
            if name in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {short(name)} is given twice",
                                                        key.start_mark)
            seen.add(name)
        super().flatten_mapping(node)

    @staticmethod
    def _refuse(problem: str, event) -> None:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


def load_yaml(text: str, what: str) -> Any:
    """Parse YAML settings text; ValueError (naming `what` and the line) for oversized or invalid text."""
    if len(text.encode()) > MAX_YAML_BYTES:
        raise ValueError(f"{what} is larger than {MAX_YAML_BYTES // 1024} KiB; settings are a few lines")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{what} is not valid YAML{where}: {problem}") from None


def parse_value(text: str, what: str = "value") -> Any:
    """'1e-3' -> 0.001, 'true' -> True, '[0.5, 1]' -> [0.5, 1], 'math' -> 'math', '' -> ''."""
    if not text.strip():
        return ""
    return load_yaml(text, what)


def _number(value: str) -> int | float | None:
    """A string that spells a number (YAML 1.1 reads '1e-3' and '.5e2' as strings), or None."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return None


def coerce(name: str, value: Any, default: Any) -> Any:
    """`value` as the type of `default` (bool, int, float, str, list), or ValueError naming `name`."""
    wanted = type(default)
    if isinstance(value, str) and wanted in (int, float) and _number(value.strip()) is not None:
        value = _number(value.strip())
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if wanted is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if wanted is str and isinstance(value, (int, float)):
        value = str(value).lower() if isinstance(value, bool) else str(value)   # YAML reads 'true' as a bool
    if wanted is tuple and isinstance(value, list):
        value = tuple(value)
    if default is None or (isinstance(value, wanted) and not (wanted is not bool and isinstance(value, bool))):
        return value
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text",
             list: "a list like [a, b]", tuple: "a list like [a, b]"}
    raise ValueError(f"{name} must be {names.get(wanted, wanted.__name__)}; got {short(value)}")


def setting(default: Any, *, low: float | None = None, high: float | None = None, above: float | None = None,
            below: float | None = None, choices: Sequence[str] | None = None, doc: str = "") -> Any:
    """A dataclass field with its checks: low <= value <= high, above < value < below, one of `choices`.
    List defaults are copied per instance; `doc` is what `--print-config` and errors may show."""
    meta = {"low": low, "high": high, "above": above, "below": below,
            "choices": tuple(choices) if choices else None, "doc": doc}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def check_range(name: str, value: Any, meta: dict) -> str | None:
    """The problem with one number or choice, or None."""
    if meta.get("choices") and value not in meta["choices"]:
        return f"{name} must be one of {', '.join(meta['choices'])}; got {short(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} must be a finite number; got {value}"
        tests = {"low": (">=", value >= (meta.get("low") or 0)), "high": ("<=", value <= (meta.get("high") or 0)),
                 "above": (">", value > (meta.get("above") or 0)), "below": ("<", value < (meta.get("below") or 0))}
        bounds = [(op, meta[key], ok) for key, (op, ok) in tests.items() if meta.get(key) is not None]
        if not all(ok for _, _, ok in bounds):
            return f"{name} must be {' and '.join(f'{op} {bound}' for op, bound, _ in bounds)}; got {value}"
    return None


def check_interval(name: str, pair: Any, at_most: float | None = None) -> str | None:
    """The problem with a [low, high] setting (0 < low <= high, and high <= at_most when given), or None."""
    numbers = len(pair) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
    if numbers and 0 < pair[0] <= pair[1] and (at_most is None or pair[1] <= at_most):
        return None
    return f"{name} must be [low, high] with 0 < low <= high{'' if at_most is None else f' <= {at_most:g}'}; " \
           f"got {short(pair)}"


def check_fields(obj: Any) -> list[str]:
    """Every field of a dataclass instance against its type (from the default) and its `setting` checks."""
    problems = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        try:
            coerce(f.name, value, field_default(f))
        except ValueError as err:
            problems.append(str(err))
            continue
        problem = check_range(f.name, value, dict(f.metadata))
        if problem:
            problems.append(problem)
    return problems
