"""A grid of runs (agents x scenarios x seeds) on a local process pool or on Ray.

Every run goes to ``root/<scenario>/<agent>/seed_<seed>`` (a run folder, see :mod:`syre_rl.run_layout`), or for a
variant of a sweep to ``root/<scenario>/<agent>[<key>=<value>,...]/seed_<seed>`` (:mod:`syre_rl.experiments.sweeps`).
A run whose
``done`` marker exists is skipped, an interrupted one resumes from its newest checkpoint, and a failing run writes
its traceback to ``error.txt`` without stopping the others, so rerunning the same command finishes a benchmark. Its
summary is :mod:`syre_rl.analysis`' job.

Execution backends (one run per CPU core, one torch thread per run):

* ``"local"``: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method;
* ``"ray"``: one ``ray.remote(num_cpus=1)`` task per run, scheduled by Ray on a local instance or on a cluster
  (``address``). On a cluster, ``root`` must be a folder every node can write (a shared file system).

Importing this module does not import torch or Stable-Baselines3; each run does.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import yaml

from syre_rl.experiments.agents import list_agents
from syre_rl.experiments.cli import one_line
from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.recipe_files import recipe_name
from syre_rl.experiments.sweeps import Sweep, Variant, variant_folder, variant_label, variants
from syre_rl.run_layout import DEFAULT_REFERENCE, ERROR_FILE, PLAN_FILE, SWEEP_KEY, is_done, run_path
from syre_rl.validation import check_int

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")


@dataclass(frozen=True)
class RunSpec:
    """One run of a benchmark.

    :param agent: agent recipe name or path (the run folder uses the recipe's name).
    :param scenario: scenario recipe name or path (the run folder uses the recipe's name).
    :param seed: seed.
    :param overrides: ``--set`` overrides as ``(key, value)`` pairs (same for every run of a benchmark).
    :param total_steps: environment steps; None uses the scenario's.
    :param device: torch device of the run.
    :param variant: the sweep values of this run as ``(key, value)`` pairs (applied after ``overrides``); empty
        when the run is not part of a sweep.
    """

    agent: str
    scenario: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    total_steps: int | None = None
    device: str = "cpu"
    variant: Variant = ()

    def run_dir(self, root: str | Path) -> Path:
        """The run folder of this run in the benchmark folder ``root``: ``root/<scenario>/<agent>/seed_<seed>`` with
        the recipes' names, also for recipes given as paths; a variant's agent folder is
        ``<agent>[<key>=<value>,...]`` (:func:`~syre_rl.experiments.sweeps.variant_folder`)."""
        agent = variant_folder(recipe_name("agents", self.agent), self.variant)
        return run_path(root, recipe_name("envs", self.scenario), agent, self.seed)

    def config(self) -> dict[str, Any]:
        """The resolved config of this run (:func:`syre_rl.experiments.config.resolve_config`); a variant's sweep
        values are also recorded under the config's ``sweep`` key."""
        config = resolve_config(
            self.agent,
            self.scenario,
            seed=self.seed,
            overrides={**dict(self.overrides), **dict(self.variant)},
            total_steps=self.total_steps,
            device=self.device,
        )
        if self.variant:
            config[SWEEP_KEY] = dict(self.variant)
        return config

    @property
    def label(self) -> str:
        agent = variant_folder(recipe_name("agents", self.agent), self.variant)
        return f"{recipe_name('envs', self.scenario)}/{agent}/seed_{self.seed}"


@dataclass
class RunResult:
    """Outcome of one run: ``status`` is ``"done"`` (trained now), ``"skipped"`` (finished before) or ``"failed"``.

    :param error: the traceback of a failed run.
    :param message: its final error on one line (``Type: message``, the message's lines joined).
    """

    spec: RunSpec
    status: str
    seconds: float = 0.0
    error: str | None = field(default=None, repr=False)
    message: str | None = None


def _failure(spec: RunSpec, exc: BaseException, seconds: float = 0.0) -> RunResult:
    message = one_line("".join(traceback.format_exception_only(type(exc), exc)))
    return RunResult(spec, "failed", seconds, traceback.format_exc(), message)


def plan_grid(
    agents: Sequence[str],
    scenarios: Sequence[str],
    seeds: Iterable[int],
    *,
    reference: str | None = "auto",
    overrides: Mapping[str, Any] | None = None,
    total_steps: int | None = None,
    device: str = "cpu",
    sweeps: Sequence[Sweep] = (),
    agent_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RunSpec]:
    """All runs of a benchmark, checked before anything runs.

    :param agents: agent recipe names.
    :param scenarios: scenario recipe names.
    :param seeds: seeds, e.g. ``range(3)``.
    :param reference: agent added to every scenario and seed as the reset reference of the summary; ``"auto"``
        uses :data:`~syre_rl.run_layout.DEFAULT_REFERENCE` when such a recipe exists, None adds nothing.
    :param overrides: ``--set`` overrides applied to every run.
    :param total_steps: environment steps per run; None uses each scenario's.
    :param device: torch device of the runs.
    :param sweeps: sweeps (:mod:`syre_rl.experiments.sweeps`): each agent runs the product of the sweeps that apply
        to it. A sweep without agents applies to every agent in ``agents``, not to the reference.
    :param agent_overrides: more overrides per agent (applied after ``overrides``, before the sweeps).
    :raises ValueError: for an unknown agent, scenario or override key (the message lists what exists), a sweep
        restricted to an agent not in the grid, or a sweep key an agent does not accept (the message lists the
        agent's valid keys).
    """
    seeds = list(seeds)
    if not agents or not scenarios or not seeds:
        raise ValueError(f"a benchmark needs agents, scenarios and seeds; got {agents!r}, {scenarios!r}, {seeds!r}")
    agents = list(dict.fromkeys(agents))
    asked = list(agents)
    if reference == "auto":
        reference = DEFAULT_REFERENCE if DEFAULT_REFERENCE in list_agents() else None
    if reference is not None and reference not in agents:
        agents.append(reference)
    items = tuple(sorted((overrides or {}).items()))
    per_agent = {a: items for a in agents}
    for agent, extra in (agent_overrides or {}).items():
        if agent not in per_agent:
            raise ValueError(f"overrides for agent {agent!r}, which is not in the grid {agents}")
        per_agent[agent] = tuple(sorted({**dict(items), **dict(extra)}.items()))
    for sweep in sweeps:
        unknown = [a for a in sweep.agents if a not in agents]
        if unknown:
            raise ValueError(f"sweep of {sweep.key!r} names agents {unknown} that are not in the grid {agents}")
    swept = {a: variants([s for s in sweeps if s.agents or a in asked], a) for a in agents}
    specs = [
        RunSpec(a, s, int(seed), per_agent[a], total_steps, device, v)
        for s in scenarios
        for a in agents
        for v in swept[a]
        for seed in seeds
    ]
    for agent in agents:  # fail early, with the recipe's own error message
        for scenario in scenarios:
            base = RunSpec(agent, scenario, seeds[0], per_agent[agent], total_steps, device)
            config = base.config()
            _check_sweep_keys(config, [s for s in sweeps if s.agents or agent in asked], agent)
            for variant in swept[agent]:
                if variant:
                    RunSpec(agent, scenario, seeds[0], per_agent[agent], total_steps, device, variant).config()
    return specs


def _check_sweep_keys(config: Mapping[str, Any], sweeps: Sequence[Sweep], agent: str) -> None:
    from syre_rl.experiments.config import valid_override_keys

    valid = valid_override_keys(config)
    for sweep in sweeps:
        if sweep.applies_to(agent) and sweep.key not in valid:
            raise ValueError(f"sweep key {sweep.key!r} is not accepted by agent {agent!r}; valid keys: {valid}")


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def run_one(spec: RunSpec, root: str | Path) -> RunResult:
    """Train (or resume, or skip) one run; never raises: a failure is returned, with its traceback also written to
    ``error.txt`` in the run folder."""
    from syre_rl.experiments.run import train

    _init_worker()
    start = time.perf_counter()
    try:
        run_dir = spec.run_dir(root)
    except Exception as exc:  # a recipe file removed since the grid was planned
        return _failure(spec, exc, time.perf_counter() - start)
    if is_done(run_dir):
        return RunResult(spec, "skipped")
    try:
        train(spec.config(), run_dir, resume=True)
    except Exception as exc:  # a broken run must not stop the benchmark
        result = _failure(spec, exc, time.perf_counter() - start)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(result.error or "")
        return result
    return RunResult(spec, "done", time.perf_counter() - start)


def _run_local(
    specs: Sequence[RunSpec], root: Path, workers: int, report: Callable[[RunResult], None]
) -> list[RunResult]:
    if workers == 1:  # in this process: simplest to debug, no start-up cost
        results = []
        for spec in specs:
            results.append(run_one(spec, root))
            report(results[-1])
        return results
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the workers before they import torch
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(run_one, spec, root): spec for spec in specs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # the worker process itself died
                result = _failure(futures[future], exc)
            results.append(result)
            report(result)
    return results


def _run_ray(
    specs: Sequence[RunSpec],
    root: Path,
    address: str | None,
    gpus_per_run: float,
    report: Callable[[RunResult], None],
) -> list[RunResult]:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote_run = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)(run_one)
    pending = {remote_run.remote(spec, str(root)): spec for spec in specs}
    results = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        spec = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # the task or its worker died
            result = _failure(spec, exc)
        results.append(result)
        report(result)
    return results


def run_benchmark(
    specs: Sequence[RunSpec],
    root: str | Path,
    *,
    backend: Backend = "local",
    workers: int | None = None,
    address: str | None = None,
    gpus_per_run: float = 0.0,
    report: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every spec that is not finished yet.

    :param specs: runs, e.g. from :func:`plan_grid`.
    :param root: benchmark folder.
    :param backend: ``"local"`` (process pool) or ``"ray"``.
    :param workers: local pool size; default ``os.cpu_count()`` capped at the number of runs. 1 runs in-process.
    :param address: Ray cluster address (``"auto"`` or ``"ray://host:10001"``); None starts a local Ray instance
        unless one is already running in this process.
    :param gpus_per_run: Ray only: GPUs reserved per run (e.g. 0.25 puts four runs on a GPU); default 0.
    :param report: called with each result as it comes in.
    :return: one result per spec, in completion order.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; accepted: {list(BACKENDS)}")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    _record_plan(specs, root)
    report = report or (lambda result: None)
    todo = [s for s in specs if not is_done(s.run_dir(root))]
    results = [RunResult(s, "skipped") for s in specs if s not in todo]
    for result in results:
        report(result)
    if not todo:
        return results
    if backend == "ray":
        return results + _run_ray(todo, root, address, gpus_per_run, report)
    if workers is not None:
        check_int("workers", workers, low=1)
    workers = min(workers or os.cpu_count() or 1, len(todo))
    return results + _run_local(todo, root, workers, report)


def _record_plan(specs: Sequence[RunSpec], root: Path) -> None:
    """Add the runs asked for and the overrides to the benchmark folder's ``benchmark.yaml``."""
    path = root / PLAN_FILE
    previous = yaml.safe_load(path.read_text()) if path.is_file() else None
    runs = sorted({s.label for s in specs} | set((previous or {}).get("runs", [])))
    overrides = {k: v for s in specs for k, v in s.overrides}
    # Overrides that differ between agents (a study's per-agent overrides) are recorded per agent folder.
    common = {k: v for k, v in overrides.items() if all((k, v) in s.overrides for s in specs)}
    extra = {
        s.label.rpartition("/")[0]: {k: v for k, v in s.overrides if k not in common}
        for s in specs
        if len(common) < len(s.overrides)
    }
    plan: dict[str, Any] = {"runs": runs, "overrides": common if extra else overrides}
    if extra:
        plan["agent_overrides"] = dict(sorted(extra.items()))
    swept = {**(previous or {}).get("sweeps", {}), **{s.label: variant_label(s.variant) for s in specs if s.variant}}
    if swept:
        plan["sweeps"] = dict(sorted(swept.items()))
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
