"""Recipe files: the folders holding agent and scenario recipes, listing them, and reading one by name or path.

An installed package carries the recipes as package data in ``syre_rl/_recipes/KIND``; a checkout has them in the
top-level ``KIND/`` folder (``agents/``, ``envs/``). Every recipe is read with the one YAML loader,
:func:`syre_rl.experiments.yaml_loader.load_yaml`; checking its contents is the job of
:mod:`~syre_rl.experiments.agents` and :mod:`~syre_rl.experiments.scenarios`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from syre_rl.experiments.yaml_loader import load_yaml

RECIPE_KINDS: tuple[str, ...] = ("agents", "envs")
# What one recipe of each kind is called in messages.
RECIPE_LABELS: dict[str, str] = {"agents": "agent", "envs": "scenario"}
RECIPE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")


def recipe_dir(kind: str) -> Path:
    """Folder holding the recipes of one kind. The installed copy wins when both exist.

    :param kind: ``"agents"`` or ``"envs"``.
    :return: the folder (it exists).
    """
    if kind not in RECIPE_KINDS:
        raise ValueError(f"unknown recipe kind {kind!r}; accepted: {list(RECIPE_KINDS)}")
    package = Path(__file__).resolve().parents[1]  # syre_rl/
    candidates = (package / "_recipes" / kind, package.parent / kind)
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no {kind} recipe folder found; looked in {[str(c) for c in candidates]}")


def list_recipes(kind: str) -> list[str]:
    """Names of the recipes of one kind (file stems of ``KIND/*.yaml``), sorted."""
    return sorted(p.stem for p in recipe_dir(kind).glob("*.yaml"))


def recipe_path(kind: str, name_or_path: str | Path) -> Path:
    """The file of a recipe given by name (``syre_ppo``) or by the path of a ``.yaml`` / ``.yml`` file.

    :raises ValueError: a path that does not exist, or an unknown name (with close matches and every name).
    """
    label = RECIPE_LABELS[kind]
    path = Path(name_or_path)
    if path.suffix in RECIPE_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"{label} recipe file {str(path)!r} does not exist")
        return path
    candidate = recipe_dir(kind) / f"{name_or_path}.yaml"
    if not candidate.is_file():
        available = list_recipes(kind)
        close = difflib.get_close_matches(str(name_or_path), available, n=3)
        hint = f" (did you mean {close}?)" if close else ""
        raise ValueError(f"unknown {label} {str(name_or_path)!r}{hint}; available: {available}")
    return candidate


def read_recipe(kind: str, name_or_path: str | Path) -> tuple[Any, Path]:
    """The parsed YAML of a recipe (not checked yet) and the file it came from; see :func:`recipe_path`."""
    path = recipe_path(kind, name_or_path)
    return load_yaml(path), path


def recipe_name(kind: str, name_or_path: str | Path) -> str:
    """The name a recipe goes by (and its runs' folders): ``name_or_path`` itself for a name, the file's ``name``
    key for a path (its file stem when it has none)."""
    path = Path(name_or_path)
    if path.suffix not in RECIPE_SUFFIXES:
        return str(name_or_path)
    recipe, _ = read_recipe(kind, path)
    name = recipe.get("name") if isinstance(recipe, dict) else None
    return name if isinstance(name, str) and name else path.stem
