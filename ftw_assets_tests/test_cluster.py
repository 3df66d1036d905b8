"""The deployment proven with real servers on several "hosts" (network namespaces): PostgreSQL, Redis, the Dagster
daemon, the webserver and the COG server in one namespace, two Celery workers each in its own, reached only over
a private link (ftw_assets_tests/cluster). One lean end-to-end test of every way a run reaches the deployment's
launcher (ftw_assets_tests/cluster/demo.py): the demo built through the two workers with --download-images.
The deployed ftwd is interrupted with Ctrl-C in its setup, then a UI backfill over GraphQL builds two chip-years
(its cloud refinement rejects a scene, the daemon's re-selection sensor redoes it), then ftwd is interrupted
again with chip-year runs queued (exit 130, the queued runs cancelled, none left running), then the same command
completes it, its runs spread over both workers (their ftw/worker tags), one worker killed with SIGKILL in the
middle of a chip-year run (run monitoring fails it, run retries run it again on the other worker); the dataset is
byte-identical to the in-process build; then one tick of the daemon's fill schedule builds a second year,
byte-identical to `ftwd add-year` in-process. About 3 minutes; skipped where it cannot run (not root, no ip
netns, no redis-server)."""

from __future__ import annotations

import pytest

from ftw_assets_tests.cluster import demo
from ftw_assets_tests.cluster.__main__ import checks
from ftw_assets_tests.cluster.harness import missing


def test_demo_through_two_namespace_workers_survives_a_killed_worker(tmp_path):
    reason = missing()
    if reason:
        pytest.skip(f"the cluster cannot start here: {reason}")
    lines = []
    result = demo.run(tmp_path, echo=lines.append, kill="w0")
    report = "\n".join(lines)
    assert not checks(result, kill=True), report
    assert result.workers == {"w0", "w1"}, report
    assert result.killed and result.retried, report
    retried = {r["run"]: r for r in result.runs if r["retry"]}
    assert all(r["status"] == "SUCCESS" and r["queue"] == "ftw" for r in retried.values()), report
    assert result.files > 100 and not result.differences, report
    # Ctrl-C: exit 130, no traceback, and the runs it had queued cancelled.
    assert result.interrupted.returncode == 130 and "Traceback" not in result.interrupted.stderr, report
    assert any(r["status"] == "CANCELED" for r in result.interrupted_runs) and not result.left_active, report
    # The UI backfill's runs went through the Celery launcher (tile routing, a shard queue) to both workers.
    assert {r["worker"].split(":")[0] for r in result.backfill_runs} == {"w0", "w1"}, report
    assert all(r["tile"] == "33UWP" and r["queue"].startswith("ftw-shard-") for r in result.backfill_runs), report
    # The sensor re-selected the chip-year whose scene the backfill's refinement rejected, on a worker.
    assert [r["range"] for r in result.sensor_runs] == [f"{demo.CLOUDY}..{demo.CLOUDY}"], report
    assert result.refinements[0]["rejected"] == {"planting": 1} and result.refinements[-1]["rejected"] == {}, report
    # The schedule's tick: its run built the second year on a worker, as ftwd add-year does in-process.
    assert result.schedule_tick.startswith("SUCCESS") and result.schedule_runs[0]["worker"].startswith("w"), report
    assert result.files_second_year > result.files and not result.differences_second_year, report
