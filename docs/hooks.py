"""Build hook of the documentation site (mkdocs.yml ``hooks:``): pages generated from the repository's own files.

A page asks for generated content with a marker comment on a line of its own:

* ``<!-- generated: scenarios -->``: the scenario catalogue, from ``envs/*.yaml``;
* ``<!-- generated: agents -->``: the agent catalogue, from ``agents/**/*.yaml``;
* ``<!-- include-report: PATH -->``: the Markdown file ``docs/PATH`` (the study report) inlined, its headings one
  level down and its relative links re-based onto the including page, or a note that it does not exist yet;
* ``<!-- include-readme: TITLE -->``: the README's section ``## TITLE`` (measured results are kept in the README,
  the project's front page, and shown on the site from there), its headings one level up.

Relative links of included text are re-based onto the including page; one to a file the site does not have (a
script, a test) becomes the file's path in code, so the page never links to nothing.

The recipes are read as they are in the checkout, so the catalogues cannot drift from them. An unknown marker stops
the build.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("mkdocs.hooks.syre_rl")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!-- (generated|include-report|include-readme): *(.+?) *-->$", re.MULTILINE)
# Markdown links and images whose target is a relative path: [text](target) / ![alt](target).
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")

REPORT_MISSING = """!!! note "The study is in progress"
    Its report, `docs/{path}`, is written by `python scripts/study.py ... --report-dir docs/{folder}` when the runs
    are finished, and appears on this page from the next build on. Until then, see the demo results below.
"""


def _recipes(folder: str) -> list[tuple[Path, dict[str, Any]]]:
    paths = sorted((ROOT / folder).rglob("*.yaml"), key=lambda p: (len(p.parts), p))
    if not paths:
        raise RuntimeError(f"docs: no recipes found in {folder}/")
    return [(path, yaml.safe_load(path.read_text())) for path in paths]


def _flow(value: Any) -> str:
    """A value as one line of YAML flow style."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip().replace("|", "\\|")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _scenario_ids() -> dict[str, str]:
    from syre_rl.experiments.scenarios import SCENARIO_IDS

    return {name: f"syre_rl/{env_id}" for env_id, name in SCENARIO_IDS.items()}


def _details(path: Path, recipe: dict[str, Any]) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    return [
        f"### `{recipe.get('name', path.stem)}`",
        "",
        _cell(recipe.get("description", "")),
        "",
        f"**Source:** {_cell(recipe.get('source', 'not given'))}",
        "",
        f'```yaml title="{rel}"',
        path.read_text().rstrip(),
        "```",
        "",
    ]


def scenario_catalogue() -> str:
    ids = _scenario_ids()
    recipes = _recipes("envs")
    lines = [
        "| scenario | registered id | base env | what changes (`family`) | when (`schedule`) | backend | envs "
        "| steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, r in recipes:
        name = r.get("name", path.stem)
        lines.append(
            f"| [`{name}`](#{name}) | {'`' + ids[name] + '`' if name in ids else ''} | `{r.get('base_env', '')}` "
            f"| `{_flow(r.get('family'))}` | `{_flow(r.get('schedule'))}` | {r.get('backend', '')} "
            f"| {r.get('n_envs', '')} | {r.get('total_steps', 0):,} |"
        )
    lines += ["", "## Recipes", ""]
    for path, r in recipes:
        lines += _details(path, r)
    return "\n".join(lines)


def agent_catalogue(folder: str) -> str:
    recipes = _recipes(folder)
    lines = [
        "| recipe | algorithm | policy | hyperparameters | interventions |",
        "|---|---|---|---|---|",
    ]
    for path, r in recipes:
        name = r.get("name", path.stem)
        hyper = dict(r.get("hyperparameters") or {})
        if r.get("policy_kwargs"):
            hyper["policy_kwargs"] = r["policy_kwargs"]
        interventions = ", ".join(f"`{_flow(i)}`" for i in r.get("interventions") or [])
        settings = f"`{_flow(hyper)}`" if hyper else "the scenario's"
        lines.append(
            f"| [`{name}`](#{name}) | `{r.get('algorithm', '')}` | `{r.get('policy', '')}` | {settings} "
            f"| {interventions} |"
        )
    lines += ["", "## Recipes", ""]
    for path, r in recipes:
        lines += _details(path, r)
    return "\n".join(lines)


def rebase_links(text: str, base: str, page_src: str, files: Any, source: str) -> str:
    """Relative links of ``text``, written from the repository folder ``base``, re-based onto the page ``page_src``."""
    page_dir = posixpath.dirname(page_src)

    def rebase(match: re.Match[str]) -> str:
        label, href = match.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", href):
            return match.group(0)
        file_part, sep, anchor = href.partition("#")
        repo_path = posixpath.normpath(posixpath.join(base, file_part))
        site_path = repo_path.removeprefix("docs/") if repo_path.startswith("docs/") else None
        if site_path is None or files.get_file_from_path(site_path) is None:
            log.info("docs: %s links to %s, which is not part of the site; shown as text", source, repo_path)
            return f"{label.lstrip('!')} (`{repo_path}`)"
        return f"{label}({posixpath.relpath(site_path, page_dir or '.')}{sep}{anchor})"

    return LINK.sub(rebase, text)


def included_report(page_src: str, target: str, files: Any) -> str:
    """``docs/target`` for the page ``page_src``, or a note that it does not exist yet."""
    path = DOCS / target
    folder = posixpath.dirname(target)
    if not path.is_file():
        return REPORT_MISSING.format(path=target, folder=folder)
    text = re.sub(r"^(#{1,5}) ", r"#\1 ", path.read_text(), flags=re.MULTILINE)
    return rebase_links(text, f"docs/{folder}", page_src, files, f"docs/{target}")


def readme_section(page_src: str, title: str, files: Any) -> str:
    """The body of the README's section ``## title``, for the page ``page_src``."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f"docs: README.md has no section '## {title}'")
    body = re.sub(r"^#(#{2,6}) ", r"\1 ", match.group(1), flags=re.MULTILINE)
    return rebase_links(body, "", page_src, files, f"README.md ({title})")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        kind, arg = match.groups()
        if kind == "include-report":
            return included_report(page.file.src_uri, arg, files)
        if kind == "include-readme":
            return readme_section(page.file.src_uri, arg, files)
        if arg == "scenarios":
            return scenario_catalogue()
        if arg == "agents":
            return agent_catalogue("agents")
        raise ValueError(f"{page.file.src_uri}: unknown generated content {arg!r}")

    return MARKER.sub(replace, markdown)
