"""Planned runs on several processes of this machine, so that ``ftwd`` uses every core.

A run stays one in-process Dagster execution; what runs in parallel is whole runs, each in a worker
process that loads the definitions and opens the dataset's instance once and then executes runs as
they are handed out (runner.shard_plan). When the runs clip images, one more
process reads every chip window for the workers (:mod:`ftw_assets.reader`), so the COG blocks their
runs share are fetched and decoded once, in one block cache. All workers write to the same instance
(SQLite in WAL mode, one run shard each) and the same dataset folder (files written atomically; the
catalog and the reports under their file locks; DuckDB opened per statement group with retries).

Ctrl-C in the parent (or a SIGINT to the process group) stops every worker between chip-years, as in
a single process: nothing new starts, what is in flight finishes and is recorded. A worker that dies
(killed, out of memory) breaks the pool: its run is marked failed in the instance, and the runs not
finished go to a fresh pool once (:data:`POOL_RESTARTS`); a run lost again is reported failed, named
with its chip range.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from math import ceil
from pathlib import Path

# One process per core, at most four: each holds its own Dagster and GDAL block cache (core/raster/cache.py).
DEFAULT_PROCESSES = max(1, min(4, os.cpu_count() or 1))
# A build without --processes that has fewer chip-years to do than this stays in ftwd's own process: a
# worker's start (its own interpreter, Dagster and the definitions: 3-5 s of CPU on the cores the build needs)
# costs more than sharing out so few saves. 8 demo chip-years on 2 cores: 7.2-7.5 s in one process against
# 9.5-11.1 s with two workers, with images 12.0-12.1 s against 13.7-16.8 s; 420 with images: 82 s against 72.5.
MIN_PARALLEL_CHIP_YEARS = 100
# Before the first build the chips are not known: the parcels are, and a chip holds tens of them (the demo
# 27, make bench's fields 36); fewer than this many per wanted chip-year make a build small enough to start
# no worker until its plan says otherwise.
PARCELS_PER_CHIP = 10

_worker: dict = {}  # in a worker process: its definitions' job and the instance


def balanced_batch(chip_years: int, batch: int, processes: int) -> int:
    """Chip-years per run so that the runs divide evenly over ``processes``: as many runs as ``batch``
    gives, rounded up to a multiple of ``processes`` (420 chip-years, 100 per run, 2 processes: 6 runs
    of 70, not 5 runs that leave one process idle for the last)."""
    if processes <= 1 or chip_years <= 0:
        return batch
    runs = ceil(ceil(chip_years / batch) / processes) * processes
    return max(1, ceil(chip_years / runs))


# A worker that dies takes the pool with it (every run in flight or not yet handed out is lost): those
# runs go to a fresh pool, this many times, before they are reported failed.
POOL_RESTARTS = 1


class Workers:
    """The worker processes of one ftwd on one dataset: started once (:meth:`start`, before the setup
    assets run, so that their imports overlap the parent's own work) and reused by each plan it runs
    (the chip-year runs, then re-selection's rounds). Each process is its own single-worker pool, so a
    plan's runs can be handed out by ``runner.shard_plan``. Pools
    broken by a dying worker are replaced."""

    def __init__(self, output_dir: Path, processes: int, images: bool = True):
        from ftw_assets.reader import Reader

        self.output_dir, self.processes = str(Path(output_dir).resolve()), processes
        self._pools: list[ProcessPoolExecutor] | None = None
        self.reader = Reader() if images else None  # the workers' one window reader, started with them

    def start(self) -> list[ProcessPoolExecutor]:
        if self._pools is None:
            if self.reader is not None and self.reader.process is None:
                self.reader.start()  # before the workers: they take its address from the environment
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or SQLite handles
            self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_worker,
                                               initargs=(self.output_dir,))
                           for _ in range(self.processes)]
            for pool in self._pools:  # a pool starts its process at its first task
                pool.submit(_ready)
        return self._pools

    @property
    def started(self) -> bool:
        return self._pools is not None

    def discard(self) -> None:
        """Drop the pools after one broke: the next :meth:`start` makes fresh ones."""
        for pool in self._pools or []:
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools = None

    def close(self) -> None:
        for pool in self._pools or []:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = None
        if self.reader is not None:
            self.reader.stop()


_current: Workers | None = None  # the pool materialize_dataset started for its dataset


def start_early(chips: int, years: int, parcels: int | None) -> bool:
    """Whether a build without --processes starts its workers before its setup assets (their imports then
    overlap that work) rather than once its plan needs them: when its chip-years may reach
    :data:`MIN_PARALLEL_CHIP_YEARS`, from the ``chips`` registered x ``years``, or before any chip is
    registered from the ``parcels`` (:data:`PARCELS_PER_CHIP`); not knowing them starts the workers."""
    if chips:
        return chips * max(years, 1) >= MIN_PARALLEL_CHIP_YEARS
    return parcels is None or parcels >= MIN_PARALLEL_CHIP_YEARS * PARCELS_PER_CHIP


@contextlib.contextmanager
def workers(output_dir: Path, processes: int, images: bool = True, start: bool = True):
    """Worker processes for ``output_dir``, used by every :func:`run_in_processes` inside the block and
    stopped at its end: started now, or with ``start`` False when a plan first goes to them. ``images``:
    the runs clip images, so the window reader (:mod:`ftw_assets.reader`) starts with them."""
    global _current
    previous, _current = _current, Workers(output_dir, processes, images) if processes > 1 else None
    try:
        if _current is not None and start:
            _current.start()
        yield _current
    finally:
        if _current is not None:
            _current.close()
        _current = previous


def run_in_processes(output_dir: Path, plan: list, processes: int, progress, tags: dict | None,
                     stop: threading.Event, line) -> list:
    """Execute ``plan`` (runner.PlannedRun) on ``processes`` worker processes (those :func:`workers`
    started, or new ones), each taking the runs ``runner.shard_plan`` gives it; ``progress`` is told of
    each run as it finishes (in finishing order); outcomes come back in plan order."""
    from ftw_assets import runner
    from ftw_assets.instance import open_instance

    own = _current is None or _current.output_dir != str(Path(output_dir).resolve())
    pool = Workers(output_dir, processes) if own else _current
    parts = runner.shard_plan(plan, pool.processes, shared_reads=pool.reader is not None)
    outcomes: dict[int, runner.RunOutcome] = {}
    progress.start(sum(p.count for p in plan), len(plan))
    todo = list(range(len(plan)))
    try:
        for attempt in range(POOL_RESTARTS + 1):
            lost = _pool(pool, plan, parts, todo, tags, stop, outcomes,
                         lambda o: progress.finished(o, line(o, f"{len(outcomes)}/{len(plan)}")))
            if not lost:
                break
            pool.discard()
            _fail_orphaned_runs(open_instance(runner.dataset_layout(Path(output_dir))))
            todo = [i for i, _ in lost]
            if attempt == POOL_RESTARTS or stop.is_set():
                for i, err in lost:
                    outcomes[i] = _lost(plan[i], err)
                    progress.finished(outcomes[i], line(outcomes[i], f"{len(outcomes)}/{len(plan)}"))
    finally:
        progress.close()
        if own:
            pool.close()
    return [outcomes[i] for i in sorted(outcomes)]


def _pool(workers: Workers, plan, parts: list[int], todo: list[int], tags, stop, outcomes: dict, finished) -> list:
    """``plan[i]`` for each i of ``todo`` on worker ``parts[i]``; the runs lost to a worker's death come back."""
    from ftw_assets.core.raster.windows import RETRIES

    lost, done = [], threading.Event()
    try:
        pools = workers.start()
        threading.Thread(target=_relay_stop, args=(stop, done, pools), daemon=True).start()
        pending = {pools[parts[i] % len(pools)].submit(_execute_run, [a.to_user_string() for a in plan[i].assets],
                                             plan[i].first, plan[i].last, plan[i].count, tags): i for i in todo}
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                i = pending.pop(future)
                try:
                    outcome, retries = future.result()
                except BrokenProcessPool as err:  # a worker died: this run was in flight or not handed out
                    lost.append((i, err))
                    continue
                if outcome is None:  # not started: Ctrl-C came first
                    continue
                RETRIES.update(retries)
                outcomes[i] = outcome
                finished(outcome)
    finally:
        done.set()  # ends the relay
    return sorted(lost)


def _fail_orphaned_runs(instance) -> None:
    """Runs of this dataset left STARTED by a worker that died are marked failed, so that the UI and the
    partition status do not show them in progress for ever."""
    import dagster as dg
    import psutil

    from ftw_assets.runner import WORKER_TAG

    host = socket.gethostname()
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED],
                                                         tags={"ftw/launched_by": "ftwd"})):
        run = record.dagster_run
        where, _, pid = run.tags.get(WORKER_TAG, "").rpartition(":")
        if where == host and pid.isdigit() and not psutil.pid_exists(int(pid)):
            instance.report_run_failed(run, f"its worker process ({pid}) died")


