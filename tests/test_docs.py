"""The documentation site builds with warnings as errors, its generated pages cover every recipe, and the Python
examples of its pages run."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Pages kept by the study's tools, not written as documentation.
NOT_PAGES = ("study", "measurements")
SKIP = re.compile(r"<!-- skip: .+ -->")
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in NOT_PAGES)


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks in order, less those preceded by a ``<!-- skip: why -->`` line."""
    text = page.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        if not SKIP.fullmatch(before.strip()):
            blocks.append(match.group(1))
    return blocks


def recipe_names(folder: str) -> list[str]:
    return [yaml.safe_load(p.read_text())["name"] for p in sorted((ROOT / folder).rglob("*.yaml"))]


def _env() -> dict[str, str]:
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_site_builds_strictly_with_the_api_reference(site: Path) -> None:
    api = (site / "api" / "algorithms" / "index.html").read_text()
    assert 'id="syre_rl.ppo.ppo.SyrePPO"' in api
    assert (site / "index.html").is_file() and (site / "metrics" / "index.html").is_file()


def test_catalogues_list_every_recipe(site: Path) -> None:
    scenarios = (site / "catalogue" / "scenarios" / "index.html").read_text()
    agents = (site / "catalogue" / "agents" / "index.html").read_text()
    for name in recipe_names("envs"):
        assert f'id="{name}"' in scenarios, name
    for name in recipe_names("agents"):
        assert f'id="{name}"' in agents, name


def test_results_page_shows_the_readme_results_and_the_study_or_a_note(site: Path) -> None:
    results = (site / "results" / "index.html").read_text()
    assert "demo_returns.png" in results
    report = DOCS / "study" / "plasticity_study" / "report.md"
    assert report.is_file() or "The study is in progress" in results


def test_readme_catalogues_list_every_recipe() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in recipe_names("envs") + recipe_names("agents"):
        assert f"| `{name}`" in readme, f"README's catalogue tables miss {name}"


def test_readme_keeps_its_front_page_sections() -> None:
    readme = (ROOT / "README.md").read_text()
    for title in ("## Two commands", "## Install", "## Swap PPO for SyrePPO", "## Results", "## Documentation"):
        assert f"\n{title}\n" in readme, title
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md"):
        assert f"]({name})" in readme and (ROOT / name).is_file(), name


def _load_hook_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_docstring_role_naming_a_missing_object_is_a_warning(tmp_path: Path, caplog) -> None:
    griffe = pytest.importorskip("griffe")
    roles = _load_hook_module("griffe_roles")
    package = tmp_path / "rolecheck"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent('''
            """See :class:`~rolecheck.Real` and :func:`rolecheck.missing_function`."""

            class Real:
                """Exists."""
            ''')
    )
    with caplog.at_level(logging.WARNING):
        extensions = griffe.load_extensions(roles.SphinxRoles(package="rolecheck"))
        loaded = griffe.load("rolecheck", search_paths=[tmp_path], extensions=extensions)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("rolecheck.missing_function" in m for m in messages), messages
    assert not any("rolecheck.Real" in m for m in messages)
    assert '<autoref optional identifier="rolecheck.Real"><code>Real</code></autoref>' in loaded.docstring.value


def test_skipped_examples_are_few() -> None:
    skipped = sum(len(SKIP.findall(page.read_text())) for page in doc_pages())
    total = sum(len(BLOCK.findall(page.read_text())) for page in doc_pages())
    assert total >= 10 and skipped <= 3, (skipped, total)


# Runs each page's examples in order, in a namespace and an empty folder of its own, all pages in one interpreter
# (importing torch and SB3 once keeps this fast); stops at the first failing page and names it.
RUNNER = """
import os, sys, traceback
for page, folder, source in PAGES:
    os.makedirs(folder)
    os.chdir(folder)
    try:
        exec(compile(source, page, "exec"), {"__name__": "__main__"})
    except BaseException:
        traceback.print_exc()
        sys.exit(f"the examples of docs/{page} failed")
"""


def test_examples_run(tmp_path: Path) -> None:
    pages = [
        (page.relative_to(DOCS).as_posix(), str(tmp_path / f"page_{i}"), "\n\n".join(python_blocks(page)))
        for i, page in enumerate(doc_pages())
        if python_blocks(page)
    ]
    assert len(pages) >= 5
    script = tmp_path / "run_examples.py"
    script.write_text(f"PAGES = {pages!r}\n{RUNNER}")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
