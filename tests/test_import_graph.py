"""The layers of the package, read statically from its import statements: the library below the harness, analysis
without training code, the environments without torch, and no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "syre_rl"
# The harness layers; everything else in the package except its root __init__ is library.
HARNESS = ("syre_rl.experiments", "syre_rl.analysis")
TRAINING_DEPENDENCIES = ("torch", "stable_baselines3")
# The modules of the environments allowed a training dependency: the batched envs' SB3 VecEnv subclass, and the
# batched env in torch with its dynamics and families (the package imports them lazily, so
# `import syre_rl.nonstationary` still needs no SB3 and no torch).
ENV_ADAPTERS = {
    "syre_rl.nonstationary.batched.vec_env": ("stable_baselines3",),
    "syre_rl.nonstationary.batched.torch_dynamics": ("torch",),
    "syre_rl.nonstationary.batched.torch_families": ("torch",),
    "syre_rl.nonstationary.batched.torch_env": ("torch",),
}


def under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    """Whether module ``name`` is one of ``prefixes`` or inside one of them."""
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def find_modules(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of a package (a package is named by its ``__init__``)."""
    modules = {}
    for path in package_dir.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        name = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imported_names(name: str, path: Path) -> set[str]:
    """Absolute names of everything a module imports, anywhere in the file (inside functions and ``if`` blocks too,
    since those still tie the modules together): ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and
    ``a.b``; relative imports are resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def internal_edges(modules: dict[str, Path], package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports. An import of the package root, or of a package the module sits
    in (a package face naming its children), is not an edge."""
    edges = {}
    for name, path in modules.items():
        deps = set()
        for target in imported_names(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target != package and not name.startswith(target + "."):
                deps.add(target)
        edges[name] = deps
    return edges


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(cycles)


def violations(modules: dict[str, Path], package: str) -> list[str]:
    """Every import that breaks the layering, as ``"importer -> imported"``."""
    harness = tuple(f"{package}{h.removeprefix(PACKAGE)}" for h in HARNESS)
    analysis, nonstationary = f"{package}.analysis", f"{package}.nonstationary"
    out = []
    for name, path in sorted(modules.items()):
        for target in sorted(imported_names(name, path)):
            library = name != package and not under(name, harness)
            if library and under(target, harness):
                out.append(f"{name} -> {target} (the library imports no harness)")
            if under(name, analysis) and under(target, (*TRAINING_DEPENDENCIES, f"{package}.experiments")):
                out.append(f"{name} -> {target} (analysis reads files, never training code)")
            allowed = ENV_ADAPTERS.get(f"{PACKAGE}{name.removeprefix(package)}", ())
            if under(name, nonstationary) and under(target, TRAINING_DEPENDENCIES) and not under(target, allowed):
                out.append(f"{name} -> {target} (environments need gymnasium and numpy only)")
    return out


def test_the_package_is_read() -> None:
    modules = find_modules(ROOT / PACKAGE)
    assert {"syre_rl", "syre_rl.syre", "syre_rl.run_layout", "syre_rl.nonstationary.wrapper"} <= set(modules)
    assert any(under(m, "syre_rl.experiments") for m in modules) and any(under(m, "syre_rl.analysis") for m in modules)
    assert any(internal_edges(modules, PACKAGE).values())


def test_layers_import_only_downwards() -> None:
    assert violations(find_modules(ROOT / PACKAGE), PACKAGE) == []


def test_no_import_cycles() -> None:
    assert find_cycles(internal_edges(find_modules(ROOT / PACKAGE), PACKAGE)) == []


def test_the_checks_catch_a_bad_package(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from fake.a import x\n",  # the package face naming a child: not a cycle
        "a.py": "from fake import b\nx = 1\n",
        "b.py": "def f():\n    from .a import x\n    return x\n",  # inside a function still counts
        "nonstationary/__init__.py": "import torch\nfrom fake.experiments.run import train\n",
        "experiments/__init__.py": "",
        "experiments/run.py": "from fake.nonstationary import y\n",
        "analysis/__init__.py": "",
        "analysis/plots.py": "from stable_baselines3 import PPO\nfrom ..experiments import run\n",
    }
    for relative, text in files.items():
        (tmp_path / "fake" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fake" / relative).write_text(text)
    modules = find_modules(tmp_path / "fake")
    assert find_cycles(internal_edges(modules, "fake")) == [
        ["fake.a", "fake.b"],
        ["fake.experiments.run", "fake.nonstationary"],
    ]
    assert violations(modules, "fake") == [
        "fake.analysis.plots -> fake.experiments (analysis reads files, never training code)",
        "fake.analysis.plots -> fake.experiments.run (analysis reads files, never training code)",
        "fake.analysis.plots -> stable_baselines3 (analysis reads files, never training code)",
        "fake.analysis.plots -> stable_baselines3.PPO (analysis reads files, never training code)",
        "fake.nonstationary -> fake.experiments.run (the library imports no harness)",
        "fake.nonstationary -> fake.experiments.run.train (the library imports no harness)",
        "fake.nonstationary -> torch (environments need gymnasium and numpy only)",
    ]


def _imports_without_training_code(code: str) -> None:
    check = "; assert not {'torch', 'stable_baselines3'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", "import sys; " + code + check], check=True, cwd=ROOT)


