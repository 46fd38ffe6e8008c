"""The one YAML reader of recipes (agent and scenario) and of ``--set`` values.

YAML 1.1, as :func:`yaml.safe_load`, except that ``1e-4`` (no dot) is a float, as people write learning rates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class _RecipeLoader(yaml.SafeLoader):
    """YAML 1.1 loader that also reads ``1e-4`` (no dot) as a float."""


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_RecipeLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def load_yaml(text_or_path: str | Path) -> Any:
    """Read YAML like :func:`yaml.safe_load`, except that ``1e-4`` is a float (YAML 1.1 would keep it a string).

    :param text_or_path: a :class:`~pathlib.Path` to read, or YAML text.
    :raises ValueError: a YAML syntax error, in one line with its place (file, line, column).
    """
    is_path = isinstance(text_or_path, Path)
    text = Path(text_or_path).read_text() if is_path else text_or_path
    try:
        return yaml.load(text, Loader=_RecipeLoader)
    except yaml.YAMLError as exc:
        where = f"{str(text_or_path)!r}" if is_path else "YAML text"
        mark = getattr(exc, "problem_mark", None)
        place = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"YAML syntax error in {where}{place}: {problem}") from None


def parse_value(text: str) -> Any:
    """Type a command-line value: YAML syntax, so ``3``, ``1e-4``, ``true``, ``null``, ``[64, 64]`` and ``{a: 1}``
    become int, float, bool, None, list and dict; anything else stays a string."""
    try:
        return load_yaml(text)
    except ValueError:  # not YAML: a plain string
        return text
