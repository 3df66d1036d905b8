"""Atomic writes: write to a temporary file beside the target, then rename.

A crash mid-write leaves at most a hidden ``.NAME.*.tmp*`` file, never a half-written target,
and a reader never sees a partial file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import Iterator


CRASH_ENV = "FTW_CRASH_BEFORE_RENAME"  # a file name: the crash-and-resume tests kill the process there
TEMP_GLOB = ".*.tmp*"


def sweep_temp_files(root: str | os.PathLike) -> int:
    """Remove temp files a killed process left under ``root``; returns how many. Called when a
    command starts on a dataset, before any writer of that dataset runs."""
    root = Path(root)
    removed = 0
    if root.exists():
        for path in root.rglob(TEMP_GLOB):
            if path.is_file() and "dagster_home" not in path.parts:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if os.environ.get(CRASH_ENV) == target.name:  # tests: die with the temp file written, not renamed
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Return ``path`` made absolute and normalised, refusing anything that would land outside ``root``.
    Lexical (``..`` folded, no symlinks followed): dataset paths are built from grid-made chip ids, and
    resolving each one cost a filesystem lookup per folder level, many times per chip-year."""
    root_n = os.path.abspath(root)
    path_n = os.path.abspath(path)
    if path_n != root_n and not path_n.startswith(root_n.rstrip(os.sep) + os.sep):
        raise ValueError(f"refusing to write {path_n}: it is outside the output folder {root_n}")
    return Path(path_n)
