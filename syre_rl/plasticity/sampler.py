"""MetricSampler: plasticity metrics of an SB3 policy, measured on a cadence of rollouts, to ``metrics.csv`` and SB3's
logger.

What is measured, and when
    * Every ``every_n_rollouts`` rollouts, and at the end of the first rollout of every task, before the update
      that uses the rollout, on a batch of up to ``batch_size`` observations of that rollout (on-policy) or of the
      replay buffer (off-policy): the hidden activations of actor and critic (found by
      :mod:`syre_rl.plasticity.capture`) give dormant ratios, dead units, active fraction, feature ranks, norm and
      variance; the weights give magnitudes, distance to their initial values and symmetry collapse; the policy
      gives its entropy. The plasticity probe, the costliest metric, runs on a copy of the actor's and critic's
      feature paths at the start of every task (how trainable the network is when it meets the task) and on
      every ``probe_every``-th periodic measurement. Task starts and task ids come from an
      :class:`~syre_rl.plasticity.recorder.EpisodeRecorder` when one is given.
    * The update that follows a measured rollout is watched for the gradient norm before clipping
      (:mod:`syre_rl.plasticity.grad_norms`): the mean and max over the update's minibatches are reported.

Rows go to ``metrics.csv`` as ``(timesteps, task_id, network, layer, metric, value)``; metrics of a whole network
use layer ``"all"`` (fractions there are unit-weighted means over the network's hidden layers). The same values are
recorded in SB3's logger (TensorBoard, CSV; not stdout) as ``plasticity/{network}/{layer}/{metric}``. The file is
appended to when it exists (resume) and flushed row by row.

Actor and critic are measured separately for SB3 actor-critic policies (PPO, A2C, SyrePPO). Off-policy policies
are measured per network on a replay batch: ``actor`` (SAC, TD3: the deterministic action of the observations),
``critic`` (SAC, TD3: both Q-networks on the batch's observation and stored action, as in training; layers
``critic.qf0.*`` and ``critic.qf1.*``) and ``qf`` (DQN's Q-network). Their target networks, Polyak copies of the
online ones, are left out of the activation and the weight metrics. The entropy and the probe are reported for
actor-critic policies only.
"""

from __future__ import annotations

import copy
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.preprocessing import preprocess_obs
from torch import nn

from syre_rl.plasticity import metrics as M
from syre_rl.plasticity.capture import HiddenLayer, WeightLayer, capture_activations, find_layers
from syre_rl.plasticity.grad_norms import GradNormWatcher, Row, policy_optimizers
from syre_rl.plasticity.recorder import EpisodeRecorder
from syre_rl.plasticity.records import (
    INIT_REFERENCE_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    CsvAppender,
    output_folder,
)
from syre_rl.plasticity.rollouts import Observations, count_rollouts, replay_batch, sample_observations
from syre_rl.validation import check_fraction, check_int, check_real

# At this cadence the callback costs PPO less than 5% of its time even with small rollouts (see
# scripts/bench_callback_overhead.py and the README).
DEFAULT_EVERY_N_ROLLOUTS = 16
DEFAULT_PROBE_EVERY = 10
# Default spacing of measurements for off-policy algorithms, in env steps.
OFF_POLICY_EVERY_STEPS = 2048
# Metrics reported per network (layer "all") as unit-weighted means over the hidden layers.
FRACTION_METRICS = ("dead_units", "active_fraction", "collapse_dead", "collapse_duplicate", "collapsed")


def default_cadence(model: Any, n_envs: int) -> int:
    """Rollouts between measurements when none is given: 16 for on-policy algorithms; for off-policy ones, whose
    "rollouts" are a few steps, as many rollouts as make about 2048 env steps (from ``train_freq`` and ``n_envs``)."""
    train_freq = getattr(model, "train_freq", None)
    if getattr(model, "replay_buffer", None) is None or train_freq is None:
        return DEFAULT_EVERY_N_ROLLOUTS
    frequency = getattr(train_freq, "frequency", 1)
    unit = str(getattr(getattr(train_freq, "unit", None), "value", "step"))
    steps = frequency * n_envs * (1 if unit == "step" else 200)  # an episode counted as 200 steps
    return max(1, math.ceil(OFF_POLICY_EVERY_STEPS / steps))


def _run_networks(policy: Any, obs: Observations, actions: torch.Tensor | None) -> None:
    """Run the networks of a policy that is not actor-critic: its prediction (DQN's Q-network, SAC's and TD3's actor,
    deterministic so that no random stream is used) and, given the replay batch's actions, its critic."""
    predict = getattr(policy, "_predict", None)
    if callable(predict):
        predict(obs, deterministic=True)
    else:
        policy(obs)
    critic = getattr(policy, "critic", None)
    if actions is not None and isinstance(critic, nn.Module):
        critic(obs, actions)


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


