"""Run every chip-year partition of a run through one function, with per-partition outcomes.

A run carries many partitions (backfill policy, ``ftwd``). Each chip-year that succeeds gets
its own metadata; when some fail, the ones that succeeded are still recorded as materialized
(so a rerun does only the failed ones) and the step fails with a list of what went wrong.
"""

from __future__ import annotations

from typing import Callable

import dagster as dg

from ftw_assets.core.dataset.chip_year import ChipYear


def chip_years(context: dg.AssetExecutionContext) -> list[ChipYear]:
    return [ChipYear.parse(k) for k in context.partition_keys]


def for_each_chip_year(context: dg.AssetExecutionContext, work: Callable[[ChipYear], dict]) -> dict[str, dict]:
    done: dict[str, dict] = {}
    failed: dict[str, str] = {}
    keys = list(context.partition_keys)
    for key in keys:
        try:
            done[str(key)] = work(ChipYear.parse(key))
        except Exception as err:  # one chip's failure must not lose the others' work
            failed[str(key)] = f"{type(err).__name__}: {err}"
            context.log.error(f"{context.asset_key.to_user_string()} {key} failed: {failed[str(key)]}")
    if failed:
        for key, meta in done.items():
            context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=meta))
        listing = "\n".join(f"- {k}: {v}" for k, v in sorted(failed.items())[:20])
        raise dg.Failure(
            description=f"{len(failed)} of {len(keys)} chip-years failed ({len(done)} recorded as done):\n{listing}",
            metadata={"failed": dg.MetadataValue.json(failed)},
        )
    for key, meta in done.items():
        context.add_asset_metadata(meta, partition_key=key)
    return done
