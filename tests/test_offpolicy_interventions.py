"""Resets, ReDo and shrink and perturb on SB3's off-policy algorithms (DQN, SAC, TD3), through callbacks; and PPO
without an anchored decay exactly as before these interventions learnt off-policy algorithms."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import SwitchAt
from stable_baselines3 import DQN, PPO, SAC, TD3
from stable_baselines3.common.logger import configure

from syre_rl.interventions import ReDo, Reset, ResetOnTaskSwitch, ShrinkAndPerturb, build_intervention
from syre_rl.interventions import redo as redo_module
from syre_rl.interventions import reset as reset_module
from syre_rl.interventions import shrink_perturb as sp_module
from syre_rl.interventions._init import fresh_module_parameters, fresh_parameters, online_modules
from syre_rl.interventions._units import UnitLayer, unit_layers
from syre_rl.interventions.redo import recycle_dormant, replay_batch
from syre_rl.interventions.reset import last_layers, reset_entropy_coefficient, reset_policy
from syre_rl.plasticity.capture import capture_activations
from syre_rl.plasticity.metrics import unit_scores
from syre_rl.plasticity.rollouts import Observations
from syre_rl.syre import select_parameters

UNITS = [1, 3]


def small() -> dict:
    """A small network and a seed (a new dict each time: SB3 adds keys to the policy_kwargs it is given)."""
    return {"policy_kwargs": {"net_arch": [8, 8]}, "seed": 0}


def _fill(model, n: int = 64) -> None:
    """Random transitions in the replay buffer, drawn from a seeded generator of the test's own."""
    rng = np.random.default_rng(0)
    space, act = model.observation_space, model.action_space
    for _ in range(n):
        obs = rng.uniform(-1, 1, (1, *space.shape)).astype(np.float32)
        action = np.array([[rng.integers(act.n)]]) if hasattr(act, "n") else rng.uniform(-1, 1, (1, *act.shape))
        model.replay_buffer.add(obs, obs, action, np.zeros(1), np.zeros(1), [{}])


def _trained(cls, env, steps: int = 2, **kwargs):
    """A model with a filled replay buffer and ``steps`` gradient steps done (optimizer state filled)."""
    model = cls("MlpPolicy", env, batch_size=8, **{**small(), **kwargs})
    _fill(model)
    model.set_logger(configure(None, []))
    model.train(gradient_steps=steps, batch_size=8)
    return model


# --------------------------------------------------------------------------------------------- unit discovery
def test_unit_layers_of_off_policy_policies():
    sac = SAC("MlpPolicy", "Pendulum-v1", **small()).policy
    layers = {u.name: u for u in unit_layers(sac)}
    assert sorted(layers) == [
        "actor.latent_pi.1",
        "actor.latent_pi.3",
        "critic.qf0.1",
        "critic.qf0.3",
        "critic.qf1.1",
        "critic.qf1.3",
    ]
    # the actor's last hidden layer feeds both heads: the mean and the log std
    assert layers["actor.latent_pi.3"].out_layers == [sac.actor.mu, sac.actor.log_std]
    assert layers["critic.qf1.3"].out_layers == [sac.critic.qf1[4]]
    dqn = DQN("MlpPolicy", "CartPole-v1", **small()).policy
    assert [(u.name, u.network) for u in unit_layers(dqn)] == [("q_net.q_net.1", "qf"), ("q_net.q_net.3", "qf")]
    td3 = TD3("MlpPolicy", "Pendulum-v1", **small()).policy
    assert [u.name for u in unit_layers(td3) if u.network == "actor"] == ["actor.mu.1", "actor.mu.3"]


def test_last_layers_count_back_from_the_outputs():
    sac = SAC("MlpPolicy", "Pendulum-v1", **small()).policy
    heads = [sac.actor.mu, sac.actor.log_std, sac.critic.qf0[4], sac.critic.qf1[4]]
    assert last_layers(sac, 1) == heads
    qf0, qf1 = sac.critic.qf0, sac.critic.qf1
    assert last_layers(sac, 2) == [sac.actor.latent_pi[2], *heads[:2], qf0[2], qf0[4], qf1[2], qf1[4]]
    dqn = DQN("MlpPolicy", "CartPole-v1", **small()).policy
    assert last_layers(dqn, 1) == [dqn.q_net.q_net[4]] and len(last_layers(dqn, 3)) == 3
    ppo = PPO("MlpPolicy", "CartPole-v1", **small()).policy
    assert last_layers(ppo, 1) == [ppo.action_net, ppo.value_net]
    # on PPO, "last_layers" with one layer is "heads"
    assert reset_policy(copy.deepcopy(ppo), "last_layers", 1) == reset_policy(copy.deepcopy(ppo), "heads")


