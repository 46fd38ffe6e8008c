"""The symmetry-trap experiment: do collapsed units stay collapsed under plain decay and escape under syre?

Claim (1) of the syre paper: a network whose units sit at a symmetry-induced fixed point (two units that are exact
copies, or a unit with zero incoming and outgoing weights) stays there under gradient training with or without
weight decay toward 0 or toward the (collapsed) initial weights, and leaves it under syre, whose decay pulls toward
a random, asymmetric anchor. One trial:

1. draw a regression task (inputs ``x ~ N(0, I)`` of dim 8, targets from a random two-layer ReLU teacher) and a
   student MLP ``8 -> 16 -> 16 -> 1`` (ReLU, torch's default initialisation), both from the trial's seed;
2. collapse ``n_trapped`` units of the first hidden layer: ``duplicate`` makes them copies of unit 0 (incoming
   weights, bias and outgoing weights), ``dead`` zeroes their incoming weights, biases and outgoing weights;
3. set up the decay (:class:`~syre_rl.decay.DecayConfig`) on an Adam optimizer, then load the collapsed weights as
   the effective weights, so that only the anchor can break the symmetry;
4. train ``steps`` full-batch Adam steps on the mean squared error;
5. a trial *escapes* when none of the trapped units is collapsed by
   :func:`~syre_rl.plasticity.metrics.symmetry_collapse` (with the layer's norms at initialisation as scales) and
   each of them fires (positive pre-activation) on at least ``min_active`` of the inputs.

:func:`run_trap_experiment` runs the trials into a folder (``trials.csv``, ``settings.json``, ``summary.csv``,
``summary.md``), resumably. A trial takes a few hundred milliseconds on one CPU core.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from syre_rl.decay import DecayConfig, build_decay
from syre_rl.plasticity.metrics import collapse_masks, incoming_vectors, outgoing_norms, typical_norm
from syre_rl.run_layout import SUMMARY_MARKDOWN, TRAP_SUMMARY_FILE, TRAP_TRIALS_FILE
from syre_rl.validation import check_choice, check_fraction, check_int, check_real

#: The collapsed states a trial starts from.
TRAPS: tuple[str, ...] = ("duplicate", "dead")
#: Decays compared, by name: None is plain Adam.
CONDITIONS: dict[str, Callable[[float], DecayConfig | None]] = {
    "none": lambda gamma: None,
    "l2": lambda gamma: DecayConfig(anchor="zero", weight_decay=gamma),
    "l2_init": lambda gamma: DecayConfig(anchor="init", weight_decay=gamma),
    "syre": lambda gamma: DecayConfig(anchor="syre", weight_decay=gamma, sigma_scale=0.01),
    "syre_sigma_1": lambda gamma: DecayConfig(anchor="syre", weight_decay=gamma, sigma_scale=1.0),
}
#: Columns of one trial's record.
TRIAL_COLUMNS: tuple[str, ...] = (
    "trap",
    "condition",
    "seed",
    "weight_decay",
    "steps",
    "trapped_collapsed",
    "trapped_silent",
    "escaped",
    "trapped_spread",
    "final_loss",
)


@dataclass(frozen=True)
class TrapSettings:
    """Settings of the symmetry-trap trials.

    :param steps: Adam steps per trial. Default 400.
    :param weight_decay: gamma of every decay. Default 0.01.
    :param lr: Adam learning rate. Default 0.01.
    :param n_trapped: collapsed units of the first hidden layer, 2 to 16. Default 4.
    :param min_active: share of the inputs on which a trapped unit must fire to count as escaped. Default 0.05.
    """

    steps: int = 400
    weight_decay: float = 0.01
    lr: float = 0.01
    n_trapped: int = 4
    min_active: float = 0.05

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_real("weight_decay", self.weight_decay, low=0.0)
        check_real("lr", self.lr, low=0.0, low_open=True)
        if check_int("n_trapped", self.n_trapped, low=2) > HIDDEN:
            raise ValueError(f"n_trapped must be in [2, {HIDDEN}] (units of the layer), got {self.n_trapped!r}")
        check_fraction("min_active", self.min_active)


HIDDEN = 16
IN_DIM = 8
N_SAMPLES = 256


def _task(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_SAMPLES, IN_DIM, generator=g)
    w1 = torch.randn(IN_DIM, 32, generator=g) / math.sqrt(IN_DIM)
    w2 = torch.randn(32, 1, generator=g) / math.sqrt(32)
    return x, torch.relu(x @ w1) @ w2


def _student(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(IN_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1)
    )


def _linears(net: nn.Sequential) -> tuple[nn.Linear, nn.Linear]:
    """The first two Linear layers of the student."""
    first, second = net[0], net[2]
    assert isinstance(first, nn.Linear) and isinstance(second, nn.Linear)
    return first, second


def collapse(net: nn.Sequential, trap: str, n_trapped: int) -> None:
    """Put units ``0 .. n_trapped - 1`` of the first hidden layer of ``net`` into the collapsed state ``trap``.

    :param net: the student MLP (``net[0]`` its first Linear, ``net[2]`` the next).
    :param trap: ``"duplicate"`` (copies of unit 0) or ``"dead"`` (zero incoming, bias and outgoing weights).
    :param n_trapped: how many units.
    """
    check_choice("trap", trap, TRAPS)
    first, second = _linears(net)
    with torch.no_grad():
        if trap == "duplicate":
            first.weight[1:n_trapped] = first.weight[0]
            first.bias[1:n_trapped] = first.bias[0]
            second.weight[:, 1:n_trapped] = second.weight[:, :1]
        else:
            first.weight[:n_trapped] = 0.0
            first.bias[:n_trapped] = 0.0
            second.weight[:, :n_trapped] = 0.0


def run_trial(trap: str, condition: str, seed: int, settings: TrapSettings = TrapSettings()) -> dict[str, object]:
    """One trial (see the module docstring).

    :param trap: a name of :data:`TRAPS`.
    :param condition: a name of :data:`CONDITIONS`.
    :param seed: seed of the task, the student's initialisation and syre's offset.
    :param settings: the trial settings.
    :return: a record with the keys of :data:`TRIAL_COLUMNS`: ``trapped_collapsed`` and ``trapped_silent`` count the
        trapped units still collapsed and firing on fewer than ``min_active`` of the inputs; ``trapped_spread`` is
        the largest distance between two trapped units' incoming vectors over the layer's typical norm.
    """
    check_choice("trap", trap, TRAPS)
    check_choice("condition", condition, tuple(CONDITIONS))
    x, y = _task(seed)
    net = _student(seed)
    first, second = _linears(net)
    in_scale = typical_norm(incoming_vectors(first.weight, first.bias).norm(dim=1))
    out_scale = typical_norm(outgoing_norms([second.weight], HIDDEN))
    collapse(net, trap, settings.n_trapped)
    collapsed_state = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    config = CONDITIONS[condition](settings.weight_decay)
    if config is not None:
        config = DecayConfig.from_kwargs({**config.as_kwargs(), "offset_seed": seed})
        build_decay(net, config, [optimizer])
        net.load_state_dict(collapsed_state)  # the effective weights start exactly collapsed
    loss = torch.tensor(float("nan"))
    for _ in range(settings.steps):
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    return _measure(net, x, trap, condition, seed, settings, in_scale, out_scale, float(loss.detach()))


def _measure(
    net: nn.Sequential,
    x: torch.Tensor,
    trap: str,
    condition: str,
    seed: int,
    settings: TrapSettings,
    in_scale: torch.Tensor,
    out_scale: torch.Tensor,
    final_loss: float,
) -> dict[str, object]:
    k = settings.n_trapped
    first, second = _linears(net)
    weight, bias, out = first.weight.detach(), first.bias.detach(), second.weight.detach()
    dead, duplicate = collapse_masks(weight, bias, [out], in_scale=in_scale, out_scale=out_scale)
    collapsed = int((dead | duplicate)[:k].sum())
    active = (x @ weight[:k].T + bias[:k] > 0).float().mean(dim=0)
    silent = int((active < settings.min_active).sum())
    v = incoming_vectors(weight[:k], bias[:k])
    spread = float(torch.cdist(v.double(), v.double()).max() / in_scale)
    return {
        "trap": trap,
        "condition": condition,
        "seed": seed,
        "weight_decay": settings.weight_decay,
        "steps": settings.steps,
        "trapped_collapsed": collapsed,
        "trapped_silent": silent,
        "escaped": collapsed == 0 and silent == 0,
        "trapped_spread": spread,
        "final_loss": final_loss,
    }


SETTINGS_FILE = "settings.json"


def _key(record: Mapping[str, object]) -> tuple[str, str, int, float]:
    return str(record["trap"]), str(record["condition"]), int(str(record["seed"])), float(str(record["weight_decay"]))


def run_trap_experiment(
    out_dir: str | Path,
    seeds: Sequence[int],
    weight_decays: Sequence[float] = (0.01,),
    settings: TrapSettings = TrapSettings(),
    traps: Sequence[str] = TRAPS,
    conditions: Sequence[str] = tuple(CONDITIONS),
    overwrite: bool = False,
    progress: Callable[[Mapping[str, object]], None] | None = None,
) -> Path:
    """Run ``traps x conditions x weight_decays x seeds`` trials into ``out_dir`` and summarise them.

    Each trial is appended to ``trials.csv`` as it ends; rerunning with the same settings skips the trials already
    there (a killed run continues). ``summary.csv`` and ``summary.md`` (:func:`syre_rl.analysis.trap.trap_summary`)
    are rewritten at the end.

    :param out_dir: the experiment's folder (created).
    :param seeds: trial seeds.
    :param weight_decays: gammas; each replaces ``settings.weight_decay`` in turn. Default (0.01,).
    :param settings: the other trial settings.
    :param overwrite: delete results made with other settings instead of refusing.
    :param progress: called with each new record.
    :return: the path of ``summary.csv``.
    :raises ValueError: bad settings, or a folder holding trials made with other settings (and not ``overwrite``).
    """
    from syre_rl.analysis.trap import trap_markdown, trap_summary

    if not seeds or not weight_decays:
        raise ValueError(f"run_trap_experiment needs seeds and weight decays, got {list(seeds)}, {list(weight_decays)}")
    for trap in traps:
        check_choice("trap", trap, TRAPS)
    for condition in conditions:
        check_choice("condition", condition, tuple(CONDITIONS))
    runs = [dataclasses.replace(settings, weight_decay=float(gamma)) for gamma in weight_decays]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials_path, settings_path = out / TRAP_TRIALS_FILE, out / SETTINGS_FILE
    described = {k: v for k, v in dataclasses.asdict(settings).items() if k != "weight_decay"}
    if trials_path.exists():
        previous = json.loads(settings_path.read_text()) if settings_path.exists() else None
        if previous != described:
            if not overwrite:
                raise ValueError(
                    f"{str(trials_path)!r} holds trials made with the settings {previous}, not {described}; "
                    "choose another folder or overwrite"
                )
            trials_path.unlink()
    settings_path.write_text(json.dumps(described, indent=1))
    done: set[tuple[str, str, int, float]] = set()
    if trials_path.exists():
        with trials_path.open(newline="") as f:
            done = {_key(row) for row in csv.DictReader(f)}
    new_file = not trials_path.exists()
    with trials_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(TRIAL_COLUMNS))
        if new_file:
            writer.writeheader()
        torch.set_num_threads(1)
        for trial_settings in runs:
            for trap in traps:
                for condition in conditions:
                    for seed in seeds:
                        if (trap, condition, int(seed), trial_settings.weight_decay) in done:
                            continue
                        record = run_trial(trap, condition, int(seed), trial_settings)
                        writer.writerow(record)
                        f.flush()
                        if progress is not None:
                            progress(record)
    summary = trap_summary(trials_path)
    summary.to_csv(out / TRAP_SUMMARY_FILE, index=False)
    (out / SUMMARY_MARKDOWN).write_text(trap_markdown(summary))
    return out / TRAP_SUMMARY_FILE
