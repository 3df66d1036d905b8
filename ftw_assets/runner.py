"""Materialize what is missing, in batched runs, on the dataset's own Dagster instance.

This is what ``ftwd`` does: the Dagster materialization history is the progress record, so
each asset's missing chip-year partitions are read from the instance, grouped into runs of up
to ``CHIPS_PER_RUN`` partitions (a contiguous range of chips for one year) and executed
in-process (no process start-up per chip). A failed run does not stop the others; the summary
names what failed. Ctrl-C (:func:`stop_on_ctrl_c`) stops the work between chip-years: nothing new
starts, what is in flight finishes, and the summary says it was interrupted.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Protocol

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ftw_assets.batch import STOP, Interrupted
from ftw_assets.core.atomic import sweep_temp_files
from ftw_assets.core.raster.windows import RETRIES
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.partitions import CHIPS, CHIPS_PER_RUN, YEARS

WORKER_TAG = "ftw/worker"  # on each run: the host and process that ran it
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    assets: list[str]
    first: str
    last: str
    partitions: int
    success: bool
    seconds: float
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C: its chip-years done are recorded, the rest left


@dataclass
class Summary:
    runs: list[RunOutcome] = field(default_factory=list)
    skipped_unpartitioned: list[str] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: runs, checks and reports after the stop were not started
    remaining: int | None = None  # when interrupted: chip-years still needing work, read from the instance

    @property
    def failed(self) -> list[RunOutcome]:
        return [r for r in self.runs if not r.success and not r.interrupted]

    @property
    def partitions_run(self) -> int:
        return sum(r.partitions for r in self.runs if r.partitions)


@contextlib.contextmanager
def stop_on_ctrl_c():
    """While ftwd works: the first Ctrl-C (SIGINT) sets :data:`~ftw_assets.batch.STOP`, so no run, step
    or chip-year starts after it and the ones in flight finish (their files are written atomically);
    a second one raises KeyboardInterrupt at once. Only the main thread can set a handler; elsewhere
    this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()

    STOP.clear()
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        STOP.clear()


def stopped() -> bool:
    """Whether Ctrl-C asked ftwd to stop (see :func:`stop_on_ctrl_c`)."""
    return STOP.is_set()


def dataset_layout(output_dir: Path) -> Layout:
    output_dir = Path(output_dir).resolve()
    return Layout(output_dir, DatasetSettings.load(output_dir).name)