# ------------------------------------------------------------------------------------------------------ resets
def test_sac_full_reset_gives_a_fresh_agent_and_keeps_the_replay_buffer():
    model = _trained(SAC, "Pendulum-v1")
    policy = model.policy
    with torch.no_grad():
        model.log_ent_coef.fill_(-2.0)
    buffer = model.replay_buffer.observations.copy()
    assert policy.actor.optimizer.state and policy.critic.optimizer.state and model.ent_coef_optimizer.state
    torch.manual_seed(5)
    fresh = fresh_parameters(policy, online_modules(policy))
    torch.manual_seed(5)
    names = reset_policy(policy, "all")
    assert reset_entropy_coefficient(model)
    params = dict(policy.named_parameters())
    assert names == sorted(fresh) and not any("_target" in n for n in names)
    for name in names:
        assert torch.equal(params[name].detach(), fresh[name])
    for k, v in policy.critic_target.state_dict().items():
        assert torch.equal(v, policy.critic.state_dict()[k])
    assert not policy.actor.optimizer.state and not policy.critic.optimizer.state
    assert model.log_ent_coef.item() == 0.0 and not model.ent_coef_optimizer.state  # ent_coef "auto" starts at 1
    assert np.array_equal(model.replay_buffer.observations, buffer) and model.replay_buffer.size() == 64


def test_dqn_last_layer_reset_drops_only_its_optimizer_state():
    model = _trained(DQN, "CartPole-v1")
    policy = model.policy
    kept = {n: policy.optimizer.state[p]["exp_avg"].clone() for n, p in policy.q_net.named_parameters()}
    names = reset_policy(policy, "last_layers", n_layers=1)
    assert names == ["q_net.q_net.4.bias", "q_net.q_net.4.weight"]
    for name, p in policy.q_net.named_parameters():
        if f"q_net.{name}" in names:
            assert p not in policy.optimizer.state
            assert torch.equal(p, dict(policy.q_net_target.named_parameters())[name])
        else:
            assert torch.equal(policy.optimizer.state[p]["exp_avg"], kept[name])
    assert not reset_entropy_coefficient(model)  # DQN has none


class _Probe(Reset):
    """Records, right after each reset, the gradient steps done and whether targets equal their online networks."""

    def _on_training_start(self):
        super()._on_training_start()
        self.seen = []

    def reset(self):
        super().reset()
        policy = self.model.policy
        online, target = (policy.critic, policy.critic_target) if hasattr(policy, "critic") else (None, None)
        same = online is None or all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))
        self.seen.append((int(self.model._n_updates), same))


def _dqn(**kwargs):
    kwargs = {"learning_starts": 16, "train_freq": 4, "gradient_steps": 2, "batch_size": 8, **small(), **kwargs}
    return DQN("MlpPolicy", "CartPole-v1", **kwargs)


def test_periodic_reset_every_n_gradient_steps():
    # rollouts of 4 steps; 2 gradient steps after each from step 20 on: 6, 12, 18 steps done at steps 32, 44, 56
    callback = _Probe(scope="last_layers", n_layers=2, on_task_switch=False, every_n_updates=6)
    _dqn().learn(64, callback=callback)
    assert callback.reset_steps == [32, 44, 56]
    assert [u for u, _ in callback.seen] == [6, 12, 18]


def test_sac_reset_at_a_task_switch_syncs_the_targets():
    callback = _Probe(scope="all")
    model = SAC("MlpPolicy", SwitchAt(gym.make("Pendulum-v1"), at=40), learning_starts=1000, **small())
    model.learn(60, callback=callback)
    assert callback.reset_steps == [40] and callback.seen == [(0, True)]


