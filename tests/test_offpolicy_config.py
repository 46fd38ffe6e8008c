"""Off-policy agents in the experiment layer: their recipes, the range checks of their arguments, the replay ratio,
action noise, and the action spaces they accept."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3.common.noise import NormalActionNoise

from syre_rl.experiments.build import build_model, make_vec_env
from syre_rl.experiments.config import resolve_config, valid_override_keys
from syre_rl.experiments.grid import plan_grid
from syre_rl.experiments.scenarios import load_scenario

REPO = Path(__file__).resolve().parents[1]
AGENTS = REPO / "agents"
DQN_RECIPE = "dqn"


def bandit() -> dict:
    recipe = load_scenario("relabelled_bandit")
    recipe["hyperparameters"] = {}  # the scenario's hyperparameters are PPO's
    return recipe


@pytest.mark.parametrize("family", ["dqn", "sac", "td3"])
def test_l2_and_syre_recipes_differ_only_in_the_anchor(family: str) -> None:
    plain, syre, l2 = (
        yaml.safe_load((AGENTS / f"{name}.yaml").read_text()) for name in (family, f"syre_{family}", f"{family}_l2")
    )
    name = family.upper()
    assert (plain["algorithm"], syre["algorithm"], l2["algorithm"]) == (name, f"Syre{name}", f"AnchoredDecay{name}")
    assert l2["hyperparameters"].pop("anchor") == "zero"
    assert syre["hyperparameters"].pop("sigma_scale") == 0.01
    assert syre["hyperparameters"] == l2["hyperparameters"] and syre["policy_kwargs"] == l2["policy_kwargs"]
    decay = {"weight_decay": 0.002, "decay_mode": "coupled"}
    assert {k: syre["hyperparameters"].pop(k) for k in decay} == decay  # the rest is the plain recipe's
    assert syre["hyperparameters"] == plain["hyperparameters"] and syre["policy_kwargs"] == plain["policy_kwargs"]


def test_the_rollout_size_check_is_for_on_policy_algorithms_only() -> None:
    # DQN's n_steps is its n-step return, not a rollout: a batch larger than n_steps * n_envs is fine.
    config = resolve_config(DQN_RECIPE, bandit(), overrides=["n_steps=3", "batch_size=64"])
    assert config["hyperparameters"]["batch_size"] == 64
    with pytest.raises(ValueError, match="batch_size must be at most the rollout size"):
        resolve_config("ppo", "relabelled_bandit", overrides=["n_steps=3", "batch_size=64"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("buffer_size=0", "buffer_size"),
        ("learning_starts=-1", "learning_starts"),
        ("tau=0", "tau"),
        ("tau=1.5", "tau"),
        ("gradient_steps=0", "gradient_steps must be an integer >= 1 or -1"),
        ("gradient_steps=-2", "gradient_steps must be an integer >= 1 or -1"),
        ("train_freq=0", "train_freq"),
        ("train_freq=[4, 'epoch']", "train_freq must be an integer >= 1 or"),
        ("target_update_interval=0", "target_update_interval"),
        ("exploration_fraction=1.5", "exploration_fraction"),
        ("exploration_final_eps=-0.1", "exploration_final_eps"),
    ],
)
def test_off_policy_arguments_out_of_range_are_refused(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(DQN_RECIPE, bandit(), overrides=[override])


@pytest.mark.parametrize("override", ["gradient_steps=-1", "train_freq=[2, 'episode']", "tau=1.0", "learning_starts=0"])
def test_off_policy_arguments_in_range_are_accepted(override: str) -> None:
    key, _, _ = override.partition("=")
    assert key in resolve_config(DQN_RECIPE, bandit(), overrides=[override])["hyperparameters"]


def test_a_train_freq_in_episodes_reaches_the_algorithm(tmp_path: Path) -> None:
    config = resolve_config(DQN_RECIPE, bandit(), overrides=["train_freq=[2, 'episode']", "learning_starts=0"])
    model = build_model(config, make_vec_env(config))
    assert (model.train_freq.frequency, model.train_freq.unit.value) == (2, "episode")


def test_an_off_policy_agent_takes_only_the_scenarios_network_and_trains(tmp_path: Path) -> None:
    from syre_rl.experiments.run import train

    scenario = load_scenario("permuted_cartpole")
    assert {"n_steps", "n_epochs", "gae_lambda"} <= set(scenario["hyperparameters"])  # PPO's
    overrides = ["learning_starts=64", "train_freq=16", "gradient_steps=4", "buffer_size=2000", "checkpoint_every=256"]
    config = resolve_config(str(AGENTS / "syre_dqn.yaml"), "permuted_cartpole", overrides=overrides, total_steps=512)
    assert not {"n_steps", "n_epochs", "gae_lambda", "clip_range"} & set(config["hyperparameters"])
    assert config["hyperparameters"]["learning_rate"] == 0.0023  # the recipe's, not the scenario's 0.001
    assert config["policy_kwargs"]["activation_fn"] == scenario["hyperparameters"]["policy_kwargs"]["activation_fn"]
    run_dir = train(config, tmp_path / "run")
    assert (run_dir / "done").is_file() and (run_dir / "episodes.csv").is_file()


def pendulum() -> dict:
    recipe = load_scenario("pendulum_physics")
    recipe["hyperparameters"] = {}
    return recipe


# replay ratio, n_envs -> SB3's train_freq (vector-env steps), gradient_steps
@pytest.mark.parametrize(
    ("ratio", "n_envs", "train_freq", "gradient_steps"),
    [(1, 1, 1, 1), (8, 4, 1, 32), (0.5, 4, 1, 2), (0.25, 1, 4, 1), (0.3, 1, 10, 3), (0.1, 4, 5, 2), (2, 1, 1, 2)],
)
def test_replay_ratio_sets_train_freq_and_gradient_steps(
    ratio: float, n_envs: int, train_freq: int, gradient_steps: int
) -> None:
    config = resolve_config(DQN_RECIPE, "permuted_cartpole", overrides=[f"replay_ratio={ratio}", f"n_envs={n_envs}"])
    hp = config["hyperparameters"]
    assert (hp["train_freq"], hp["gradient_steps"]) == (train_freq, gradient_steps)  # replaces the recipe's 256, 128
    assert "replay_ratio" not in hp and config["overrides"]["replay_ratio"] == ratio
    assert gradient_steps / (train_freq * n_envs) == pytest.approx(ratio)


def test_replay_ratio_reaches_the_model_and_is_a_sweep_key() -> None:
    config = resolve_config("syre_sac", pendulum(), overrides=["replay_ratio=4", "learning_starts=10"])
    assert "replay_ratio" in valid_override_keys(config)
    model = build_model(config, make_vec_env(config))
    assert (model.train_freq.frequency, model.train_freq.unit.value, model.gradient_steps) == (1, "step", 4)
    specs = plan_grid(["dqn"], ["permuted_cartpole"], [0], reference=None, sweeps=[_sweep("replay_ratio=1,8")])
    assert [s.config()["hyperparameters"]["gradient_steps"] for s in specs] == [4, 32]  # 4 envs


def _sweep(text: str):
    from syre_rl.experiments.sweeps import parse_sweep

    return parse_sweep(text)


def test_replay_ratio_in_a_recipe(tmp_path: Path) -> None:
    recipe = yaml.safe_load((AGENTS / "dqn.yaml").read_text())
    for key in ("train_freq", "gradient_steps"):
        del recipe["hyperparameters"][key]
    recipe["hyperparameters"]["replay_ratio"] = 0.5
    config = resolve_config(recipe, bandit())
    assert (config["hyperparameters"]["train_freq"], config["hyperparameters"]["gradient_steps"]) == (1, 2)
    config = resolve_config(recipe, bandit(), overrides=["replay_ratio=8"])  # --set wins over the recipe
    assert config["hyperparameters"]["gradient_steps"] == 32
    with pytest.raises(ValueError, match=r"give either replay_ratio or train_freq, not both"):
        resolve_config(recipe, bandit(), overrides=["train_freq=4"])
    recipe["hyperparameters"]["gradient_steps"] = 4
    with pytest.raises(ValueError, match=r"give either replay_ratio or gradient_steps, not both"):
        resolve_config(recipe, bandit())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["replay_ratio=0"], r"replay_ratio must be a finite number > 0, got 0"),
        (["replay_ratio=-1"], r"replay_ratio must be a finite number > 0, got -1"),
        (["replay_ratio=fast"], r"replay_ratio must be a finite number > 0, got 'fast'"),
        (["replay_ratio=true"], r"replay_ratio must be a finite number > 0, got True"),
        (["replay_ratio=.inf"], r"replay_ratio must be a finite number > 0"),
        (["replay_ratio=1e-5"], r"replay_ratio 1e-05 with n_envs=4 is not gradient_steps / \(train_freq \* n_envs\)"),
        (["replay_ratio=2", "gradient_steps=3"], r"give either replay_ratio or gradient_steps, not both \(--set\)"),
        (["replay_ratio=2", "train_freq=3"], r"give either replay_ratio or train_freq, not both \(--set\)"),
    ],
)
def test_bad_replay_ratios_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(DQN_RECIPE, "permuted_cartpole", overrides=overrides)


def test_replay_ratio_is_refused_on_ppo_agents(tmp_path: Path) -> None:
    message = r"replay_ratio is a setting of off-policy agents \(SAC, TD3, DQN.*agent 'ppo' runs PPO"
    with pytest.raises(ValueError, match=message):
        resolve_config("ppo", "permuted_cartpole", overrides=["replay_ratio=2"])
    assert "replay_ratio" not in valid_override_keys(resolve_config("ppo", "permuted_cartpole"))
    path = tmp_path / "ppo_rr.yaml"
    path.write_text("name: ppo_rr\nalgorithm: PPO\npolicy: MlpPolicy\nhyperparameters: {replay_ratio: 2}\n")
    with pytest.raises(ValueError, match=r"replay_ratio is a setting of off-policy agents.*agent 'ppo_rr' runs PPO"):
        resolve_config(str(path), "permuted_cartpole")


def test_action_noise_from_a_recipe_reaches_the_model() -> None:
    config = resolve_config("syre_td3", pendulum(), overrides=["learning_starts=10"])
    assert config["hyperparameters"]["action_noise"] == {"type": "normal", "sigma": 0.1}  # plain YAML in the config
    model = build_model(config, make_vec_env(config))
    noise = model.action_noise
    assert isinstance(noise, NormalActionNoise)
    np.testing.assert_array_equal(noise._sigma, [0.1])
    np.testing.assert_array_equal(noise._mu, [0.0])
    model.learn(32)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{type: ornstein, sigma: 0.1}", r"action_noise type must be one of \['normal'\], got 'ornstein'"),
        ("{type: normal}", r"action_noise must be null or a mapping like \{type: normal, sigma: 0.1\}"),
        ("{type: normal, sigma: -1}", r"action_noise: sigma must be a finite number >= 0, got -1"),
        ("{type: normal, sigma: 0.1, theta: 2}", r"action_noise: unknown keys \['theta'\]"),
        ("0.1", r"action_noise must be null or a mapping"),
    ],
)
def test_bad_action_noises_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config("td3", pendulum(), overrides=[f"action_noise={value}"])


@pytest.mark.parametrize(
    ("agent", "scenario", "message"),
    [
        ("sac", "relabelled_bandit", r"agent 'sac' \(SAC\) acts in Box action spaces only, but scenario "
         r"'relabelled_bandit' has the action space Discrete\(8\); .* e.g. 'pendulum_physics'"),
        ("syre_td3", "permuted_cartpole", r"agent 'syre_td3' \(SyreTD3\) acts in Box action spaces only.*"
         r"Discrete\(2\)"),
        ("dqn_l2", "pendulum_physics", r"agent 'dqn_l2' \(AnchoredDecayDQN\) acts in Discrete action spaces only, "
         r"but scenario 'pendulum_physics' has the action space Box\(-2.0, 2.0, \(1,\), float32\); .* e.g. "
         r"'permuted_cartpole'"),
    ],
)  # fmt: skip
def test_an_agent_is_refused_a_scenario_whose_actions_it_cannot_take(agent: str, scenario: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(agent, scenario)


def test_train_py_reports_an_unfit_pair_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("script_train", REPO / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--agent", "sac", "--env", "relabelled_bandit", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "agent 'sac' (SAC) acts in Box action spaces only" in err
    assert not (tmp_path / "run").exists()
