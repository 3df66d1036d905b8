"""The demo dataset built through a deployment on namespace hosts, checked against the in-process build.

``python -m ftw_assets_tests.cluster`` (``make cluster-demo``) and ``ftw_assets_tests/test_cluster.py`` run
:func:`run`: the cluster of :mod:`.harness` (PostgreSQL, Redis, the daemon, the webserver and the COG server in
a server namespace, two Celery workers each in its own), then

1. ``ftwd create-dataset --download-images --chips-per-run 1 --instance DEPLOYMENT`` on the demo fields, with
   the archive's COGs served over the private link; when worker w0 has finished a run and started another,
   it is killed with SIGKILL: the daemon's run monitoring finds the run failed (its worker does not answer)
   and run retries run it again on the other worker;
2. the same command in-process (the default) into another folder;
3. the two folders compared: the same files with the same sha256, except the Dagster home and DuckDB files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftw_assets_tests.cluster.harness import REPO, Cluster

SKIPPED = ("dagster_home", "ftw.duckdb", "ftw.duckdb.wal")


def digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` but the Dagster home and the DuckDB files."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in SKIPPED:
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@dataclass
class Result:
    deployed: object = None  # the deployed ftwd's CompletedProcess
    in_process: object = None  # the in-process ftwd's
    runs: list[dict] = field(default_factory=list)  # every run of the deployed build: id, status, worker, range
    killed: str | None = None  # the run the killed worker was running
    retried: list[str] = field(default_factory=list)  # the runs made by run retries
    differences: list[str] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0
    in_process_seconds: float = 0.0

    @property
    def workers(self) -> set[str]:
        """The workers that ran a chip-year run to success."""
        return {r["worker"].split(":")[0] for r in self.runs if r["status"] == "SUCCESS" and r["range"] != ".."}


def demo_inputs(root: Path) -> tuple[Path, Path, Path]:
    """(fields, calendar folder, archive parquet) of the demo, made under ``root`` / the repo cache."""
    from ftw_assets.demo.archive import build_archive
    from ftw_assets.demo.world import write_demo_calendar, write_demo_fields

    fields = write_demo_fields(root / "fields.gpkg")
    calendar = write_demo_calendar(root / "calendar")
    return fields, calendar, build_archive(REPO / "data" / "cache" / "test-archive")


def _killer(cluster: Cluster, victim: str, result: Result, stop: threading.Event) -> None:
    """Once ``victim`` has finished a chip-year run and started another, SIGKILL it (0.5 s into that run)."""
    import dagster as dg

    instance = cluster.instance()
    try:
        while not stop.is_set():
            runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(tags={"ftw/launched_by": "ftwd"}))]
            mine = [r for r in runs if r.tags.get("ftw/worker", "").startswith(f"{victim}:")
                    and r.tags.get("dagster/asset_partition_range_start")]  # its chip-year runs
            done = [r for r in mine if r.status == dg.DagsterRunStatus.SUCCESS]
            running = [r for r in mine if r.status == dg.DagsterRunStatus.STARTED]
            if done and running:
                time.sleep(0.5)  # inside the run's steps
                cluster.kill_worker(victim)
                result.killed = running[0].run_id
                return
            time.sleep(0.2)
    finally:
        instance.dispose()


def run(workdir: Path | None = None, echo=print, netns: bool = True, kill: str | None = "w0") -> Result:
    """The scenario above; raises AssertionError on a failed check. ``kill``: the worker to SIGKILL (None: none)."""
    import dagster as dg

    from ftw_assets_tests.servers.harness import archive_copy_served_at

    workdir = Path(workdir or tempfile.mkdtemp(prefix="ftw-cluster-demo-"))
    fields, calendar, archive = demo_inputs(workdir)
    deployed_dir, local_dir = workdir / "deployed", workdir / "in-process"
    result = Result()
    with Cluster(deployed_dir, cog_root=archive.parent, netns=netns) as cluster:
        echo(f"cluster up: PostgreSQL {cluster.server_ip}:{cluster.pg_port}, Redis {cluster.server_ip}:"
             f"{cluster.redis_port}, daemon, webserver {cluster.ui_url}, COG server {cluster.cog_url}, workers "
             + ", ".join(f"{w.name} (namespace {w.namespace or 'root'}, shard {w.shard})" for w in cluster.worker_list))
        served = archive_copy_served_at(archive, cluster.cog_url, workdir / "archive-served.parquet")
        args = ["create-dataset", fields, None, "--name", "ds", "--year", "2024", "--stac-host", served,
                "--crop-calendar-dir", calendar, "--download-images", "--chips-per-run", "1"]
        stop = threading.Event()
        killer = threading.Thread(target=_killer, args=(cluster, kill, result, stop), daemon=True) if kill else None
        started = time.monotonic()
        if killer:
            killer.start()
        deployed_dir.mkdir(parents=True)
        result.deployed = cluster.ftwd(*[deployed_dir if a is None else a for a in args])
        stop.set()
        result.seconds = time.monotonic() - started
        echo(result.deployed.stdout[-4000:])
        assert result.deployed.returncode == 0, (f"deployed build failed ({result.deployed.returncode}):\n"
                                                 f"{result.deployed.stderr[-4000:]}\ndaemon:\n{cluster.tail('daemon')}")
        instance = cluster.instance()
        for record in instance.get_run_records(dg.RunsFilter(tags={"ftw/launched_by": "ftwd"}), ascending=True):
            run_ = record.dagster_run
            result.runs.append({"run": run_.run_id[:8], "status": run_.status.value,
                                "worker": run_.tags.get("ftw/worker", "?"),
                                "queue": run_.tags.get("dagster-celery/queue", "?"),
                                "range": f"{run_.tags.get('dagster/asset_partition_range_start', '')}..",
                                "retry": run_.tags.get("dagster/retry_number", "")})
            if run_.tags.get("dagster/retry_number"):
                result.retried.append(run_.run_id)
        instance.dispose()
        # The in-process build (the default, no --instance) reads the same served archive, so the items' hrefs agree.
        from ftw_assets_tests.helpers import FTWD

        local_dir.mkdir(parents=True)
        started = time.monotonic()
        result.in_process = subprocess.run([*FTWD, *map(str, [local_dir if a is None else a for a in args])],
                                           capture_output=True, text=True, cwd=REPO, timeout=900,
                                           env={k: v for k, v in os.environ.items() if k != "FTW_DAGSTER_INSTANCE"})
        result.in_process_seconds = time.monotonic() - started
        assert result.in_process.returncode == 0, result.in_process.stderr[-4000:]
    ours, theirs = digests(deployed_dir), digests(local_dir)
    result.files = len(ours)
    result.differences = sorted(p for p in set(ours) | set(theirs) if ours.get(p) != theirs.get(p))
    echo(report(result))
    return result


def report(result: Result) -> str:
    lines = [f"deployed build: {result.seconds:.1f} s; in-process build: {result.in_process_seconds:.1f} s",
             f"{'run':9} {'status':8} {'worker':12} {'queue':11} {'retry':5} range"]
    for r in result.runs:
        lines.append(f"{r['run']:9} {r['status']:8} {r['worker']:12} {r['queue']:11} {r['retry']:5} {r['range']}")
    lines.append(f"workers with successful chip-year runs: {', '.join(sorted(result.workers))}")
    if result.killed:
        lines.append(f"killed mid-run: run {result.killed[:8]}; runs made by run retries: "
                     f"{', '.join(r[:8] for r in result.retried) or 'none'}")
    lines.append(f"compared {result.files} files (sha256, Dagster home and DuckDB files excepted): "
                 + ("identical" if not result.differences else f"{len(result.differences)} differ: "
                    + ", ".join(result.differences[:20])))
    return "\n".join(lines)
