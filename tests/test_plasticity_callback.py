"""PlasticityCallback end to end: short PPO and SyrePPO runs on a task-switching env."""

import csv
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import KVWriter, Logger, configure

from syre_rl import SyreDQN, SyrePPO, SyreSAC, SyreTD3
from syre_rl.analysis.tasks import task_summary
from syre_rl.plasticity import PlasticityCallback
from syre_rl.plasticity.recorder import EpisodeRecorder

K = 256  # global steps per task
N_ENVS = 2
N_STEPS = 32  # rollout = 64 global steps
TOTAL = 3 * K  # three tasks

ACTIVATION_METRICS = {
    "dormant_0",
    "dormant_0.025",
    "dead_units",
    "active_fraction",
    "srank",
    "effective_rank",
    "approx_rank",
    "feature_norm",
    "feature_variance",
    "collapse_dead",
    "collapse_duplicate",
    "collapsed",
}
WEIGHT_METRICS = {"weight_mean_abs", "weight_rms", "weight_dist_init"}
NETWORK_METRICS = {"entropy", "grad_norm", "grad_norm_max", "probe_loss_reduction", "probe_final_loss"}


class _Switching(gym.Wrapper):
    """CartPole whose observations are sign-flipped by a per-task pattern; switches every K global steps."""

    def __init__(self, env, n_envs):
        super().__init__(env)
        self.n_envs, self.steps = n_envs, 0

    def _info(self, info):
        task_id = (self.steps * self.n_envs) // K
        signs = [1.0 if (task_id >> i) % 2 == 0 else -1.0 for i in range(4)]
        return np.asarray(signs, np.float32), {**info, "task_id": task_id, "task": {"signs": signs, "level": task_id}}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        signs, info = self._info(info)
        return obs * signs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        signs, info = self._info(info)
        info["task_switch"] = self.steps > 0 and (self.steps * self.n_envs) % K == 0
        self.steps += 1
        return obs * signs, reward, terminated, truncated, info


def _env(seed=0):
    kwargs = {"n_envs": N_ENVS}
    return make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=seed, wrapper_class=_Switching, wrapper_kwargs=kwargs)


def _model(cls, seed=0, **kwargs):
    return cls("MlpPolicy", _env(seed), n_steps=N_STEPS, batch_size=32, n_epochs=2, seed=seed, **kwargs)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("cls", [PPO, SyrePPO])
def test_short_run_writes_all_files_with_every_task_and_metric(cls, tmp_path):
    model = _model(cls, policy_kwargs=dict(net_arch=[16, 16]))
    callback = PlasticityCallback(tmp_path, every_n_rollouts=1, probe_every=1, probe_steps=3, batch_size=64)
    model.learn(TOTAL, callback=callback)

    metrics = _read(tmp_path / "metrics.csv")
    assert list(metrics[0]) == ["timesteps", "task_id", "network", "layer", "metric", "value"]
    assert all(math.isfinite(float(r["value"])) for r in metrics)
    for task_id in ("0", "1", "2"):
        found = {(r["network"], r["metric"]) for r in metrics if r["task_id"] == task_id}
        for network in ("actor", "critic"):
            per_network = NETWORK_METRICS - {"entropy"} if network == "critic" else NETWORK_METRICS
            expected = ACTIVATION_METRICS | WEIGHT_METRICS | per_network
            assert {m for n, m in found if n == network} == expected, (task_id, network)
        assert ("all", "grad_norm") in found
    layers = {r["layer"] for r in metrics if r["metric"] == "srank"}
    assert layers == {f"mlp_extractor.{net}.{i}" for net in ("policy_net", "value_net") for i in (1, 3)}

    episodes = _read(tmp_path / "episodes.csv")
    assert {r["task_id"] for r in episodes} == {"0", "1", "2"}
    assert all(float(r["return"]) == float(r["length"]) for r in episodes)  # CartPole pays 1 per step

    tasks = _read(tmp_path / "tasks.csv")
    assert [r["task_id"] for r in tasks] == ["0", "1", "2"]
    assert [int(r["steps"]) for r in tasks] == [K, K, K]
    assert [r["level"] for r in tasks] == ["0", "1", "2"]
    for row in tasks:
        for column in ("final_return", "auc", "best_return"):
            assert math.isfinite(float(row[column]))
        assert float(row["best_return"]) >= float(row["final_return"])

    summary = task_summary(tmp_path)
    assert list(summary["task_id"]) == [0, 1, 2]
    assert summary["relative_to_first"].iloc[0] == pytest.approx(1.0)
    assert summary["relative_to_reference"].isna().all()