def chip_year_keys(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    return list(instance.get_dynamic_partitions(CHIPS)), list(instance.get_dynamic_partitions(YEARS))


def chips_in_table(instance: dg.DagsterInstance, chip_table: Path) -> tuple[list[str], list[str]]:
    """The instance's chip partitions in registration order, split into the cells of the dataset's chip
    table (``chip_table``, chips.parquet) and the others: partitions added by hand (in the UI) or left
    from an earlier chip table. Without the table every chip is one of the others."""
    chips = list(instance.get_dynamic_partitions(CHIPS))
    known: set[str] = set()
    if Path(chip_table).exists():
        import pyarrow.parquet as pq

        known = set(pq.read_table(chip_table, columns=["chip_id"]).column("chip_id").to_pylist())
    return [c for c in chips if c in known], [c for c in chips if c not in known]


def unknown_chips_message(unknown: list[str], chip_table: Path) -> str:
    """What is wrong with chip partitions that are not in the chip table, and what to do."""
    shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    return (f"left out {len(unknown)} chip partition(s) that are not cells of this dataset's chip table "
            f"{chip_table}: {shown}. A chip partition added by hand (e.g. in the Dagster UI) names no chip of the "
            "dataset: delete it (UI: an asset's menu, Delete partitions; or "
            "DagsterInstance.delete_dynamic_partition('chips', ID)). If the chip table itself is missing or was "
            "built from other fields, materialize chip_registry.")


class Progress(Protocol):
    """Told about the chip-year runs of a plan: how many chip-years in how many runs, then each run as it
    finishes (with its one-line summary). ``ftwd`` draws a progress bar in a terminal."""

    def start(self, chip_years: int, runs: int) -> None: ...

    def finished(self, outcome: RunOutcome, line: str) -> None: ...

    def close(self) -> None: ...


class Lines:
    """The plain :class:`Progress`: one line per finished run (what a log, a pipe or CI gets)."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.echo = echo

    def start(self, chip_years: int, runs: int) -> None:
        pass

    def finished(self, outcome: RunOutcome, line: str) -> None:
        self.echo(line)

    def close(self) -> None:
        pass


class PlannedRun(NamedTuple):
    """One run: the assets, the first and last partition key of its contiguous range, and its size."""

    assets: list
    first: str
    last: str
    count: int


def plan_runs(
    chips: list[str], years: list[str], assets: list[dg.AssetKey], done: dict[dg.AssetKey, set[str]], batch: int,
    closure: dict[dg.AssetKey, list[dg.AssetKey]] | None = None, only: set[str] | None = None,
) -> list[PlannedRun]:
    """Group missing (asset, chip-year) pairs into runs over contiguous chip ranges of one year.

    ``assets`` is a chain in dependency order; a chip-year missing an asset also reruns what
    ``closure`` lists for it (its downstream assets in the chain; without a closure, every asset
    after it). Each run covers a contiguous range of chips in registration order for one year, so
    Dagster's partition-range tags describe it exactly. Chips not in ``only`` (when given) are never
    planned, and no range spans them.
    """
    closure = closure or {a: assets[i:] for i, a in enumerate(assets)}
    runs = []
    for year in years:
        current: tuple | None = None
        members: list[str] = []

        def flush():
            if members:
                runs.append(PlannedRun(list(current), ChipYear(members[0], year).key, ChipYear(members[-1], year).key,
                                       len(members)))

        for chip in chips:
            key = ChipYear(chip, year).key
            planned = only is None or chip in only
            wanted = {b for a in assets if key not in done[a] for b in closure[a]} if planned else set()
            needed = tuple(a for a in assets if a in wanted) or None
            if needed != current or len(members) >= batch:
                flush()
                current, members = needed, []
            if needed is not None:
                members.append(chip)
        flush()
    return runs


def shard_plan(plan: list[PlannedRun], parts: int, shared_reads: bool = False) -> list[int]:
    """The worker (0, 1, ...) of each planned run: contiguous parts balanced by chip-years for workers that
    read for themselves; in turn for workers that read through one reader (``shared_reads``). Why:
    :mod:`ftw_assets.core.dataset.shards`."""
    from ftw_assets.core.dataset.shards import in_turn, split

    return in_turn(len(plan), parts) if shared_reads else split([run.count for run in plan], parts)


def own_defs_state(instance: dg.DagsterInstance):
    """Dagster's current defs-state storage set to this instance's: a sensor or schedule context built
    earlier in the same process may have left one whose instance is gone."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    return set_defs_state_storage(instance.defs_state_storage)


def _own_instance(func):
    """Run ``func(defs, instance, ...)`` under :func:`own_defs_state`."""
    import functools

    @functools.wraps(func)
    def wrapper(defs, instance, *args, **kwargs):
        with own_defs_state(instance):
            return func(defs, instance, *args, **kwargs)

    return wrapper


@_own_instance
def materialize_missing(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    unpartitioned: list[dg.AssetKey],
    partitioned: list[dg.AssetKey],
    batch: int = CHIPS_PER_RUN,
    echo: Callable[[str], None] = print,
    after: list[dg.AssetKey] = (),
    redo: tuple[dg.AssetKey, ...] = (),
    checks: tuple[dg.AssetCheckKey, ...] = (),
    closure: dict[dg.AssetKey, list[dg.AssetKey]] | None = None,
    chip_table: Path | None = None,
    progress: Progress | None = None,
    processes: int = 1,
    balance: bool = True,
    tags: dict | None = None,
    min_parallel: int = 0,
) -> Summary:
    """The unpartitioned setup assets not yet materialized, then the missing chip-years of ``partitioned``
    in batched runs (only over the chips of ``chip_table`` when given; the others are named and left
    out), then ``after`` and the ``checks``. ``progress`` (default: one ``echo`` line per run) is told
    about the chip-year runs. ``processes`` > 1: the runs go to that many worker processes
    (:mod:`ftw_assets.parallel`; ``defs`` must then be the dataset's own, ``build_defs``), with runs
    sized to divide evenly over them unless ``balance`` is False (a batch size the user chose), and
    unless fewer than ``min_parallel`` chip-years need work (then they run in this process). Once
    :data:`~ftw_assets.batch.STOP` is set (Ctrl-C) nothing more starts and the summary is marked
    interrupted. ``tags``: added to the chip-year runs."""
    summary = Summary()
    removed = sweep_temp_files(_dataset_folder(instance))
    if removed:
        echo(f"removed {removed} temp file(s) left by an interrupted run")
    global_job = defs.resolve_implicit_global_asset_job_def()
    for key in unpartitioned:
        if instance.get_latest_materialization_event(key) is not None:
            summary.skipped_unpartitioned.append(key.to_user_string())
            continue
        if STOP.is_set():
            summary.interrupted = True
            return summary
        outcome = execute_run(global_job, instance, [key], None, None, 0)
        summary.runs.append(outcome)
        echo(_line(outcome, len(summary.runs)))
        if not outcome.success:
            summary.interrupted = STOP.is_set()
            return summary  # everything after depends on it

    retries_before = RETRIES.copy()
    chips, years = chip_year_keys(instance)
    known = None
    if chip_table is not None:
        known, unknown = chips_in_table(instance, chip_table)
        if unknown:
            echo(unknown_chips_message(unknown, chip_table))
    # ``redo``: assets whose every partition is done again (e.g. selection with changed options).
    done = {a: set() if a in redo else set(map(str, instance.get_materialized_partitions(a))) for a in partitioned}
    only = None if known is None else set(known)
    plan = plan_runs(chips, years, partitioned, done, batch, closure, only=only)
    total = sum(n for *_, n in plan)
    if total < min_parallel:
        processes = 1
    if processes > 1 and len(plan) > 1 and balance:
        from ftw_assets.parallel import balanced_batch

        plan = plan_runs(chips, years, partitioned, done, balanced_batch(total, batch, processes), closure, only=only)
    echo(f"{len(chips if known is None else known)} chips x {len(years)} year(s): {total} chip-years need work, "
         f"in {len(plan)} run(s)")
    summary.runs += _run_plan(global_job, instance, plan, progress or Lines(echo), tags, processes=processes)
    for kind, n in sorted((RETRIES - retries_before).items()):
        echo(f"HTTP retries ({kind}): {n}")
    if STOP.is_set():  # the reports and checks after the runs would describe a dataset half done
        summary.interrupted = True
        return summary
    for key in after:  # unpartitioned reports over the whole dataset, refreshed on every call
        outcome = execute_run(global_job, instance, [key], None, None, 0)
        summary.runs.append(outcome)
        echo(_line(outcome, key.to_user_string()))
    if checks:  # the asset checks scan the whole dataset once, after the partitioned runs
        outcome = execute_run(global_job, instance, [], None, None, 0, checks=set(checks))
        summary.runs.append(outcome)
        echo(_line(outcome, "checks"))
    return summary


@_own_instance
def execute_plan(defs: dg.Definitions, instance: dg.DagsterInstance, plan, echo: Callable[[str], None] = print,
                 tags: dict | None = None, progress: Progress | None = None, processes: int = 1) -> list[RunOutcome]:
    """Run planned ranges (from :func:`plan_runs`) in-process, in order (or on ``processes`` worker
    processes, as in :func:`materialize_missing`); ``progress`` as there."""
    return _run_plan(defs.resolve_implicit_global_asset_job_def(), instance, plan, progress or Lines(echo), tags,
                     processes)


def _run_plan(job, instance, plan: list[PlannedRun], progress: Progress, tags: dict | None = None,
              processes: int = 1) -> list[RunOutcome]:
    if deployed(instance):  # submitted to the deployment's instance, run on its workers, followed here
        from ftw_assets.deploy.submit import run_plan

        return run_plan(instance, _dataset_folder(instance), plan, progress, tags, _line)
    if processes > 1 and len(plan) > 1:
        from ftw_assets.parallel import run_in_processes

        plan = [PlannedRun(*run) for run in plan]
        return run_in_processes(Path(instance.root_directory).parent, plan, processes, progress, tags, STOP, _line)
    outcomes = []
    progress.start(sum(n for *_, n in plan), len(plan))  # plain (assets, first, last, n) tuples too
    try:
        for i, (assets, first, last, n) in enumerate(plan, start=1):
            if STOP.is_set():
                break
            outcome = execute_run(job, instance, assets, first, last, n, extra_tags=tags)
            outcomes.append(outcome)
            progress.finished(outcome, _line(outcome, f"{i}/{len(plan)}"))
    finally:
        progress.close()
    return outcomes


@_own_instance
def run_checks(defs: dg.Definitions, instance: dg.DagsterInstance, checks: tuple[dg.AssetCheckKey, ...],
               echo: Callable[[str], None] = print) -> RunOutcome:
    """The asset checks alone, once over the whole dataset (after runs made outside materialize_missing)."""
    outcome = execute_run(defs.resolve_implicit_global_asset_job_def(), instance, [], None, None, 0, checks=set(checks))
    echo(_line(outcome, "checks"))
    return outcome


INTERRUPTS = {Interrupted.__name__, "KeyboardInterrupt", "DagsterExecutionInterruptedError"}


def _from_interrupt(event) -> bool:
    """Whether a Dagster event is a failure caused by an interrupt (its error or one it chains)."""
    error = getattr(getattr(event, "event_specific_data", None), "error", None)
    while error is not None:
        if error.cls_name in INTERRUPTS:
            return True
        error = error.cause or error.context
    return False


STACK_TRACE = "\n\nStack Trace:"


class _ConsoleFailures(logging.Filter):
    """Keeps stack traces off the console: a failure an interrupt causes is dropped (the runner says
    the run was interrupted), any other shows its error messages only. The whole trace stays in the
    run's event log (the Dagster UI's run page)."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is not None and _from_interrupt(event):
            return False
        text = record.getMessage()
        if STACK_TRACE in text:
            record.msg, record.args = _without_stack_traces(text), ()
        return True


def _without_stack_traces(text: str) -> str:
    """A Dagster failure message up to its first stack trace (the error and its message)."""
    return text.split(STACK_TRACE)[0].rstrip() + "\n  (the stack trace is in the run's log in the Dagster UI)"


@dg.logger(config_schema=dg.colored_console_logger.config_schema,
           description="Dagster's colored console logger, without stack traces (see _ConsoleFailures).")
def ftwd_console_logger(init_context) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    logger.addFilter(_ConsoleFailures())
    return logger


@contextlib.contextmanager
def terminable_children():
    """SIGTERM at its default while a run starts processes. Dagster stops a run's log tails (``tail -F``
    of its stdout and stderr) with SIGTERM and waits 30 s for each; a process that ignores SIGTERM passes
    that on to them, and each run then takes a minute longer. A script's background job ignores SIGINT,
    and Dagster maps SIGTERM onto SIGINT whenever it restores its handlers on the main thread, so any
    process that ran Dagster there (a test session, a notebook, ``ftwd`` itself) may be one. Only the
    main thread can set a handler; elsewhere this does nothing."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _off_main_thread(fn):
    """``fn()`` on a thread of its own while the main thread waits. Dagster sets its signal handlers
    only on the main thread, where they raise an interrupt inside whatever a step is doing; off it,
    :func:`stop_on_ctrl_c`'s handler stays in charge and steps stop between chip-years. The thread
    is a daemon: after a second Ctrl-C the process waits only for the chip-years in flight."""
    box: dict = {}
    context = contextvars.copy_context()  # Dagster's current defs-state storage is a context variable

    def target():
        try:
            box["value"] = context.run(fn)
        except BaseException as err:  # handed to the main thread
            box["error"] = err

    thread = threading.Thread(target=target, name="ftwd-run", daemon=True)
    with terminable_children():
        thread.start()
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def execute_run(job, instance, assets, first, last, n, extra_tags: dict | None = None, checks: set | None = None
                ) -> RunOutcome:
    """One run of ``job``'s ``assets`` over the partition range ``first``..``last`` (``n`` chip-years;
    no range for unpartitioned assets), or of the asset ``checks`` alone, in this process (with a deployment:
    on its workers)."""
    if deployed(instance):
        from ftw_assets.deploy.submit import run_one

        return run_one(instance, _dataset_folder(instance), assets, first, last, n, extra_tags, checks)
    tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last} if first else {}
    start = time.monotonic()
    # Asset runs carry no checks (they scan the whole dataset, unpartitioned); check runs carry no assets.
    subset = job.get_subset(asset_selection=set(assets), asset_check_selection=checks or set())
    subset = subset.with_logger_defs({**subset.loggers, "console": ftwd_console_logger})
    result = _off_main_thread(lambda: _execute_in_process(
        subset, instance, {**tags, **(extra_tags or {}), "ftw/launched_by": "ftwd", WORKER_TAG: worker_name()},
        frozenset(assets)))
    errors = []
    for evaluation in result.get_asset_check_evaluations() if checks else []:
        if not evaluation.passed:
            errors.append(f"check {evaluation.check_name} failed: {check_failures(evaluation.metadata)}")
    interrupted = False
    if not result.success:
        for event in result.all_events:
            if _from_interrupt(event):
                interrupted = True
            elif event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
                err = event.step_failure_data.error
                errors.append(f"{event.step_key}: {(err.cause.message if err.cause else err.message).strip()}")
    names = [a.to_user_string() for a in assets] + [c.name for c in sorted(checks or [], key=str)]
    return RunOutcome(names, first or "", last or "", n, result.success and not errors,
                      time.monotonic() - start, errors, interrupted=interrupted)


