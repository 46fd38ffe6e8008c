"""The package ships every subpackage and the agent and scenario recipes; its version is written once; the wheel and
the sdist pass twine's checks and train a run from a fresh environment."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

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


def package_version() -> str:
    """``syre_rl.__version__``, read from the source as the build reads it (a literal, without importing)."""
    tree = ast.parse((ROOT / "syre_rl" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("syre_rl/__init__.py has no literal __version__")


def test_the_version_is_written_once() -> None:
    project = pyproject()["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "syre_rl.__version__"}
    version = package_version()
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == version
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_the_licence_is_declared_once_as_spdx() -> None:
    project = pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    requires = pyproject()["build-system"]["requires"]
    assert any(
        r.replace(" ", "").startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77 for r in requires
    )


# What the build reads: a copy keeps the build's own files (egg-info, build/) out of the working tree.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "syre_rl", "agents", "envs")

TRAIN_FROM_INSTALLED = textwrap.dedent(
    """
    import importlib.metadata, pathlib, sys
    import syre_rl
    from syre_rl.experiments import resolve_config, train
    from syre_rl.experiments.recipe_files import recipe_dir

    here = pathlib.Path(syre_rl.__file__).resolve().parent
    assert pathlib.Path(sys.prefix).resolve() in here.parents, here
    assert recipe_dir("agents").resolve().is_relative_to(here), recipe_dir("agents")
    assert importlib.metadata.version("syre-rl") == syre_rl.__version__
    assert importlib.metadata.metadata("syre-rl")["License-Expression"] == "MIT"
    tiny = [
        "scenario.schedule.steps_per_task=256", "n_steps=32", "batch_size=64", "n_epochs=1",
        "policy_kwargs.net_arch=[8, 8]", "plasticity.batch_size=32", "plasticity.probe_every=0",
    ]
    config = resolve_config("syre_ppo", "relabelled_bandit_quick", seed=0, total_steps=512, overrides=tiny)
    run = train(config, pathlib.Path("run"))
    assert (run / "done").is_file() and (run / "model.zip").is_file()
    print("trained from", here)
    """
)


@pytest.mark.slow
def test_wheel_and_sdist_install_into_a_fresh_environment_and_train(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    # sdist first, then the wheel from the unpacked sdist: the sdist must hold everything the wheel needs.
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], check=True, timeout=900)
    (wheel,) = dist.glob("syre_rl-*.whl")
    (sdist,) = dist.glob("syre_rl-*.tar.gz")
    assert (
        wheel.name.startswith(f"syre_rl-{package_version()}-") and sdist.name == f"syre_rl-{package_version()}.tar.gz"
    )
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], check=True, timeout=300
    )

    # A fresh environment that sees this one's packages (torch, SB3, ...) but not its editable syre_rl: a plain path
    # in a .pth file adds the folder without running the .pth files inside it.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    here_site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (Path(fresh_site) / "outer_site_packages.pth").write_text("\n".join(here_site) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=600
    )

    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [str(python), "-c", TRAIN_FROM_INSTALLED],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trained from" in result.stdout
