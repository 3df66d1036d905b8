"""Submit planned runs to a deployment's instance and follow them to the end.

Each :class:`~ftw_assets.runner.PlannedRun` becomes one run of the code location's asset job for its assets,
with the partition-range tags ``ftwd`` puts on its in-process runs, built from the remote job as Dagster's
own ``dagster job launch`` and sensors build theirs, and submitted through the instance
(``instance.submit_run``: the queued run coordinator, then the Celery launcher). A run executes in one
process on a worker (the in-process executor), so its block cache serves its chips. ``ftwd`` polls the
runs and tells the same :class:`~ftw_assets.runner.Progress` as in-process; a run that fails and is retried
by the daemon (run retries) is followed into its retry. Ctrl-C: the runs still in the queue are cancelled
(never started, they are left out of the outcomes, as in-process), the started ones are followed to their end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG,
                                        AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG)

from ftw_assets.batch import STOP
from ftw_assets.deploy.config import CODE_MODULE

LOCATION = "ftw_assets"  # workspace.yaml's location name: the daemon retries runs in it
OUTPUT_DIR_TAG = "ftw/output_dir"  # the dataset folder the run is for; the worker checks it sees it
IN_ONE_PROCESS = {"execution": {"config": {}}}  # the deployment's executor is in-process (deploy/definitions.py)
POLL_S = 0.5
RETRY_WAIT_S = 60  # a failed run the daemon has not retried after this long is reported failed
# A retry (run retries, after a worker died) runs the whole run again: its outputs are written atomically
# and idempotently, and a worker killed after its last step leaves no failed step to re-execute from.
RETRY_ALL_STEPS = {"dagster/retry_strategy": "ALL_STEPS"}
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class Submitter:
    """The code location loaded in this process (as the daemon loads it from workspace.yaml) and the runs
    made from its asset job."""

    def __init__(self, instance: dg.DagsterInstance, output_dir: Path):
        from dagster._core.remote_origin import InProcessCodeLocationOrigin
        from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

        self.instance, self.output_dir = instance, Path(output_dir).resolve()
        origin = InProcessCodeLocationOrigin(
            # The Definitions by their module (the package's lazy ``defs`` may already be its subpackage here).
            loadable_target_origin=LoadableTargetOrigin(executable_path=sys.executable,
                                                        module_name=CODE_MODULE, attribute="defs",
                                                        working_directory=os.getcwd()),
            location_name=LOCATION)
        self._process = WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin))
        self.workspace = self._process.create_request_context()
        self.location = self.workspace.get_code_location(LOCATION)
        self.repo = next(iter(self.location.get_repositories().values()))

    def submit(self, assets, first: str | None, last: str | None, tags: dict | None = None,
               checks: set | None = None) -> str:
        """One run of ``assets`` (or the asset ``checks`` alone) over ``first``..``last``; its id."""
        from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
        from dagster._core.definitions.selector import JobSubsetSelector

        assets, checks = list(assets), set(checks or ())
        selector = JobSubsetSelector(location_name=LOCATION, repository_name=self.repo.name,
                                     job_name=IMPLICIT_ASSET_JOB_NAME, op_selection=None,
                                     asset_selection=assets, asset_check_selection=list(checks))
        job = self.location.get_job(selector)
        plan = self.location.get_execution_plan(job, IN_ONE_PROCESS, step_keys_to_execute=None, known_state=None,
                                                instance=self.instance).execution_plan_snapshot
        run_tags = {**(job.run_tags or {}), **RETRY_ALL_STEPS, **(tags or {}), "ftw/launched_by": "ftwd",
                    OUTPUT_DIR_TAG: str(self.output_dir)}
        if first:
            run_tags |= {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        run = self.instance.create_run(
            job_name=IMPLICIT_ASSET_JOB_NAME, run_id=None, run_config=IN_ONE_PROCESS,
            resolved_op_selection=job.resolved_op_selection, step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None, status=dg.DagsterRunStatus.NOT_STARTED, root_run_id=None, parent_run_id=None,
            tags=run_tags, job_snapshot=job.job_snapshot, execution_plan_snapshot=plan,
            parent_job_snapshot=job.parent_job_snapshot, remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(), asset_selection=frozenset(assets) if assets else None,
            asset_check_selection=frozenset(checks), asset_graph=self.repo.asset_graph)
        self.instance.submit_run(run.run_id, self.workspace)
        return run.run_id


_SUBMITTERS: dict = {}


def submitter_for(instance: dg.DagsterInstance, output_dir: Path) -> Submitter:
    """One :class:`Submitter` per instance and dataset folder in this process (the code location loads once)."""
    key = (id(instance), str(Path(output_dir).resolve()))
    if key not in _SUBMITTERS:
        _SUBMITTERS.clear()
        _SUBMITTERS[key] = Submitter(instance, output_dir)
    return _SUBMITTERS[key]


def run_plan(instance: dg.DagsterInstance, output_dir: Path, plan: list, progress, tags: dict | None, line
             ) -> list:
    """Submit every planned run, then follow them to the end; outcomes in plan order."""
    from ftw_assets.runner import PlannedRun, shard_plan

    plan = [PlannedRun(*run) for run in plan]
    progress.start(sum(p.count for p in plan), len(plan))
    outcomes: dict[int, object] = {}
    try:
        submitter = submitter_for(instance, output_dir)
        started = time.monotonic()
        follows = {}
        shards = max(1, int(getattr(instance.run_launcher, "shards", 1)))
        # Contiguous parts of the plan per shard keep neighbouring blocks on one worker (the launcher routes
        # by this tag); each host reads for itself, so the blocks where two parts meet are fetched by both.
        shard_of = shard_plan(plan, shards)
        for i in _interleaved(shard_of):
            if STOP.is_set():
                break
            run, shard = plan[i], {"ftw/shard": str(shard_of[i])}
            follows[i] = Followed(submitter.submit(run.assets, run.first, run.last, {**(tags or {}), **shard}),
                                  started)
        total = len(plan)

        def finished(i, f):
            if f.cancelled:  # never started: Ctrl-C came first (left out, as in-process)
                return
            outcome = outcomes[i] = f.outcome(instance, plan[i])
            progress.finished(outcome, line(outcome, f"{len(outcomes)}/{total}"))

        _follow(instance, follows, finished)
    finally:
        progress.close()
    return [outcomes[i] for i in sorted(outcomes)]


def _interleaved(shard_of: list[int]) -> list[int]:
    """The order to submit runs in: each shard's first run, then each shard's second, and so on. The run
    coordinator starts queued runs in the order they came, so in plan order the first shard's runs would
    take every run slot (queued on its one worker) while the other workers wait."""
    seen: dict[int, int] = {}
    rank = []
    for i, shard in enumerate(shard_of):
        rank.append((seen.get(shard, 0), shard, i))
        seen[shard] = seen.get(shard, 0) + 1
    return [i for *_, i in sorted(rank)]


def run_one(instance: dg.DagsterInstance, output_dir: Path, assets, first, last, n, tags: dict | None = None,
            checks: set | None = None):
    """One run (an unpartitioned asset, or the checks) through the deployment, followed to its end."""
    from ftw_assets.runner import PlannedRun

    submitter = submitter_for(instance, output_dir)
    follows = {0: Followed(submitter.submit(assets, first, last, tags, checks), time.monotonic())}
    box = {}
    _follow(instance, follows, lambda i, f: box.setdefault("o", f.outcome(instance, PlannedRun(list(assets), first,
                                                                                                last, n), checks)))
    return box["o"]


class Followed:
    """A planned run's chain of attempts (the first run, then its retries)."""

    def __init__(self, run_id: str, started: float):
        self.run_ids, self.started, self.final, self.waited_retry = [run_id], started, None, 0.0
        self.cancelled = False  # by Ctrl-C, while it waited in the queue

    @property
    def current(self) -> str:
        return self.run_ids[-1]

    def outcome(self, instance, run, checks: set | None = None):
        from ftw_assets.runner import RunOutcome

        record = self.final
        success = record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        errors = [] if success else failures(instance, record.dagster_run.run_id)
        if not success and len(self.run_ids) > 1:
            errors.append(f"failed after {len(self.run_ids)} attempts (runs {', '.join(r[:8] for r in self.run_ids)})")
        names = [a.to_user_string() for a in run.assets] + [c.name for c in sorted(checks or [], key=str)]
        if checks and success:
            errors = check_failures(instance, record.dagster_run.run_id)
            success = not errors
        interrupted = record.dagster_run.status == dg.DagsterRunStatus.CANCELED and STOP.is_set()
        return RunOutcome(names, run.first or "", run.last or "", run.count, success,
                          time.monotonic() - self.started, errors, interrupted=interrupted)