def test_only_the_batched_vec_env_adapter_may_import_sb3(tmp_path: Path) -> None:
    files = {
        "__init__.py": "",
        "nonstationary/__init__.py": "",
        "nonstationary/batched/__init__.py": "",
        "nonstationary/batched/vec_env.py": "import torch\nfrom stable_baselines3.common.vec_env import VecEnv\n",
        "nonstationary/batched/env.py": "from stable_baselines3.common.vec_env import VecEnv\n",
    }
    for relative, text in files.items():
        (tmp_path / "fake" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fake" / relative).write_text(text)
    assert violations(find_modules(tmp_path / "fake"), "fake") == [
        "fake.nonstationary.batched.env -> stable_baselines3.common.vec_env "
        "(environments need gymnasium and numpy only)",
        "fake.nonstationary.batched.env -> stable_baselines3.common.vec_env.VecEnv "
        "(environments need gymnasium and numpy only)",
        "fake.nonstationary.batched.vec_env -> torch (environments need gymnasium and numpy only)",
    ]


def test_the_batched_package_imports_sb3_only_when_its_vec_env_is_used() -> None:
    _imports_without_training_code(
        "import syre_rl.nonstationary.batched as b; from syre_rl.experiments.scenarios import load_scenario; "
        "b.make_batched_env(load_scenario('permuted_cartpole'), seed=0).reset()"
    )
    code = (
        "import sys; from syre_rl.nonstationary.batched import BatchedVecEnv; "
        "from stable_baselines3.common.vec_env import VecEnv; assert issubclass(BatchedVecEnv, VecEnv)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_import_syre_rl_registers_every_id_without_torch() -> None:
    _imports_without_training_code(
        "import gymnasium as gym; import syre_rl; "
        "from syre_rl.experiments.scenarios import SCENARIO_IDS; "
        "from syre_rl.nonstationary.registration import BASE_IDS; "
        "missing = [i for i in [*SCENARIO_IDS, *BASE_IDS] if f'syre_rl/{i}' not in gym.registry]; "
        "assert not missing, missing; "
        "gym.make('syre_rl/PermutedCartPole-v0', seed=0).reset()"
    )


def test_analysis_imports_no_training_code() -> None:
    modules = sorted(m for m in find_modules(ROOT / PACKAGE) if under(m, "syre_rl.analysis"))
    _imports_without_training_code("import importlib; " + "; ".join(f"importlib.import_module({m!r})" for m in modules))
