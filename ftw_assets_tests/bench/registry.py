"""Issue 17's registry bar: 50,000 chips x 2 years registered, ``ftwd status`` in < 5 s, the Dagster UI's
partitions page of ``clipped_images`` in < 5 s, and <= 10 KB of event database per chip-year per asset.

Running the real pipeline for 100,000 chip-years would take hours, so the event log is *synthesised
from a real run's events*: a real ``ftwd create-dataset --download-images`` of the 8 demo chips (the
generated archive and the demo calendar; made once under data/bench/registry/template) is read back from
its instance, and its runs are replayed on a new dataset's instance with changed run ids and partition
keys, the way real runs write them:

- the chip partitions (``--chips``, ids on 2 km cells of 20 MGRS tiles, as long as real ones) and the
  years (``--years``: 2024, 2023, ...) registered with ``add_dynamic_partitions``;
- the setup runs (field_boundaries, chip_registry) once, then per year one run per 100 chips (the
  ``CHIPS_PER_RUN`` ranges ``ftwd`` plans), then the checks run once per year;
- each run made with ``DagsterInstance.create_run`` from the real run's job and execution plan
  snapshots, tags and asset selection, with the new range's partition-range tags: Dagster itself
  writes the run record and its planned events (one ASSET_MATERIALIZATION_PLANNED per chip-year per
  asset, as for the real run);
- then every other event of the real run, in its order, through ``DagsterInstance.handle_new_event``
  (so ``store_event_batch`` of ftw_assets.storage for a step's materializations, which go as one batch
  per step as Dagster's step execution sends them; the run status events update the run record): a
  step's materializations repeated for every chip-year of the range, each a copy of a real chip's
  event (the 7 demo chips whose scene cloud refinement accepted, in turn) with the chip id, year, run id,
  dataset folder and upstream event pointers replaced (same metadata keys and sizes);
- the runs' compute-log files copied from the real run's.

Cloud-refinement re-selection runs are not replayed (every chip-year is accepted); in the sharded layout
the size of the real re-selection run's shard is printed (what each such run adds).

The event log layout (``--storage``): ``project`` (default), what ``open_instance`` makes for a new dataset
(now one ``history/event_log.db``); ``sharded``, the layout of datasets made before (Dagster's
``history/runs/index.db`` and a file per run). ``--planned-subset`` is a what-if: Dagster's switch
``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`` (one planned event per asset and run instead of one per
chip-year; Dagster then no longer marks a failed run's partitions as failed).

Then it measures and prints: the synthesis time; the event database (every file under
``dagster_home/history`` and ``dagster_home/storage``, SQLite's ``-shm`` files left out) in KB per
chip-year per chip-year asset, and by table (SQLite ``dbstat``: bytes, payload, unused) over the event
database, the run shards and runs.db, with event_logs rows and bytes by event type; ``ftwd status DATASET``
as a subprocess, wall and CPU time (the first call after Dagster's partition status cache is wiped, as
after a chip or a year is added, which changes the partitions' identity that the cache is keyed on, and
the median of ``--repeats`` more); and the Dagster UI (``ftwd ui`` on a free 127.0.0.1 port, headless
Chromium driven by Playwright as test_browser.py does): from navigation start until the partitions page
of ``clipped_images`` shows "Materialized (N)" for every chip-year, once with the status cache wiped
and ``--repeats`` times with it warm (median), with the slowest GraphQL queries of each load. The load
average is printed with them: on a shared machine the times move with it. ``--profile-status`` adds
``ftwd status`` in-process under cProfile (cache warm; imports already done). ``--status-against REF``
times ``ftwd status`` of commit REF (a ``git worktree``, imported ahead of this checkout) and of this
checkout side by side, alternating which goes first, each round cold then twice warm.

    python -m ftw_assets_tests.bench.registry [--chips 50000] [--years 2] [--repeats 3] [--reuse]
        [--no-ui] [--profile-status] [--status-against REF] [--storage project|sharded] [--planned-subset]

About 30 chip-years per second of synthesis on a loaded 2-core machine (50,000 x 2: about an hour);
``--reuse`` measures a dataset already synthesised at that size again. Writes
data/bench/registry/registry-{chips}x{years}-{storage}.json and a screenshot of the partitions page.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ftw_assets_tests.bench.__main__ import REPO

warnings.filterwarnings("ignore")

WORK = REPO / "data" / "bench" / "registry"
TEMPLATE_YEAR = 2024
# 20 MGRS tiles of zone 33, latitude band U: 50 x 50 cells of 2 km each (2,500 chips per tile).
SQUARES = ("WP", "XP", "VP", "WQ", "XQ", "VQ", "WN", "XN", "VN", "UP", "UQ", "UN", "YP", "YQ", "YN", "WR", "XR", "VR",
           "UR", "YR")
SETTINGS_FILES = ("dataset.json", "selection.json", "images.json", "refinement.json")
PLANNED = {"ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"}  # written by create_run
POINTER = re.compile(r'("dagster/input_event_pointer/[^"]+": ")(\d+)(")')
BAR_S, BAR_KB = 5.0, 10.0


# --- the real run, recorded once ---

def template(work: Path = WORK) -> Path:
    """A real with-images dataset of the 8 demo chips (``ftwd create-dataset``), made once."""
    out = work / "template"
    if (out / "dataset.json").exists() and event_files(out / "dagster_home")[0].exists():
        return out
    from ftw_assets.demo.archive import build_archive
    from ftw_assets.demo.world import write_demo_calendar, write_demo_fields

    work.mkdir(parents=True, exist_ok=True)
    parquet = build_archive(work / "archive")
    fields = write_demo_fields(work / "fields.gpkg")
    calendar = write_demo_calendar(work / "calendar")
    shutil.rmtree(out, ignore_errors=True)
    made = subprocess.run([sys.executable, "-m", "ftw_assets.cli", "create-dataset", str(fields), str(out), "--name",
                           "ds", "--year", str(TEMPLATE_YEAR), "--stac-host", str(parquet), "--crop-calendar-dir",
                           str(calendar), "--download-images"], capture_output=True, text=True, cwd=work)
    if made.returncode != 0:
        raise SystemExit(f"the template dataset failed:\n{made.stdout[-2000:]}\n{made.stderr[-3000:]}")
    return out


@dataclass
class RecordedRun:
    """One real run: its record, snapshots and events (serialized; the planned events left out)."""

    run: object
    job_snapshot: object
    plan_snapshot: object
    items: list = field(default_factory=list)  # ("one", text) | ("step", step_key, {chip: text})
    storage: Path | None = None  # its compute-log folder
    shard_bytes: int = 0

    @property
    def asset_keys(self):
        return sorted(self.run.asset_selection or [], key=str)


@dataclass
class Recording:
    folder: Path
    setup: list[RecordedRun]
    main: RecordedRun
    checks: RecordedRun | None
    reselection: RecordedRun | None
    chips: list[str]  # the template chips whose events are copied (refinement accepted)
    chain: list  # the chip-year asset keys the main run materializes


def record(folder: Path) -> Recording:
    from dagster._serdes import serialize_value

    import dagster as dg
    from ftw_assets.instance import open_instance
    from ftw_assets.runner import dataset_layout

    instance = open_instance(dataset_layout(folder), read_only=True)
    rejected = set()
    for rec in instance.fetch_materializations(dg.AssetKey("cloud_refinement"), limit=1000).records:
        value = rec.asset_materialization.metadata.get("rejected")
        if value is not None and value.value:
            rejected.add(rec.partition_key.split("|")[0])
    setup, main, checks, reselection = [], None, None, None
    for rec in reversed(instance.get_run_records()):  # oldest first
        run = rec.dagster_run
        recorded = RecordedRun(run, instance.get_job_snapshot(run.job_snapshot_id),
                               instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id))
        steps: dict[str, dict[str, str]] = {}
        for entry in instance.all_logs(run.run_id):
            kind = entry.dagster_event_type.value if entry.dagster_event else None
            if kind in PLANNED:
                continue
            partition = entry.dagster_event.partition if entry.dagster_event else None
            if kind == "ASSET_MATERIALIZATION" and partition:
                chip = partition.split("|")[0]
                if entry.step_key not in steps:
                    steps[entry.step_key] = {}
                    recorded.items.append(("step", entry.step_key, steps[entry.step_key]))
                steps[entry.step_key][chip] = serialize_value(entry)
            else:
                recorded.items.append(("one", serialize_value(entry)))
        shard = folder / "dagster_home" / "history" / "runs" / f"{run.run_id}.db"
        recorded.shard_bytes = shard.stat().st_size if shard.exists() else 0
        logs = folder / "dagster_home" / "storage" / run.run_id
        recorded.storage = logs if logs.is_dir() else None
        if run.tags.get("ftw/trigger"):
            reselection = recorded
        elif run.tags.get("dagster/asset_partition_range_start"):
            main = recorded if main is None or len(recorded.asset_keys) > len(main.asset_keys) else main
        elif run.asset_selection:
            setup.append(recorded)
        else:
            checks = recorded
    instance.dispose()
    assert main is not None, f"no chip-year run in {folder}"
    chips = sorted({c for _, step, by_chip in (i for i in main.items if i[0] == "step") for c in by_chip} - rejected)
    return Recording(folder, setup, main, checks, reselection, chips, main.asset_keys)


# --- the synthetic dataset ---

def chip_ids(n: int) -> list[str]:
    """``n`` chip ids on 2 km cells, tile by tile (2,500 per MGRS tile), as long as real ones."""
    if n > 2500 * len(SQUARES):
        raise SystemExit(f"at most {2500 * len(SQUARES)} chips")
    cells = [(x, y) for y in range(98, -1, -2) for x in range(0, 100, 2)]
    return [f"ftw-33U{SQUARES[i // 2500]}{cells[i % 2500][0]:02d}{cells[i % 2500][1]:02d}" for i in range(n)]


class Replayer:
    """Writes copies of the recorded runs on ``instance``, as the real runs wrote them."""

    def __init__(self, instance, recording: Recording, out: Path, asset_graph):
        self.instance = instance
        self.rec = recording
        self.out = out
        self.graph = asset_graph
        self.home = Path(instance.root_directory)
        self.events = 0
        self.runs = 0
        self.create_run_s = 0.0

    def _max_storage_id(self) -> int:
        with sqlite3.connect(event_files(self.home)[0]) as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM event_logs").fetchone()[0]

    def run(self, recorded: RecordedRun, chip_years: list[tuple[str, int]] | None) -> str:
        import dagster as dg
        from dagster._core.events import DagsterEventBatchMetadata, generate_event_batch_id
        from dagster._core.events.log import EventLogEntry
        from dagster._serdes import deserialize_value
        from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

        t = recorded.run
        run_id = str(uuid.uuid4())
        tags = dict(t.tags)
        swaps = [(t.run_id, run_id), (str(self.rec.folder.resolve()), str(self.out.resolve()))]
        if chip_years:
            first, last = (f"{c}|{y}" for c, y in (chip_years[0], chip_years[-1]))
            swaps += [(tags[ASSET_PARTITION_RANGE_START_TAG], first), (tags[ASSET_PARTITION_RANGE_END_TAG], last)]
            tags.update({ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
        start = time.perf_counter()
        self.instance.create_run(
            job_name=t.job_name, run_id=run_id, run_config=t.run_config, status=dg.DagsterRunStatus.NOT_STARTED,
            tags=tags, root_run_id=None, parent_run_id=None, step_keys_to_execute=t.step_keys_to_execute,
            execution_plan_snapshot=recorded.plan_snapshot, job_snapshot=recorded.job_snapshot,
            parent_job_snapshot=None, asset_selection=t.asset_selection, asset_check_selection=t.asset_check_selection,
            resolved_op_selection=None, op_selection=None, remote_job_origin=None, job_code_origin=None,
            asset_graph=self.graph)
        self.create_run_s += time.perf_counter() - start
        pointer = str(self._max_storage_id())
        first_ts = None
        shift = 0.0

        def entry(text: str) -> EventLogEntry:
            nonlocal first_ts, shift
            for old, new in swaps:
                text = text.replace(old, new)
            e = deserialize_value(text, EventLogEntry)
            if first_ts is None:
                first_ts, shift = e.timestamp, time.time() - e.timestamp
            return e._replace(timestamp=e.timestamp + shift)

        for item in recorded.items:
            if item[0] == "one":
                self.instance.handle_new_event(entry(item[1]))
                self.events += 1
                continue
            _, step, by_chip = item
            batch = generate_event_batch_id()
            templates = [(c, by_chip[c]) for c in self.rec.chips if c in by_chip]
            for i, (chip, year) in enumerate(chip_years or []):
                tchip, text = templates[i % len(templates)]
                text = POINTER.sub(lambda m: m[1] + pointer + m[3], text)
                text = (text.replace(f"{tchip}|{TEMPLATE_YEAR}", f"{chip}|{year}")
                        .replace(f"{tchip}_{TEMPLATE_YEAR}", f"{chip}_{year}")
                        .replace(f'"dagster/partition/year": "{TEMPLATE_YEAR}"', f'"dagster/partition/year": "{year}"')
                        .replace(tchip, chip))
                self.instance.handle_new_event(
                    entry(text), batch_metadata=DagsterEventBatchMetadata(batch, i == len(chip_years) - 1))
                self.events += 1
        if recorded.storage is not None:
            shutil.copytree(recorded.storage, Path(self.instance.root_directory) / "storage" / run_id)
        self.runs += 1
        return run_id


# ``--storage sharded``: the layout of datasets made before the event log was consolidated (Dagster's
# SqliteEventLogStorage: history/runs/index.db and a file per run, through ftw_assets.storage's pooled
# subclass). Written with a first line of its own, so open_instance leaves it as it is.
SHARDED_HEADER = "# registry bench: the sharded event log (history/runs: the index and a file per run)"


def sharded_yaml(home: Path) -> str:
    from ftw_assets.instance import DAGSTER_YAML, instance_yaml

    try:
        text = instance_yaml(home, sharded=True)
    except TypeError:  # a checkout from before the consolidated event log: sharded is its only layout
        text = instance_yaml(home)
    return text.replace(DAGSTER_YAML.splitlines()[0], SHARDED_HEADER, 1)


def synthesize(out: Path, rec: Recording, n_chips: int, n_years: int, echo=print, storage: str = "project",
               planned_subset: bool = False) -> dict:
    """A dataset folder at ``out`` with ``n_chips`` x ``n_years`` chip-years registered and every chip-year
    asset materialized, replayed from ``rec`` in runs of ``CHIPS_PER_RUN`` chip-years."""
    from ftw_assets.definitions import build_defs
    from ftw_assets.partitions import CHIPS, CHIPS_PER_RUN, YEARS
    from ftw_assets.instance import open_instance
    from ftw_assets.runner import dataset_layout

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in SETTINGS_FILES:
        if (rec.folder / name).exists():
            shutil.copy(rec.folder / name, out / name)
    os.environ["FTW_OUTPUT_DIR"] = str(out.resolve())
    if planned_subset:  # what-if: Dagster's switch for one planned event per asset and run (a partition subset)
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "1"
    if storage == "sharded":
        home = out.resolve() / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(sharded_yaml(home))
    instance = open_instance(dataset_layout(out))
    replay = Replayer(instance, rec, out, build_defs(out).resolve_asset_graph())
    chips = chip_ids(n_chips)
    years = [TEMPLATE_YEAR - i for i in range(n_years)]
    start = time.perf_counter()
    for recorded in rec.setup:
        replay.run(recorded, None)
    instance.add_dynamic_partitions(CHIPS, chips)  # chip_registry registers them all at once
    total = n_chips * n_years
    for year in years:
        instance.add_dynamic_partitions(YEARS, [str(year)])
        for i in range(0, n_chips, CHIPS_PER_RUN):
            replay.run(rec.main, [(c, year) for c in chips[i:i + CHIPS_PER_RUN]])
            done = (years.index(year) * n_chips + min(i + CHIPS_PER_RUN, n_chips))
            if replay.runs % 50 == 0:
                rate = done / (time.perf_counter() - start)
                echo(f"  {done:,} of {total:,} chip-years replayed ({rate:,.0f} chip-years/s, "
                     f"{replay.events:,} events besides the planned ones)")
        if rec.checks is not None:
            replay.run(rec.checks, None)
    seconds = time.perf_counter() - start
    instance.dispose()  # checkpoints the WAL files
    stats = {"storage": storage, "planned_subset": planned_subset, "chips": n_chips, "years": n_years,
             "chip_years": total, "runs": replay.runs,
             "replayed_events": replay.events, "synthesis_s": round(seconds, 1),
             "create_run_s": round(replay.create_run_s, 1), "chip_year_assets": [k.to_user_string() for k in rec.chain]}
    (out / "registry-synthesis.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


# --- what it costs ---

def _bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, SQLite's shared-memory index files (``-shm``, left by readers
    such as the UI's watchers; not data) left out."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.name.endswith("-shm"))


def event_files(home: Path) -> tuple[Path, list[Path]]:
    """The database holding every asset event (the index shard ``history/runs/index.db`` of the sharded
    layout, or the one ``event_log.db``) and the run shards (none when consolidated)."""
    history = home / "history"
    candidates = (history / "runs" / "index.db", history / "event_log.db", history / "runs" / "event_log.db")
    index = next((c for c in candidates if c.exists()), candidates[1])
    shards = [p for p in (history / "runs").glob("*.db") if p != index and p.name not in ("index.db", "event_log.db")]
    return index, shards


def _with_wal(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def event_db(out: Path) -> dict:
    home = out / "dagster_home"
    index, shards = event_files(home)
    return {"history_bytes": _bytes(home / "history"), "storage_bytes": _bytes(home / "storage"),
            "layout": "sharded" if index.name == "index.db" else "consolidated", "index_file": str(index),
            "run_shards": len(shards), "index_bytes": _with_wal(index),
            "runs_db_bytes": _with_wal(home / "history" / "runs.db"),
            "run_shard_bytes": sum(_with_wal(p) for p in shards)}


def by_table(out: Path) -> dict[str, dict[str, list[int]]]:
    """Bytes, payload bytes and unused bytes per table and index (SQLite dbstat) of the event database (the
    index shard or event_log.db), runs.db and all run shards together."""
    index, shards = event_files(out / "dagster_home")
    groups = {"run shards": shards, index.name: [index], "runs.db": [out / "dagster_home" / "history" / "runs.db"]}
    result = {}
    for label, files in groups.items():
        sums: dict[str, list[int]] = {}
        for path in files:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                for name, size, payload, unused in conn.execute(
                        "SELECT name, SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat GROUP BY name"):
                    total = sums.setdefault(name, [0, 0, 0])
                    for i, v in enumerate((size, payload, unused)):
                        total[i] += v
        if files:
            result[label] = dict(sorted(sums.items(), key=lambda kv: -kv[1][0]))  # name -> [bytes, payload, unused]
    return result


def rows_and_payload(out: Path) -> dict:
    """Rows and serialized-event bytes of event_logs by event type in the event database and the largest run
    shard."""
    index, shards = event_files(out / "dagster_home")
    res = {}
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
        res["index"] = {t or "log": (n, int(b)) for t, n, b in conn.execute(
            "SELECT dagster_event_type, COUNT(*), SUM(LENGTH(event)) FROM event_logs GROUP BY 1 ORDER BY 3 DESC")}
        res["asset_event_tags_rows"] = conn.execute("SELECT COUNT(*) FROM asset_event_tags").fetchone()[0]
        res["asset_keys_cached_status_bytes"] = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(cached_status_data)), 0) FROM asset_keys").fetchone()[0]
    if shards:
        with sqlite3.connect(f"file:{max(shards, key=lambda p: p.stat().st_size)}?mode=ro", uri=True) as conn:
            res["largest_run_shard"] = {t or "log": (n, int(b or 0)) for t, n, b in conn.execute(
                "SELECT dagster_event_type, COUNT(*), SUM(LENGTH(event)) FROM event_logs GROUP BY 1 ORDER BY 3 DESC")}
    return res


def ftwd_status(out: Path, code: Path | None = None) -> tuple[float, str, float]:
    """``ftwd status`` in its own process: (wall seconds, its output, its CPU seconds, user + system); of
    the package in ``code`` (a checkout, imported ahead of this one) when given."""
    log = out.parent / f"status-{out.name}.log"
    start = time.perf_counter()
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ftw_assets.cli", "status", str(out.resolve())], stdout=sink,
                                stderr=subprocess.STDOUT, cwd=code or out.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ftwd status failed:\n{log.read_text()[-3000:]}")
    return seconds, log.read_text(), usage.ru_utime + usage.ru_stime


def status_against(out: Path, ref: str, rounds: int) -> dict:
    """``ftwd status`` of the commit ``ref`` (a ``git worktree``) and of this checkout, alternating which
    goes first: per round, each with the status cache wiped (cold), then twice warm. Both must print the
    same table."""
    code = WORK / f"status-code-{ref}"
    if not code.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-f", "--detach", str(code), ref], check=True,
                       capture_output=True)
    times = {(who, kind): [] for who in (ref, "now") for kind in ("cold", "warm")}
    tables = set()
    for r in range(rounds):
        for who, where in ((ref, code), ("now", None))[::1 if r % 2 == 0 else -1]:
            wipe_status_cache(out)
            for kind in ("cold", "warm", "warm"):
                seconds, text, _ = ftwd_status(out, where)
                times[(who, kind)].append(round(seconds, 2))
                tables.add(text)
    assert len(tables) == 1, tables
    return {f"{who} {kind}": {"s": v, "median_s": round(statistics.median(v), 2)} for (who, kind), v in times.items()}


def wipe_status_cache(out: Path) -> None:
    """Dagster's per-asset partition status cache (asset_keys.cached_status_data), as before the first read."""
    from ftw_assets.pipeline import chip_year_assets
    from ftw_assets.instance import open_instance
    from ftw_assets.runner import dataset_layout

    instance = open_instance(dataset_layout(out))
    instance.wipe_asset_cached_status(chip_year_assets())
    instance.dispose()


