"""An SB3 callback that acts through torch hooks (forward hooks, optimizer step hooks) and removes them when
training ends."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback
from torch.utils.hooks import RemovableHandle


class HookedCallback(BaseCallback):
    """A callback whose work happens in the hooks it registers (kept in ``self._handles``); every SB3 step is a no-op
    and the hooks are removed at the end of training, so a model trained again without the callback is untouched.

    :param verbose: SB3 verbosity.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self._handles: list[RemovableHandle] = []

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._remove_hooks()
