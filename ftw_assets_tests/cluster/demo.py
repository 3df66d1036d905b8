"""The demo dataset built through a deployment on namespace hosts, checked against the in-process build, with
every way a run reaches the deployment: ``ftwd``, a UI backfill, the daemon's sensor and its schedule.

``python -m ftw_assets_tests.cluster`` (``make cluster-demo``) and ``ftw_assets_tests/test_cluster.py`` run
:func:`run`: the cluster of :mod:`.harness` (PostgreSQL, Redis, the daemon, the webserver and the COG server in
a server namespace, two Celery workers each in its own), then

1. ``ftwd create-dataset --download-images --chips-per-run 1 --instance DEPLOYMENT`` on the demo fields, with
   the archive's COGs served over the private link, interrupted with SIGINT (Ctrl-C) while its last setup run
   (the chip registry) is in flight: that run finishes, no chip-year run is submitted, exit 130;
2. a UI backfill (GraphQL ``launchPartitionBackfill`` to the webserver, what the UI's Materialize of selected
   partitions sends) of the dataset's chip-year assets over two chip-years on different shards, one of them
   the chip whose first planting scene has a cloud on it: the daemon's backfill daemon makes the runs, the
   queued run coordinator starts them and the Celery launcher sends them to the workers; their cloud
   refinement rejects that scene, and the daemon's sensor ``reselect_cloudy_chips`` asks for a run that
   selects again, which goes through a worker too. Meanwhile the same ``create-dataset``, then ``add-year
   2021``, in-process (the default) into another folder;
3. the same ``ftwd`` command, interrupted with SIGINT once a chip-year run has started and others wait in the
   queue: exit 130 and the summary of what is left, its queued runs cancelled, the started ones finished,
   no run left queued or started;
4. the same command again: it builds the rest; when worker w0 has finished a run and started another, it is
   killed with SIGKILL: the daemon's run monitoring finds the run failed (its worker does not answer) and run
   retries run it again on the other worker;
5. the fill schedule, off by default, started as if before its last cron time, after the year 2021 is added
   (GraphQL ``addDynamicPartition``, the UI's Add partition): the daemon's scheduler launches the tick it
   missed, and its run builds the 2021 chip-years on a worker;
6. the two folders compared after 4 and after 5: the same files with the same sha256, except the Dagster home
   and DuckDB files.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ftw_assets_tests.cluster.harness import REPO, Cluster

SKIPPED = ("dagster_home", "ftw.duckdb", "ftw.duckdb.wal")
CLOUDY = "ftw-33UWP7830|2024"  # its first planting scene has a cloud on this chip alone (demo.archive.LOCAL_CLOUD_AT)
SECOND_YEAR = "2021"  # the demo archive's other year
CHIP_YEARS = 8  # the demo's chips in 2024
FTWD_RUNS = {"ftw/launched_by": "ftwd"}
SENSOR, SCHEDULE = "reselect_cloudy_chips", "fill_missing_chip_years"
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
UI_TAGS = [{"key": "dagster/from_ui", "value": "true"}]  # what the UI adds to what it launches
REPOSITORY = {"repositoryLocationName": "ftw_assets", "repositoryName": "__repository__"}

LAUNCH_BACKFILL = """mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""
BACKFILL_STATUS = """query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status numPartitions }
    ... on Error { message }
  }
}"""
ADD_PARTITION = """mutation AddDynamicPartition($repositorySelector: RepositorySelector!, $partitionsDefName: String!,
                                    $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on Error { message }
  }
}"""


def digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` but the Dagster home and the DuckDB files."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in SKIPPED:
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def differing(ours: dict, theirs: dict) -> list[str]:
    return sorted(p for p in set(ours) | set(theirs) if ours.get(p) != theirs.get(p))


def describe(run) -> dict:
    """What the checks and the report read of a run: id, status, worker, queue, chip-year range, who made it."""
    tags = run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition", "")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition", "")
    by = ("ftwd" if tags.get("ftw/launched_by") == "ftwd" else f"backfill {tags['dagster/backfill']}"
          if tags.get("dagster/backfill") else f"sensor {tags['dagster/sensor_name']}"
          if tags.get("dagster/sensor_name") else f"schedule {tags['dagster/schedule_name']}"
          if tags.get("dagster/schedule_name") else "?")
    return {"run": run.run_id[:8], "id": run.run_id, "status": run.status.value,
            "assets": "+".join(sorted(k.to_user_string() for k in run.asset_selection or ())),
            "worker": tags.get("ftw/worker", "?"), "queue": tags.get("dagster-celery/queue", "?"),
            "tile": tags.get("ftw/tile", ""), "range": f"{start}..{end}" if start else "",
            "retry": tags.get("dagster/retry_number", ""), "trigger": tags.get("ftw/trigger", ""), "by": by}


def runs_tagged(instance, tags: dict) -> list[dict]:
    """:func:`describe` of each run with ``tags``; a failed one also with why (its first failure event), so
    a run that fails where it should not says so in the report."""
    import dagster as dg
    from dagster._core.events import DagsterEventType

    runs = []
    for record in instance.get_run_records(dg.RunsFilter(tags=tags), ascending=True):
        run = describe(record.dagster_run)
        if run["status"] == "FAILURE":
            failures = instance.all_logs(run["id"], of_type={DagsterEventType.STEP_FAILURE,
                                                             DagsterEventType.RUN_FAILURE})
            run["error"] = " ".join((failures[0].message or "").split())[:300] if failures else "no failure event"
        runs.append(run)
    return runs


@dataclass
class Result:
    deployed: object = None  # the deployed ftwd's CompletedProcess (the run that completes the dataset)
    in_process: object = None  # the in-process ftwd's
    runs: list[dict] = field(default_factory=list)  # every run of the deployed ftwd (both commands): describe()
    killed: str | None = None  # the run the killed worker was running
    retried: list[str] = field(default_factory=list)  # the runs made by run retries
    differences: list[str] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0
    in_process_seconds: float = 0.0
    # 1. and 3. Ctrl-C: during the setup, then with chip-year runs queued and started
    interrupted_setup: object = None  # the deployed ftwd stopped with SIGINT in its setup: its CompletedProcess
    interrupted_setup_runs: list[dict] = field(default_factory=list)  # its runs as it ended
    interrupted: object = None  # the deployed ftwd stopped with SIGINT while chip-year runs were queued
    interrupted_runs: list[dict] = field(default_factory=list)  # its runs as it ended
    left_active: list[str] = field(default_factory=list)  # any run queued or started once one ended, or later
    interrupt_seconds: float = 0.0  # both
    # 2. the UI backfill and the sensor
    backfill: dict = field(default_factory=dict)  # id, partitions, status (the webserver's), seconds
    backfill_runs: list[dict] = field(default_factory=list)
    sensor_runs: list[dict] = field(default_factory=list)
    refinements: list[dict] = field(default_factory=list)  # CLOUDY's cloud_refinement materializations, in order
    # 4. the schedule and the second year
    schedule_runs: list[dict] = field(default_factory=list)
    schedule_tick: str = ""  # the status of the tick the daemon's scheduler recorded
    schedule_seconds: float = 0.0
    in_process_second_year: object = None
    differences_second_year: list[str] = field(default_factory=list)
    files_second_year: int = 0

    @property
    def workers(self) -> set[str]:
        """The workers that ran a chip-year run of ftwd's to success."""
        return {r["worker"].split(":")[0] for r in self.runs if r["status"] == "SUCCESS" and r["range"]}


def demo_inputs(root: Path) -> tuple[Path, Path, Path]:
    """(fields, calendar folder, archive parquet) of the demo, made under ``root`` / the repo cache."""
    from ftw_assets.demo.world import write_demo_calendar, write_demo_fields
    from ftw_assets_tests.helpers import shared_archive

    fields = write_demo_fields(root / "fields.gpkg")
    calendar = write_demo_calendar(root / "calendar")
    return fields, calendar, shared_archive()


def _wait(what: str, timeout: float, ready, cluster: Cluster, poll: float = 0.5):
    """``ready()`` until it returns something true; on timeout an AssertionError with the daemon's log."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\ndaemon:\n{cluster.tail('daemon')}")
        time.sleep(poll)


def _killer(cluster: Cluster, victim: str, result: Result, stop: threading.Event, before: set[str]) -> None:
    """Once ``victim`` has finished a chip-year run and started another (runs in ``before`` left out), SIGKILL it
    (0.5 s into that run)."""
    import dagster as dg

    instance = cluster.instance()
    try:
        while not stop.is_set():
            runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(tags=FTWD_RUNS))
                    if r.dagster_run.run_id not in before]
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


def _interrupt(cluster: Cluster, args: list, when: str, ready) -> tuple[subprocess.CompletedProcess, list[dict],
                                                                      list[str], float]:
    """The deployed ftwd, SIGINT once ``ready(its runs)``: (its CompletedProcess, its runs as it ended, any run of
    the deployment still queued or started then, seconds)."""
    instance = cluster.instance()
    started = time.monotonic()
    name = f"ftwd-interrupted-{len(list(cluster.tmp.glob('ftwd-interrupted-*.out')))}"
    proc = cluster.start_ftwd(name, *args)

    def due():
        assert proc.poll() is None, f"the deployed ftwd ended ({proc.returncode}) before {when}:\n" \
                                    f"{cluster.tail(name + '.out')}\n{cluster.tail(name + '.err')}"
        return ready(runs_tagged(instance, FTWD_RUNS))

    try:
        _wait(f"the deployed ftwd: {when}", 300, due, cluster, 0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, cluster.tail(name + ".out", 100_000),
                                           cluster.tail(name + ".err", 100_000))
        active = [f"{r['run']} {r['status']} ({r['by']})" for r in runs_tagged(instance, {}) if r["status"] in ACTIVE]
        return done, runs_tagged(instance, FTWD_RUNS), active, time.monotonic() - started
    finally:
        instance.dispose()


def _in_setup(runs: list[dict]) -> bool:
    """The chip registry's run launched (no longer cancellable in the queue): the chips will be registered."""
    return any(r["assets"] == "chip_registry" and r["status"] in ("STARTING", "STARTED") for r in runs)


def _queued_and_started(runs: list[dict]) -> bool:
    statuses = {r["status"] for r in runs if r["range"]}
    return {"STARTED", "QUEUED"} <= statuses


def _backfill_and_sensor(cluster: Cluster, dataset: Path, result: Result) -> None:
    """Step 2: a UI backfill of CLOUDY and the last chip-year of the other shard, then the sensor's
    re-selection of CLOUDY."""
    import dagster as dg

    from ftw_assets import pipeline
    from ftw_assets.core.dataset.stages import Stages
    from ftw_assets.defs import cloud_refinement
    from ftw_assets.deploy.launcher import shard_of
    from ftw_assets.partitions import CHIPS

    instance = cluster.instance()
    started = time.monotonic()
    try:
        chain = pipeline.chain(Stages.of(dataset))
        done = set(map(str, instance.get_materialized_partitions(chain[-1])))
        assert CLOUDY not in done, f"ftwd built {CLOUDY} before the backfill: it cannot select its cloudy scene"
        # The last chip-year left on the other tile shard: not next to CLOUDY, so a run of its own on the other
        # worker.
        other = [f"{c}|2024" for c in instance.get_dynamic_partitions(CHIPS) if f"{c}|2024" not in done | {CLOUDY}
                 and shard_of(f"{c}|2024", 2)[1] != shard_of(CLOUDY, 2)[1]]
        assert other, f"no chip-year of the other shard is left: {sorted(done)}"
        partitions = [CLOUDY, other[-1]]
        launched = cluster.graphql(LAUNCH_BACKFILL, {"backfillParams": {
            "tags": UI_TAGS, "assetSelection": [{"path": key.path} for key in chain], "partitionNames": partitions,
            "fromFailure": False}})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        result.backfill = {"id": backfill_id, "partitions": partitions}

        def backfill_done():
            runs = runs_tagged(instance, {"dagster/backfill": backfill_id})
            covered = {r["range"].split("..")[0] for r in runs} | {r["range"].split("..")[1] for r in runs}
            return runs if set(partitions) <= covered and not any(r["status"] in ACTIVE for r in runs) else None

        result.backfill_runs = _wait(f"the runs of backfill {backfill_id}", 180, backfill_done, cluster)
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=cloud_refinement.key,
                                                                        asset_partitions=[CLOUDY]), limit=10).records
        rejected = [r for r in records if (r.asset_materialization.metadata.get("rejected") or
                                           dg.MetadataValue.json({})).data]
        assert rejected, f"the backfill's refinement of {CLOUDY} rejected no scene: {records}"

        def reselected():
            runs = runs_tagged(instance, {"dagster/sensor_name": SENSOR})
            return runs if runs and not any(r["status"] in ACTIVE for r in runs) else None

        result.sensor_runs = _wait(f"the sensor {SENSOR}'s run for {CLOUDY}", 150, reselected, cluster)
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=cloud_refinement.key,
                                                                        asset_partitions=[CLOUDY]), limit=10,
                                                  ascending=True).records
        by_run = {r["id"]: r for r in runs_tagged(instance, {})}
        result.refinements = [{"run": r.run_id[:8], "by": by_run.get(r.run_id, {}).get("by", "?"),
                               "rejected": (r.asset_materialization.metadata.get("rejected") or
                                            dg.MetadataValue.json({})).data} for r in records]
        result.backfill["seconds"] = time.monotonic() - started
    finally:
        instance.dispose()


def _start_schedule_before_its_last_tick(instance) -> float:
    """Start the fill schedule as if it had been started a minute before its last cron time: the daemon's
    scheduler then launches the tick it missed (its own catch-up) at its next iteration, within a minute, instead
    of at the next cron time. The state is what ``dagster schedule start`` writes but for that start time, with
    the origin the daemon loaded (its sensor's repository). Returns the missed tick's timestamp."""
    from dagster._core.scheduler.instigation import (InstigatorState, InstigatorStatus, InstigatorType,
                                                     ScheduleInstigatorData)
    from dagster._utils.schedules import reverse_cron_string_iterator

    from ftw_assets.automation.schedules import fill_missing_chip_years

    sensor = next(s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                  if s.instigator_name == SENSOR)
    origin = sensor.origin.repository_origin.get_instigator_origin(SCHEDULE)
    cron = fill_missing_chip_years.cron_schedule
    last = next(reverse_cron_string_iterator(time.time(), cron, "UTC")).timestamp()
    state = InstigatorState(origin, InstigatorType.SCHEDULE, InstigatorStatus.RUNNING,
                            ScheduleInstigatorData(cron, start_timestamp=last - 60))
    if instance.get_instigator_state(origin.get_id(), state.selector_id):
        instance.update_instigator_state(state)
    else:
        instance.add_instigator_state(state)
    return last


def _schedule(cluster: Cluster, result: Result) -> None:
    """Step 5: the year 2021 added as the UI does, then one tick of the fill schedule."""
    from dagster._core.scheduler.instigation import InstigatorType

    from ftw_assets.partitions import YEARS

    instance = cluster.instance()
    started = time.monotonic()
    try:
        added = cluster.graphql(ADD_PARTITION, {"repositorySelector": REPOSITORY, "partitionsDefName": YEARS,
                                                "partitionKey": SECOND_YEAR})["addDynamicPartition"]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added
        tick_time = _start_schedule_before_its_last_tick(instance)

        def scheduled():
            runs = runs_tagged(instance, {"dagster/schedule_name": SCHEDULE})
            return runs if runs and not any(r["status"] in ACTIVE for r in runs) else None

        result.schedule_runs = _wait(f"the run of the schedule {SCHEDULE}'s tick", 200, scheduled, cluster)
        state = next(s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
                     if s.instigator_name == SCHEDULE)
        ids = {r["id"] for r in result.schedule_runs}
        ticks = [t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5)
                 if ids & set(t.run_ids)]
        result.schedule_tick = ticks[0].status.value if ticks else "no tick of the daemon launched the run"
        if ticks and abs(ticks[0].timestamp - tick_time) > 1:  # a cron time passed meanwhile: its tick is as good
            result.schedule_tick += f" (at {ticks[0].timestamp:.0f}, not the missed {tick_time:.0f})"
        result.schedule_seconds = time.monotonic() - started
    finally:
        instance.dispose()


def _in_process(args: list, local_dir: Path, result: Result, snapshot: dict) -> None:
    """The same create-dataset in-process (the default, no --instance), then add-year 2021; ``snapshot``
    gets the digests after each. It reads the same served archive, so the items' hrefs agree."""
    from ftw_assets_tests.helpers import FTWD

    env = {k: v for k, v in os.environ.items() if k != "FTW_DAGSTER_INSTANCE"}
    local_dir.mkdir(parents=True)
    started = time.monotonic()
    result.in_process = subprocess.run([*FTWD, *map(str, [local_dir if a is None else a for a in args])],
                                       capture_output=True, text=True, cwd=REPO, timeout=900, env=env)
    result.in_process_seconds = time.monotonic() - started
    if result.in_process.returncode != 0:
        return
    snapshot["first"] = digests(local_dir)
    result.in_process_second_year = subprocess.run([*FTWD, "add-year", str(local_dir), SECOND_YEAR],
                                                   capture_output=True, text=True, cwd=REPO, timeout=900, env=env)
    snapshot["second"] = digests(local_dir)


def run(workdir: Path | None = None, echo=print, netns: bool = True, kill: str | None = "w0") -> Result:
    """The scenario above; raises AssertionError on a failed check. ``kill``: the worker to SIGKILL (None: none)."""
    from ftw_assets_tests.servers.harness import archive_copy_served_at

    workdir = Path(workdir or tempfile.mkdtemp(prefix="ftw-cluster-demo-"))
    fields, calendar, archive = demo_inputs(workdir)
    deployed_dir, local_dir = workdir / "deployed", workdir / "in-process"
    result = Result()
    snapshot: dict = {}
    with Cluster(deployed_dir, cog_root=archive.parent, netns=netns) as cluster:
        echo(f"cluster up: PostgreSQL {cluster.server_ip}:{cluster.pg_port}, Redis {cluster.server_ip}:"
             f"{cluster.redis_port}, daemon, webserver {cluster.ui_url}, COG server {cluster.cog_url}, workers "
             + ", ".join(f"{w.name} (namespace {w.namespace or 'root'}, shard {w.shard})" for w in cluster.worker_list))
        served = archive_copy_served_at(archive, cluster.cog_url, workdir / "archive-served.parquet")
        args = ["create-dataset", fields, None, "--name", "ds", "--year", "2024", "--stac-host", served,
                "--crop-calendar-dir", calendar, "--download-images", "--chips-per-run", "1"]
        deployed_args = [deployed_dir if a is None else a for a in args]
        deployed_dir.mkdir(parents=True)

        # 1. Ctrl-C while the setup's last run is in flight: it finishes, no chip-year run is submitted.
        result.interrupted_setup, result.interrupted_setup_runs, active, seconds = _interrupt(
            cluster, deployed_args, "the chip registry's run launched", _in_setup)
        result.left_active += active
        result.interrupt_seconds += seconds
        echo(f"ftwd interrupted in its setup after {seconds:.1f} s:\n{result.interrupted_setup.stdout[-800:]}")
        assert result.interrupted_setup.returncode == 130, result.interrupted_setup.stderr[-3000:]

        # 2. The UI backfill and the sensor, while the same command runs in-process (the CPU is idle meanwhile).
        local = threading.Thread(target=_in_process, args=(args, local_dir, result, snapshot), daemon=True)
        local.start()
        _backfill_and_sensor(cluster, deployed_dir, result)

        # 3. Ctrl-C with chip-year runs started and queued: the queued ones are cancelled, the started ones finish.
        result.interrupted, result.interrupted_runs, active, seconds = _interrupt(
            cluster, deployed_args, "a chip-year run started while another is queued", _queued_and_started)
        result.left_active += active
        result.interrupt_seconds += seconds
        echo(f"ftwd interrupted with runs queued after {seconds:.1f} s:\n{result.interrupted.stdout[-1500:]}")
        assert result.interrupted.returncode == 130, (f"the interrupted ftwd exited {result.interrupted.returncode}:"
                                                      f"\n{result.interrupted.stdout[-3000:]}\n"
                                                      f"{result.interrupted.stderr[-3000:]}")
        local.join(timeout=900)  # the in-process builds' CPU off the killed-worker scenario
        instance = cluster.instance()
        # Nothing ftwd left cancelled was started since, nor left running.
        later = {r["id"]: r["status"] for r in runs_tagged(instance, FTWD_RUNS)}
        result.left_active += [f"{r['run']} {r['status']} -> {later[r['id']]}" for r in
                               result.interrupted_setup_runs + result.interrupted_runs if later[r["id"]] != r["status"]]
        before = set(later)
        instance.dispose()

        # 4. The same command again, worker w0 killed in the middle of a chip-year run.
        stop = threading.Event()
        killer = threading.Thread(target=_killer, args=(cluster, kill, result, stop, before), daemon=True) \
            if kill else None
        started = time.monotonic()
        if killer:
            killer.start()
        result.deployed = cluster.ftwd(*deployed_args)
        stop.set()
        result.seconds = time.monotonic() - started
        echo(result.deployed.stdout[-4000:])
        assert result.deployed.returncode == 0, (f"deployed build failed ({result.deployed.returncode}):\n"
                                                 f"{result.deployed.stderr[-4000:]}\ndaemon:\n{cluster.tail('daemon')}")
        ours = digests(deployed_dir)  # before the schedule adds the second year
        instance = cluster.instance()
        result.runs = runs_tagged(instance, FTWD_RUNS)
        result.retried = [r["id"] for r in result.runs if r["retry"]]
        instance.dispose()

        # 5. One tick of the fill schedule.
        _schedule(cluster, result)
        assert result.in_process is not None and result.in_process.returncode == 0, \
            getattr(result.in_process, "stderr", "the in-process build did not end")[-4000:]
        assert result.in_process_second_year.returncode == 0, result.in_process_second_year.stderr[-4000:]
        result.backfill["status"] = cluster.graphql(BACKFILL_STATUS, {"backfillId": result.backfill["id"]}
                                                    )["partitionBackfillOrError"].get("status")
        instance = cluster.instance()
        result.sensor_runs = runs_tagged(instance, {"dagster/sensor_name": SENSOR})  # none since: no new rejection
        result.left_active += [f"{r['run']} {r['status']} ({r['by']})" for r in runs_tagged(instance, {})
                               if r["status"] in ACTIVE]
        instance.dispose()
        ours_second = digests(deployed_dir)
    result.files = len(ours)
    result.differences = differing(ours, snapshot["first"])
    result.files_second_year = len(ours_second)
    result.differences_second_year = differing(ours_second, snapshot["second"])
    echo(report(result))
    return result


def report(result: Result) -> str:
    def table(runs: list[dict]) -> list[str]:
        return [f"{r['run']:9} {r['status']:8} {r['worker']:12} {r['queue']:11} {r['retry']:5} {r['by'][:24]:24} "
                f"{r['range']}" + (f"\n          why: {r['error']}" if r.get("error") else "") for r in runs]

    lines = [f"deployed ftwd interrupted in its setup: exit {getattr(result.interrupted_setup, 'returncode', '?')}; "
             f"with runs queued: exit {getattr(result.interrupted, 'returncode', '?')} ("
             f"{sum(r['status'] == 'CANCELED' for r in result.interrupted_runs)} cancelled); both in "
             f"{result.interrupt_seconds:.1f} s; runs queued or started after them: "
             f"{', '.join(result.left_active) or 'none'}",
             f"deployed build (the rerun): {result.seconds:.1f} s; in-process build: {result.in_process_seconds:.1f} s",
             f"{'run':9} {'status':8} {'worker':12} {'queue':11} {'retry':5} {'made by':24} range",
             *table(result.runs)]
    lines.append(f"workers with successful chip-year runs of ftwd: {', '.join(sorted(result.workers))}")
    if result.killed:
        lines.append(f"killed mid-run: run {result.killed[:8]}; runs made by run retries: "
                     f"{', '.join(r[:8] for r in result.retried) or 'none'}")
    if result.backfill:
        lines.append(f"UI backfill {result.backfill['id']} of {', '.join(result.backfill['partitions'])}: "
                     f"{result.backfill.get('status', '?')} (its runs and the sensor's in "
                     f"{result.backfill.get('seconds', 0):.1f} s)")
    lines += table(result.backfill_runs)
    lines.append(f"sensor {SENSOR}'s runs:")
    lines += table(result.sensor_runs)
    lines.append(f"cloud_refinement of {CLOUDY}: " + "; ".join(f"run {r['run']} ({r['by']}) rejected {r['rejected']}"
                                                               for r in result.refinements))
    lines.append(f"schedule {SCHEDULE}: tick {result.schedule_tick or '?'}, runs in {result.schedule_seconds:.1f} s:")
    lines += table(result.schedule_runs)
    lines.append(f"compared {result.files} files (sha256, Dagster home and DuckDB files excepted): "
                 + ("identical" if not result.differences else f"{len(result.differences)} differ: "
                    + ", ".join(result.differences[:20])))
    lines.append(f"with {SECOND_YEAR} added (schedule vs in-process add-year), {result.files_second_year} files: "
                 + ("identical" if not result.differences_second_year else
                    f"{len(result.differences_second_year)} differ: " + ", ".join(result.differences_second_year[:20])))
    return "\n".join(lines)
