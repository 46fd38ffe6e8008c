"""Off-policy agents in the experiment layer: their recipes and the range checks of their arguments."""

from pathlib import Path

import pytest
import yaml

from syre_rl.experiments.build import build_model, make_vec_env
from syre_rl.experiments.config import resolve_config
from syre_rl.experiments.scenarios import load_scenario

AGENTS = Path(__file__).resolve().parents[1] / "agents" / "off_policy"
DQN_RECIPE = str(AGENTS / "dqn.yaml")


def bandit() -> dict:
    recipe = load_scenario("relabelled_bandit")
    recipe["hyperparameters"] = {}  # the scenario's hyperparameters are PPO's
    return recipe


@pytest.mark.parametrize(
    ("syre", "l2", "algorithms"),
    [("syre_dqn", "dqn_l2", ("SyreDQN", "AnchoredDecayDQN")), ("syre_sac", "sac_l2", ("SyreSAC", "AnchoredDecaySAC"))],
)
def test_l2_and_syre_recipes_differ_only_in_the_anchor(syre: str, l2: str, algorithms: tuple[str, str]) -> None:
    a, b = (yaml.safe_load((AGENTS / f"{name}.yaml").read_text()) for name in (syre, l2))
    assert (a["algorithm"], b["algorithm"]) == algorithms
    assert b["hyperparameters"].pop("anchor") == "zero"
    assert a["hyperparameters"].pop("sigma_scale") == 0.01
    assert a["hyperparameters"] == b["hyperparameters"] and a["policy_kwargs"] == b["policy_kwargs"]


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
