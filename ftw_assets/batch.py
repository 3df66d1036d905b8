"""Run every chip-year partition of a run through one function, with per-partition outcomes.

A run carries many partitions (backfill policy, ``ftwd``). Each chip-year that succeeds gets
its own metadata; when some fail, the ones that succeeded are still recorded as materialized
(so a rerun does only the failed ones) and the step fails with a list of what went wrong.
Once :data:`STOP` is set (``ftwd`` on Ctrl-C) no further chip-year starts: the ones in flight
finish and are recorded, and the step ends as interrupted.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import dagster as dg

from ftw_assets.core.dataset.chip_year import ChipYear


# Set by ftwd's Ctrl-C handler (runner.stop_on_ctrl_c). Read between chip-years, never mid-write, so
# what a chip-year writes is complete or not started.
STOP = threading.Event()


class Interrupted(KeyboardInterrupt):
    """Raised by a step that stopped for :data:`STOP`: Dagster records a KeyboardInterrupt as an
    interrupted step (not a failure of the asset), and the step's downstream steps do not start."""


def chip_years(context: dg.AssetExecutionContext) -> list[ChipYear]:
    return [ChipYear.parse(k) for k in context.partition_keys]


# Threads for chip-years whose work is mostly GDAL (rasterising, DEFLATE, PNG/JPEG), which runs
# without the GIL: both cores of a small machine, at most four.
CHIP_WORKERS = max(1, min(4, os.cpu_count() or 1))


def for_each_chip_year(context: dg.AssetExecutionContext, work: Callable[[ChipYear], dict],
                       workers: int = 1) -> dict[str, dict]:
    """``work`` for every chip-year of the run, on ``workers`` threads (only for work that touches
    nothing shared but read-only inputs: each chip-year writes its own files). Outcomes are kept in
    partition order, whatever order the threads finish in. Chip-years not started when :data:`STOP`
    is set are left out: the finished ones are recorded and :class:`Interrupted` is raised."""
    keys = [str(k) for k in context.partition_keys]

    def attempt(key: str) -> tuple[dict | None, str | None] | None:
        if STOP.is_set():
            return None  # not started
        try:
            return work(ChipYear.parse(key)), None
        except Exception as err:  # one chip's failure must not lose the others' work
            return None, f"{type(err).__name__}: {err}"

    if workers > 1 and len(keys) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chip") as pool:
            outcomes = list(pool.map(attempt, keys))
    else:
        outcomes = [attempt(k) for k in keys]
    started = {k: outcome for k, outcome in zip(keys, outcomes) if outcome is not None}
    done = {k: meta for k, (meta, err) in started.items() if err is None}
    failed = {k: err for k, (_, err) in started.items() if err is not None}
    skipped = len(keys) - len(started)
    for key, err in failed.items():
        context.log.error(f"{context.asset_key.to_user_string()} {key} failed: {err}")
    if failed or skipped:
        for key, meta in done.items():
            context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=meta))
    if skipped:
        raise Interrupted(f"stopped: {skipped} of {len(keys)} chip-years not started ({len(done)} recorded as done)")
    if failed:
        listing = "\n".join(f"- {k}: {v}" for k, v in sorted(failed.items())[:20])
        raise dg.Failure(
            description=f"{len(failed)} of {len(keys)} chip-years failed ({len(done)} recorded as done):\n{listing}",
            metadata={"failed": dg.MetadataValue.json(failed)},
        )
    add_partition_metadata(context, done)
    return done


def add_partition_metadata(context: dg.AssetExecutionContext, metadata: dict[str, dict]) -> None:
    """Each partition's metadata on its materialization, as ``context.add_asset_metadata(meta,
    partition_key=key)`` does. That method resolves the run's whole partition range to check the one
    key on every call, which makes a run quadratic in its size (``make bench``: most of Dagster's cost
    in a run of 400 chip-years). The keys here are the run's own, so this writes them into the same
    accumulator with one check for all; the public method is the fallback where Dagster differs."""
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    targeted = set(context.partition_keys)
    if accumulator is None or not hasattr(accumulator, "with_additional_asset_metadata") or not set(metadata) <= targeted:
        for key, meta in metadata.items():
            context.add_asset_metadata(meta, partition_key=key)
        return
    for key, meta in metadata.items():
        accumulator = accumulator.with_additional_asset_metadata(
            asset_key=context.asset_key, partition_key=key, metadata=meta)
    step._metadata_accumulator = accumulator
