"""Benchmark, not a test: ``create-dataset --download-images`` of the bench fields (about 400 chips, the bench
archive served by the COG server) through a deployment (PostgreSQL, Redis, the daemon, Celery workers; the
cluster harness of ``ftw_assets_tests/cluster``) with 1 and then 2 workers, printed side by side.

Throughput is chip-years per second over the chip-year runs (first start to last end, from the run records),
so the setup runs (fields, chip registry) and the start of the services do not count. ``--no-netns`` (the
default here is namespaces, as in ``make cluster-demo``) runs the workers on 127.0.0.1.

Then the same again with each worker host held to one core of its own (the worker's processes, and the run
processes they start, get that core's CPU affinity), as hosts of one core each would be; the services stay
free to use both cores. Unpinned, one worker's run already keeps more than one core busy (threads read
while others cut and write), so on 2 cores a second worker can add less than a core.

    .venv/bin/python -m ftw_assets_tests.cluster.bench [--no-netns]   (make bench-cluster)
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from ftw_assets_tests.cluster.harness import REPO, Cluster, missing


def build(workers: int, work: Path, parquet: Path, field_file: Path, calendar: Path, netns: bool,
          one_core_hosts: bool = False) -> dict:
    import dagster as dg

    from ftw_assets_tests.servers.harness import archive_copy_served_at

    out = work / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with Cluster(out, cog_root=parquet.parent, workers=workers, netns=netns, runs_per_worker=2) as cluster:
        served = archive_copy_served_at(parquet, cluster.cog_url, work / f"served-{workers}.parquet")
        if one_core_hosts:
            for core, worker in enumerate(cluster.worker_list):
                _pin(worker.proc.pid, core % (os.cpu_count() or 1))
        sampler = CpuSampler()
        started = time.monotonic()
        made = cluster.ftwd("create-dataset", field_file, out, "--name", "bench", "--year", "2024", "--stac-host",
                            served, "--crop-calendar-dir", calendar, "--download-images", "--no-refine-cloud",
                            "--processes", str(workers), timeout=3600)
        wall = time.monotonic() - started
        sampler.stop()
        assert made.returncode == 0, made.stderr[-3000:]
        instance = cluster.instance()
        records = [r for r in instance.get_run_records(dg.RunsFilter(tags={"ftw/launched_by": "ftwd"}))
                   if r.dagster_run.tags.get("dagster/asset_partition_range_start")]
        first, last = min(r.start_time for r in records), max(r.end_time for r in records)
        chip_years = _count(made.stdout)
        per_worker = {}
        for r in records:
            name = r.dagster_run.tags.get("ftw/worker", "?").split(":")[0]
            per_worker[name] = per_worker.get(name, 0) + 1
        instance.dispose()
    busy, by_kind = sampler.between(first, last)
    return {"workers": workers, "one_core_hosts": one_core_hosts, "chip_years": chip_years, "runs": len(records), "runs_per_worker": per_worker,
            "seconds": round(last - first, 1), "wall_s": round(wall, 1),
            "chip_years_per_s": round(chip_years / (last - first), 2), "busy_cores": busy, "cores_by_process": by_kind}


def _pin(pid: int, core: int) -> None:
    """``pid`` and its descendants on ``core`` only; the processes they start later inherit it."""
    import psutil

    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        proc.cpu_affinity([core])


KINDS = (("celery", "Celery workers (the runs)"), ("postgres", "PostgreSQL"), ("redis", "Redis"),
         ("dagster-daemon", "Dagster daemon"), ("dagster_daemon", "Dagster daemon"), ("webserver", "webserver"),
         ("cog_server", "COG server"), ("ftw_assets.cli", "ftwd (submits, follows)"))


class CpuSampler:
    """Every 0.5 s: the machine's busy CPU time (/proc/stat) and each process's CPU time, so that the
    cores in use over the chip-year runs can be told apart by process kind."""

    def __init__(self):
        import threading

        self.samples: list[tuple[float, float, dict[int, tuple[str, float]]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import os

        import psutil

        tick = os.sysconf("SC_CLK_TCK")
        while not self._done.is_set():
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
            busy = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
            procs = {}
            for proc in psutil.process_iter(["cmdline", "cpu_times"]):
                try:
                    line, times = " ".join(proc.info["cmdline"] or []), proc.info["cpu_times"]
                    kind = next((label for part, label in KINDS if part in line), "other")
                    procs[proc.pid] = (kind, times.user + times.system + times.children_user + times.children_system)
                except (psutil.Error, TypeError):
                    pass
            self.samples.append((time.time(), busy, procs))
            self._done.wait(0.5)

    def stop(self):
        self._done.set()
        self._thread.join()

    def between(self, first, last) -> tuple[float, dict[str, float]]:
        """Average busy cores from ``first`` to ``last`` (run record times), in all and by process kind."""
        start = min(self.samples, key=lambda s: abs(s[0] - _seconds(first)))
        end = min(self.samples, key=lambda s: abs(s[0] - _seconds(last)))
        span = max(end[0] - start[0], 1e-6)
        kinds: dict[str, float] = {}
        for pid, (kind, cpu) in end[2].items():
            before = start[2].get(pid, (kind, 0.0))[1]
            kinds[kind] = kinds.get(kind, 0.0) + max(cpu - before, 0.0)
        return round((end[1] - start[1]) / span, 2), {k: round(v / span, 2) for k, v in sorted(kinds.items())}


def _seconds(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _count(stdout: str) -> int:
    """The chip-years of the plan, from ftwd's "N chips x 1 year(s): M chip-years need work" line."""
    for line in stdout.splitlines():
        if "chip-years need work" in line:
            return int(line.split(":")[1].split()[0])
    return 0