def rebuild_side_by_side(out: Path, rounds: int = 2) -> dict:
    """The status cache of every chip-year asset rebuilt from the event log in-process, Dagster's way
    (``_build_status_cache`` with no stored value) and ftw_assets' (``status._rebuilt_status_cache``),
    alternating, ``rounds`` times each: seconds for all assets (the fastest round), and whether the
    two values are equal; then, with the cache stored and current, Dagster's update
    (``get_and_update_asset_status_cache_value``) against ``status.status_cache``."""
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.storage.partition_status_cache import (_build_status_cache,
                                                              get_and_update_asset_status_cache_value)

    from ftw_assets.partitions import chip_year_partitions
    from ftw_assets.pipeline import chip_year_assets
    from ftw_assets.instance import open_instance
    from ftw_assets.runner import dataset_layout
    from ftw_assets.status import _rebuilt_status_cache, status_cache

    instance = open_instance(dataset_layout(out))
    ways = {"dagster": lambda k, r: _build_status_cache(instance, k, chip_year_partitions, None, r),
            "ftw_assets": lambda k, r: _rebuilt_status_cache(instance, k, chip_year_partitions, r)}
    best, values = {}, {}
    with partition_loading_context(None, instance):
        records = {r.asset_entry.asset_key: r for r in instance.get_asset_records(asset_keys=chip_year_assets())}
        for _ in range(rounds):
            for way, build in ways.items():
                start = time.perf_counter()
                values[way] = [build(k, records.get(k)) for k in chip_year_assets()]
                best[way] = min(best.get(way, float("inf")), time.perf_counter() - start)
        # Then with the cache stored and current, as for every status call after a build.
        for k in chip_year_assets():
            status_cache(instance, k, chip_year_partitions)
        updates = {"dagster": lambda k: get_and_update_asset_status_cache_value(instance, k, chip_year_partitions),
                   "ftw_assets": lambda k: status_cache(instance, k, chip_year_partitions)}
        for _ in range(rounds):
            for way, update in updates.items():
                start = time.perf_counter()
                values["current " + way] = [update(k) for k in chip_year_assets()]
                best["current " + way] = min(best.get("current " + way, float("inf")), time.perf_counter() - start)
    instance.dispose()
    return {"dagster_s": round(best["dagster"], 2), "ftw_assets_s": round(best["ftw_assets"], 2),
            "equal": values["dagster"] == values["ftw_assets"],
            "current_dagster_s": round(best["current dagster"], 2),
            "current_ftw_assets_s": round(best["current ftw_assets"], 2),
            "current_equal": values["current dagster"] == values["current ftw_assets"]}


