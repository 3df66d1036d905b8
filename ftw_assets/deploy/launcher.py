"""The run launcher of a deployment: dagster-celery's ``CeleryRunLauncher`` with tile routing and worker-death
detection.

Routing: a run's chips (its partition range, or its single partition) lie in one MGRS tile; the run goes to the
Celery queue of the shard of that tile's Sentinel-2 block (``ftw-shard-N``), so one worker's open datasets and
block cache serve neighbouring runs. ``ftwd`` names the shard of each run of its plan (tag ``ftw/shard``):
the plan is in block order, so it cuts it into as many contiguous parts as there are shards, which keeps
neighbouring blocks together and gives each worker its share. Every run of ``ftwd``, the daemon's sensor and schedule and a UI backfill
is routed here, since all of them launch through the instance. A retry (Dagster's run retries) and a run
without chips go to the common queue (:data:`~ftw_assets.deploy.config.COMMON_QUEUE`) that every worker
also listens to, and so does a run whose shard no live worker serves (asked of the workers at launch), so a
shard whose worker died does not hold new runs. A run already waiting in a dead worker's queue fails at the run
monitoring's start timeout and is retried on the common queue.

Health: Celery records a started task's worker (``track_started``); a worker killed with SIGKILL leaves its task
STARTED for ever. The daemon's run monitoring asks :meth:`check_run_worker_health`, which pings that worker:
no answer, and the run is reported failed (then retried, a bounded number of times, by run retries).
"""

from __future__ import annotations

import time
import zlib

from dagster import Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import (ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG, RETRY_NUMBER_TAG)
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_TASK_ID_TAG

from ftw_assets.deploy.config import COMMON_QUEUE, shard_queue

TILE_TAG = "ftw/tile"  # the MGRS tile of the run's chips
SHARD_TAG = "ftw/shard"
PING_TIMEOUT_S = 3.0
QUEUES_TTL_S = 5.0
MISSED_PINGS = 3  # a worker that misses this many health checks in a row is taken for dead


def tile_block(partition_key: str) -> tuple[str, int, int] | None:
    """(MGRS tile, Sentinel-2 block row, block column) of a chip-year partition key ``chip|year``, or None."""
    from ftw_assets.core.dataset.chip_year import ChipYear
    from ftw_assets.core.geometry.grid import S2_BLOCK_M, parse_chip_id

    try:
        chip = parse_chip_id(ChipYear.parse(partition_key).chip)
    except Exception:
        return None
    return chip.mgrs_tile, (100_000 - chip.n_km * 1000 - 1) // S2_BLOCK_M, chip.e_km * 1000 // S2_BLOCK_M


def shard_of(partition_key: str, shards: int) -> tuple[str, int] | None:
    """(tile, shard) of a run starting at ``partition_key``: neighbouring blocks of a tile alternate over the
    shards, a block always lands on the same one."""
    found = tile_block(partition_key)
    if found is None:
        return None
    tile, row, col = found
    return tile, (zlib.crc32(tile.encode()) + row + col) % max(1, shards)


def queue_for(tags: dict, shards: int) -> tuple[str, dict]:
    """The Celery queue of a run with ``tags`` and the routing tags to record on it."""
    if int(tags.get(RETRY_NUMBER_TAG) or 0) > 0:  # its first worker may be dead: any live worker
        return COMMON_QUEUE, {}
    key = tags.get(ASSET_PARTITION_RANGE_START_TAG) or tags.get(PARTITION_NAME_TAG)
    found = shard_of(key, shards) if key else None
    if found is None:
        return tags.get(DAGSTER_CELERY_QUEUE_TAG) or COMMON_QUEUE, {}
    tile, shard = found
    if str(tags.get(SHARD_TAG, "")).isdigit():  # ftwd's plan: contiguous runs (neighbouring blocks) per shard
        shard = int(tags[SHARD_TAG]) % max(1, shards)
    return shard_queue(shard), {TILE_TAG: tile, SHARD_TAG: str(shard)}


class FtwCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` (one run = one Celery task, executed in one process on a worker) routing runs by
    tile and detecting workers that died."""

    def __init__(self, default_queue: str, shards: int = 1, **kwargs) -> None:
        self.shards = int(shards)
        self._missed: dict[str, int] = {}
        self._queues: set[str] = set()
        self._queues_at: float | None = None
        super().__init__(default_queue=default_queue, **kwargs)

    @classmethod
    def config_type(cls):
        return {**CeleryRunLauncher.config_type(),
                "shards": Field(IntSource, is_required=False, default_value=1,
                                description="Tile shards: runs go to the queues ftw-shard-0 .. ftw-shard-(N-1).")}

    def _launch_celery_task_run(self, run, task_signature, routing_key: str) -> None:
        queue, tags = queue_for(dict(run.tags), self.shards)
        live = self._live_queues()
        if queue != COMMON_QUEUE and live is not None and queue not in live:  # no live worker serves that shard
            queue = COMMON_QUEUE
        tags[DAGSTER_CELERY_QUEUE_TAG] = queue
        self._instance.add_run_tags(run.run_id, tags)
        super()._launch_celery_task_run(run.with_tags({**run.tags, **tags}), task_signature, routing_key)

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if not task_id:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no Celery task yet")
        result = self.celery.AsyncResult(task_id)
        state = result.state
        if state == "STARTED":
            worker = (result.info or {}).get("hostname") if isinstance(result.info, dict) else None
            if worker and not self._answers(worker):
                self._missed[task_id] = self._missed.get(task_id, 0) + 1
                if self._missed[task_id] >= MISSED_PINGS:
                    return CheckRunHealthResult(WorkerStatus.FAILED, f"the Celery worker {worker} running it does "
                                                                     f"not answer: it died (killed, out of memory, "
                                                                     f"host down)")
            else:
                self._missed.pop(task_id, None)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return super().check_run_worker_health(run)

    def _control(self):
        """A Celery app of its own for one remote-control call: the daemon launches and monitors on several
        threads, and calls sharing an app's reply queue take each other's replies."""
        from celery import Celery

        return Celery(broker=self.broker, set_as_current=False)

    def _live_queues(self) -> set[str] | None:
        """The queues some live worker consumes (asked at most every few seconds), or None when unknown."""
        now = time.monotonic()
        if self._queues_at is None or now - self._queues_at > QUEUES_TTL_S:
            try:
                with self._control() as app:
                    found = app.control.inspect(timeout=PING_TIMEOUT_S / 2).active_queues() or {}
            except Exception:
                return None
            self._queues = {q["name"] for queues in found.values() for q in queues or []}
            self._queues_at = now
        return self._queues

    def _answers(self, worker: str) -> bool:
        try:
            with self._control() as app:
                replies = app.control.ping(destination=[worker], timeout=PING_TIMEOUT_S)
        except Exception:  # the broker is down: say nothing about the worker
            return True
        return any(worker in reply for reply in replies or [])
