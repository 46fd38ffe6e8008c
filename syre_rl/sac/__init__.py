from syre_rl.sac.sac import AnchoredDecaySAC, SyreSAC

__all__ = ["AnchoredDecaySAC", "SyreSAC"]
