from syre_rl.ppo.ppo import SyrePPO

__all__ = ["SyrePPO"]
