"""SyreSAC, SyreTD3, SyreDQN and their AnchoredDecay forms: SB3's algorithms with an anchored decay on the policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env

from syre_rl import AnchoredDecayDQN, AnchoredDecaySAC, AnchoredDecayTD3, SyreDQN, SyreSAC, SyreTD3
from syre_rl.syre import Syre

# algorithm, its plain SB3 class, its L2 form, env, the policy's target networks -> their online networks
CASES = {
    "sac": (SyreSAC, SAC, AnchoredDecaySAC, "Pendulum-v1", {"critic_target": "critic"}),
    "td3": (SyreTD3, TD3, AnchoredDecayTD3, "Pendulum-v1", {"critic_target": "critic", "actor_target": "actor"}),
    "dqn": (SyreDQN, DQN, AnchoredDecayDQN, "CartPole-v1", {"q_net_target": "q_net"}),
}
SMALL = dict(learning_starts=32, batch_size=16, buffer_size=1000, train_freq=4, policy_kwargs={"net_arch": [16, 16]})


def make(case: str, algo=None, seed: int = 0, **kwargs):
    syre_cls, _, _, env_id, _ = CASES[case]
    settings = {**SMALL, "policy_kwargs": dict(SMALL["policy_kwargs"]), **kwargs}  # SB3 writes into policy_kwargs
    return (algo or syre_cls)("MlpPolicy", env_id, seed=seed, **settings)


def trained_parameters(model) -> list[str]:
    ids = {id(p) for opt in _optimizers(model.policy) for g in opt.param_groups for p in g["params"]}
    return [n for n, p in model.policy.named_parameters() if id(p) in ids]


def _optimizers(policy) -> list[torch.optim.Optimizer]:
    found = [getattr(policy, "optimizer", None)] + [
        getattr(getattr(policy, n, None), "optimizer", None) for n in ("actor", "critic")
    ]
    return list({id(o): o for o in found if isinstance(o, torch.optim.Optimizer)}.values())


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("case", CASES)
def test_syre_treats_the_trained_networks_and_targets_start_shifted(case: str) -> None:
    model = make(case)
    targets = CASES[case][4]
    assert isinstance(model.syre, Syre)
    assert model.syre.names == trained_parameters(model)  # every optimizer-trained parameter, no target network
    assert not any(name.split(".")[0] in targets for name in model.syre.names)
    for target, online in targets.items():  # targets hold w = theta + theta_0 from the start
        assert same_state(getattr(model.policy, target).state_dict(), getattr(model.policy, online).state_dict())
    plain = make(case, CASES[case][1])  # same seed: SB3's init, then the shift
    reference = plain.policy.state_dict()
    for name, param, offset in zip(model.syre.names, model.syre.params, model.syre.theta_0):
        torch.testing.assert_close(param.detach() - offset, reference[name], atol=1e-7, rtol=0)


def test_sac_entropy_coefficient_is_left_alone() -> None:
    model = make("sac")
    assert not any("ent_coef" in name for name in model.syre.names)
    assert float(model.log_ent_coef.detach()) == 0.0  # log(1.0): SB3's "auto" initial value, not shifted


@pytest.mark.parametrize("case", CASES)
def test_run_and_the_decay_acts(case: str) -> None:
    free = make(case, weight_decay=0.0).learn(256)
    pulled = make(case, weight_decay=1.0).learn(256)
    assert free.num_timesteps == pulled.num_timesteps == 256
    dist = [sum((p - a).norm() for p, a in zip(m.syre.params, m.syre.theta_0)) for m in (free, pulled)]
    assert dist[1] < dist[0]


@pytest.mark.parametrize("case", CASES)
def test_save_load_is_bit_exact(case: str, tmp_path: Path) -> None:
    model = make(case).learn(128)
    model.save(tmp_path / "m.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    torch.manual_seed(7)
    loaded = type(model).load(tmp_path / "m.zip")
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    assert same_state(model.policy.state_dict(), loaded.policy.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.syre.theta_0, loaded.syre.theta_0))
    assert loaded.decay_config == model.decay_config
    for m in (model, loaded):  # continued training on the same env from the same random state is identical
        m.set_env(make_vec_env(CASES[case][3], n_envs=1, seed=11))
        m.set_random_seed(3)
        m.learn(64, reset_num_timesteps=False)
    assert same_state(model.policy.state_dict(), loaded.policy.state_dict())


@pytest.mark.parametrize("case", CASES)
def test_deploys_into_the_plain_algorithm(case: str) -> None:
    model = make(case).learn(64)
    plain = make(case, CASES[case][1], seed=5)
    plain.policy.load_state_dict(model.policy.state_dict(), strict=True)
    obs = np.stack([plain.observation_space.sample() for _ in range(20)])
    np.testing.assert_array_equal(plain.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("anchor", ["zero", "init"])
@pytest.mark.parametrize("case", CASES)
def test_l2_and_l2_init(case: str, anchor: str) -> None:
    model = make(case, CASES[case][2], anchor=anchor, weight_decay=0.01)
    plain = make(case, CASES[case][1])
    assert same_state(plain.policy.state_dict(), model.policy.state_dict())  # no shift
    decay = model.anchored_decay
    expected = [torch.zeros_like(p) if anchor == "zero" else p.detach() for p in decay.params]
    assert all(torch.equal(a, e) for a, e in zip(decay.anchors, expected))
    model.learn(64)
    assert model.decay_config.anchor == anchor


def test_other_anchors_are_refused_by_the_syre_classes() -> None:
    with pytest.raises(ValueError, match="SyreTD3 uses the anchor 'syre', got anchor='zero'"):
        SyreTD3("MlpPolicy", "Pendulum-v1", anchor="zero")
