"""Errors a user can act on: each message says what failed, why, and what to try.

Exit codes of ``ftwd``: 2 for input the tool cannot use (:class:`InputError`), 3 for a machine
that cannot do what was asked (:class:`EnvironmentProblem`: disk full, read-only, not a folder),
1 when some chip-years failed, 130 when interrupted.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class FtwError(Exception):
    """A problem with the input or the environment that the user can fix."""

    exit_code = 2


class InputError(FtwError):
    """The field-boundary file or a parameter cannot be used as given."""


class EnvironmentProblem(FtwError):
    """The machine cannot do it: the disk is full, the output read-only, a path not a folder."""

    exit_code = 3


_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_DENIED = (errno.EACCES, errno.EPERM)
# How SQLite (Dagster's event log) and DuckDB say the same things.
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
_READ_ONLY_TEXTS = ("attempt to write a readonly database", "read-only file system", "readonly database")


def environment_problem(err: BaseException, where: Path | str | None = None) -> EnvironmentProblem | None:
    """``err`` (or an error it was raised from) as an :class:`EnvironmentProblem` when the machine
    caused it (disk full, read-only file system, permission denied, a file where a folder should be);
    None for anything else. ``where`` names the dataset folder in the message."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, EnvironmentProblem):
            return err
        text = str(err).lower()
        code = err.errno if isinstance(err, OSError) else None
        path = getattr(err, "filename", None) or where
        resume = ("What was written is kept (every file is written whole or not at all); rerun the same command "
                  "to resume.")
        # SQLite reports a full disk under WAL as a plain I/O error: full if the disk has under 1 MB left.
        full_io = "disk i/o error" in text and _free_bytes(path) < 2**20
        if code in _FULL or any(t in text for t in _FULL_TEXTS) or full_io:
            return EnvironmentProblem(f"the disk holding {path} is full{_free(path)}. Free some space or move the "
                                      f"dataset to a larger disk. {resume}")
        if code in _READ_ONLY or any(t in text for t in _READ_ONLY_TEXTS):
            return EnvironmentProblem(f"{path} is on a read-only file system. Remount it read-write or copy the "
                                      f"dataset to a writable disk. {resume}")
        if code in _DENIED:
            return EnvironmentProblem(f"{path}: permission denied ({err.strerror}). Give this user write access "
                                      f"or choose another OUTPUT_DIR. {resume}")
        if code in (errno.ENOTDIR, errno.EEXIST) and isinstance(err, OSError):
            return EnvironmentProblem(f"{path}: a file stands where a folder is needed ({err.strerror}). "
                                      "Choose an OUTPUT_DIR that is not inside a file.")
        err = err.__cause__ or err.__context__
    return None


def _free_bytes(path) -> float:
    for candidate in (Path(path), *Path(path).parents) if path else ():
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return float("inf")


def _free(path) -> str:
    for candidate in (Path(path), *Path(path).parents) if path else ():
        if candidate.exists():
            return f" ({shutil.disk_usage(candidate).free / 1e6:,.1f} MB free on {candidate})"
    return ""


__all__ = ["FtwError", "InputError", "EnvironmentProblem", "environment_problem"]