def _follow(instance, follows: dict[int, Followed], finished) -> None:
    """Poll the runs until each planned run's last attempt is done (a retry is followed); ``finished(i, f)``."""
    active = dict(follows)
    cancelled = False
    while active:
        if STOP.is_set() and not cancelled:  # Ctrl-C: queued runs are cancelled, started ones finish
            cancelled = True
            for f in active.values():
                f.cancelled = cancel_if_queued(instance, f.current)
        records = {r.dagster_run.run_id: r for r in
                   instance.get_run_records(dg.RunsFilter(run_ids=[f.current for f in active.values()]))}
        for i, f in list(active.items()):
            record = records.get(f.current)
            if record is None or record.dagster_run.status not in DONE:
                continue
            run = record.dagster_run
            if run.status == dg.DagsterRunStatus.FAILURE and not cancelled:
                retry = run.tags.get(AUTO_RETRY_RUN_ID_TAG)
                will = run.tags.get(WILL_RETRY_TAG)
                if retry:
                    f.run_ids.append(retry)
                    continue
                if will != "false" and f.waited_retry < RETRY_WAIT_S:
                    f.waited_retry += POLL_S  # the daemon creates the retry within seconds (or could not)
                    continue
            f.final = record
            del active[i]
            finished(i, f)
        if active:
            time.sleep(POLL_S)


