"""The package ships every subpackage and the agent and scenario recipes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_listed() -> None:
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "syre_rl").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"


def test_recipe_folders_are_mapped_into_the_package() -> None:
    mapping = pyproject()["tool"]["setuptools"]["package-dir"]
    assert mapping == {"syre_rl._recipes.agents": "agents", "syre_rl._recipes.envs": "envs"}
    assert list((ROOT / "agents").glob("*.yaml")) and list((ROOT / "envs").glob("*.yaml"))


@pytest.mark.slow
def test_wheel_contains_the_recipes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("syre_rl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("agents", "envs"):
        expected = {f"syre_rl/_recipes/{kind}/{p.name}" for p in (ROOT / kind).glob("*.yaml")}
        assert expected <= set(names)
    assert "syre_rl/py.typed" in names
