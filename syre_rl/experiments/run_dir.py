"""The run folder's ownership: preparing it for a run, deleting it on request, and undoing a failed start.

A run folder is ours when it holds a ``config.yaml`` and nothing but the names of
:data:`syre_rl.run_layout.RUN_FILES` (and ``NAME.tmp`` files of those names). Only such a folder is deleted by
``overwrite``, and only the entries we own are deleted. A start that fails before its first checkpoint is undone
(:func:`undo_failed_start`): what it wrote is removed and the files it changed are written back, so the corrected
command is not refused.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from syre_rl.run_layout import CONFIG_FILE, DONE_FILE, ERROR_FILE, RUN_FILES, checkpoint_steps, load_config

# Keys of the resolved config that may differ when a run is resumed.
RESUMABLE_CHANGES = frozenset({"device", "total_steps", "overrides", "checkpoint_every"})
# Files a start rewrites at its beginning; a failed start writes back what they held before.
_RESTORED_FILES = (CONFIG_FILE, ERROR_FILE)
_TMP_SUFFIX = ".tmp"


class RunExistsError(FileExistsError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


class NotARunFolderError(ValueError):
    """A folder that is not (only) a run folder of ours was asked to be deleted or used as one."""


def is_run_entry(name: str) -> bool:
    """Whether ``name`` is a top-level entry a run folder may hold (a name of ``RUN_FILES`` or its ``.tmp`` file)."""
    return name in RUN_FILES or (name.endswith(_TMP_SUFFIX) and name.removesuffix(_TMP_SUFFIX) in RUN_FILES)


def foreign_entries(run_dir: str | Path) -> list[str]:
    """Names in ``run_dir`` (top level) that no run writes, sorted; empty for a missing folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if not is_run_entry(p.name))


def check_run_folder(run_dir: str | Path) -> None:
    """Refuse a folder that is not only a run folder of ours.

    :raises NotARunFolderError: ``run_dir`` is not a folder, has no ``config.yaml``, or holds other files (named).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotARunFolderError(f"{str(run_dir)!r} is not a folder")
    foreign = foreign_entries(run_dir)
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise NotARunFolderError(
            f"{str(run_dir)!r} holds files that are not a run's ({shown}); refusing to delete it: move them away "
            f"or choose another --out"
        )
    if not (run_dir / CONFIG_FILE).is_file():
        raise NotARunFolderError(
            f"{str(run_dir)!r} holds no {CONFIG_FILE}, so it is not a run folder; refusing to delete it"
        )


def delete_run_folder(run_dir: str | Path) -> None:
    """Delete the run in ``run_dir``: every entry a run writes, after :func:`check_run_folder`; the (then empty)
    folder itself stays."""
    run_dir = Path(run_dir)
    check_run_folder(run_dir)
    for path in run_dir.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def finished_steps(run_dir: str | Path) -> int:
    """Steps of the finished run in ``run_dir`` (from its ``done`` marker), or -1."""
    done_path = Path(run_dir) / DONE_FILE
    return int(json.loads(done_path.read_text()).get("num_timesteps", 0)) if done_path.is_file() else -1


def config_changes(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Top-level keys, other than :data:`RESUMABLE_CHANGES`, whose values differ between two resolved configs."""
    # Compare as YAML would store them (tuples become lists, and so on).
    saved = yaml.safe_load(yaml.safe_dump(dict(saved)))
    new = yaml.safe_load(yaml.safe_dump(dict(new)))
    return sorted(k for k in set(saved) | set(new) if k not in RESUMABLE_CHANGES and saved.get(k) != new.get(k))


def prepare_run_dir(config: Mapping[str, Any], run_dir: str | Path, resume: bool, overwrite: bool) -> dict[str, Any]:
    """Check or create the run folder and write its ``config.yaml``; return the config to train with.

    :param config: the resolved config of the run.
    :param run_dir: the run folder.
    :param resume: continue the run already in the folder (a folder holding other files is accepted).
    :param overwrite: delete the run already in the folder first (only a folder of ours, see
        :func:`check_run_folder`).
    :return: ``config``, or for a run that is already finished with at least ``total_steps``, the config it
        finished with (nothing is written then).
    :raises RunExistsError: the folder holds files and neither ``resume`` nor ``overwrite`` is set.
    :raises NotARunFolderError: ``overwrite`` on a folder that is not only ours; ``run_dir`` is a file.
    :raises ValueError: ``resume`` with a config that differs from the saved one in keys other than
        :data:`RESUMABLE_CHANGES`.
    """
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotARunFolderError(f"run folder {str(run_dir)!r} is a file, not a folder")
    exists = run_dir.is_dir() and any(run_dir.iterdir())
    if exists and overwrite:
        delete_run_folder(run_dir)
        exists = False
    if exists and not resume:
        raise RunExistsError(f"run folder {str(run_dir)!r} already exists; resume it or overwrite it")
    config = dict(config)
    if exists and (run_dir / CONFIG_FILE).is_file():
        changes = config_changes(load_config(run_dir), config)
        if changes:
            raise ValueError(
                f"cannot resume {str(run_dir)!r} with a different config: {changes} differ from its {CONFIG_FILE}"
            )
    if finished_steps(run_dir) >= int(config["total_steps"]):
        return load_config(run_dir)  # nothing left to train: the folder keeps the config it finished with
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    return config


@dataclass(frozen=True)
class _FolderState:
    existed: bool
    entries: frozenset[str]
    checkpoints: frozenset[int]
    done: bool
    files: dict[str, bytes]


def _folder_state(run_dir: Path) -> _FolderState:
    if not run_dir.is_dir():
        return _FolderState(False, frozenset(), frozenset(), False, {})
    files = {name: (run_dir / name).read_bytes() for name in _RESTORED_FILES if (run_dir / name).is_file()}
    return _FolderState(
        True,
        frozenset(p.name for p in run_dir.iterdir()),
        frozenset(steps for steps, *_ in checkpoint_steps(run_dir)),
        (run_dir / DONE_FILE).is_file(),
        files,
    )


@contextmanager
def undo_failed_start(run_dir: str | Path, overwrite: bool = False) -> Iterator[None]:
    """Undo a start that fails before its first checkpoint, so that the corrected command is not refused.

    Around a call of :func:`syre_rl.experiments.run.train`: when it raises (an interruption included) and the
    folder has gained neither a checkpoint nor a ``done`` marker, the entries of our run layout that it created are
    removed, ``config.yaml`` and ``error.txt`` get their previous contents back, and a folder it created and left
    empty is removed. Files that are not ours are never touched. The exception is raised again.

    :param run_dir: the run folder.
    :param overwrite: the start deletes the run in the folder first (``train(..., overwrite=True)``): when the
        folder is one it may delete, a failed start leaves it empty rather than with the old ``config.yaml``.
        Default False.
    """
    run_dir = Path(run_dir)
    before = _folder_state(run_dir)
    if overwrite and before.existed and before.entries:
        try:
            check_run_folder(run_dir)
        except NotARunFolderError:
            pass  # the start refuses it without touching anything
        else:
            before = _FolderState(True, frozenset(), frozenset(), False, {})
    try:
        yield
    except BaseException:
        after = _folder_state(run_dir)
        if after.existed and not (after.checkpoints - before.checkpoints) and (after.done == before.done):
            _restore(run_dir, before)
        raise


def _restore(run_dir: Path, before: _FolderState) -> None:
    for path in run_dir.iterdir():
        if path.name in before.entries or not is_run_entry(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for name, data in before.files.items():
        path = run_dir / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    if not before.existed and not any(run_dir.iterdir()):
        run_dir.rmdir()
