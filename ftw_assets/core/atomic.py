"""Atomic writes: write to a temporary file beside the target, then rename.

A crash mid-write leaves at most a hidden ``.NAME.*.tmp*`` file, never a half-written target,
and a reader never sees a partial file. Temp names carry their writer (host and process id), so the
next writer into that folder on the same host removes those of writers that are gone: a run retried
after its worker was killed leaves no trace of the killed attempt. ``ftwd`` also sweeps them all
when it starts on a dataset (:func:`sweep_temp_files`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import socket
import tempfile
from pathlib import Path
from typing import Iterator


CRASH_ENV = "FTW_CRASH_BEFORE_RENAME"  # a file name: the crash-and-resume tests kill the process there
TEMP_GLOB = ".*.tmp*"
# Host names may hold dots, which would make the writer ambiguous in the file name.
_HOST = re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "host"
# ``.NAME.HOST@PID.XXXXXXXX.tmpSUFFIX``: mkstemp's random part is 8 of [a-z0-9_].
_WRITER = re.compile(r"\.([A-Za-z0-9_-]+)@(\d+)\.[a-z0-9_]{8}\.tmp")


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


def _gone(pid: int) -> bool:
    """True when no live process has ``pid`` (a zombie counts as gone: in a container nothing may reap it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False


@functools.lru_cache(maxsize=1024)
def _clear_dead_writers(folder: str) -> None:
    """Remove the temp files in ``folder`` written by processes of this host that are gone. Once per
    folder and process: a chip-year's folder is written by one run at a time, and the dataset's root
    (tens of thousands of chip folders) is not listed again on every report."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(".") or ".tmp" not in entry.name:
            continue
        writer = _WRITER.search(entry.name)
        if writer and writer.group(1) == _HOST and int(writer.group(2)) != os.getpid() and _gone(int(writer.group(2))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_dead_writers(str(target.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_HOST}@{os.getpid()}.", suffix=f".tmp{suffix}",
                               dir=target.parent)
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