def test_gradient_norm_is_the_norm_before_clipping(tmp_path, monkeypatch):
    clipped = []
    original = torch.nn.utils.clip_grad_norm_

    def recording(parameters, max_norm, *args, **kwargs):
        norm = original(parameters, max_norm, *args, **kwargs)
        clipped.append(float(norm))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    model = _model(PPO, max_grad_norm=0.05)  # small threshold: most minibatches are clipped
    callback = PlasticityCallback(tmp_path, every_n_rollouts=2, probe_every=0)
    model.learn(4 * N_STEPS * N_ENVS, callback=callback)
    per_update = 2 * N_STEPS * N_ENVS // 32
    assert len(clipped) == 4 * per_update
    rows = [r for r in _read(tmp_path / "metrics.csv") if r["network"] == "all"]
    means = [float(r["value"]) for r in rows if r["metric"] == "grad_norm"]
    maxes = [float(r["value"]) for r in rows if r["metric"] == "grad_norm_max"]
    updates = [clipped[:per_update], clipped[2 * per_update : 3 * per_update]]  # updates after rollouts 1 and 3
    assert means == pytest.approx([np.mean(u) for u in updates], rel=1e-4)
    assert maxes == pytest.approx([max(u) for u in updates], rel=1e-4)
    assert max(maxes) > 0.05


def test_callback_does_not_change_training(tmp_path):
    plain = _model(PPO, seed=3)
    plain.learn(4 * N_STEPS * N_ENVS)
    measured = _model(PPO, seed=3)
    measured.learn(4 * N_STEPS * N_ENVS, callback=PlasticityCallback(tmp_path, every_n_rollouts=1, probe_steps=2))
    for a, b in zip(plain.policy.parameters(), measured.policy.parameters()):
        assert torch.equal(a, b)


def test_resume_appends_and_killed_run_is_summarised_from_episodes(tmp_path):
    model = _model(PPO)
    model.learn(2 * K, callback=PlasticityCallback(tmp_path, every_n_rollouts=4, probe_every=0))
    first = _read(tmp_path / "metrics.csv")
    model.learn(K, callback=PlasticityCallback(tmp_path, every_n_rollouts=4, probe_every=0), reset_num_timesteps=False)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert sum(line.startswith("timesteps,") for line in lines) == 1
    assert len(lines) - 1 > len(first)
    tasks = _read(tmp_path / "tasks.csv")
    assert [int(r["steps"]) for r in tasks] == [K, K, K]  # steps of the first session carried over

    (tmp_path / "tasks.csv").unlink()  # as if the run had been killed before writing it
    summary = task_summary(tmp_path)
    assert list(summary["task_id"]) == [0, 1, 2]
    assert np.isfinite(summary["final_return"]).all()


def test_env_without_task_info_is_task_zero(tmp_path):
    model = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=32, batch_size=32, n_epochs=1)
    callback = PlasticityCallback(tmp_path, every_n_rollouts=2, probe_steps=2)
    model.learn(4 * 64, callback=callback)
    assert callback.cadence == 2
    assert {r["task_id"] for r in _read(tmp_path / "metrics.csv")} == {"0"}
    tasks = _read(tmp_path / "tasks.csv")
    assert len(tasks) == 1 and int(tasks[0]["steps"]) == 256
    assert callback.overhead_seconds > 0


class _DictEnv(gym.Env):
    """Dict observations (a Box and a Discrete); reward 1 for the action matching the parity of the discrete part."""

    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Box(-1, 1, (3,), np.float32), "mode": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Discrete(2)

    def _obs(self):
        return {"pos": self.np_random.uniform(-1, 1, 3).astype(np.float32), "mode": int(self.np_random.integers(3))}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.last = 0, self._obs()
        return self.last, {}

    def step(self, action):
        reward = float(action == self.last["mode"] % 2)
        self.t, self.last = self.t + 1, self._obs()
        return self.last, reward, self.t >= 10, False, {}


