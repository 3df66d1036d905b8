"""The deployment past one machine (ftw_assets.deploy) without its servers: the dagster.yaml Dagster accepts, the
tile routing, the preflight's messages (broker or database down: nothing written), the worker's dataset-folder
check, and DuckDB written by several processes at once. The end-to-end run on real servers over network
namespaces is test_cluster.py."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ftw_assets.core.errors import EnvironmentProblem, FtwError
from ftw_assets.deploy import preflight
from ftw_assets.deploy.config import COMMON_QUEUE, Deployment, read_config, write_deployment
from ftw_assets.deploy.launcher import queue_for
from ftw_assets.deploy.submit import _interleaved
from ftw_assets_tests.helpers import DEMO_CHIPS, free_port, ftwd


def test_the_deployment_yaml_is_valid_dagster_config(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    home = write_deployment(tmp_path / "d", Deployment(pg_port=6543, redis_port=6380, shards=3, max_retries=2))
    config, _ = dagster_instance_config(str(home))
    for kind in ("run_storage", "event_log_storage", "schedule_storage"):
        assert config[kind]["config"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
        assert config[kind]["config"]["postgres_db"]["password"] == {"env": "FTW_PG_PASSWORD"}  # no secret
    assert config["event_log_storage"]["class"] == "PooledPostgresEventLogStorage"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_launcher"]["class"] == "FtwCeleryRunLauncher"
    assert config["run_launcher"]["config"]["broker"] == "redis://127.0.0.1:6380/0"
    assert config["run_retries"] == {"enabled": True, "max_retries": 2}
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["max_resume_run_attempts"] == 0
    assert config["concurrency"]["pools"]["default_limit"] == 2  # the stac_api pool over every host
    assert (home / "celery.yaml").exists() and (home / "workspace.yaml").exists()


def test_runs_are_routed_by_tile_block_and_retries_to_any_worker():
    def queue(start, **tags):
        return queue_for({"dagster/asset_partition_range_start": start, **tags}, 2)

    west, east = DEMO_CHIPS[0], DEMO_CHIPS[4]  # neighbouring Sentinel-2 blocks of tile 33UWP
    (q_west, tags), (q_east, _) = queue(f"{west}|2024"), queue(f"{east}|2024")
    assert tags["ftw/tile"] == "33UWP" and q_west != q_east and {q_west, q_east} == {"ftw-shard-0", "ftw-shard-1"}
    assert queue(f"{west}|2024")[0] == q_west and queue(f"{west}|2025")[0] == q_west  # a block stays on its shard
    assert queue(f"{west}|2024", **{"dagster/retry_number": "1"})[0] == COMMON_QUEUE  # its worker may be dead
    assert queue_for({}, 2)[0] == COMMON_QUEUE  # unpartitioned runs: any worker
    assert queue_for({"dagster/partition": f"{east}|2024"}, 2)[0] == q_east  # a UI run of one partition
    assert queue(f"{west}|2024", **{"ftw/shard": "1"}) == ("ftw-shard-1", {"ftw/tile": "33UWP", "ftw/shard": "1"})
    # ftwd submits a plan's runs shard by shard in turn: the run slots go to every shard's worker at once.
    assert _interleaved([0, 0, 0, 1, 1, 1]) == [0, 3, 1, 4, 2, 5] and _interleaved([0, 0, 1, 1, 2]) == [0, 2, 4, 1, 3]


def _deployment(tmp_path, redis_port, pg_port) -> Path:
    return write_deployment(tmp_path / "deployment", Deployment(pg_port=pg_port, redis_port=redis_port))


def test_broker_down_names_it_and_writes_nothing(tmp_path, demo_inputs, archive_parquet):
    home = _deployment(tmp_path, free_port(), free_port())
    with pytest.raises(EnvironmentProblem, match=r"broker \(Redis at 127.0.0.1:\d+\) does not answer"):
        preflight.check(home)
    fields, calendar = demo_inputs
    out = tmp_path / "ds"
    made = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                "--instance", home)
    assert made.returncode == 3, made.stderr
    assert "broker (Redis at 127.0.0.1:" in made.stderr and "nothing was written" in made.stderr
    assert not out.exists()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs Debian's redis-server (.ci/run installs it)")
def test_database_down_names_it(tmp_path):
    redis_port, pg_port = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        home = _deployment(tmp_path, redis_port, pg_port)
        deadline, message = time.monotonic() + 20, ""
        while "PostgreSQL at" not in message and time.monotonic() < deadline:  # until Redis answers
            try:
                preflight.check(home)
            except EnvironmentProblem as err:
                message = str(err)
            time.sleep(0.2)
        assert f"database (PostgreSQL at 127.0.0.1:{pg_port}, database dagster) does not answer" in message
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def test_not_a_deployment_folder(tmp_path):
    with pytest.raises(FtwError, match="no deployment at"):
        preflight.check(tmp_path)
    assert read_config(write_deployment(tmp_path / "d", Deployment()))["run_launcher"]["config"]["shards"] == 2


def test_a_worker_that_cannot_see_the_dataset_says_so(tmp_path):
    from ftw_assets.deploy.worker import check_dataset_folder

    with pytest.raises(FtwError, match=r"not visible on this worker's host .*Mount the shared dataset folder"):
        check_dataset_folder(tmp_path / "elsewhere")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text("{}")
    check_dataset_folder(tmp_path / "ds", str(tmp_path / "ds"))
    with pytest.raises(FtwError, match="serves the dataset folder"):
        check_dataset_folder(tmp_path / "ds", str(tmp_path / "other"))


def _reject(database: str, worker: int, rows: int, start) -> None:
    from dagster_duckdb import DuckDBResource

    from ftw_assets.core.scenes.refinement import add_rejections

    start.wait()
    resource = DuckDBResource(database=database)
    for i in range(rows):  # one connection per write, as each run's cloud_refinement step holds it
        with resource.get_connection() as conn:
            add_rejections(conn, [(f"ftw-33UWP{worker:02d}{i % 100:02d}", 2024, "planting", f"S2_{i}", 5.0, 1.0)])


def test_duckdb_rejections_from_several_processes_are_all_kept(tmp_path):
    """Runs on several workers record rejections at once: DuckDB lets one process write at a time (its file
    lock; dagster-duckdb retries the connection while another holds it), so no write is lost or fails."""
    import duckdb

    database = str(tmp_path / "ftw.duckdb")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    procs = [context.Process(target=_reject, args=(database, w, 40, start)) for w in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with duckdb.connect(database, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM rejected_scenes").fetchone()[0] == 120


def test_a_run_that_keeps_failing_is_followed_through_its_retries_then_reported_with_its_range():
    """ftwd follows a failed run into the daemon's retries (their ids in the run's tags) and, when the last
    attempt fails too (retries used up), reports it failed with its chip range and every attempt."""
    import dagster as dg
    from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG
    from dagster._core.test_utils import create_run_for_test

    from ftw_assets.deploy.submit import Followed, _follow
    from ftw_assets.runner import PlannedRun, _line

    with dg.DagsterInstance.ephemeral() as instance:
        first = create_run_for_test(instance, job_name="j", status=dg.DagsterRunStatus.STARTED)
        retry = create_run_for_test(instance, job_name="j", status=dg.DagsterRunStatus.STARTED)
        instance.report_run_failed(first, "the Celery worker w0@host running it does not answer: it died")
        instance.add_run_tags(first.run_id, {WILL_RETRY_TAG: "true", AUTO_RETRY_RUN_ID_TAG: retry.run_id})
        instance.report_run_failed(retry, "the Celery worker w1@host running it does not answer: it died")
        instance.add_run_tags(retry.run_id, {WILL_RETRY_TAG: "false"})  # max_retries used up
        done = {}
        _follow(instance, {0: Followed(first.run_id, time.monotonic())}, lambda i, f: done.setdefault(i, f))
        run = PlannedRun([dg.AssetKey("masks")], f"{DEMO_CHIPS[0]}|2024", f"{DEMO_CHIPS[3]}|2024", 4)
        outcome = done[0].outcome(instance, run)
    assert not outcome.success and done[0].run_ids == [first.run_id, retry.run_id]
    line = _line(outcome, "1/1")
    assert f"4 chip-years {DEMO_CHIPS[0]}|2024 .. {DEMO_CHIPS[3]}|2024 FAILED" in line
    assert "w1@host running it does not answer" in line and "failed after 2 attempts" in line
