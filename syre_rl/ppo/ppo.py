"""SyrePPO: Stable-Baselines3's PPO with syre-treated actor-critic networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from syre_rl.policies import (
    SyreActorCriticCnnPolicy,
    SyreActorCriticPolicy,
    SyreMultiInputActorCriticPolicy,
)
from syre_rl.syre import DecayMode

SelfSyrePPO = TypeVar("SelfSyrePPO", bound="SyrePPO")


class SyrePPO(PPO):
    """PPO (Schulman et al. 2017) whose networks are trained as ``theta + theta_0`` with weight decay on ``theta``.

    A drop-in replacement for :class:`stable_baselines3.PPO`: same arguments, same training loop (PPO's own, not a
    copy), same ``save``/``load``. ``"MlpPolicy"``, ``"CnnPolicy"`` and ``"MultiInputPolicy"`` name the syre
    policies of :mod:`syre_rl.policies`. The syre settings below are passed to the policy; see
    :class:`syre_rl.policies.SyreActorCriticPolicy` for their meaning.

    :param syre_weight_decay: gamma, decay of ``theta = w - theta_0``. Default 0.002 (paper's RL setting).
    :param syre_sigma_scale: ``sigma_0 = syre_sigma_scale / sqrt(fan_in)``. Default 0.01 (paper).
    :param syre_sigma_0: absolute offset std for every tensor instead. Default None.
    :param syre_mode: ``"coupled"`` (default, the paper's PPO runs) or ``"decoupled"``.
    :param syre_ar_spread: syre-ar diagonal spread in [0, 1). Default 0.
    :param syre_seed: seed for ``theta_0``; None follows ``seed``.
    :param syre_exclude: parameter names left untouched. Default ``("log_std",)``.

    All other parameters are PPO's, with PPO's defaults.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": SyreActorCriticPolicy,
        "CnnPolicy": SyreActorCriticCnnPolicy,
        "MultiInputPolicy": SyreMultiInputActorCriticPolicy,
    }
    policy: SyreActorCriticPolicy

    def __init__(
        self,
        policy: str | type[SyreActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        syre_weight_decay: float = 0.002,
        syre_sigma_scale: float = 0.01,
        syre_sigma_0: float | None = None,
        syre_mode: DecayMode = "coupled",
        syre_ar_spread: float = 0.0,
        syre_seed: int | None = None,
        syre_exclude: Sequence[str] = ("log_std",),
        _init_setup_model: bool = True,
    ) -> None:
        policy_class = self.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
        if isinstance(policy, str) and policy not in self.policy_aliases:
            raise ValueError(
                f"unknown policy {policy!r}; SyrePPO accepts {sorted(self.policy_aliases)} or a syre policy class"
            )
        if not (isinstance(policy_class, type) and issubclass(policy_class, SyreActorCriticPolicy)):
            raise ValueError(
                f"SyrePPO needs a syre policy (a subclass of SyreActorCriticPolicy), got {policy!r}; "
                "use stable_baselines3.PPO for plain policies"
            )
        policy_kwargs = dict(policy_kwargs or {})
        clashing = sorted(k for k in policy_kwargs if k.startswith("syre_"))
        if clashing:
            raise ValueError(f"pass {clashing} as SyrePPO arguments, not inside policy_kwargs")
        policy_kwargs.update(
            syre_weight_decay=syre_weight_decay,
            syre_sigma_scale=syre_sigma_scale,
            syre_sigma_0=syre_sigma_0,
            syre_mode=syre_mode,
            syre_ar_spread=syre_ar_spread,
            syre_seed=syre_seed,
            syre_exclude=tuple(syre_exclude),
        )
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def learn(
        self: SelfSyrePPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "SyrePPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSyrePPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
