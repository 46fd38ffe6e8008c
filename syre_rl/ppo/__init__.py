from syre_rl.ppo.ppo import AnchoredDecayPPO, SyrePPO

__all__ = ["AnchoredDecayPPO", "SyrePPO"]
