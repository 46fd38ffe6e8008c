"""A Monitor whose memory does not grow with the number of episodes."""

from __future__ import annotations

from typing import Any, SupportsFloat

from stable_baselines3.common.monitor import Monitor


class EpisodeMonitor(Monitor):
    """SB3's :class:`~stable_baselines3.common.monitor.Monitor` that keeps no per-episode lists.

    ``info["episode"]`` (``r``, ``l``, ``t``) is the Monitor's own, so SB3's logger and
    :class:`~syre_rl.plasticity.recorder.EpisodeRecorder` read the same values. The Monitor's ``episode_returns``,
    ``episode_lengths`` and ``episode_times`` lists, which grow by one entry per episode for the whole run and which
    nothing in a run reads, are emptied after each episode; the run's episodes are in its ``episodes.csv``.
    """

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        out = super().step(action)
        if self.needs_reset:  # an episode ended and was appended to the lists
            self.episode_returns.clear()
            self.episode_lengths.clear()
            self.episode_times.clear()
        return out
