"""The plasticity layer sits below the interventions and the algorithms: they import it, never the reverse."""

import ast
from pathlib import Path

PLASTICITY = Path(__file__).resolve().parents[1] / "syre_rl" / "plasticity"
ABOVE = ("syre_rl.interventions", "syre_rl.ppo", "syre_rl.policies", "syre_rl.experiments", "syre_rl.analysis")


def test_plasticity_imports_nothing_from_the_layers_above():
    found = []
    for path in sorted(PLASTICITY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if any(n == a or n.startswith(a + ".") for a in ABOVE)]
    assert found == []
    assert (PLASTICITY / "task_switch.py").is_file() and (PLASTICITY / "rollouts.py").is_file()