def profile_status(out: Path, path: Path) -> list[str]:
    """``ftwd status`` in-process under cProfile (cache warm): the top functions by cumulative time."""
    from click.testing import CliRunner

    from ftw_assets.cli import main as ftwd

    profiler = cProfile.Profile()
    profiler.enable()
    result = CliRunner().invoke(ftwd, ["status", str(out)])
    profiler.disable()
    assert result.exit_code == 0, result.output
    profiler.dump_stats(str(path))
    stats = pstats.Stats(str(path)).sort_stats("cumulative")
    lines = []
    for (filename, line, function), (_, _, tottime, cumtime, _) in sorted(
            stats.stats.items(), key=lambda kv: -kv[1][3]):
        if ("ftw_assets" in filename or "dagster" in filename) and cumtime > 0.05:
            lines.append(f"{cumtime:7.2f} s cum {tottime:6.2f} s own  {filename.split('site-packages/')[-1]}:{line} "
                         f"{function}")
    return lines[:40]


def ui_loads(out: Path, expected: int, repeats: int, cold_first: bool = True) -> list[dict]:
    """Loads of /assets/clipped_images?view=partitions in headless Chromium (a new browser context each, so no
    cache), each until the page shows "Materialized (expected)"; the first with the status cache wiped
    (when ``cold_first``). Each: seconds from navigation start (performance.now()), the wall time around
    it, and the slowest GraphQL request."""
    from playwright.sync_api import sync_playwright

    from ftw_assets_tests.helpers import running_ui
    from ftw_assets_tests.test_browser import CHROMIUM, FLAGS

    pattern = rf"Materialized \({expected:,}\)|Materialized \({expected}\)"
    loads = []
    with running_ui(out) as port, sync_playwright() as p:
        url = f"http://127.0.0.1:{port}"
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:], headless=True)
        # The code location loaded and the UI served once before timing (the asset list shows the asset).
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        page = context.new_page()
        page.goto(f"{url}/assets", wait_until="domcontentloaded", timeout=600_000)
        page.get_by_text("clipped_images", exact=True).first.wait_for(timeout=600_000)
        context.close()
        for i in range(repeats + (1 if cold_first else 0)):
            cold = cold_first and i == 0
            if cold:
                wipe_status_cache(out)
            context = browser.new_context(viewport={"width": 1500, "height": 950})
            page = context.new_page()
            graphql: list = []
            page.on("requestfinished", lambda r: graphql.append(r) if "/graphql" in r.url else None)
            wall = time.perf_counter()
            page.goto(f"{url}/assets/clipped_images?view=partitions", wait_until="commit", timeout=600_000)
            shown = page.wait_for_function(
                "re => document.body && new RegExp(re).test(document.body.innerText) ? performance.now() : false",
                arg=pattern, polling=50, timeout=600_000)
            ms = shown.json_value()
            wall = time.perf_counter() - wall
            slowest = []
            for r in graphql:
                t = r.timing
                op = r.url.split("op=")[-1] if "op=" in r.url else _operation(r)
                if t.get("responseEnd", -1) > 0:
                    slowest.append((round(t["responseEnd"] - t.get("requestStart", 0)), op))
            slowest.sort(reverse=True)
            if i == 0:
                WORK.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out.parent / f"clipped-images-partitions-{out.name}.png"))
            loads.append({"cold_cache": cold, "seconds": round(ms / 1000, 2), "wall_s": round(wall, 2),
                          "slowest_graphql_ms": slowest[:3]})
            context.close()
        browser.close()
    return loads


