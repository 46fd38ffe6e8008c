from syre_rl.td3.td3 import AnchoredDecayTD3, SyreTD3

__all__ = ["AnchoredDecayTD3", "SyreTD3"]
