"""Build task families and schedules from recipe dicts such as ``{type: fixed_interval, steps_per_task: 20000}``.

The builder is the package's one spec builder, :func:`syre_rl.validation.build_from_spec`; this module re-exports it
for the nonstationary package.
"""

from syre_rl.validation import build_from_spec

__all__ = ["build_from_spec"]
