"""Study plans: a benchmark described by a YAML file (agents, scenarios, seeds, sweeps per agent, budgets and
overrides, the reset reference), run resumably through :mod:`syre_rl.experiments.grid`.

A plan file::

    name: smoke                      # names the default output folder, results/<name>
    description: what the study asks
    agents: [ppo, syre_ppo, ppo_cbp]
    scenarios: [relabelled_bandit]
    seeds: 10                        # a count (first_seed, first_seed + 1, ...) or a list of seeds
    first_seed: 0
    steps: 460800                    # optional: environment steps per run, one number or {scenario: steps}
    overrides: {n_epochs: 4}         # optional: --set overrides of every run
    scenario_overrides: {relabelled_bandit: {scenario.schedule.steps_per_task: 256}}   # optional, per scenario
    agent_overrides: {ppo_l2: {weight_decay: 0.01}}                                  # optional, per agent
    sweeps: {syre_ppo: {weight_decay: [0.002, 0.01], sigma_scale: [0.01, 1.0]}}       # optional, per agent
    reference: ppo_reset             # the reset reference added to every scenario and seed ('none': no reference)
    focus: [syre_ppo]                # agents whose probability of improvement over the others the report gives
    cbp_maturity_fraction: 0.2       # continual backprop's maturity rule (see syre_rl.experiments.firing); null:
                                     # the recipes' values
    allow_idle_interventions: false  # true: plan runs whose intervention can never act (warned, not refused)
    symmetry_trap: {seeds: 50, weight_decay: [0.002, 0.01], steps: 400}   # optional: the symmetry-trap trials
                                     # (syre_rl.experiments.symmetry_trap) run into <study>/symmetry_trap

A study refuses a plan in which an intervention can never act (:func:`~syre_rl.experiments.firing.idle_reasons`)
unless ``allow_idle_interventions`` is true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syre_rl.experiments.firing import CBP_MATURITY_FRACTION, cbp_maturity, plan_warnings
from syre_rl.experiments.grid import RunSpec, plan_grid
from syre_rl.experiments.sweeps import Sweep, sweeps_from_mapping
from syre_rl.experiments.yaml_loader import load_yaml
from syre_rl.run_layout import DEFAULT_REFERENCE

PLAN_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "agents",
    "scenarios",
    "seeds",
    "first_seed",
    "steps",
    "overrides",
    "scenario_overrides",
    "agent_overrides",
    "sweeps",
    "reference",
    "focus",
    "cbp_maturity_fraction",
    "allow_idle_interventions",
    "symmetry_trap",
)
#: Keys of a plan's ``symmetry_trap`` and their defaults.
TRAP_KEYS: dict[str, Any] = {"seeds": 50, "weight_decay": [0.01], "steps": 400}


def _names(plan: Mapping[str, Any], key: str) -> list[str]:
    value = plan.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"study plan: {key!r} must be a non-empty list of names, got {value!r}")
    return list(value)


def _mapping(plan: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = plan.get(key) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"study plan: {key!r} must be a mapping, got {value!r}")
    return dict(value)


def _trap_settings(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - set(TRAP_KEYS):
        raise ValueError(
            f"study plan: 'symmetry_trap' must be a mapping with keys among {list(TRAP_KEYS)}, got {value!r}"
        )
    out = {**TRAP_KEYS, **value}
    gammas = out["weight_decay"] if isinstance(out["weight_decay"], list) else [out["weight_decay"]]
    if not isinstance(out["seeds"], int) or isinstance(out["seeds"], bool) or out["seeds"] < 1:
        raise ValueError(f"study plan: symmetry_trap.seeds must be an integer >= 1, got {out['seeds']!r}")
    if not isinstance(out["steps"], int) or isinstance(out["steps"], bool) or out["steps"] < 1:
        raise ValueError(f"study plan: symmetry_trap.steps must be an integer >= 1, got {out['steps']!r}")
    if not gammas or not all(isinstance(g, (int, float)) and not isinstance(g, bool) and g >= 0 for g in gammas):
        raise ValueError(f"study plan: symmetry_trap.weight_decay must be numbers >= 0, got {out['weight_decay']!r}")
    out["weight_decay"] = [float(g) for g in gammas]
    return out


@dataclass
class StudyPlan:
    """A study: the benchmark grid of a plan file, and what its report compares.

    :param name: the study's name (its default output folder is ``results/<name>``).
    :param agents: agent recipe names.
    :param scenarios: scenario recipe names.
    :param seeds: seeds of every agent (variant) and scenario.
    :param steps: environment steps per run by scenario (a scenario not in it runs its recipe's).
    :param overrides: ``--set`` overrides of every run.
    :param scenario_overrides: more overrides per scenario.
    :param agent_overrides: more overrides per agent.
    :param sweeps: sweeps per agent.
    :param reference: the reset-reference agent, or None.
    :param focus: agents whose probability of improvement over the others the report gives.
    :param cbp_maturity_fraction: continual backprop's maturity as a fraction of one task's gradient steps; None
        keeps the recipes' values.
    :param allow_idle_interventions: plan runs whose intervention can never act instead of refusing them.
    :param description: what the study asks.
    :param symmetry_trap: settings of the symmetry-trap trials (:data:`TRAP_KEYS`), or None for none.
    """

    name: str
    agents: list[str]
    scenarios: list[str]
    seeds: list[int]
    steps: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    scenario_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    agent_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweeps: list[Sweep] = field(default_factory=list)
    reference: str | None = DEFAULT_REFERENCE
    focus: list[str] = field(default_factory=list)
    cbp_maturity_fraction: float | None = CBP_MATURITY_FRACTION
    allow_idle_interventions: bool = False
    description: str = ""
    symmetry_trap: dict[str, Any] | None = None

    @classmethod
    def from_mapping(cls, plan: Mapping[str, Any]) -> StudyPlan:
        """A plan from its parsed YAML.

        :raises ValueError: an unknown key or a value of the wrong shape, in one line.
        """
        if not isinstance(plan, Mapping):
            raise ValueError(f"a study plan must be a mapping, got {plan!r}")
        unknown = sorted(set(plan) - set(PLAN_KEYS))
        if unknown:
            raise ValueError(f"study plan: unknown keys {unknown}; accepted: {list(PLAN_KEYS)}")
        name = plan.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"study plan: 'name' must be a non-empty string, got {name!r}")
        agents, scenarios = _names(plan, "agents"), _names(plan, "scenarios")
        seeds_value = plan.get("seeds", 10)
        first = plan.get("first_seed", 0)
        if isinstance(seeds_value, list) and all(isinstance(s, int) and s >= 0 for s in seeds_value) and seeds_value:
            seeds = list(seeds_value)
        elif isinstance(seeds_value, int) and seeds_value >= 1 and isinstance(first, int) and first >= 0:
            seeds = list(range(first, first + seeds_value))
        else:
            raise ValueError(f"study plan: 'seeds' must be a count >= 1 or a list of seeds >= 0, got {seeds_value!r}")
        steps_value = plan.get("steps")
        if isinstance(steps_value, int):
            steps = dict.fromkeys(scenarios, steps_value)
        else:
            steps = _mapping(plan, "steps")
        reference = plan.get("reference", DEFAULT_REFERENCE)
        if isinstance(reference, str) and reference.lower() == "none":
            reference = None
        focus = plan.get("focus") or [a for a in agents if a.startswith("syre")]
        fraction = plan.get("cbp_maturity_fraction", CBP_MATURITY_FRACTION)
        if fraction is not None and (not isinstance(fraction, (int, float)) or not 0 < fraction <= 1):
            raise ValueError(f"study plan: 'cbp_maturity_fraction' must be in (0, 1] or null, got {fraction!r}")
        return cls(
            name=name,
            agents=agents,
            scenarios=scenarios,
            seeds=seeds,
            steps=steps,
            overrides=_mapping(plan, "overrides"),
            scenario_overrides=_mapping(plan, "scenario_overrides"),
            agent_overrides=_mapping(plan, "agent_overrides"),
            sweeps=sweeps_from_mapping(_mapping(plan, "sweeps")),
            reference=reference,
            focus=list(focus),
            cbp_maturity_fraction=fraction,
            allow_idle_interventions=bool(plan.get("allow_idle_interventions", False)),
            description=str(plan.get("description", "")),
            symmetry_trap=_trap_settings(plan.get("symmetry_trap")),
        )

    @classmethod
    def load(cls, path: str | Path) -> StudyPlan:
        """A plan from its YAML file."""
        return cls.from_mapping(load_yaml(Path(path).read_text()))

    def specs(self) -> tuple[list[RunSpec], list[str]]:
        """Every run of the study, checked, and the warnings about interventions that can never act.

        Continual backprop's ``maturity_threshold`` is set per scenario by
        :func:`~syre_rl.experiments.firing.cbp_maturity` when ``cbp_maturity_fraction`` is set.

        :raises ValueError: what :func:`~syre_rl.experiments.grid.plan_grid` refuses, and an intervention that can
            never act unless ``allow_idle_interventions``.
        """
        specs: list[RunSpec] = []
        for scenario in self.scenarios:
            common = {**self.overrides, **self.scenario_overrides.get(scenario, {})}
            per_agent = {agent: dict(extra) for agent, extra in self.agent_overrides.items()}
            if self.cbp_maturity_fraction is not None:
                for agent in [*self.agents, *([self.reference] if self.reference else [])]:
                    per_agent.setdefault(agent, {}).update(self._cbp_overrides(agent, scenario, common, per_agent))
            specs += plan_grid(
                self.agents,
                [scenario],
                self.seeds,
                reference=self.reference,
                overrides=common,
                total_steps=self.steps.get(scenario),
                sweeps=self.sweeps,
                agent_overrides={a: o for a, o in per_agent.items() if o},
            )
        warnings = plan_warnings(specs)
        if warnings and not self.allow_idle_interventions:
            raise ValueError(
                "interventions that can never act in this plan (set allow_idle_interventions: true to run them "
                "anyway): " + "; ".join(warnings)
            )
        return specs, warnings

    def _cbp_overrides(
        self, agent: str, scenario: str, common: Mapping[str, Any], per_agent: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        assert self.cbp_maturity_fraction is not None
        overrides = {**common, **per_agent.get(agent, {})}
        config = RunSpec(agent, scenario, self.seeds[0], tuple(overrides.items()), self.steps.get(scenario)).config()
        out = {}
        for i, spec in enumerate(config["interventions"]):
            key = f"interventions.{i}.maturity_threshold"
            if spec.get("type") == "cbp" and key not in overrides:
                maturity = cbp_maturity(config, self.cbp_maturity_fraction)
                if maturity is not None:
                    out[key] = maturity
        return out