def test_reset_state_round_trips():
    callback = Reset(on_task_switch=False, every_n_updates=6)
    _dqn().learn(40, callback=callback)
    other = Reset(on_task_switch=False, every_n_updates=6)
    other.load_state_dict(callback.state_dict())
    assert other.state_dict()["next_update_check"] == callback.state_dict()["next_update_check"] == 12
    assert other.reset_steps == callback.reset_steps == [32]


# ---------------------------------------------------------------------------------------------------------- ReDo
def _kill(layer: UnitLayer) -> None:
    with torch.no_grad():  # ReLU(0 * x - 1) = 0
        layer.in_layer.weight[UNITS] = 0.0
        layer.in_layer.bias[UNITS] = -1.0


def _dead_units(layer: UnitLayer, obs: torch.Tensor) -> list[int]:
    """Units of a first hidden layer that are 0 on every observation, computed by hand."""
    with torch.no_grad():
        return torch.nonzero(torch.relu(layer.in_layer(obs)).amax(0) == 0).flatten().tolist()


def test_redo_on_dqn_recycles_the_online_q_network_only():
    model = _trained(DQN, "CartPole-v1")
    policy = model.policy
    layer = unit_layers(policy)[0]
    _kill(layer)
    target = copy.deepcopy(policy.q_net_target.state_dict())
    obs, actions = replay_batch(model, 32, np.random.default_rng(0))
    dead = _dead_units(layer, obs)
    torch.manual_seed(3)
    fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
    torch.manual_seed(3)
    recycled = recycle_dormant(policy, obs, tau=0.0, layers=[layer], actions=actions)
    assert recycled[layer.name].tolist() == dead and set(UNITS) <= set(dead)
    assert torch.equal(layer.in_weight[dead], fresh[dead]) and not layer.in_layer.bias[dead].any()
    assert not layer.out_weights[0][:, dead].any()
    state = policy.optimizer.state[layer.in_layer.weight]
    assert not state["exp_avg"][dead].any() and not state["exp_avg_sq"][dead].any()
    assert all(torch.equal(v, target[k]) for k, v in policy.q_net_target.state_dict().items())  # left to follow


def test_redo_on_sac_scores_the_critics_on_the_stored_actions_and_zeroes_both_actor_heads():
    model = _trained(SAC, "Pendulum-v1")
    policy = model.policy
    layers = {u.name: u for u in unit_layers(policy)}
    _kill(layers["actor.latent_pi.3"])
    _kill(layers["critic.qf1.1"])
    obs, actions = replay_batch(model, 32, np.random.default_rng(0))
    treated = [layers["actor.latent_pi.3"], layers["critic.qf1.1"]]
    recycled = recycle_dormant(policy, obs, tau=0.0, layers=treated, actions=actions)
    assert set(UNITS) <= set(recycled["actor.latent_pi.3"].tolist()) and set(UNITS) <= set(
        recycled["critic.qf1.1"].tolist()
    )
    assert not policy.actor.mu.weight[:, UNITS].any() and not policy.actor.log_std.weight[:, UNITS].any()
    assert not policy.critic.qf1[2].weight[:, UNITS].any()
    assert "critic.qf0.1" not in recycle_dormant(policy, obs, tau=0.0)  # critics need the actions


def test_replay_batch_leaves_numpy_global_generator_alone():
    model = _trained(SAC, "Pendulum-v1")
    np.random.seed(1)
    state = np.random.get_state()[1].copy()
    rng = np.random.default_rng(7)
    obs, actions = replay_batch(model, 16, rng)
    assert np.array_equal(np.random.get_state()[1], state)
    rows = np.random.default_rng(7).integers(0, 64, size=16)
    assert torch.equal(obs, torch.as_tensor(model.replay_buffer.observations[rows, 0]))
    assert obs.shape == (16, 3) and actions.shape == (16, 1)


def test_redo_callback_checks_every_n_gradient_steps():
    callback = ReDo(tau=0.0, every_n_updates=6)
    _dqn().learn(64, callback=callback)
    assert callback.n_checks == 3  # at 6, 12 and 18 gradient steps (steps 32, 44, 56)
    other = ReDo(every_n_updates=6)
    other.load_state_dict(callback.state_dict())
    assert other.state_dict() == callback.state_dict() and other.state_dict()["next_update_check"] == 24


