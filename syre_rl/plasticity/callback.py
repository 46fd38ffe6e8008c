"""PlasticityCallback: measure loss of plasticity during SB3 training and write tidy per-task records.

It is an :class:`~syre_rl.plasticity.recorder.EpisodeRecorder` (every env step: finished episodes to
``episodes.csv``, steps per task, task switches, ``tasks.csv``) and a
:class:`~syre_rl.plasticity.sampler.MetricSampler` (every few rollouts and at the start of every task: activation,
weight, probe and gradient-norm metrics to ``metrics.csv`` and SB3's logger) run together, the sampler taking task
starts and task ids from the recorder. Use either one alone for only its part.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import CallbackList

from syre_rl.plasticity.recorder import EpisodeRecorder
from syre_rl.plasticity.sampler import DEFAULT_PROBE_EVERY, MetricSampler


class PlasticityCallback(CallbackList):
    """Measure plasticity metrics during training and write ``metrics.csv``, ``episodes.csv`` and ``tasks.csv``.

    Usage::

        model = SyrePPO("MlpPolicy", env)
        model.learn(100_000, callback=PlasticityCallback("runs/syre_cartpole"))

    :param log_dir: folder of the three CSV files (created if needed). Default None: the output folder of the model's
        SB3 logger when it has one (e.g. the TensorBoard run folder, with ``tensorboard_log``), else no files; the
        metrics are recorded in SB3's logger either way.
    :param every_n_rollouts: measure after every this many rollouts (the first rollout is always measured).
        Default None: 16 for on-policy algorithms; for off-policy ones, whose "rollouts" are a few steps, as many
        rollouts as make about 2048 env steps (from the algorithm's ``train_freq`` and number of envs).
    :param batch_size: number of observations measured (sampled without replacement from the rollout). Default 1024.
    :param taus: thresholds of the tau-dormant ratios reported, each in [0, 1). Default (0, 0.025).
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
        final_fraction: float = 0.1,
        seed: int = 0,
        verbose: int = 0,
    ) -> None:
        self.recorder = EpisodeRecorder(log_dir, final_fraction=final_fraction, verbose=verbose)
        self.sampler = MetricSampler(
            log_dir,
            every_n_rollouts=every_n_rollouts,
            batch_size=batch_size,
            taus=taus,
            srank_delta=srank_delta,
            dead_max_active=dead_max_active,
            dead_tol=dead_tol,
            duplicate_tol=duplicate_tol,
            probe_every=probe_every,
            probe_at_task_start=probe_at_task_start,
            probe_steps=probe_steps,
            probe_batch_size=probe_batch_size,
            probe_lr=probe_lr,
            measure_grad_norm=measure_grad_norm,
            seed=seed,
            recorder=self.recorder,
            verbose=verbose,
        )
        super().__init__([self.recorder, self.sampler])
        self.verbose = verbose
        self._recorder_pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the CSV files that a resumed run needs to log exactly as an uninterrupted one
        (picklable): the sampler's and the recorder's states (:meth:`MetricSampler.state_dict`,
        :meth:`EpisodeRecorder.state_dict`)."""
        return {"sampler": self.sampler.state_dict(), "recorder": self.recorder.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`. The recorder's part is applied after the recorder has read its files
        back at the start of training."""
        self.sampler.load_state_dict(state["sampler"])
        self._recorder_pending = dict(state["recorder"])

    def _on_training_start(self) -> None:
        super()._on_training_start()
        pending, self._recorder_pending = self._recorder_pending, None
        if pending is not None:
            self.recorder.load_state_dict(pending)

    @property
    def log_dir(self) -> Path | None:
        """Folder of the CSV files: as given, or resolved at the start of training (None: no files)."""
        return self.recorder.log_dir

    @property
    def cadence(self) -> int:
        """Rollouts between measurements, resolved at the start of training."""
        return self.sampler.cadence

    @property
    def n_measurements(self) -> int:
        return self.sampler.n_measurements

    @property
    def overhead_seconds(self) -> float:
        """Wall time spent inside the callback, in seconds: measurements, per-step bookkeeping, gradient-norm hooks."""
        return self.sampler.total_overhead_seconds

    def write_tasks(self) -> None:
        """Rewrite ``tasks.csv`` from every episode of the run so far (see :meth:`EpisodeRecorder.write_tasks`)."""
        self.recorder.write_tasks()
