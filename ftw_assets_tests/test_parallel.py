"""Runs on several worker processes: the same dataset, byte for byte, as one process; runs sized to
divide evenly; a worker that dies has its run failed in the instance and done again; workers end with
a killed ftwd; the workers' reads go through one reader, so two processes fetch the bytes one does."""

import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ftw_assets import pipeline
from ftw_assets.parallel import MIN_PARALLEL_CHIP_YEARS, PARCELS_PER_CHIP, balanced_batch, start_early
from ftw_assets.runner import WORKER_TAG, worker_name
from ftw_assets.instance import open_instance
from ftw_assets.runner import dataset_layout
from ftw_assets_tests.helpers import FTWD, create_demo_dataset, ftwd


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and "dagster_home" not in p.relative_to(out).parts and p.suffix not in (".duckdb", ".lock")}


def test_runs_are_sized_to_divide_evenly():
    assert balanced_batch(420, 100, 2) == 70  # 6 runs of 70, not 4 of 100 and one of 20
    assert balanced_batch(420, 100, 1) == 100
    assert balanced_batch(8, 2, 2) == 2
    assert balanced_batch(9, 2, 2) == 2  # 5 runs would leave one process idle: 6 runs of at most 2
    assert balanced_batch(3, 100, 4) == 1


def test_workers_start_at_once_only_for_builds_that_may_be_large():
    assert MIN_PARALLEL_CHIP_YEARS == 100 and PARCELS_PER_CHIP == 10
    assert start_early(chips=50, years=2, parcels=None) and not start_early(chips=99, years=1, parcels=10**6)
    # Before the first build, the parcels: the demo's 213 are a small build, make bench's 15,194 a large one.
    assert not start_early(chips=0, years=0, parcels=213) and start_early(chips=0, years=0, parcels=15_194)
    assert start_early(chips=0, years=0, parcels=1000) and start_early(chips=0, years=0, parcels=None)
    helped = " ".join(ftwd("create-dataset", "--help").stdout.split())  # the --help text says the same
    assert f"none below {MIN_PARALLEL_CHIP_YEARS} chip-years to do" in helped


IMAGES = ("--download-images", "--chips-per-run", "2")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, demo_inputs, archive_parquet) -> dict[str, str]:
    """The demo with images built in the ftwd process alone: what every other build must equal."""
    out = tmp_path_factory.mktemp("one-process") / "ds"
    create_demo_dataset(out, demo_inputs, archive_parquet, *IMAGES, "--processes", "1")
    return digests(out)


def _chip_year_runs(out: Path) -> list:
    """The dataset's chip-year runs (re-selection's runs, which stay in ftwd itself, left out), by first key."""
    instance = open_instance(dataset_layout(out))
    runs = [r.dagster_run for r in instance.get_run_records()]
    return sorted((run for run in runs if run.tags.get("dagster/asset_partition_range_start")
                   and "ftw/trigger" not in run.tags), key=lambda r: r.tags["dagster/asset_partition_range_start"])


def test_two_processes_build_the_same_dataset_as_one(tmp_path, demo_inputs, archive_parquet, one_process):
    two = tmp_path / "two"
    made = create_demo_dataset(two, demo_inputs, archive_parquet, *IMAGES, "--processes", "2")
    assert "8 chips x 1 year(s): 8 chip-years need work, in 4 run(s)" in made.stdout
    assert digests(two) == one_process and len(one_process) > 50
    # ftwd and its workers end without teardown (process_exit), yet their SQLite connections were closed:
    # the write-ahead log is checkpointed into the database, no -wal file left beside it.
    assert list((two / "dagster_home").rglob("*.db")) and not list((two / "dagster_home").rglob("*-wal"))
    # Both workers ran runs, in turn in plan order (block order): reading through one reader, the runs in
    # flight are neighbours whose shared blocks are in its cache together.
    first = _chip_year_runs(two)
    by_start = [run.tags[WORKER_TAG] for run in first]
    assert len(first) == 4 and len(set(by_start)) == 2 and worker_name() not in by_start
    assert by_start[0] == by_start[2] != by_start[1] == by_start[3]
    # The dataset-wide image checks run once, after the chip-year runs, not inside each of them.
    from dagster._core.events import DagsterEventType

    instance = open_instance(dataset_layout(two))
    runs = [r.dagster_run for r in instance.get_run_records()]
    started = [e.step_key for run in runs for e in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)]
    assert started.count("clipped_image_checks") == 1 and started.count("clipped_images") == 4 + 1


def test_a_small_build_without_processes_runs_in_ftwd_alone(tmp_path, demo_inputs, archive_parquet, one_process):
    """8 chip-years, fewer than MIN_PARALLEL_CHIP_YEARS: without --processes no worker starts (one would
    cost more than it saves) and the runs, re-selection's too, are ftwd's own; the same dataset."""
    out = tmp_path / "default"
    made = create_demo_dataset(out, demo_inputs, archive_parquet, *IMAGES)
    assert "8 chips x 1 year(s): 8 chip-years need work, in 4 run(s)" in made.stdout
    assert digests(out) == one_process
    instance = open_instance(dataset_layout(out))
    ran_in = {r.dagster_run.tags.get(WORKER_TAG) for r in instance.get_run_records()}
    assert len(ran_in) == 1 and None not in ran_in and len(_chip_year_runs(out)) == 4