def cancel_if_queued(instance, run_id: str) -> bool:
    """Cancel the run if it is still waiting in the queue. Not the run coordinator's ``cancel_run``: for a run
    the daemon dequeued meanwhile it asks the launcher to terminate it, which kills a run that has started
    (they finish) or fails on a run whose Celery task is not recorded yet."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.status not in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        return False
    instance.report_run_canceling(run, message="Canceling run from the queue: ftwd was interrupted (Ctrl-C).")
    instance.report_run_canceled(run)
    return True


def failures(instance, run_id: str) -> list[str]:
    """What failed in a run: its step failures, else the run failure's message (e.g. a worker that died)."""
    from dagster._core.events import DagsterEventType

    errors = []
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.STEP_FAILURE:
            err = event.step_failure_data.error if event.step_failure_data else None
            text = (err.cause.message if err and err.cause else err.message if err else entry.message or "").strip()
            errors.append(f"{event.step_key}: {text}")
        elif not errors:
            errors.append(f"run {run_id[:8]}: {(entry.message or event.message or '').strip()}"[:600])
    return errors


def check_failures(instance, run_id: str) -> list[str]:
    """The failed asset checks of a check run, as the in-process path names them."""
    from dagster._core.events import DagsterEventType

    from ftw_assets.runner import check_failures as describe

    errors = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if not evaluation.passed:
            errors.append(f"check {evaluation.asset_check_key.name} failed: {describe(evaluation.metadata)}")
    return errors
