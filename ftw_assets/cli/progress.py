"""The progress bar of the long commands: chip-years done of the total, rate and time left.

Drawn (tqdm, on stderr) only when stdout and stderr are both terminals. Otherwise (a log file, a
pipe, CI) ``ftwd`` prints the runner's one line per run, as before. Over a bar, a failed or
interrupted run's line is still printed, above the bar.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ftw_assets.runner import RunOutcome

# The bar is redrawn this often between runs, so the elapsed time and the time left move while a
# run of 100 chip-years works (the count only moves when a run finishes).
REFRESH_S = 1.0


class Bar:
    """A :class:`ftw_assets.runner.Progress` drawing one bar per plan of runs on ``stream``; failed runs'
    lines go to ``out``."""

    def __init__(self, stream: TextIO, out: TextIO, refresh_s: float = REFRESH_S) -> None:
        self.stream, self.out, self.refresh_s = stream, out, refresh_s
        self.bar = None
        self._terminal: TextIO | None = None
        self.runs = self.finished_runs = self.failed = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, chip_years: int, runs: int) -> None:
        if not runs:
            return
        from tqdm import tqdm

        self.runs, self.finished_runs, self.failed = runs, 0, 0
        self._terminal = _own_handle(self.stream)
        # smoothing=0: the rate is the average since the start (runs are batches of similar size), so
        # the time left also counts down between runs.
        self.bar = tqdm(total=chip_years, desc="chip-years", unit="chip-year", file=self._terminal or self.stream,
                        smoothing=0, dynamic_ncols=True, leave=True)
        self.bar.set_postfix_str(f"run 1/{runs}", refresh=True)
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="ftwd-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.bar.refresh()

    def finished(self, outcome: RunOutcome, line: str) -> None:
        if self.bar is None:
            return
        self.finished_runs += 1
        if outcome.interrupted:
            self.bar.write(line, file=self.out)
        elif not outcome.success:
            self.failed += 1
            self.bar.write(line, file=self.out)
        failed = f", {self.failed} failed" if self.failed else ""
        self.bar.set_postfix_str(f"run {min(self.finished_runs + 1, self.runs)}/{self.runs}{failed}", refresh=False)
        self.bar.update(outcome.partitions)
        self.bar.refresh()  # every finished run shows, however soon after the last

    def close(self) -> None:
        if self.bar is None:
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        failed = f", {self.failed} failed" if self.failed else ""
        self.bar.set_postfix_str(f"{self.runs} run(s){failed}", refresh=False)
        self.bar.close()
        self.bar = None
        if self._terminal is not None:
            self._terminal.close()
            self._terminal = None


def run_progress(stdout: TextIO | None = None, stderr: TextIO | None = None) -> Bar | None:
    """What ``ftwd`` passes to ``pipeline.materialize_dataset``: a :class:`Bar` when stdout and stderr are
    both terminals, else None (the runner prints one line per run)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if _is_tty(stdout) and _is_tty(stderr):
        return Bar(stderr, stdout)
    return None


def _own_handle(stream: TextIO) -> TextIO | None:
    """A second handle on ``stream``'s terminal (None for a stream without a file descriptor). While a run's
    step works, Dagster points file descriptors 1 and 2 at the step's log files: the bar, redrawn then,
    must reach the terminal and not land in those logs."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None
    return os.fdopen(os.dup(fd), "w", encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace")


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream is no terminal
        return False