def test_redo_treats_only_the_named_networks():
    callback = ReDo(tau=10.0, every_n_updates=1, networks=["critic"])  # every unit counts as dormant
    model = TD3("MlpPolicy", "Pendulum-v1", learning_starts=8, train_freq=4, batch_size=8, **small())
    model.learn(20, callback=callback)
    # one gradient step after the rollouts ending at steps 12 and 16: checks at the rollout ends of steps 16 and 20
    assert callback.n_checks == 2
    assert callback.n_recycled == 2 * 2 * 2 * 8  # two checks, two critics, two layers of 8 units, the actor spared
    assert {layer.network for layer in callback._layers} == {"critic"}


# ------------------------------------------------------------------------------------------- shrink and perturb
def test_shrink_and_perturb_off_policy_every_n_gradient_steps():
    callback = ShrinkAndPerturb(on_task_switch=False, every_n_updates=6)
    _dqn().learn(64, callback=callback)
    assert callback.n_applied == 3


# ----------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Reset(scope="all", n_layers=2), "n_layers=2 applies to scope 'last_layers'"),
        (lambda: Reset(scope="body"), "scope must be one of"),
        (lambda: Reset(on_task_switch=False), "never fires"),
        (lambda: Reset(scope="last_layers", n_layers=0), "n_layers"),
        (lambda: Reset(reset_ent_coef="yes"), "reset_ent_coef must be"),
        (lambda: ReDo(networks="critic"), "networks must be a list"),
        (lambda: ReDo(every_n_updates=0), "every_n_updates"),
        (lambda: ShrinkAndPerturb(on_task_switch=False), "never fires"),
        (lambda: build_intervention({"type": "reset", "scope": "last_layers", "n_layer": 2}), "n_layer"),
    ],
)
def test_bad_settings_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    ("callback", "match"),
    [
        (ReDo(every_n_updates=10), "every_n_updates=10 counts gradient steps of off-policy"),
        (Reset(every_n_updates=10), "every_n_updates=10 counts gradient steps of off-policy"),
        (ShrinkAndPerturb(every_n_updates=10), "every_n_updates=10 counts gradient steps of off-policy"),
    ],
)
def test_off_policy_cadence_is_refused_on_ppo(callback, match):
    with pytest.raises(ValueError, match=match):
        PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, **small()).learn(16, callback=callback)


def test_bad_settings_on_an_off_policy_model_raise():
    with pytest.raises(ValueError, match=r"networks \['policy'\] are not networks of this policy; it has \['qf'\]"):
        _dqn().learn(8, callback=ReDo(networks=["policy"]))
    with pytest.raises(ValueError, match="reset_ent_coef=True needs a learned entropy coefficient"):
        _dqn().learn(8, callback=Reset(reset_ent_coef=True))


# ---------------------------------------------------------------- PPO without a decay: exactly the previous code
# The functions as they were before the off-policy extension (PPO only, no anchored decay routing).
@torch.no_grad()
def _previous_reinitialise_units(layer, units, fresh_in_weight, optimizers=()):
    if units.numel() == 0:
        return
    w_in = layer.in_weight
    w_in[units] = fresh_in_weight[units].to(w_in.device, w_in.dtype)
    rows = [w_in]
    bias = getattr(layer.in_layer, "bias", None)
    if bias is not None:
        bias[units] = 0.0
        rows.append(bias)
    columns = layer.out_weights
    for w_out in columns:
        layer.unit_view(w_out)[:, units] = 0.0
    for optimizer in optimizers:
        for params, is_column in ((rows, False), (columns, True)):
            for param in params:
                for value in optimizer.state.get(param, {}).values():
                    if not isinstance(value, torch.Tensor) or value.shape != param.shape:
                        continue
                    if is_column:
                        layer.unit_view(value)[:, units] = 0.0
                    else:
                        value[units] = 0.0


@torch.no_grad()
def _previous_recycle_dormant(policy, observations: Observations, tau=0.1, layers=None, actions=None):
    layers = unit_layers(policy) if layers is None else layers
    with capture_activations(layers) as captured:
        policy.get_distribution(observations)
        policy.predict_values(observations)
    optimizer = getattr(policy, "optimizer", None)
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else []
    recycled = {}
    for layer in layers:
        units = torch.nonzero(unit_scores(captured[layer.name]) <= tau).flatten()
        if units.numel():
            fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
            _previous_reinitialise_units(layer, units, fresh, optimizers)
        recycled[layer.name] = units
    return recycled


