"""Runs on several worker processes: the same dataset, byte for byte, as one process; runs sized to
divide evenly; a worker that dies fails its own runs by name and the others finish."""

import hashlib
import os
import signal
import socket
import threading
import time
from pathlib import Path

from ftw_assets import pipeline
from ftw_assets.parallel import balanced_batch
from ftw_assets.runner import WORKER_TAG, worker_name
from ftw_assets.runner import dataset_layout, open_instance
from ftw_assets_tests.helpers import create_demo_dataset


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and "dagster_home" not in p.relative_to(out).parts and p.suffix not in (".duckdb", ".lock")}


def test_runs_are_sized_to_divide_evenly():
    assert balanced_batch(420, 100, 2) == 70  # 6 runs of 70, not 4 of 100 and one of 20
    assert balanced_batch(420, 100, 1) == 100
    assert balanced_batch(8, 2, 2) == 2
    assert balanced_batch(9, 2, 2) == 2  # 5 runs would leave one process idle: 6 runs of at most 2
    assert balanced_batch(3, 100, 4) == 1


def test_two_processes_build_the_same_dataset_as_one(tmp_path, demo_inputs, archive_parquet):
    one, two = tmp_path / "one", tmp_path / "two"
    create_demo_dataset(one, demo_inputs, archive_parquet, "--download-images", "--chips-per-run", "2",
                        "--processes", "1")
    made = create_demo_dataset(two, demo_inputs, archive_parquet, "--download-images", "--chips-per-run", "2",
                               "--processes", "2")
    assert "8 chips x 1 year(s): 8 chip-years need work, in 4 run(s)" in made.stdout
    assert digests(one) == digests(two) and len(digests(two)) > 50
    # Both workers ran runs: each run names its worker (host:pid).
    instance = open_instance(dataset_layout(two))
    runs = [r.dagster_run for r in instance.get_run_records()]
    first = [run for run in runs  # re-selection's one run stays in ftwd itself
             if run.tags.get("dagster/asset_partition_range_start") and "ftw/trigger" not in run.tags]
    workers = {run.tags[WORKER_TAG] for run in first}
    assert len(first) == 4 and len(workers) == 2 and worker_name() not in workers


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
    # The killed worker's run is failed in the instance, not left in progress.
    failed = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert [r.dagster_run.tags[WORKER_TAG] for r in failed] == [f"{socket.gethostname()}:{killed[0]}"]
    assert f"its worker process ({killed[0]}) died" in instance.all_logs(failed[0].dagster_run.run_id)[-1].message
    assert not instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert digests(out) == digests(clean)
