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
    """
    text = Path(text_or_path).read_text() if isinstance(text_or_path, Path) else text_or_path
    return yaml.load(text, Loader=_RecipeLoader)


def parse_value(text: str) -> Any:
    """Type a command-line value: YAML syntax, so ``3``, ``1e-4``, ``true``, ``null``, ``[64, 64]`` and ``{a: 1}``
    become int, float, bool, None, list and dict; anything else stays a string."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text