class MetricSampler(BaseCallback):
    """Measure plasticity metrics every few rollouts and write them to ``metrics.csv`` and SB3's logger.

    Takes the measurement arguments of :class:`~syre_rl.plasticity.callback.PlasticityCallback` (see there), plus:

    :param recorder: the :class:`~syre_rl.plasticity.recorder.EpisodeRecorder` of the same run, which tells the task
        of each measurement and when a task starts. Default None: every row has task 0 and only the first rollout
        counts as a task start.
    """

    def __init__(
        self,
        log_dir: str | Path | None = None,
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
        seed: int = 0,
        recorder: EpisodeRecorder | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        #: Folder of ``metrics.csv``: as given, or resolved at the start of training (None: logger only).
        self.log_dir: Path | None = None if log_dir is None else Path(log_dir)
        self.every_n_rollouts = None if every_n_rollouts is None else check_int("every_n_rollouts", every_n_rollouts, 1)
        self.batch_size = check_int("batch_size", batch_size, 2)
        self.taus = tuple(check_fraction("tau", t, high_open=True) for t in taus)
        self.srank_delta = check_fraction("srank_delta", srank_delta, high_open=True)
        self.dead_max_active = check_fraction("dead_max_active", dead_max_active, high_open=True)
        self.dead_tol = check_fraction("dead_tol", dead_tol, high_open=True)
        self.duplicate_tol = check_fraction("duplicate_tol", duplicate_tol, high_open=True)
        self.probe_every = check_int("probe_every", probe_every, 0)
        self.probe_at_task_start = bool(probe_at_task_start)
        self.probe_steps = check_int("probe_steps", probe_steps, 1)
        self.probe_batch_size = check_int("probe_batch_size", probe_batch_size, 2)
        self.probe_lr = check_real("probe_lr", probe_lr, low=0.0, low_open=True)
        self.measure_grad_norm = bool(measure_grad_norm)
        self.seed = int(seed)
        self.recorder = recorder
        #: Wall time spent measuring, writing rows and in the gradient-norm hooks, in seconds.
        self.overhead_seconds = 0.0
        self.n_measurements = 0
        #: Rollouts between measurements, resolved at the start of training.
        self.cadence: int = self.every_n_rollouts or DEFAULT_EVERY_N_ROLLOUTS
        self._rng = np.random.default_rng(self.seed)
        self._metrics: CsvAppender | None = None
        self._started = False
        self._n_rollouts = 0
        self._hidden: list[HiddenLayer] = []
        self._weights: list[WeightLayer] = []
        self._init_weights: dict[str, list[torch.Tensor]] = {}
        self._init_scales: dict[str, tuple[float, float | None]] = {}
        self._actor_critic = False
        self._grad = GradNormWatcher()
        self._grad_stamp: tuple[int, int] = (0, 0)
        self._watch_on_start = False  # reinstall the gradient hooks at training start (resumed mid-update)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to measure exactly as an uninterrupted one (picklable): the sampling
        generator, rollout and measurement counts, the cadence, the gradient-norm window and its stamp. The step-0
        reference weights are kept in ``plasticity_init.pt``."""
        return {
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "n_rollouts": self._n_rollouts,
            "n_measurements": self.n_measurements,
            "cadence": self.cadence,
            "overhead_seconds": self.overhead_seconds,
            "grad": self._grad.state_dict(),
            "grad_stamp": self._grad_stamp,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`; gradient hooks that were installed are installed again at the start of
        training."""
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._n_rollouts = int(state["n_rollouts"])
        self.n_measurements = int(state["n_measurements"])
        self.cadence = int(state["cadence"])
        self.overhead_seconds = float(state["overhead_seconds"])
        self._grad.load_state_dict(state["grad"])
        self._grad_stamp = (int(state["grad_stamp"][0]), int(state["grad_stamp"][1]))
        self._watch_on_start = bool(state["grad"]["installed"])
        if self._started and self._watch_on_start:
            self._install_grad_watch()
            self._watch_on_start = False

    @property
    def task_id(self) -> int:
        """The task the next rows are recorded under."""
        return self.recorder.task_id if self.recorder is not None else 0

    # ------------------------------------------------------------------------------------------------ lifecycle
    def _on_training_start(self) -> None:
        if self._started:  # a later learn() call continues the same records
            return
        self._started = True
        self.log_dir = output_folder(self.log_dir, self.logger)
        if self.log_dir is not None:
            self._metrics = CsvAppender(self.log_dir / METRICS_FILE, METRICS_COLUMNS)
        policy = self.model.policy
        self._actor_critic = all(hasattr(policy, a) for a in ("get_distribution", "predict_values", "mlp_extractor"))
        self._hidden, self._weights = find_layers(policy)
        self._load_or_save_init_reference()
        n_envs = self.training_env.num_envs if self.training_env is not None else 1
        self.cadence = default_cadence(self.model, n_envs) if self.every_n_rollouts is None else self.every_n_rollouts
        if self._watch_on_start:
            self._install_grad_watch()
            self._watch_on_start = False

    def _load_or_save_init_reference(self) -> None:
        """Weights and collapse scales at step 0: read back on resume, so that distances and collapse tolerances stay
        relative to the start of the run; kept in memory only without a folder."""
        policy = self.model.policy
        init_path = None if self.log_dir is None else self.log_dir / INIT_REFERENCE_FILE
        if init_path is not None and init_path.is_file():
            saved = torch.load(init_path, map_location=policy.device, weights_only=True)
            self._init_weights, self._init_scales = saved["weights"], saved["scales"]
            return
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
        if init_path is not None:
            torch.save({"weights": self._init_weights, "scales": self._init_scales}, init_path)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self._flush_grad_norms()

    def _on_rollout_end(self) -> None:
        self._n_rollouts = count_rollouts(self.model, self.num_timesteps, self._n_rollouts)
        task_start = self.recorder is not None and self.recorder.take_task_start()
        task_start = task_start or self._n_rollouts == 1
        index, offset = divmod(self._n_rollouts - 1, self.cadence)
        if task_start or offset == 0:
            start = time.perf_counter()
            periodic_probe = offset == 0 and self.probe_every > 0 and index % self.probe_every == 0
            self._measure(probe=(task_start and self.probe_at_task_start) or periodic_probe)
            self.overhead_seconds += time.perf_counter() - start
            self.logger.record("plasticity/overhead_s", self.total_overhead_seconds, exclude="stdout")

    def _on_training_end(self) -> None:
        self._flush_grad_norms()
        if self._metrics is not None:
            self._metrics.close()

    @property
    def total_overhead_seconds(self) -> float:
        """Wall time of the sampler, its gradient-norm hooks and its recorder (if any) together, in seconds."""
        recorder = self.recorder.overhead_seconds if self.recorder is not None else 0.0
        return self.overhead_seconds + self._grad.overhead_seconds + recorder

    # ------------------------------------------------------------------------------------------------ measurement
    def _measure(self, probe: bool) -> None:
        actions: torch.Tensor | None = None
        if getattr(self.model, "replay_buffer", None) is not None:
            replay = replay_batch(self.model, self.batch_size, self._rng)
            obs, actions = (None, None) if replay is None else replay
        else:
            obs = sample_observations(self.model, self.batch_size, self._rng)
        policy: Any = self.model.policy
        rows: list[Row] = []
        if obs is not None and self._actor_critic:
            with torch.no_grad(), capture_activations(self._hidden) as acts:
                distribution = policy.get_distribution(obs)
                policy.predict_values(obs)
            rows.append(("actor", "all", "entropy", M.mean_entropy(distribution)))
            rows += self._activation_rows(acts)
        elif obs is not None and self._hidden:
            # Off-policy policies: actor and critic (SAC, TD3) or the Q-network (DQN) on the replay batch.
            with torch.no_grad(), capture_activations(self._hidden) as acts:
                _run_networks(policy, obs, actions)
            rows += self._activation_rows(acts)
        rows += self._weight_rows()
        if probe and obs is not None and self._actor_critic:
            rows += self._probe_rows(obs)
        self.n_measurements += 1
        self._write_metric_rows(self.num_timesteps, self.task_id, rows)
        if self.measure_grad_norm and not self._grad.installed:
            self._install_grad_watch()
            self._grad_stamp = (self.num_timesteps, self.task_id)

    def _install_grad_watch(self) -> None:
        policy = self.model.policy
        network_of = {id(p): layer.network for layer in self._weights for p in layer.parameters()}
        self._grad.install(policy, network_of, policy_optimizers(policy))

    def _activation_rows(self, acts: dict[str, torch.Tensor]) -> list[Row]:
        rows: list[Row] = []
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
    def _weight_rows(self) -> list[Row]:
        rows: list[Row] = []
        for layer in self._weights:
            params = layer.parameters()
            magnitude = M.weight_magnitude(params)
            rows.append((layer.network, layer.name, "weight_mean_abs", magnitude["mean_abs"]))
            rows.append((layer.network, layer.name, "weight_rms", magnitude["rms"]))
            distance = M.distance_to_init(params, self._init_weights[layer.name])
            rows.append((layer.network, layer.name, "weight_dist_init", distance))
        return rows

    def _probe_rows(self, obs: Observations) -> list[Row]:
        policy = self.model.policy
        if isinstance(obs, dict):
            obs = {k: v[: self.probe_batch_size] for k, v in obs.items()}
        else:
            obs = obs[: self.probe_batch_size]
        inputs = preprocess_obs(obs, policy.observation_space, normalize_images=policy.normalize_images)
        rows: list[Row] = []
        for network in ("actor", "critic"):
            result = M.plasticity_probe(
                _FeaturePath(policy, network), inputs, steps=self.probe_steps, lr=self.probe_lr, seed=self.seed
            )
            rows.append((network, "all", "probe_loss_reduction", result.loss_reduction))
            rows.append((network, "all", "probe_final_loss", result.final_loss))
        return rows

    def _write_metric_rows(self, timesteps: int, task_id: int, rows: list[Row]) -> None:
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
        if self._metrics is not None:
            self._metrics.write(out)

    def _flush_grad_norms(self) -> None:
        rows = self._grad.flush()
        if rows:
            start = time.perf_counter()
            self._write_metric_rows(*self._grad_stamp, rows)
            self.overhead_seconds += time.perf_counter() - start