def _relay_stop(stop: threading.Event, done: threading.Event, pools: list[ProcessPoolExecutor]) -> None:
    """Hands the parent's Ctrl-C on to the workers, as SIGUSR1 (a SIGINT sent to the parent alone reaches
    no worker; one sent to the whole process group reaches them too, and must not count twice)."""
    while not done.is_set():
        if stop.wait(0.2):
            for pool in pools:
                for pid in list(getattr(pool, "_processes", None) or {}):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGUSR1)
            return


def _lost(run, err: BaseException):
    from ftw_assets import runner

    what = f"{run.count} chip-years {run.first} .. {run.last}"
    return runner.RunOutcome([a.to_user_string() for a in run.assets], run.first, run.last, run.count, False, 0.0,
                             [f"the worker process running {what} died ({err or 'killed'}); run ftwd again to "
                              "redo what it left"])


def _start_worker(output_dir: str) -> None:
    from ftw_assets import process_exit
    from ftw_assets.batch import STOP

    process_exit.install()  # before the runs load Dagster and GDAL, whose exit handlers then run first
    process_exit.exiting_with(0)  # its pool only sees that it ended
    os.environ["FTW_OUTPUT_DIR"] = output_dir
    _die_with_parent()

    def on_sigint(signum, frame):  # as runner.stop_on_ctrl_c: the first stops between chip-years
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGUSR1, lambda signum, frame: STOP.set())  # the parent's stop (_relay_stop)
    # Most of a worker's start-up is importing; the definitions and the instance wait for the first run,
    # as the dataset's settings and history may still be being written.
    import ftw_assets.definitions  # noqa: F401
    import ftw_assets.runner  # noqa: F401
    _worker["output_dir"] = Path(output_dir)


