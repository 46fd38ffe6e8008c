"""Verdicts on the syre paper's claims, generated from a study's numbers with a fixed rule, so that a reader sees
how each verdict follows from the data.

The claims (Ziyin, Xu and Chuang, ICLR 2025, as this package tests them):

1. identical or dead units stay trapped under plain training and plain decay and escape under syre
   (the symmetry-trap experiment, :mod:`syre_rl.analysis.trap`);
2. syre keeps feature rank under task switches where the plain agent loses it (``srank_retained``: last srank over
   first);
3. syre keeps per-task return where the plain agent loses it (``late_relative_return``: the last third of the tasks'
   final return over task 1's);
4. syre does better than L2 and L2-Init at equal decay (``late_relative_return`` and ``mean_task_return``).

Rules. A comparison of X (syre) over Y is *X better* when the 95% interval of the probability of improvement
(:func:`~syre_rl.analysis.statistics.probability_of_improvement`) lies above 0.5, *Y better* when it lies below,
and *no difference shown* otherwise. "The plain agent (PPO, DQN, SAC, ...) loses it" holds when the 95% bootstrap
interval of its ratio (last over first) lies below 1. A claim is *supported* in a scenario when the plain agent loses
the quantity (claims 2, 3) and syre is better; *contradicted* when the other side is better; *mixed* (claim 4) when
syre is better on one number and the other side on the other; *not shown* otherwise. Claim 1 is supported when, for
every trap and decay strength, syre's escape rate's 95% Wilson interval lies above the intervals of every other
condition.

Runs swept over settings other than the decay (e.g. ``replay_ratio``) are compared only with runs of the same
settings: syre at replay ratio 8 with DQN at replay ratio 8, never at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from syre_rl.analysis.statistics import mean_and_ci, probability_of_improvement


@dataclass(frozen=True)
class Verdict:
    """One line of the verdict table.

    :param claim: the claim's number (1 to 4).
    :param scenario: where it was tested (``"trap"`` for claim 1).
    :param comparison: e.g. ``"syre_ppo vs ppo"``.
    :param evidence: the numbers, with their 95% intervals.
    :param verdict: ``"supported"``, ``"contradicted"`` or ``"not shown"`` (and why).
    """

    claim: int
    scenario: str
    comparison: str
    evidence: str
    verdict: str


CLAIMS: dict[int, str] = {
    1: "identical or dead units stay trapped under plain decay and escape under syre",
    2: "syre keeps feature rank under task switches where the plain agent loses it",
    3: "syre keeps per-task return where the plain agent loses it",
    4: "syre does better than L2 and L2-Init at equal decay",
}


def _side(low: float, high: float) -> str:
    if low > 0.5:
        return "x"
    if high < 0.5:
        return "y"
    return ""


def _poi(per_run: pd.DataFrame, x: str, y: str, column: str) -> tuple[dict[str, float], str]:
    a = per_run.loc[per_run["label"] == x, column].to_numpy(dtype=float)
    b = per_run.loc[per_run["label"] == y, column].to_numpy(dtype=float)
    stats = probability_of_improvement(a, b)
    text = f"P({x} > {y}) on {column} = {stats['poi']:.2f} [{stats['ci_low']:.2f}, {stats['ci_high']:.2f}]"
    return stats, text


def _ratio_text(values: np.ndarray, label: str, column: str) -> tuple[float, str]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), f"{label} {column}: fewer than 2 runs"
    mean, low, high = mean_and_ci(values)
    return float(high), f"{label} {column} = {float(mean):.2f} [{float(low):.2f}, {float(high):.2f}]"


#: Sweep keys that set the decay itself; every other swept key (e.g. ``replay_ratio``) is a setting that compared runs
#: must share.
DECAY_KEYS: frozenset[str] = frozenset({"weight_decay", "sigma_scale", "decay_mode", "anchor"})


def _setting(variant: object) -> frozenset[tuple[str, str]]:
    """The non-decay part of a variant name (``"replay_ratio=8, weight_decay=0.01"`` -> ``{("replay_ratio", "8")}``)."""
    if not isinstance(variant, str) or not variant:
        return frozenset()
    pairs = (part.split("=", 1) for part in variant.split(", ") if "=" in part)
    return frozenset((key.strip(), value.strip()) for key, value in pairs if key.strip() not in DECAY_KEYS)


def _labels(group: pd.DataFrame, agent: str) -> dict[str, frozenset[tuple[str, str]]]:
    """The labels (agent and variant) of one agent's runs in ``group``, with their non-decay settings."""
    rows = group[group["agent"] == agent]
    variants = rows["variant"] if "variant" in rows else pd.Series([""] * len(rows), index=rows.index)
    return {label: _setting(v) for label, v in sorted(zip(rows["label"], variants))}


def _loss_claim(claim: int, per_run: pd.DataFrame, scenario: str, syre: str, base: str, column: str) -> list[Verdict]:
    group = per_run[per_run["scenario"] == scenario]
    base_labels = _labels(group, base)
    out = []
    for x, setting in _labels(group, syre).items():
        for y in (label for label, other in base_labels.items() if other == setting):
            values = group.loc[group["label"] == y, column].to_numpy(dtype=float)
            base_high, base_text = _ratio_text(values, y, column)
            stats, poi_text = _poi(group, x, y, column)
            loses = np.isfinite(base_high) and base_high < 1
            side = _side(stats["ci_low"], stats["ci_high"])
            if not np.isfinite(base_high):  # e.g. returns that are not positive, where a ratio means nothing
                verdict = f"not shown: {column} is defined for fewer than 2 runs of {y}"
            elif side == "y":
                verdict = f"contradicted: {y} is better"
            elif not loses:
                verdict = f"not shown: {y} does not lose it here (interval reaches 1)"
            elif side == "x":
                verdict = "supported"
            else:
                verdict = "not shown: no difference (interval includes 0.5)"
            out.append(Verdict(claim, scenario, f"{x} vs {y}", f"{base_text}; {poi_text}", verdict))
    return out


