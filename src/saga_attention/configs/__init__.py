"""Training recipes as YAML files (`saga train --config NAME`), one per file, each naming its task. Reading them
needs no torch, so `saga train --help` can list them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..settings import load_yaml

RECIPES_DIR = Path(__file__).resolve().parent


def recipe_names() -> list[str]:
    """The recipes shipped with the package, e.g. ['cpu', 'imagenet-pvt', ...]."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def read_recipe(name: str) -> dict[str, Any]:
    """The settings of recipe `name` (with its `task`); ValueError naming the recipes for an unknown one."""
    path = RECIPES_DIR / f"{name}.yaml"
    if name not in recipe_names():
        raise ValueError(f"no recipe {name!r}; recipes: {', '.join(recipe_names())}")
    values = load_yaml(path.read_text(), f"recipe {name!r}")
    if not isinstance(values, dict) or not values.get("task"):
        raise ValueError(f"recipe {path} must be a mapping of settings with a task")
    return values
