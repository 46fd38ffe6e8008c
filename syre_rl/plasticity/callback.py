"""PlasticityCallback: measure loss of plasticity during SB3 training and write tidy per-task records.

What it does, and when
    * Every env step (cheap: a loop over the step's infos): counts steps per task, and writes every finished episode
      to ``episodes.csv`` (return and length from SB3's Monitor ``info["episode"]``; without a Monitor, from the
      step rewards). The task of a step is ``info["task_id"]`` of the non-stationary wrappers, 0 without one;
      ``info["task"]`` gives the task's parameters.
    * Every ``every_n_rollouts`` rollouts, and at the end of the first rollout of every task, before the update
      that uses the rollout, on a batch of up to ``batch_size`` observations of that rollout (on-policy) or of the
      replay buffer (off-policy): the hidden activations of actor and critic (found by
      :mod:`syre_rl.plasticity.capture`) give dormant ratios, dead units, active fraction, feature ranks, norm and
      variance; the weights give magnitudes, distance to their initial values and symmetry collapse; the policy
      gives its entropy. The plasticity probe, the costliest metric, runs on a copy of the actor's and critic's
      feature paths at the start of every task (how trainable the network is when it meets the task) and on
      every ``probe_every``-th periodic measurement.
    * The update that follows a measured rollout is watched for the gradient norm before clipping: hooks on the
      parameters take each gradient's norm as soon as backward has accumulated it, and an optimizer step pre-hook
      closes each minibatch (PPO clips between the two, so the norm is the unclipped one). The mean and max over
      the update's minibatches are reported; the hooks are removed after that update.
    * At the end of training (and at each task switch) ``tasks.csv`` is rewritten from all episodes of the run.

Rows go to ``metrics.csv`` as ``(timesteps, task_id, network, layer, metric, value)``; metrics of a whole network
use layer ``"all"`` (fractions there are unit-weighted means over the network's hidden layers). The same values are
recorded in SB3's logger (TensorBoard, CSV; not stdout) as ``plasticity/{network}/{layer}/{metric}``. Files are
appended to when they exist (resume) and flushed row by row.

Actor and critic are measured separately for SB3 actor-critic policies (PPO, A2C, SyrePPO). For other policies
(DQN, SAC, ...) the activation metrics cover the networks that the policy's own forward pass runs (DQN's q-network,
SAC's actor), the weight metrics every network; the entropy and the probe are reported for actor-critic policies
only.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn

from syre_rl.plasticity import metrics as M
from syre_rl.plasticity.capture import HiddenLayer, WeightLayer, capture_activations, find_layers
from syre_rl.plasticity.records import (
    EPISODES_COLUMNS,
    EPISODES_FILE,
    INIT_REFERENCE_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    TASKS_FILE,
    CsvAppender,
    Episode,
    TaskProgress,
    read_episodes,
    read_task_progress,
    task_table,
    write_table,
)

# At this cadence the callback costs PPO less than 5% of its time even with small rollouts (see
# scripts/bench_callback_overhead.py and the README).
DEFAULT_EVERY_N_ROLLOUTS = 16
DEFAULT_PROBE_EVERY = 10
# Default spacing of measurements for off-policy algorithms, in env steps.
OFF_POLICY_EVERY_STEPS = 2048
# Metrics reported per network (layer "all") as unit-weighted means over the hidden layers.
FRACTION_METRICS = ("dead_units", "active_fraction", "collapse_dead", "collapse_duplicate", "collapsed")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class _FeaturePath(nn.Module):
    """The actor's or critic's path from preprocessed observations to its last hidden features (for the probe)."""

    def __init__(self, policy: Any, network: str) -> None:
        super().__init__()
        self.network = network
        extractor = policy.pi_features_extractor if network == "actor" else policy.vf_features_extractor
        self.features_extractor: Any = extractor
        self.mlp_extractor: Any = policy.mlp_extractor

    def forward(self, obs: Any) -> torch.Tensor:
        features = self.features_extractor(obs)
        if self.network == "actor":
            return self.mlp_extractor.forward_actor(features)
        return self.mlp_extractor.forward_critic(features)


class PlasticityCallback(BaseCallback):
    """Measure plasticity metrics during training and write ``metrics.csv``, ``episodes.csv`` and ``tasks.csv``.

    Usage::

        model = SyrePPO("MlpPolicy", env)
        model.learn(100_000, callback=PlasticityCallback("runs/syre_cartpole"))

    :param log_dir: folder of the three CSV files (created if needed).
    :param every_n_rollouts: measure after every this many rollouts (the first rollout is always measured).
        Default None: 16 for on-policy algorithms; for off-policy ones, whose "rollouts" are a few steps, as many
        rollouts as make about 2048 env steps (from the algorithm's ``train_freq`` and number of envs).
    :param batch_size: number of observations measured (sampled without replacement from the rollout). Default 1024.
    :param taus: thresholds of the tau-dormant ratios reported. Default (0, 0.025).
    :param srank_delta: delta of srank. Default 0.01.
    :param dead_max_active: a unit active on at most this fraction of the batch is dead. Default 0.01.
    :param dead_tol: tolerance of dead-symmetric units, relative to the layer's initial typical unit norms
        (see :func:`syre_rl.plasticity.metrics.symmetry_collapse`). Default 0.005.
    :param duplicate_tol: tolerance of duplicate units, same reference. Default 0.01.
    :param probe_every: also run the plasticity probe on every this many periodic measurements; 0: never.
        Default 10.
    :param probe_at_task_start: measure, with the probe, at the end of the first rollout of every task (the first
        task included), whatever the cadence. Default True.
    :param probe_steps: Adam steps of the probe. Default 50.
    :param probe_batch_size: observations the probe fits (the first of the measured batch). Default 128.
    :param probe_lr: Adam learning rate of the probe. Default 3e-3.
    :param measure_grad_norm: watch the update after each measurement for the gradient norm. Default True.
    :param final_fraction: share of a task's steps whose episodes make its ``final_return``. Default 0.1.
    :param seed: seed of the observation sampling and of the probe's targets. Default 0.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        log_dir: str | Path,
        every_n_rollouts: int | None = None,
        batch_size: int = 1024,
        taus: Sequence[float] = (0.0, 0.025),
        srank_delta: float = 0.01,
        dead_max_active: float = 0.01,
        dead_tol: float = 0.005,
        duplicate_tol: float = 0.01,
        probe_every: int = DEFAULT_PROBE_EVERY,
        probe_at_task_start: bool = True,
        probe_steps: int = 50,
        probe_batch_size: int = 128,
        probe_lr: float = 3e-3,
        measure_grad_norm: bool = True,
        final_fraction: float = 0.1,
        seed: int = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.log_dir = Path(log_dir)
        self.every_n_rollouts = (
            None if every_n_rollouts is None else _check_int("every_n_rollouts", every_n_rollouts, 1)
        )
        self.batch_size = _check_int("batch_size", batch_size, 2)
        self.taus = tuple(M._check_fraction("tau", float(t)) for t in taus)
        self.srank_delta = M._check_fraction("srank_delta", srank_delta)
        self.dead_max_active = M._check_fraction("dead_max_active", dead_max_active)
        self.dead_tol = M._check_fraction("dead_tol", dead_tol)
        self.duplicate_tol = M._check_fraction("duplicate_tol", duplicate_tol)
        self.probe_every = _check_int("probe_every", probe_every, 0)
        self.probe_at_task_start = bool(probe_at_task_start)
        self.probe_steps = _check_int("probe_steps", probe_steps, 1)
        self.probe_batch_size = _check_int("probe_batch_size", probe_batch_size, 2)
        if not (isinstance(probe_lr, (int, float)) and math.isfinite(probe_lr) and probe_lr > 0):
            raise ValueError(f"probe_lr must be a finite number > 0, got {probe_lr!r}")
        self.probe_lr = float(probe_lr)
        self.measure_grad_norm = bool(measure_grad_norm)
        if not 0 < final_fraction <= 1:
            raise ValueError(f"final_fraction must be a number in (0, 1], got {final_fraction!r}")
        self.final_fraction = float(final_fraction)
        self.seed = int(seed)
        #: Wall time spent inside the callback, in seconds: measurements, per-step bookkeeping, gradient-norm hooks.
        self.overhead_seconds = 0.0
        self.n_measurements = 0
        #: Rollouts between measurements, resolved at the start of training.
        self.cadence: int = DEFAULT_EVERY_N_ROLLOUTS if every_n_rollouts is None else every_n_rollouts
        self._rng = np.random.default_rng(self.seed)
        self._metrics = CsvAppender(self.log_dir / METRICS_FILE, METRICS_COLUMNS)
        self._episodes_file = CsvAppender(self.log_dir / EPISODES_FILE, EPISODES_COLUMNS)
        self._started = False
        self._n_rollouts = 0
        self._episodes: list[Episode] = []
        self._progress: dict[int, TaskProgress] = {}
        self._task_id = 0
        self._switch_pending = False
        self._own_returns = True
        self._ep_return = np.zeros(0)
        self._ep_length = np.zeros(0, dtype=np.int64)
        self._hidden: list[HiddenLayer] = []
        self._weights: list[WeightLayer] = []
        self._init_weights: dict[str, list[torch.Tensor]] = {}
        self._init_scales: dict[str, tuple[float, float | None]] = {}
        self._actor_critic = False
        self._grad_handles: list[Any] = []
        self._grad_parts: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._grad_norms: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._grad_stamp: tuple[int, int] = (0, 0)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def _on_training_start(self) -> None:
        if self._started:  # a later learn() call continues the same records
            return
        self._started = True
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._episodes = read_episodes(self.log_dir / EPISODES_FILE)
        self._progress = read_task_progress(self.log_dir / TASKS_FILE)
        policy = self.model.policy
        self._actor_critic = all(hasattr(policy, a) for a in ("get_distribution", "predict_values", "mlp_extractor"))
        self._hidden, self._weights = find_layers(policy)
        init_path = self.log_dir / INIT_REFERENCE_FILE
        if init_path.is_file():  # a resumed run: distances and collapse tolerances stay relative to step 0
            saved = torch.load(init_path, map_location=policy.device, weights_only=True)
            self._init_weights, self._init_scales = saved["weights"], saved["scales"]
        else:
            with torch.no_grad():
                self._init_weights = {w.name: [p.detach().clone() for p in w.parameters()] for w in self._weights}
                for layer in self._hidden:
                    if layer.in_layer is None:
                        continue
                    weight, bias = layer.incoming()
                    in_scale = float(M.typical_norm(M.incoming_vectors(weight, bias).norm(dim=1)))
                    out = layer.outgoing()
                    out_scale = float(M.typical_norm(M.outgoing_norms(out, weight.shape[0]))) if out else None
                    self._init_scales[layer.name] = (in_scale, out_scale)
            torch.save({"weights": self._init_weights, "scales": self._init_scales}, init_path)
        n_steps = getattr(self.model, "n_steps", None)
        if isinstance(n_steps, int) and getattr(self.model, "rollout_buffer", None) is not None:
            # on-policy: rollouts follow from the step count, so a resumed run keeps the uninterrupted cadence
            self._n_rollouts = self.num_timesteps // (n_steps * self.model.n_envs)
        if self._progress:
            self._task_id = max(self._progress)
        n_envs = self.training_env.num_envs if self.training_env is not None else 1
        self.cadence = self._default_cadence(n_envs) if self.every_n_rollouts is None else self.every_n_rollouts
        self._ep_return = np.zeros(n_envs)
        self._ep_length = np.zeros(n_envs, dtype=np.int64)

    def _default_cadence(self, n_envs: int) -> int:
        train_freq = getattr(self.model, "train_freq", None)
        if getattr(self.model, "replay_buffer", None) is None or train_freq is None:
            return DEFAULT_EVERY_N_ROLLOUTS
        frequency = getattr(train_freq, "frequency", 1)
        unit = str(getattr(getattr(train_freq, "unit", None), "value", "step"))
        steps = frequency * n_envs * (1 if unit == "step" else 200)  # an episode counted as 200 steps
        return max(1, math.ceil(OFF_POLICY_EVERY_STEPS / steps))

    def _on_rollout_start(self) -> None:
        self._flush_grad_norms()

    def _on_rollout_end(self) -> None:
        self._n_rollouts += 1
        task_start = self._switch_pending or self._n_rollouts == 1
        self._switch_pending = False
        index, offset = divmod(self._n_rollouts - 1, self.cadence)
        if task_start or offset == 0:
            start = time.perf_counter()
            periodic_probe = offset == 0 and self.probe_every > 0 and index % self.probe_every == 0
            self._measure(probe=(task_start and self.probe_at_task_start) or periodic_probe)
            self.overhead_seconds += time.perf_counter() - start
            self.logger.record("plasticity/overhead_s", self.overhead_seconds, exclude="stdout")

    def _on_training_end(self) -> None:
        self._flush_grad_norms()
        self.write_tasks()
        self._metrics.close()
        self._episodes_file.close()

    # ------------------------------------------------------------------------------------------------ every step
    def _on_step(self) -> bool:
        start = time.perf_counter()
        self._track_step()
        self.overhead_seconds += time.perf_counter() - start
        return True

    def _track_step(self) -> None:
        # Runs on every env step: kept to a few dict operations in the common case.
        infos = self.locals.get("infos")
        if not infos:
            return
        t = self.num_timesteps
        task_ids = [info.get("task_id", 0) for info in infos]
        first = task_ids[0]
        if task_ids.count(first) == len(task_ids):  # all sub-envs on one task (synchronised switching)
            self._count_steps(first, len(task_ids), t, infos[0])
        else:
            for task_id, info in zip(task_ids, infos):
                self._count_steps(task_id, 1, t, info)
        if first != self._task_id:
            self._task_id = int(first)
            self._switch_pending = True
            self.write_tasks()
        if self._own_returns:
            rewards = self.locals.get("rewards")
            if rewards is not None and len(rewards) == len(self._ep_return):
                self._ep_return += rewards
                self._ep_length += 1
        dones = self.locals.get("dones")
        if dones is not None and dones.any():
            self._end_episodes(np.flatnonzero(dones), infos, task_ids, t)

    def _count_steps(self, task_id: int, n: int, t: int, info: dict[str, Any]) -> None:
        progress = self._progress.get(task_id)
        if progress is None:
            progress = self._progress[int(task_id)] = TaskProgress(first_timestep=t)
        if progress.params is None and "task" in info:
            progress.params = dict(info["task"])
        progress.steps += n
        progress.last_timestep = t

    def _end_episodes(self, done: np.ndarray, infos: Sequence[dict[str, Any]], task_ids: list[Any], t: int) -> None:
        rows = []
        for i in done:
            episode = infos[i].get("episode") if i < len(infos) else None
            if episode is not None:
                ret, length = float(episode["r"]), int(episode["l"])
                self._own_returns = False  # a Monitor reports episodes: stop summing rewards ourselves
            elif self._own_returns and i < len(self._ep_return):
                ret, length = float(self._ep_return[i]), int(self._ep_length[i])
            else:
                continue
            task_id = int(task_ids[i]) if i < len(task_ids) else 0
            self._episodes.append(Episode(t, task_id, ret, length))
            rows.append((t, task_id, ret, length))
            if i < len(self._ep_return):
                self._ep_return[i], self._ep_length[i] = 0.0, 0
        if rows:
            self._episodes_file.write(rows)

    def write_tasks(self) -> None:
        """Rewrite ``tasks.csv`` from every episode of the run so far (see :func:`records.task_table`)."""
        if self._progress or self._episodes:
            table = task_table(self._episodes, self._progress, self.final_fraction)
            write_table(self.log_dir / TASKS_FILE, table)

    # ------------------------------------------------------------------------------------------------ measurement
    def _observations(self) -> Any:
        """A batch of recent observations as the policy takes them (tensor or dict of tensors), or None."""
        device = self.model.policy.device
        buffer = getattr(self.model, "rollout_buffer", None)
        if buffer is not None and getattr(buffer, "full", False):
            shapes = buffer.obs_shape
            if isinstance(buffer.observations, dict):
                flat = {k: v.reshape((-1, *shapes[k])) for k, v in buffer.observations.items()}
                n = len(next(iter(flat.values())))
            else:
                flat = buffer.observations.reshape((-1, *shapes))
                n = len(flat)
            idx = self._rng.choice(n, size=min(n, self.batch_size), replace=False)
            batch = {k: v[idx] for k, v in flat.items()} if isinstance(flat, dict) else flat[idx]
            return obs_as_tensor(batch, device)
        replay = getattr(self.model, "replay_buffer", None)
        if replay is not None and replay.size() > 1:
            samples = replay.sample(min(replay.size(), self.batch_size), env=self.model.get_vec_normalize_env())
            return samples.observations
        return None

    def _measure(self, probe: bool) -> None:
        obs = self._observations()
        policy: Any = self.model.policy
        rows: list[tuple[str, str, str, Any]] = []  # network, layer, metric, value (float or 0-dim tensor)
        if obs is not None and self._actor_critic:
            with torch.no_grad(), capture_activations(self._hidden) as acts:
                distribution = policy.get_distribution(obs)
                policy.predict_values(obs)
            rows.append(("actor", "all", "entropy", M.mean_entropy(distribution)))
            rows += self._activation_rows(acts)
        elif obs is not None and self._hidden:
            # Other policies (DQN, SAC, ...): whatever their forward pass runs (e.g. DQN's q_net, SAC's actor).
            with torch.no_grad(), capture_activations(self._hidden) as acts:
                policy(obs)
            rows += self._activation_rows(acts)
        rows += self._weight_rows()
        if probe and obs is not None and self._actor_critic:
            rows += self._probe_rows(obs)
        self.n_measurements += 1
        self._write_metric_rows(self.num_timesteps, self._task_id, rows)
        if self.measure_grad_norm:
            self._install_grad_hooks()

    def _activation_rows(self, acts: dict[str, torch.Tensor]) -> list[tuple[str, str, str, Any]]:
        rows: list[tuple[str, str, str, Any]] = []
        pooled: dict[tuple[str, str], list[tuple[int, Any]]] = defaultdict(list)
        for layer in self._hidden:
            h = acts.get(layer.name)
            if h is None or h.dim() < 2 or h.shape[0] < 2:
                continue
            n = int(h.shape[1])
            values: dict[str, Any] = {f"dormant_{tau:g}": M.dormant_ratio(h, tau) for tau in self.taus}
            values["dead_units"] = M.dead_fraction(h, layer.kind, self.dead_max_active)
            values["active_fraction"] = M.active_fraction(h, layer.kind)
            values.update(M.feature_ranks(h, self.srank_delta))
            values["feature_norm"] = M.feature_norm(h)
            values["feature_variance"] = M.feature_variance(h)
            if layer.in_layer is not None:
                weight, bias = layer.incoming()
                in_scale, out_scale = self._init_scales.get(layer.name, (None, None))
                stats = M.symmetry_collapse(
                    weight, bias, layer.outgoing(), in_scale, out_scale, self.dead_tol, self.duplicate_tol
                )
                values.update(collapse_dead=stats.dead, collapse_duplicate=stats.duplicate, collapsed=stats.collapsed)
            for metric, value in values.items():
                rows.append((layer.network, layer.name, metric, value))
                if metric in FRACTION_METRICS or metric.startswith("dormant_"):
                    pooled[(layer.network, metric)].append((n, value))
        for (network, metric), parts in pooled.items():
            total = sum(n for n, _ in parts)
            rows.append((network, "all", metric, sum(n * v for n, v in parts) / total))
        return rows

    @torch.no_grad()
    def _weight_rows(self) -> list[tuple[str, str, str, Any]]:
        rows: list[tuple[str, str, str, Any]] = []
        for layer in self._weights:
            params = layer.parameters()
            magnitude = M.weight_magnitude(params)
            rows.append((layer.network, layer.name, "weight_mean_abs", magnitude["mean_abs"]))
            rows.append((layer.network, layer.name, "weight_rms", magnitude["rms"]))
            distance = M.distance_to_init(params, self._init_weights[layer.name])
            rows.append((layer.network, layer.name, "weight_dist_init", distance))
        return rows

    def _probe_rows(self, obs: Any) -> list[tuple[str, str, str, Any]]:
        policy = self.model.policy
        if isinstance(obs, dict):
            obs = {k: v[: self.probe_batch_size] for k, v in obs.items()}
        else:
            obs = obs[: self.probe_batch_size]
        inputs = preprocess_obs(obs, policy.observation_space, normalize_images=policy.normalize_images)
        rows: list[tuple[str, str, str, Any]] = []
        for network in ("actor", "critic"):
            result = M.plasticity_probe(
                _FeaturePath(policy, network), inputs, steps=self.probe_steps, lr=self.probe_lr, seed=self.seed
            )
            rows.append((network, "all", "probe_loss_reduction", result.loss_reduction))
            rows.append((network, "all", "probe_final_loss", result.final_loss))
        return rows

    def _write_metric_rows(self, timesteps: int, task_id: int, rows: list[tuple[str, str, str, Any]]) -> None:
        if not rows:
            return
        tensors = [v for *_, v in rows if isinstance(v, torch.Tensor)]
        # One device synchronisation for all tensor-valued metrics.
        converted = iter(torch.stack([t.detach().float().cpu() for t in tensors]).tolist() if tensors else [])
        values = [next(converted) if isinstance(v, torch.Tensor) else float(v) for *_, v in rows]
        out = []
        for (network, layer, metric, _), value in zip(rows, values):
            out.append((timesteps, task_id, network, layer, metric, value))
            self.logger.record(f"plasticity/{network}/{layer}/{metric}", value, exclude="stdout")
        self._metrics.write(out)

    # ------------------------------------------------------------------------------------------------ grad norm
    def _optimizers(self) -> list[torch.optim.Optimizer]:
        policy = self.model.policy
        found = [getattr(policy, "optimizer", None)]
        found += [getattr(getattr(policy, name, None), "optimizer", None) for name in ("actor", "critic", "q_net")]
        unique: dict[int, torch.optim.Optimizer] = {}
        for opt in found:
            if isinstance(opt, torch.optim.Optimizer):
                unique.setdefault(id(opt), opt)
        return list(unique.values())

    def _install_grad_hooks(self) -> None:
        if self._grad_handles:
            return
        policy = self.model.policy
        network_of = {id(p): layer.network for layer in self._weights for p in layer.parameters()}
        for name, param in policy.named_parameters():
            if not param.requires_grad:
                continue
            network = network_of.get(id(param), "actor" if "log_std" in name else "other")
            self._grad_handles.append(param.register_post_accumulate_grad_hook(partial(self._add_grad, network)))
        for optimizer in self._optimizers():
            self._grad_handles.append(optimizer.register_step_pre_hook(self._close_minibatch))
        self._grad_stamp = (self.num_timesteps, self._task_id)

    def _add_grad(self, network: str, param: torch.Tensor) -> None:
        start = time.perf_counter()
        if param.grad is not None:
            self._grad_parts[network].append(torch.linalg.vector_norm(param.grad.detach()))
        self.overhead_seconds += time.perf_counter() - start

    def _close_minibatch(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._grad_parts:
            return
        start = time.perf_counter()
        everything = []
        for network, parts in self._grad_parts.items():
            stacked = torch.stack(parts)
            self._grad_norms[network].append(torch.linalg.vector_norm(stacked))
            everything.append(stacked)
        self._grad_norms["all"].append(torch.linalg.vector_norm(torch.cat(everything)))
        self._grad_parts = defaultdict(list)
        self.overhead_seconds += time.perf_counter() - start

    def _flush_grad_norms(self) -> None:
        for handle in self._grad_handles:
            handle.remove()
        self._grad_handles.clear()
        self._grad_parts = defaultdict(list)
        if not self._grad_norms:
            return
        rows: list[tuple[str, str, str, Any]] = []
        for network, norms in self._grad_norms.items():
            stacked = torch.stack(norms)
            rows.append((network, "all", "grad_norm", stacked.mean()))
            rows.append((network, "all", "grad_norm_max", stacked.max()))
        self._grad_norms = defaultdict(list)
        start = time.perf_counter()
        self._write_metric_rows(*self._grad_stamp, rows)
        self.overhead_seconds += time.perf_counter() - start