def test_dict_observations(tmp_path):
    model = PPO("MultiInputPolicy", make_vec_env(_DictEnv, n_envs=2, seed=0), n_steps=32, batch_size=32, n_epochs=1)
    model.learn(128, callback=PlasticityCallback(tmp_path, every_n_rollouts=1, probe_steps=2))
    metrics = _read(tmp_path / "metrics.csv")
    assert {"srank", "probe_loss_reduction", "collapsed"} <= {r["metric"] for r in metrics}
    assert all(math.isfinite(float(r["value"])) for r in metrics)


def test_off_policy_agent_is_measured_on_replay_samples(tmp_path):
    model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_starts=0, seed=0)
    callback = PlasticityCallback(tmp_path)
    model.learn(200, callback=callback)
    assert callback.cadence == 2048 // 4  # DQN trains every 4 steps
    metrics = _read(tmp_path / "metrics.csv")
    assert {("qf", "srank"), ("qf", "weight_rms"), ("all", "grad_norm")} <= {
        (r["network"], r["metric"]) for r in metrics
    }


def test_off_policy_measurement_does_not_change_training(tmp_path):
    """The replay sample of a measurement is drawn from the callback's own generator: the training's batches, drawn
    from numpy's global generator, are the same with and without the callback."""

    def run(callback):
        model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_starts=0, seed=0)
        model.learn(300, callback=callback)
        return model

    plain = run(None)
    measured = run(PlasticityCallback(tmp_path, every_n_rollouts=16, probe_steps=2))
    assert (tmp_path / "metrics.csv").is_file() and len(_read(tmp_path / "metrics.csv")) > 0
    for a, b in zip(plain.policy.parameters(), measured.policy.parameters()):
        assert torch.equal(a, b)


def _off_policy_layers(actor: str, actor_out: str) -> tuple[set, set]:
    """(hidden layers, weight layers) as (network, layer) of an actor of 2 hidden layers and SB3's twin critic."""
    hidden = {("actor", f"{actor}.1"), ("actor", f"{actor}.3")}
    weights = {("actor", f"{actor}.0"), ("actor", f"{actor}.2"), ("actor", actor_out)}
    for q in ("qf0", "qf1"):
        hidden |= {("critic", f"critic.{q}.1"), ("critic", f"critic.{q}.3")}
        weights |= {("critic", f"critic.{q}.{i}") for i in (0, 2, 4)}
    return hidden, weights


SAC_LAYERS = _off_policy_layers("actor.latent_pi", "actor.mu")
SAC_LAYERS[1].add(("actor", "actor.log_std"))
OFF_POLICY_LAYERS = {
    "sac": (SyreSAC, "Pendulum-v1", SAC_LAYERS),
    "td3": (SyreTD3, "Pendulum-v1", _off_policy_layers("actor.mu", "actor.mu.4")),  # mu.5, the tanh, is the output
    "dqn": (
        SyreDQN,
        "CartPole-v1",
        ({("qf", "q_net.q_net.1"), ("qf", "q_net.q_net.3")}, {("qf", f"q_net.q_net.{i}") for i in (0, 2, 4)}),
    ),
}


@pytest.mark.parametrize("case", OFF_POLICY_LAYERS)
def test_off_policy_networks_are_measured_apart_without_their_targets(tmp_path, case):
    algorithm, env_id, (hidden, weights) = OFF_POLICY_LAYERS[case]
    model = algorithm(
        "MlpPolicy",
        env_id,
        learning_starts=32,
        batch_size=16,
        buffer_size=500,
        train_freq=1,
        seed=0,
        policy_kwargs={"net_arch": [8, 8]},
    )
    callback = PlasticityCallback(tmp_path, every_n_rollouts=25, batch_size=64, measure_grad_norm=False)
    model.learn(100, callback=callback)
    metrics = _read(tmp_path / "metrics.csv")
    measured = {int(r["timesteps"]) for r in metrics}
    assert measured == {1, 26, 51, 76}  # the first rollout, then every 25 (one step each)
    later = [r for r in metrics if int(r["timesteps"]) > 32]  # the replay buffer holds more than one transition
    for metric, expected in (("srank", hidden), ("weight_rms", weights)):
        assert {(r["network"], r["layer"]) for r in later if r["metric"] == metric} == expected, metric
    assert {r["network"] for r in metrics} == {network for network, _ in weights}
    assert not any("target" in r["layer"] for r in metrics)
    assert all(math.isfinite(float(r["value"])) for r in later if r["metric"] == "feature_norm")


