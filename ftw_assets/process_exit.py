"""How ftwd's processes end: without the interpreter's teardown.

When ``ftwd``, or one of its worker processes, exits, what it writes is written and closed: files are
renamed into place, SQLite transactions committed, DuckDB connections closed with each statement group.
What the interpreter's teardown still does is free the modules and objects of Dagster, GDAL, pyarrow and
the build, 0.6 s or more of CPU per process: at the end of every command, and in each worker process at
once while ftwd waits for them (``Workers.close`` took 1.5 s of a 20 s masks-only build). So the process
ends with ``os._exit`` from an exit handler registered before the libraries load: their own handlers
(logging, thread pools, file locks, weakref finalizers, multiprocessing), registered later, run first;
this one then flushes the standard streams and ends the process with the exit code it was to have. The
event log storage's kept SQLite connections are closed among those handlers (``storage._dispose_all``),
so the write-ahead log is checkpointed as at a normal exit."""

from __future__ import annotations

import atexit
import os
import sys

_code: int | None = None


def install() -> None:
    """Register the handler: before the libraries load, so that theirs run before it."""
    atexit.register(_end)


def exiting_with(code: object) -> None:
    """The process is exiting with ``code`` (a ``SystemExit``'s). Until this is said the handler does
    nothing, so that an uncaught exception keeps Python's own ending."""
    global _code
    _code = 0 if code is None else code if isinstance(code, int) else 1


def _end() -> None:
    if _code is None:
        return
    import logging

    logging.shutdown()  # in a worker process, logging's own handler was registered before this one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a closed pipe: nothing more can be said
            pass
    os._exit(_code)