def _execute_in_process(subset: dg.JobDefinition, instance, tags: dict, assets: frozenset):
    """``subset.execute_in_process``, with the run recording ``assets`` as its asset selection (so the UI's
    runs list shows the target as for its own runs). ``execute_in_process(asset_selection=...)`` would
    subset the job again from the whole graph and so add every check of the selected assets: the
    dataset-wide image checks would then run inside every chip-year run."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process

    return core_execute_in_process(
        job=InMemoryJob(job_def=subset.as_ephemeral_job(resource_defs={}, input_values={})), run_config=QUIET, instance=instance, output_capturing_enabled=True,
        raise_on_error=False, run_tags={**(subset.run_tags or {}), **tags}, asset_selection=assets or None)


def deployed(instance) -> bool:
    """Whether ``instance`` is a deployment's (:mod:`ftw_assets.deploy`): runs go to its Celery workers."""
    return type(instance.run_launcher).__name__ == "FtwCeleryRunLauncher"


def _dataset_folder(instance) -> Path:
    """The dataset folder: the one holding the dataset's own dagster_home, or with a deployment FTW_OUTPUT_DIR."""
    if deployed(instance):
        from ftw_assets.resources import output_dir_from_env

        return output_dir_from_env()
    return Path(instance.root_directory).parent