def _ready() -> int:
    """A task that only makes the pool start a worker."""
    return os.getpid()


def _definitions():
    if "job" not in _worker:
        from ftw_assets import runner
        from ftw_assets.definitions import build_defs
        from ftw_assets.instance import open_instance

        defs = build_defs(_worker["output_dir"])
        _worker["job"] = defs.resolve_implicit_global_asset_job_def()
        _worker["instance"] = open_instance(runner.dataset_layout(_worker["output_dir"]))
    return _worker["job"], _worker["instance"]


def _die_with_parent() -> None:
    """A worker ends when ftwd does, however it ends (SIGKILL included): a worker left running would go
    on writing chip-years that the next ftwd also plans. Linux's parent-death signal; elsewhere a
    thread that watches the parent."""
    import ctypes

    parent = os.getppid()
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() == parent:  # the parent may have died before prctl
                return
            os._exit(1)
    except (AttributeError, OSError):
        pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def _execute_run(assets: list[str], first: str, last: str, count: int, tags: dict | None):
    """One planned run in this worker; None when Ctrl-C came before it started."""
    import dagster as dg

    from ftw_assets import runner
    from ftw_assets.batch import STOP
    from ftw_assets.core.raster.windows import RETRIES

    if STOP.is_set():
        return None, {}
    before = RETRIES.copy()
    keys = [dg.AssetKey.from_user_string(a) for a in assets]
    job, instance = _definitions()
    with runner.own_defs_state(instance):
        outcome = runner.execute_run(job, instance, keys, first, last, count, tags)
    return outcome, dict(RETRIES - before)