def _equal_decay_claim(per_run: pd.DataFrame, scenario: str, syre_agent: str, others: Sequence[str]) -> list[Verdict]:
    group = per_run[per_run["scenario"] == scenario]
    out = []
    for x, setting in _labels(group, syre_agent).items():
        gamma = group.loc[group["label"] == x, "weight_decay"].iloc[0]
        for agent in others:
            same_decay = group[(group["agent"] == agent) & np.isclose(group["weight_decay"], gamma)]
            for y in (label for label, other in _labels(same_decay, agent).items() if other == setting):
                columns = ("late_relative_return", "mean_task_return")
                texts, sides = [], []
                for column in columns:
                    stats, text = _poi(group, x, y, column)
                    texts.append(text)
                    sides.append(_side(stats["ci_low"], stats["ci_high"]))
                better = [c for c, side in zip(columns, sides) if side == "x"]
                worse = [c for c, side in zip(columns, sides) if side == "y"]
                if better and worse:
                    verdict = f"mixed: {x} better on {', '.join(better)}, {y} better on {', '.join(worse)}"
                elif worse:
                    verdict = f"contradicted: {y} is better on {', '.join(worse)}"
                elif better:
                    verdict = f"supported on {', '.join(better)}"
                else:
                    verdict = "not shown: no difference (intervals include 0.5)"
                out.append(Verdict(4, scenario, f"{x} vs {y} (gamma {gamma:g})", "; ".join(texts), verdict))
    return out


def _trap_claim(trap: pd.DataFrame, syre_condition: str = "syre") -> list[Verdict]:
    out = []
    for (name, gamma), group in trap.groupby(["trap", "weight_decay"], sort=False):
        rows = group.set_index("condition")
        if syre_condition not in rows.index:
            continue
        s = rows.loc[syre_condition]
        others = rows.drop(index=[c for c in rows.index if c.startswith("syre")])
        parts = [f"{c}: {int(r.escaped)}/{int(r.trials)}" for c, r in rows.iterrows()]
        if others.empty:
            verdict = "not shown: no plain condition to compare"
        elif s.ci_low > others["ci_high"].max():
            verdict = "supported"
        elif s.ci_high < others["ci_low"].max():
            verdict = "contradicted: a plain condition escapes more often"
        else:
            verdict = "not shown: intervals overlap"
        out.append(Verdict(1, "trap", f"{name} units, gamma {gamma:g}", "escaped: " + ", ".join(parts), verdict))
    return out


@dataclass(frozen=True)
class Comparison:
    """A syre agent, its plain counterpart and its decay baselines at equal decay (claims 2 to 4).

    :param syre: the syre agent, e.g. ``syre_ppo``.
    :param base: the same network without decay, e.g. ``ppo``.
    :param decays: the decay baselines compared at equal decay, e.g. ``ppo_l2`` and ``ppo_l2_init``.
    """

    syre: str
    base: str
    decays: tuple[str, ...]


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("syre_ppo", "ppo", ("ppo_l2", "ppo_l2_init")),
    Comparison("syre_ppo_layernorm", "ppo_layernorm", ("ppo_layernorm_l2",)),
    Comparison("syre_dqn", "dqn", ("dqn_l2",)),
    Comparison("syre_sac", "sac", ("sac_l2",)),
    Comparison("syre_td3", "td3", ("td3_l2",)),
)


def claim_verdicts(
    per_run: pd.DataFrame,
    trap: pd.DataFrame | None = None,
    comparisons: Sequence[Comparison] = COMPARISONS,
) -> list[Verdict]:
    """The verdicts a study's data allow (claims and comparisons without data are left out).

    :param per_run: one row per run with ``scenario``, ``agent``, ``label``, ``seed``, ``weight_decay``,
        ``srank_retained``, ``late_relative_return`` and ``mean_task_return`` (the study report's ``runs.csv``).
    :param trap: the symmetry-trap summary (:func:`~syre_rl.analysis.trap.trap_summary`), or None.
    :param comparisons: the syre agents with their plain and decay counterparts. Default :data:`COMPARISONS`: plain
        networks (``syre_ppo`` vs ``ppo``, ``ppo_l2``, ``ppo_l2_init``) and LayerNorm networks
        (``syre_ppo_layernorm`` vs ``ppo_layernorm``, ``ppo_layernorm_l2``), and DQN, SAC and TD3 (``syre_dqn`` vs
        ``dqn``, ``dqn_l2``; likewise for ``sac`` and ``td3``).
    """
    out = _trap_claim(trap) if trap is not None and not trap.empty else []
    if per_run.empty:
        return out
    scenarios = sorted(per_run["scenario"].unique())
    for claim, column in ((2, "srank_retained"), (3, "late_relative_return")):
        for scenario in scenarios:
            for c in comparisons:
                out += _loss_claim(claim, per_run, scenario, c.syre, c.base, column)
    for scenario in scenarios:
        for c in comparisons:
            out += _equal_decay_claim(per_run, scenario, c.syre, c.decays)
    return out


def verdicts_markdown(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as markdown: the claims, then one table row per verdict."""
    used = sorted({v.claim for v in verdicts})
    lines = [f"{n}. {CLAIMS[n]}" for n in used] + [""]
    lines += ["| claim | scenario | comparison | evidence [95% CI] | verdict |", "|---|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v.claim} | {v.scenario} | {v.comparison} | {v.evidence} | {v.verdict} |")
    return "\n".join(lines) + "\n"