@torch.no_grad()
def _previous_shrink_and_perturb(policy, shrink, noise_scale, exclude=("log_std",)):
    fresh = fresh_parameters(policy)
    changed = []
    for name, _, _, param in select_parameters(policy, exclude=tuple(exclude)):
        param.mul_(shrink).add_(fresh[name].to(param.device, param.dtype), alpha=noise_scale)
        changed.append(name)
    return changed


@torch.no_grad()
def _previous_reset_policy(policy, scope="all", n_layers=1):
    if scope == "all":
        modules = None
    else:
        heads = [getattr(policy, name) for name in ("action_net", "value_net")]
        modules = [policy] + [m for head in heads for m in head.modules()]
    fresh = fresh_parameters(policy, modules)
    params = dict(policy.named_parameters())
    for name, value in fresh.items():
        params[name].copy_(value)
    reset = {id(params[name]) for name in fresh}
    for param in [p for p in policy.optimizer.state if id(p) in reset]:
        del policy.optimizer.state[param]
    return sorted(fresh)


PREVIOUS = {
    (redo_module, "recycle_dormant"): _previous_recycle_dormant,
    (sp_module, "shrink_and_perturb"): _previous_shrink_and_perturb,
    (reset_module, "reset_policy"): _previous_reset_policy,
}


def _ppo_run(callback) -> list[torch.Tensor]:
    env = SwitchAt(gym.make("CartPole-v1"), at=100)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=3, policy_kwargs={"net_arch": [8, 8]})
    model.learn(128, callback=callback)
    moments = [v for st in model.policy.optimizer.state.values() for v in st.values() if isinstance(v, torch.Tensor)]
    return [*model.policy.state_dict().values(), *moments]


@pytest.mark.parametrize(
    "make",
    [
        lambda: ReDo(tau=0.5, every_n_rollouts=1, batch_size=32),
        lambda: ShrinkAndPerturb(every_n_rollouts=2),
        lambda: ResetOnTaskSwitch("all"),
        lambda: ResetOnTaskSwitch("heads"),
    ],
    ids=["redo", "shrink_perturb", "reset_all", "reset_heads"],
)
def test_ppo_without_a_decay_is_bit_identical_to_the_previous_code(make, monkeypatch):
    now = _ppo_run(make())
    for (module, name), previous in PREVIOUS.items():
        monkeypatch.setattr(module, name, previous)
    before = _ppo_run(make())
    assert len(now) == len(before) and all(torch.equal(a, b) for a, b in zip(now, before))


def test_ppo_redo_recycles_in_the_comparison_runs():
    """The comparison above is sharp: its ReDo run recycles units."""
    callback = ReDo(tau=0.5, every_n_rollouts=1, batch_size=32)
    _ppo_run(callback)
    assert callback.n_recycled > 0


def test_off_policy_interventions_ignore_layers_without_units():
    # a Q-network without hidden layers has nothing to recycle: unit discovery says so before training
    with pytest.raises(ValueError, match="found no hidden layer"):
        DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": []}, seed=0).learn(8, callback=ReDo())


# ------------------------------------------------------------------------------------------------- exact resume
@pytest.mark.slow
@pytest.mark.parametrize(
    ("agent", "extra"),
    [
        ("dqn_reset", ("interventions.0.every_n_updates=8",)),
        ("dqn_redo", ("interventions.0.every_n_updates=8", "interventions.0.tau=0.5")),
    ],
)
def test_interrupted_off_policy_runs_with_periodic_interventions_resume_exactly(agent, extra, tmp_path):
    import json

    from test_resume_exact import assert_same_run, config_of, interrupted

    from syre_rl.experiments.run import train
    from syre_rl.run_layout import DONE_FILE

    config = config_of(agent, extra=extra)
    reference = train(config, tmp_path / "reference")
    (count,) = json.loads((reference / DONE_FILE).read_text())["interventions"]
    assert count["acted"] > 0  # the comparison is sharp: the intervention acted
    run_dir = interrupted(config, tmp_path / "run", 600)
    train(config, run_dir, resume=True)
    assert_same_run(run_dir, reference)
