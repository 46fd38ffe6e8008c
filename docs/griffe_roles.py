"""Griffe extension of the documentation build (mkdocs.yml): Sphinx cross-reference roles in docstrings become links.

The docstrings name other objects with Sphinx roles (``:class:`~syre_rl.syre.Syre```, ``:func:`unit_scores```).
Each role becomes a cross-reference to the object's API entry, shown as code. A role naming a ``syre_rl`` object that
does not exist is reported as a warning, which fails the strict build; references outside the package
(``stable_baselines3.PPO``) and to objects the reference does not show (private helpers) are shown as code without a
link.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import griffe

# Under the "mkdocs" logger, so that a warning fails the strict build.
log = logging.getLogger("mkdocs.plugins.syre_rl.griffe_roles")

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`<]*?)(?:\s*<([^`>]+)>)?`")
PACKAGE = "syre_rl"


def _lookup(collection: Any, path: str) -> Any:
    try:
        return collection.get_member(path)
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring of the package before it is parsed.

    :param package: the package whose objects must exist when a role names them.
    """

    def __init__(self, package: str = PACKAGE) -> None:
        super().__init__()
        self.package = package

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self.on_object(obj=pkg, loader=loader)  # the package itself is not among the objects on_object sees

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None or ":`" not in docstring.value:
            return
        collection = loader.modules_collection

        def full_path(target: str) -> str:
            if target.startswith(f"{self.package}.") or target == self.package:
                return target
            head, _, rest = target.partition(".")
            for scope in (obj, obj.parent):
                if scope is None:
                    continue
                try:
                    resolved = scope.resolve(head)
                except (griffe.NameResolutionError, AttributeError, KeyError):
                    continue
                return f"{resolved}.{rest}" if rest else resolved
            return target

        def replace(match: re.Match[str]) -> str:
            tilde, text, explicit = match.groups()
            target = re.sub(r"\s+", "", explicit or text)  # a role may wrap onto the next line
            path = full_path(target)
            shown = " ".join(text.split()) if explicit else (target.rsplit(".", 1)[-1] if tilde else target)
            if path.startswith(f"{self.package}.") and _lookup(collection, path) is None:
                where = obj.relative_filepath if obj.is_module else f"{obj.relative_filepath}:{obj.lineno}"
                log.warning("%s: docstring of %s names %s, which does not exist", where, obj.path, target)
            code = f"<code>{html.escape(shown)}</code>"
            return f'<autoref optional identifier="{html.escape(path)}">{code}</autoref>'

        docstring.value = ROLE.sub(replace, docstring.value)