def main() -> None:
    from ftw_assets.demo.archive import build_archive
    from ftw_assets.demo.world import write_demo_calendar
    from ftw_assets_tests.bench.__main__ import SPEC
    from ftw_assets_tests.bench.end_to_end import fields

    parser = argparse.ArgumentParser(prog="python -m ftw_assets_tests.cluster.bench")
    parser.add_argument("--no-netns", action="store_true")
    args = parser.parse_args()
    reason = None if args.no_netns else missing()
    if reason:
        raise SystemExit(f"cluster bench: {reason} (--no-netns runs it on 127.0.0.1)")
    work = REPO / "data" / "bench" / "cluster"
    work.mkdir(parents=True, exist_ok=True)
    parquet = build_archive(REPO / "data" / "cache" / "bench-archive", SPEC)
    field_file, calendar = fields(work / "fields.gpkg"), write_demo_calendar(work / "calendar")
    for pinned in (False, True):
        rows = [build(n, work, parquet, field_file, calendar, not args.no_netns, pinned) for n in (1, 2)]
        report(rows, "each worker host held to one core of its own" if pinned else "workers free to use every core")


def report(rows: list[dict], how: str) -> None:
    for row in rows:
        print(row, flush=True)
    one, two = rows
    print(f"\n{how}:\n| workers | chip-years | runs (per worker) | chip-year runs, s | chip-years/s |\n"
          "| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['workers']} | {row['chip_years']} | {row['runs']} ({row['runs_per_worker']}) | {row['seconds']} | "
              f"{row['chip_years_per_s']} |")
    print(f"\n2 workers vs 1: {two['chip_years_per_s'] / one['chip_years_per_s']:.2f}x")
    cores = os.cpu_count() or 1
    print(f"busy cores over the runs (of {cores}): 1 worker {one['busy_cores']} {one['cores_by_process']}; "
          f"2 workers {two['busy_cores']} {two['cores_by_process']}")
    print(f"the most 2 workers could gain on {cores} cores, CPU-bound: {cores / max(one['busy_cores'], 1e-6):.2f}x",
          flush=True)

if __name__ == "__main__":
    main()
