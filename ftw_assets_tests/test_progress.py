"""The progress of the long commands: a bar (chip-years done of the total, rate, time left) in a
terminal, one line per run otherwise, and nothing of the bar in the runs' Dagster logs."""

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from ftw_assets.cli.progress import Bar, run_progress
from ftw_assets.demo.world import write_demo_fields
from ftw_assets.runner import RunOutcome
from ftw_assets_tests.helpers import FTWD, ftwd


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_chip_years_and_prints_failed_runs_above_it():
    terminal, out = FakeTerminal(), FakeTerminal()
    bar = Bar(terminal, out, refresh_s=60)
    bar.start(chip_years=8, runs=2)
    bar.finished(RunOutcome(["masks"], "a|2024", "e|2024", 5, True, 1.0), "[1/2] masks: 5 chip-years ok")
    bar.finished(RunOutcome(["masks"], "f|2024", "h|2024", 3, False, 1.0, ["masks: boom"]), "[2/2] masks FAILED")
    bar.close()
    drawn = terminal.getvalue().split("\r")
    assert any("chip-years:  62%" in d and "5/8" in d and "run 2/2" in d for d in drawn)
    last = drawn[-1].strip()
    assert last.startswith("chip-years: 100%") and "8/8" in last and "chip-year/s" in last
    assert last.endswith("2 run(s), 1 failed]")
    assert out.getvalue() == "[2/2] masks FAILED\n"  # the ok run's line is the bar's business


def test_a_plan_without_runs_draws_nothing():
    terminal = FakeTerminal()
    bar = Bar(terminal, terminal)
    bar.start(chip_years=0, runs=0)
    bar.close()
    assert terminal.getvalue() == ""


def test_a_bar_only_when_stdout_and_stderr_are_terminals():
    assert isinstance(run_progress(FakeTerminal(), FakeTerminal()), Bar)
    assert run_progress(io.StringIO(), FakeTerminal()) is None  # stdout to a file: keep the lines
    assert run_progress(FakeTerminal(), io.StringIO()) is None


def _in_terminal(args: list[str], columns: int = 100) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal of ``columns`` columns; its output as read."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary)
    os.close(secondary)
    chunks, deadline = [], time.monotonic() + 600
    while time.monotonic() < deadline:
        if select.select([primary], [], [], 1)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(primary)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_create_dataset_in_a_terminal_draws_a_bar_and_in_a_pipe_prints_lines(tmp_path):
    fields = write_demo_fields(tmp_path / "fields.gpkg")
    out = tmp_path / "out"
    # One process: the bar's counts after each run are then known (test_parallel covers several).
    code, screen = _in_terminal([*FTWD, "create-dataset", str(fields), str(out), "--name", "ds", "--chips-per-run", "3",
                                 "--processes", "1"])
    assert code == 0, screen
    assert "8 chips x 1 year(s): 8 chip-years need work, in 3 run(s)" in screen
    frames = [f for f in re.split(r"[\r\n]+", screen) if f.startswith("chip-years:")]
    assert frames, screen
    counts = [re.search(r"\| (\d)/8 \[", f).group(1) for f in frames]
    assert counts[0] == "0" and counts[-1] == "8" and {"3", "6"} <= set(counts)  # after each run of 3
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+(chip-year/s|s/chip-year)", frames[-1])  # rate and time left
    assert "[1/3]" not in screen  # no line per run under the bar
    # The bar is redrawn while Dagster sends the steps' output to their log files: none of it lands there.
    logs = [p for p in (out / "dagster_home" / "storage").rglob("compute_logs/*") if p.is_file()]
    assert logs and not [p for p in logs if "chip-years" in p.read_text(errors="replace")]

    piped = ftwd("add-year", out, "2021", "--chips-per-run", "3", "--processes", "1")
    assert piped.returncode == 0, piped.stderr
    lines = [ln for ln in piped.stdout.splitlines() if ln.startswith("[")]
    assert [ln.split("]")[0] for ln in lines] == ["[1/3", "[2/3", "[3/3"]
    assert "chip-years:" not in piped.stdout + piped.stderr