@pytest.mark.parametrize(
    "kwargs",
    [dict(every_n_rollouts=0), dict(batch_size=1), dict(taus=(1.5,)), dict(probe_lr=0.0), dict(final_fraction=2.0)],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs):
    with pytest.raises(ValueError):
        PlasticityCallback(tmp_path, **kwargs)


class _Recording(KVWriter):
    """A logger output that keeps every dump in memory."""

    def __init__(self):
        self.dumps = []

    def write(self, key_values, key_excluded, step=0):
        self.dumps.append(dict(key_values))


def test_without_a_folder_the_files_go_to_the_logger_folder(tmp_path):
    model = _model(PPO, policy_kwargs=dict(net_arch=[8]))
    model.set_logger(configure(str(tmp_path / "log"), ["csv"]))
    callback = PlasticityCallback(every_n_rollouts=2, probe_steps=2)
    model.learn(2 * K, callback=callback)
    assert callback.log_dir == tmp_path / "log"
    names = {"metrics.csv", "episodes.csv", "tasks.csv", "plasticity_init.pt", "progress.csv"}
    assert {p.name for p in (tmp_path / "log").iterdir()} == names
    assert [r["task_id"] for r in _read(tmp_path / "log" / "tasks.csv")] == ["0", "1"]
    metrics = _read(tmp_path / "log" / "metrics.csv")
    logged = _read(tmp_path / "log" / "progress.csv")
    srank = [r for r in metrics if r["metric"] == "srank"]
    key = f"plasticity/{srank[-1]['network']}/{srank[-1]['layer']}/srank"
    dumped = {r["time/total_timesteps"]: float(r[key]) for r in logged if r[key]}
    assert len(dumped) == 4  # every second rollout of 8
    assert dumped[srank[-1]["timesteps"]] == pytest.approx(float(srank[-1]["value"]))


def test_without_any_folder_only_the_logger_gets_the_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = _model(PPO, policy_kwargs=dict(net_arch=[8]))
    recording = _Recording()
    model.set_logger(Logger(folder=None, output_formats=[recording]))
    callback = PlasticityCallback(every_n_rollouts=1, probe_steps=2)
    model.learn(2 * K, callback=callback)
    assert callback.log_dir is None and list(tmp_path.iterdir()) == []
    logged = set().union(*recording.dumps)
    assert {"plasticity/actor/all/dormant_0", "plasticity/critic/all/probe_loss_reduction"} <= logged
    assert "plasticity/all/all/grad_norm" in logged and "plasticity/overhead_s" in logged
    assert [row["steps"] for row in callback.recorder.tasks()] == [K, K]


def test_episode_recorder_alone_writes_the_same_episodes_and_tasks(tmp_path):
    full, alone = tmp_path / "full", tmp_path / "alone"
    _model(PPO, seed=5).learn(TOTAL, callback=PlasticityCallback(full, every_n_rollouts=2, probe_steps=2))
    recorder = EpisodeRecorder(alone)
    _model(PPO, seed=5).learn(TOTAL, callback=recorder)
    assert {p.name for p in alone.iterdir()} == {"episodes.csv", "tasks.csv"}
    for name in ("episodes.csv", "tasks.csv"):
        assert (alone / name).read_text() == (full / name).read_text()
    tasks = recorder.tasks()
    assert [row["task_id"] for row in tasks] == [0, 1, 2] and [row["steps"] for row in tasks] == [K, K, K]
    assert sum(row["n_episodes"] for row in tasks) == len(recorder.episodes) > 0
