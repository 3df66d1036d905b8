"""The deployment proven with real servers on several "hosts" (network namespaces): PostgreSQL, Redis, the Dagster
daemon, the webserver and the COG server in one namespace, two Celery workers each in its own, reached only over
a private link (ftw_assets_tests/cluster). One lean end-to-end test: the demo built through the two workers with
--download-images, its runs spread over both (their ftw/worker tags), one worker killed with SIGKILL in the middle
of a chip-year run (run monitoring fails it, run retries run it again on the other worker), and the dataset
byte-identical to the in-process build. A few minutes; skipped where it cannot run (not root, no ip netns,
no redis-server)."""

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
