from syre_rl.dqn.dqn import AnchoredDecayDQN, SyreDQN

__all__ = ["AnchoredDecayDQN", "SyreDQN"]