def worker_name() -> str:
    """``host:pid`` of this process, as runs record it (:data:`WORKER_TAG`)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def check_failures(metadata: dict) -> str:
    """What a failed image check names, plainly: "2 image(s): a.tif:red, b.tif:nir" from its
    ``failing`` metadata (a JSON list of file names, perhaps with a band and values) and
    ``failing_count`` (how many in all; the list holds the first 50)."""
    failing = metadata.get("failing")
    names = getattr(failing, "value", failing) or []  # a MetadataValue, or plain data
    count = getattr(metadata.get("failing_count"), "value", None) or len(names)
    shown = ", ".join(map(str, names[:10])) + (f" and {count - 10} more" if count > 10 else "")
    return f"{count} image(s): {shown}" if names else "no file named"


def _line(o: RunOutcome, label) -> str:
    what = f"{o.partitions} chip-years {o.first} .. {o.last}" if o.partitions else "unpartitioned"
    state = "interrupted" if o.interrupted else "ok" if o.success else "FAILED"
    text = f"[{label}] {'+'.join(o.assets)}: {what} {state} ({o.seconds:.1f} s)"
    for e in o.errors:
        text += f"\n      {e}"
    return text


def missing_plan(instance: dg.DagsterInstance, chain: list[dg.AssetKey], batch: int = CHIPS_PER_RUN,
                 closure: dict[dg.AssetKey, list[dg.AssetKey]] | None = None,
                 chips: list[str] | None = None) -> list[PlannedRun]:
    """Runs for the chip-years of ``chain`` that are missing or failed, over ``chips`` (default: every
    chip partition), in registration order."""
    every, years = chip_year_keys(instance)
    done = {a: set(map(str, instance.get_materialized_partitions(a))) for a in chain}
    return plan_runs(every, years, chain, done, batch, closure, only=None if chips is None else set(chips))


def targets_plan(instance: dg.DagsterInstance, targets: Iterable[ChipYear], chain: list[dg.AssetKey],
                 batch: int = CHIPS_PER_RUN) -> list[PlannedRun]:
    """Runs doing ``chain`` again for exactly the ``targets`` chip-years."""
    chips, years = chip_year_keys(instance)
    wanted = {t.key for t in targets}
    everything = {ChipYear(c, y).key for c in chips for y in years}
    return plan_runs(chips, years, chain, {a: everything - wanted for a in chain}, batch)
