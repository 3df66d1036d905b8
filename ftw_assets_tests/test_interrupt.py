"""Ctrl-C during `ftwd create-dataset --download-images`: a prompt stop with a summary that matches the disk,
exit code 130, and a rerun that finishes exactly as an uninterrupted build."""

import hashlib
import re

import pytest
import signal
import subprocess
import time
from pathlib import Path

from ftw_assets_tests.helpers import FTWD, create_demo_dataset

# Runs of 2 chip-years: 4 runs for the 8 demo chips, so the stop lands with most of the work not started.
OPTIONS = ("--download-images", "--chips-per-run", "2")


def images(out: Path) -> list[Path]:
    return sorted((out / "ds-chips").glob("*/*_image_s2.tif"))


def digests(out: Path) -> dict[str, str]:
    """sha256 of every file of the dataset but the Dagster history and the DuckDB database (their bytes
    hold run ids and times)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and "dagster_home" not in p.relative_to(out).parts and p.suffix != ".duckdb"}


@pytest.mark.parametrize("processes", [1, 2])
def test_ctrl_c_stops_cleanly_and_the_rerun_finishes_identical(tmp_path, demo_inputs, archive_parquet, processes):
    """With two processes the SIGINT reaches ftwd alone (as ``kill -INT``), which hands it on to its
    workers; runs 1 and 2 are then both in flight."""
    fields, calendar = demo_inputs
    out = tmp_path / "interrupted"
    args = ["create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
            "--crop-calendar-dir", calendar, *OPTIONS, "--processes", str(processes)]
    proc = subprocess.Popen([*FTWD, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not images(out):  # the first image: run 1 of 4 is clipping
        assert proc.poll() is None, "ftwd ended before writing an image:\n" + "".join(proc.communicate())
        assert time.monotonic() < deadline, "no image within 300 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    text = stdout + stderr

    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    # Nothing after the runs in flight started: no other run, no re-selection, no checks.
    assert "interrupted" in stdout and f"[{processes + 1}/4]" not in stdout and "selecting again" not in stdout
    assert "[checks]" not in stdout
    # None of the 8 chip-years has its whole chain (the runs stopped before cloud_refinement and stac_catalog).
    stopped = re.search(r"Interrupted after (\d+) run\(s\); 8 chip-year\(s\) still need work\.", stdout)
    assert stopped and 3 <= int(stopped[1]) <= 2 + processes, stdout  # 2 setup runs, then those in flight
    on_disk = len(images(out))
    reported = re.search(r"Images: (\d+) of (\d+) chip-season images written, 0 failed", stdout)
    assert reported, stdout
    assert int(reported[1]) == int(reported[2]) == on_disk
    # Whole chip-years only (planting and harvest each), of the runs in flight (two chip-years each).
    assert on_disk % 2 == 0 and 2 <= on_disk <= 4 * processes
    assert not [p for p in out.rglob(".*.tmp*") if "dagster_home" not in p.parts]

    resumed = create_demo_dataset(out, demo_inputs, archive_parquet, *OPTIONS)
    assert "Images: 16 of 16 chip-season images written, 0 failed" in resumed.stdout
    uninterrupted = tmp_path / "uninterrupted"
    create_demo_dataset(uninterrupted, demo_inputs, archive_parquet, *OPTIONS)
    assert digests(out) == digests(uninterrupted)


def test_an_ignored_sigterm_is_not_passed_on_to_the_step_log_tails(tmp_path):
    """Started as a background job of a script (SIGINT ignored, and SIGTERM too once Dagster has mapped it
    onto SIGINT in the parent): ftwd ends its runs' log tails, none is left behind."""
    import psutil

    def ignoring():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    out = tmp_path / "demo"
    made = subprocess.run([*FTWD, "demo", str(out)], capture_output=True, text=True, timeout=600,
                          preexec_fn=ignoring)
    assert made.returncode == 0, made.stderr
    runs = len(list((out / "dagster_home" / "storage").glob("*/compute_logs")))
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][0] == "tail" and str(out) in " ".join(p.info["cmdline"])]
    assert runs >= 3 and left == []


@pytest.mark.parametrize("processes", [1, 2])
def test_runs_from_a_process_that_ignores_sigterm_stop_their_log_tails(tmp_path, processes):
    """The build called as a library from a process that ignores SIGTERM (a test session or notebook
    started as a script's background job, once Dagster has mapped SIGTERM onto the ignored SIGINT):
    each run's log tails still stop when it ends, in this process and in its workers, instead of each
    run waiting a minute for them; the process's own SIGTERM is left ignored."""
    import dagster as dg

    from ftw_assets import pipeline
    from ftw_assets.core.dataset.settings import DatasetSettings
    from ftw_assets.core.dataset.stages import Stages
    from ftw_assets.demo.world import DEMO_YEAR, write_demo_fields
    from ftw_assets.instance import open_instance

    out = tmp_path / "demo"
    out.mkdir()
    DatasetSettings(fields=str(write_demo_fields(tmp_path / "fields.gpkg")), name="demo", year=DEMO_YEAR).check().save(out)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        summary = pipeline.materialize_dataset(out, Stages(), chips_per_run=2, processes=processes,
                                               echo=lambda _: None)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not summary.failed and summary.partitions_run == 8
    with open_instance(out) as instance:
        runs = instance.get_runs()
        engine = [e.dagster_event.message or "" for run in runs
                  for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]
    failures = [m for m in engine if "compute log" in m]
    assert len(runs) >= 5 and engine and failures == []  # the setup runs and 4 runs of 2 chip-years