def test_two_processes_fetch_no_more_bytes_than_one(tmp_path, demo_inputs, archive_parquet, cog_server):
    """The workers read their windows through ftwd's one reader process, so the COG blocks the two halves of
    the plan share (the demo's eight chips lie in two rows of blocks) are fetched once; over HTTP, counted by
    the COG server."""
    from ftw_assets_tests.servers.harness import archive_copy_served_at

    served = archive_copy_served_at(archive_parquet, cog_server.url, tmp_path / "served.parquet")
    fetched, built = {}, {}
    for processes in ("1", "2"):
        cog_server.reset()
        out = tmp_path / f"p{processes}"
        create_demo_dataset(out, demo_inputs, served, *IMAGES, "--processes", processes)
        fetched[processes], built[processes] = cog_server.stats()["bytes"], digests(out)
    assert built["2"] == built["1"]
    # Each worker reading for itself fetched 1.28x here; the refinement's cloud-mask reads stay in the workers.
    assert 0 < fetched["2"] <= 1.01 * fetched["1"], fetched


def test_workers_read_for_themselves_when_the_reader_dies(tmp_path, demo_inputs, archive_parquet, one_process):
    import psutil

    fields, calendar = demo_inputs
    out = tmp_path / "no-reader"
    args = ["create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
            "--crop-calendar-dir", calendar, *IMAGES, "--processes", "2"]
    proc = subprocess.Popen([*FTWD, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, killed = time.monotonic() + 300, None
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        if list(out.glob("ds-chips/*/*_image_s2.tif")):  # the first run's images are written: kill the reader
            for child in psutil.Process(proc.pid).children(recursive=True):
                if _is_reader(child):
                    child.kill()
                    killed = child.pid
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=600)
    assert killed is not None, "the reader was not seen"
    assert proc.returncode == 0, stderr
    assert digests(out) == one_process


def _is_reader(process) -> bool:
    """The window reader: the child listening on the abstract socket ``ftw-reader-*``."""
    try:
        return any("ftw-reader-" in (c.laddr or "") for c in process.net_connections(kind="unix"))
    except Exception:  # noqa: BLE001 - it ended meanwhile
        return False


def test_workers_end_with_a_killed_ftwd_and_the_rerun_finishes_identical(tmp_path, demo_inputs, archive_parquet,
                                                                        one_process):
    import psutil

    fields, calendar = demo_inputs
    out = tmp_path / "killed"
    args = ["create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
            "--crop-calendar-dir", calendar, *IMAGES, "--processes", "2"]
    temp_before = set(Path(tempfile.gettempdir()).glob("ftw-reader-*"))
    proc = subprocess.Popen([*FTWD, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob("ds-chips/*/*_image_s2.tif")):  # workers are clipping
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len([w for w in workers if "spawn_main" in " ".join(w.cmdline())]) == 2 + 1  # and the window reader
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived ftwd: {alive}"
    # The reader's socket is abstract: a killed ftwd leaves no socket or folder in the temp folder.
    assert set(Path(tempfile.gettempdir()).glob("ftw-reader-*")) <= temp_before
    create_demo_dataset(out, demo_inputs, archive_parquet, *IMAGES, "--processes", "2")
    assert digests(out) == one_process


def test_a_worker_killed_mid_run_is_replaced_and_the_dataset_completes(tmp_path, demo_inputs, archive_parquet):
    import dagster as dg
    import psutil

    from ftw_assets.defs.masks.assets import masks

    clean, out = tmp_path / "clean", tmp_path / "killed"
    create_demo_dataset(clean, demo_inputs, archive_parquet, "--processes", "1")
    create_demo_dataset(out, demo_inputs, archive_parquet, "--processes", "1")
    instance = open_instance(dataset_layout(out))
    instance.wipe_assets([masks.key])  # every chip-year's masks to do again, one run per chip
    killed: list[int] = []

    def kill_a_worker_in_a_run():
        me, deadline = psutil.Process(), time.monotonic() + 180
        while time.monotonic() < deadline and not killed:
            running = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            pids = {int(r.dagster_run.tags[WORKER_TAG].rpartition(":")[2]) for r in running
                    if WORKER_TAG in r.dagster_run.tags}
            workers = [p.pid for p in me.children(recursive=True) if p.pid in pids]
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.02)

    threading.Thread(target=kill_a_worker_in_a_run, daemon=True).start()
    lines: list[str] = []
    summary = pipeline.materialize_dataset(out, processes=2, chips_per_run=1, echo=lines.append)
    assert killed, "no worker was seen running a run"
    assert not summary.failed, lines
    assert len(set(map(str, instance.get_materialized_partitions(masks.key)))) == 8
    # The killed worker's run is failed in the instance, not left in progress (so is the other worker's run
    # in flight, if any: a broken pool ends every worker).
    failed = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert f"{socket.gethostname()}:{killed[0]}" in [r.dagster_run.tags[WORKER_TAG] for r in failed]
    for record in failed:
        pid = record.dagster_run.tags[WORKER_TAG].rpartition(":")[2]
        assert f"its worker process ({pid}) died" in instance.all_logs(record.dagster_run.run_id)[-1].message
    assert not instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert digests(out) == digests(clean)