def _operation(request) -> str:
    try:
        return (request.post_data_json or {}).get("operationName") or "?"
    except Exception:  # not JSON
        return "?"


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--chips", type=int, default=50_000)
    args.add_argument("--years", type=int, default=2)
    args.add_argument("--repeats", type=int, default=3, help="warm ftwd status calls and UI loads (median)")
    args.add_argument("--reuse", action="store_true", help="keep a dataset already synthesised at this size")
    args.add_argument("--no-ui", action="store_true", help="leave out the browser measurement")
    args.add_argument("--profile-status", action="store_true", help="also profile ftwd status in-process")
    args.add_argument("--status-against", metavar="REF",
                      help="also time ftwd status of commit REF and of this checkout, alternating (--repeats rounds)")
    args.add_argument("--storage", choices=("project", "sharded"), default="project",
                      help="the event log layout: what ftw_assets makes for a new dataset (project), or the sharded "
                           "one of datasets made before the consolidated event log (history/runs: a file per run)")
    args.add_argument("--planned-subset", action="store_true",
                      help="what-if: runs write one planned event per asset with the run's partition subset "
                           "(DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1) instead of one per chip-year")
    opts = args.parse_args(argv)
    if opts.status_against and subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet",
                                               f"{opts.status_against}^{{commit}}"], capture_output=True).returncode:
        args.error(f"--status-against {opts.status_against}: no such commit in {REPO} (give a commit id, tag or branch)")

    rec = record(template())
    name = (f"{opts.chips}x{opts.years}-{opts.storage}"
            + ("-planned-subset" if opts.planned_subset else ""))
    out = WORK / f"chips-{name}"
    marker = out / "registry-synthesis.json"
    if opts.reuse and marker.exists() and json.loads(marker.read_text())["chip_years"] == opts.chips * opts.years:
        synth = json.loads(marker.read_text())
        print(f"reusing {out} (synthesised in {synth['synthesis_s']} s)")
    else:
        print(f"synthesising {opts.chips:,} chips x {opts.years} years into {out} from the real runs of "
              f"{rec.folder} (chip-year assets: {', '.join(k.to_user_string() for k in rec.chain)})", flush=True)
        synth = synthesize(out, rec, opts.chips, opts.years, echo=lambda s: print(s, flush=True), storage=opts.storage,
                           planned_subset=opts.planned_subset)
    chip_years, assets = synth["chip_years"], len(synth["chip_year_assets"])
    before = event_db(out)
    tables = by_table(out)

    rebuild = rebuild_side_by_side(out)
    wipe_status_cache(out)  # as after the runs (a dataset reused here may hold it from an earlier measurement)
    load_before = os.getloadavg()[0]
    cold_status, text, cold_cpu = ftwd_status(out)
    warm_runs = [ftwd_status(out) for _ in range(opts.repeats)]
    warm, warm_cpu = [w[0] for w in warm_runs], [w[2] for w in warm_runs]
    print(text)
    profile = profile_status(out, WORK / f"status-{name}.prof") if opts.profile_status else []
    against = status_against(out, opts.status_against, opts.repeats) if opts.status_against else None
    loads = [] if opts.no_ui else ui_loads(out, chip_years, opts.repeats)
    load_after = os.getloadavg()[0]
    after = event_db(out)
    payload = rows_and_payload(out)

    per = 1024 * chip_years * assets
    report = {
        **synth, "event_db": before, "event_db_after_status_cache": after,
        "kb_per_chip_year_asset": round((before["history_bytes"] + before["storage_bytes"]) / per, 2),
        "kb_per_chip_year_asset_with_status_cache": round((after["history_bytes"] + after["storage_bytes"]) / per, 2),
        "tables": tables, "event_logs": payload,
        "status_cold_s": round(cold_status, 2), "status_warm_s": [round(s, 2) for s in warm],
        "status_median_s": round(statistics.median(warm), 2), "status_cold_cpu_s": round(cold_cpu, 2),
        "status_warm_cpu_s": [round(c, 2) for c in warm_cpu], "load_average_1min": [load_before, load_after],
        "ui_loads": loads,
        "ui_cold_s": next((x["seconds"] for x in loads if x["cold_cache"]), None),
        "ui_median_s": statistics.median(x["seconds"] for x in loads if not x["cold_cache"]) if loads else None,
        "status_profile": profile, "status_cache_rebuild": rebuild, "status_against": against,
    }
    if rec.reselection is not None:
        report["reselection_run_shard_kb"] = round(rec.reselection.shard_bytes / 1024, 1)
    (WORK / f"registry-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)


def print_report(r: dict) -> None:
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    per = 1024 * r["chip_years"] * len(r["chip_year_assets"])
    subsets = ", planned events as partition subsets" if r.get("planned_subset") else ""
    print(f"\n{r['chips']:,} chips x {r['years']} years = {r['chip_years']:,} chip-years ({r['event_db']['layout']} "
          f"event log, {r['event_db']['index_file'].split('/dagster_home/')[-1]}{subsets}), "
          f"{len(r['chip_year_assets'])} chip-year assets ({', '.join(r['chip_year_assets'])}); "
          f"{r['runs']:,} runs, synthesised in {r['synthesis_s']} s ({r['create_run_s']} s of it in create_run)")
    print("\n| measure | value | bar |\n| --- | --- | --- |")
    kb = r["kb_per_chip_year_asset"]
    print(f"| event db (history + storage) KB / chip-year / asset | {kb} | <= {BAR_KB} {ok(kb <= BAR_KB)} |")
    print(f"| ... after ftwd status wrote Dagster's status cache | {r['kb_per_chip_year_asset_with_status_cache']} | |")
    print(f"| `ftwd status` s, first call (builds the status cache) | {r['status_cold_s']} | < {BAR_S} "
          f"{ok(r['status_cold_s'] < BAR_S)} |")
    print(f"| `ftwd status` s, median of {len(r['status_warm_s'])} ({', '.join(map(str, r['status_warm_s']))}) | "
          f"{r['status_median_s']} | < {BAR_S} {ok(r['status_median_s'] < BAR_S)} |")
    if "status_cache_rebuild" in r:
        rb = r["status_cache_rebuild"]
        print(f"| status cache rebuilt from the event log, all chip-year assets, in-process s: Dagster's; "
              f"ftw_assets' (same value: {rb['equal']}) | {rb['dagster_s']}; {rb['ftw_assets_s']} | |")
        print(f"| ... the cache current (after a build), brought up to date, s: Dagster's; ftw_assets' "
              f"(same value: {rb['current_equal']}) | {rb['current_dagster_s']}; {rb['current_ftw_assets_s']} | |")
    for label, times in (r.get("status_against") or {}).items():
        print(f"| `ftwd status` s, {label} (side by side, alternating) | {times['median_s']} median of "
              f"{', '.join(map(str, times['s']))} | |")
    print(f"| `ftwd status` CPU s (user + system), first call; median of the others | {r['status_cold_cpu_s']}; "
          f"{statistics.median(r['status_warm_cpu_s'])} | |")
    if r["ui_loads"]:
        warm = [x for x in r["ui_loads"] if not x["cold_cache"]]
        print(f"| UI partitions page of clipped_images s, status cache wiped | {r['ui_cold_s']} | < {BAR_S} "
              f"{ok(r['ui_cold_s'] < BAR_S)} |")
        print(f"| UI partitions page s, median of {len(warm)} ({', '.join(str(x['seconds']) for x in warm)}) | "
              f"{r['ui_median_s']} | < {BAR_S} {ok(r['ui_median_s'] < BAR_S)} |")
    print(f"(1-minute load average on this {os.cpu_count()}-core machine: {r['load_average_1min'][0]:.1f} before the "
          f"status calls, {r['load_average_1min'][1]:.1f} after the UI loads)")
    db = r["event_db"]
    print("\nwhere the bytes are (KB per chip-year per asset):")
    for label, key in (("run shards", "run_shard_bytes"), (Path(db["index_file"]).name, "index_bytes"),
                       ("runs.db", "runs_db_bytes")):
        print(f"  {label}: {db[key] / per:.2f}")
    print(f"  compute logs (storage/): {db['storage_bytes'] / per:.2f}  ({db['run_shards']:,} run shards)")
    for label, tables in r["tables"].items():
        top = ", ".join(f"{name} {size / per:.2f}" for name, (size, _, _) in list(tables.items())[:8])
        print(f"  {label} by table: {top}")
        if "event_logs" in tables:
            size, payload, unused = tables["event_logs"]
            print(f"    {label} event_logs: {payload / per:.2f} payload (serialized events and columns), "
                  f"{unused / per:.2f} unused in its pages, {(size - payload - unused) / per:.2f} page and cell "
                  "headers")
    print("  index event_logs rows by type (rows, avg bytes of serialized event): " + ", ".join(
        f"{t} {n:,} x {b / max(n, 1):.0f}" for t, (n, b) in r["event_logs"]["index"].items()))
    if "largest_run_shard" in r["event_logs"]:
        print("  one run shard's event_logs (rows, avg bytes): " + ", ".join(
            f"{t} {n:,} x {b / max(n, 1):.0f}" for t, (n, b) in r["event_logs"]["largest_run_shard"].items()))
    if r.get("reselection_run_shard_kb"):
        print(f"  a cloud-refinement re-selection run (not replayed) adds a run shard of "
              f"{r['reselection_run_shard_kb']} KB per run in the template")
    for load in r["ui_loads"]:
        print(f"  UI load {'(cache wiped)' if load['cold_cache'] else ''}: {load['seconds']} s from navigation start "
              f"({load['wall_s']} s wall); slowest GraphQL: {load['slowest_graphql_ms']}")
    if r["status_profile"]:
        print("\nftwd status in-process (cProfile, cumulative):")
        for line in r["status_profile"]:
            print("  " + line)


if __name__ == "__main__":
    main()
