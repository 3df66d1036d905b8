"""What each chip-year asset of a dataset has: materialized, failed, in progress, missing.

Read from Dagster's per-asset status cache (the partition subsets the UI's partitions page also
reads), counted with set operations over the dataset's chip-year keys, instead of asking Dagster for
the status of every key (100,000 lookups per asset at 50,000 chips x 2 years). The cache is brought
up to date from the events after its cursor: :func:`warm_status_cache` does that at the end of each
``ftwd`` build, so the first ``ftwd status`` or UI visit after a big build does not pay for it.

When the cache is missing or stale as a whole (a chip or a year added changes the partitions'
identity it is keyed on), Dagster rebuilds it by turning every materialized key into a
``MultiPartitionKey`` and checking it against both dimensions: 2.5 s per asset at 100,000
chip-years. :func:`status_cache` makes that same value from the key strings and the registered chips
and years, and its failed and in-progress partitions from the few runs that did not succeed (same
fields, same serialized subsets; tested against Dagster's rebuild).
"""

from __future__ import annotations

from typing import Iterable

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.definitions.partitions.subset.default import DefaultPartitionsSubset
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.partition_status_cache import (
    AssetStatusCacheValue, build_failed_and_in_progress_partition_subset, get_and_update_asset_status_cache_value,
    get_last_planned_storage_id, get_validated_partition_keys,
)

from ftw_assets.core.dataset.chip_year import KEY_SEPARATOR, ChipYear
from ftw_assets.partitions import CHIPS, YEARS, chip_year_partitions
from ftw_assets.storage import attempts_without_materializations_in_runs

# The runs whose planned materializations can make a partition failed (FAILURE) or in progress (not
# finished); up to MANY_RUNS of them are looked up by run, more through every partition's latest event.
UNSUCCESSFUL = [s for s in dg.DagsterRunStatus if s not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED)]
MANY_RUNS = 50


def partition_status(instance: dg.DagsterInstance, assets: Iterable[dg.AssetKey]) -> dict[str, dict[str, int]]:
    """Per chip-year asset of ``assets``: materialized, failed, in progress and missing partitions,
    from the instance. The assets are named, not loaded: every chip-year asset has the chip x year
    partitions, so ``ftwd status`` need not import the asset graph."""
    chips, years = instance.get_dynamic_partitions(CHIPS), instance.get_dynamic_partitions(YEARS)
    keys = ChipYear.keys(chips, years)
    assets = sorted(map(dg.AssetKey.from_coercible, assets), key=lambda k: k.to_user_string())
    caches = _status_caches(instance, assets) if keys else {}
    out = {}
    for key in assets:
        cached = caches.get(key)
        in_progress = failed = materialized = set()
        if isinstance(cached, AssetStatusCacheValue):
            # A partition in progress is in progress whatever it had before; failed beats an older success.
            in_progress = _keys(cached.deserialize_in_progress_partition_subsets(chip_year_partitions)) & keys
            failed = (_keys(cached.deserialize_failed_partition_subsets(chip_year_partitions)) & keys) - in_progress
            materialized = (_keys(cached.deserialize_materialized_partition_subsets(chip_year_partitions)) & keys
                            ) - in_progress - failed
        counts = {"materialized": len(materialized), "failed": len(failed), "in_progress": len(in_progress)}
        counts["missing"] = len(keys) - sum(counts.values())
        counts["total"] = len(keys)
        out[key.to_user_string()] = counts
    return out


def warm_status_cache(instance: dg.DagsterInstance, assets: Iterable[dg.AssetKey]) -> None:
    """Bring the status cache of the chip-year ``assets`` up to date with the events stored since its cursor."""
    _status_caches(instance, list(assets))


def _status_caches(instance: dg.DagsterInstance, assets: list[dg.AssetKey]) -> dict:
    # One asset at a time: in two threads the rebuilds took longer (the GIL), 10.6-12.1 s against 7.6-8.7.
    return {key: status_cache(instance, key, chip_year_partitions) for key in assets}


def status_cache(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def) -> AssetStatusCacheValue | None:
    """The asset's status cache brought up to date and stored, as Dagster's
    ``get_and_update_asset_status_cache_value`` does; rebuilt by :func:`_rebuilt_status_cache` when
    the stored one cannot be updated (none, or made for other partitions)."""
    if not (isinstance(partitions_def, dg.MultiPartitionsDefinition)
            and partitions_def.partition_dimension_names == ["chip", "year"]):
        return get_and_update_asset_status_cache_value(instance, key, partitions_def)
    with partition_loading_context(None, instance):
        record = next(iter(instance.get_asset_records(asset_keys=[key])), None)
        stored = record.asset_entry.cached_status if record else None
        if stored is not None and stored.partitions_def_id == partitions_def.get_serializable_unique_identifier():
            if _up_to_date(instance, key, record, stored):
                return stored
            return get_and_update_asset_status_cache_value(instance, key, partitions_def)
        value = _rebuilt_status_cache(instance, key, partitions_def, record)
        if value is not None and instance.event_log_storage.can_write_asset_status_cache():
            instance.update_asset_cached_status_data(key, value)
        return value


def _up_to_date(instance: dg.DagsterInstance, key: dg.AssetKey, record, stored: AssetStatusCacheValue) -> bool:
    """True when no materialization or planned materialization came after the stored value and none of
    its partitions was in progress: Dagster's update would then make an equal value, after
    deserializing and re-serializing every subset (0.3 s per asset at 100,000 chip-years)."""
    if stored.earliest_in_progress_materialization_event_id is not None:
        return False  # runs in flight then may have finished or failed since
    last_materialized = record.asset_entry.last_materialization_storage_id or 0
    return max(last_materialized, get_last_planned_storage_id(instance, key, record)) <= stored.latest_storage_id


def _rebuilt_status_cache(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def,
                          record) -> AssetStatusCacheValue | None:
    """Dagster's ``_build_status_cache`` without a stored value, the materialized keys checked as
    strings against the registered chips and years; failed and in-progress partitions from the runs
    that did not succeed (:func:`_failed_and_in_progress`)."""
    last_materialized = record.asset_entry.last_materialization_storage_id if record else None
    last_planned = get_last_planned_storage_id(instance, key, record)
    latest = max(last_materialized or 0, last_planned or 0)
    if not latest:
        return None
    materialized = instance.get_materialized_partitions(key) & _registered_keys(instance)
    failed, in_progress, earliest_in_progress = _failed_and_in_progress(instance, key, partitions_def, last_planned)
    return AssetStatusCacheValue(
        latest_storage_id=latest,
        partitions_def_id=partitions_def.get_serializable_unique_identifier(),
        serialized_materialized_partition_subset=DefaultPartitionsSubset(materialized).serialize(),
        serialized_failed_partition_subset=failed.serialize(),
        serialized_in_progress_partition_subset=in_progress.serialize(),
        earliest_in_progress_materialization_event_id=earliest_in_progress,
    )


_REGISTERED: dict = {}  # the registered chips and years last seen -> their keys, for the next asset's rebuild


def _registered_keys(instance: dg.DagsterInstance) -> set[str]:
    """The key string of every registered chip in every registered year, spelled as Dagster joins them."""
    chips, years = instance.get_dynamic_partitions(CHIPS), instance.get_dynamic_partitions(YEARS)
    if _REGISTERED.get("of") != (chips, years):
        _REGISTERED.update(of=(chips, years), keys={f"{chip}{KEY_SEPARATOR}{year}" for year in years for chip in chips})
    return _REGISTERED["keys"]


def _failed_and_in_progress(instance: dg.DagsterInstance, key: dg.AssetKey, partitions_def, last_planned: int | None):
    """Dagster's ``build_failed_and_in_progress_partition_subset`` without a stored value: the
    partitions whose latest attempt, a planned materialization that none followed, was made by a
    failed run (failed) or an unfinished one (in progress, with the earliest such event id). Dagster
    reads every partition's latest event for it (0.3-0.6 s per asset at 100,000 chip-years); the few
    runs that did not succeed are asked for theirs instead."""
    storage = instance.event_log_storage
    runs = instance.get_runs(dg.RunsFilter(statuses=UNSUCCESSFUL), limit=MANY_RUNS + 1) if last_planned else []
    if len(runs) > MANY_RUNS or not isinstance(storage, SqlEventLogStorage):
        return build_failed_and_in_progress_partition_subset(
            instance, key, partitions_def, last_planned_materialization_storage_id=last_planned)
    status = {run.run_id: run.status for run in runs}
    attempts = attempts_without_materializations_in_runs(storage, key, list(status)) if runs else {}
    failed = {p for p, (run_id, _) in attempts.items() if status[run_id] == dg.DagsterRunStatus.FAILURE}
    in_progress = {p: event_id for p, (run_id, event_id) in attempts.items() if p not in failed}
    return (_subset(partitions_def, failed), _subset(partitions_def, in_progress),
            min(in_progress.values(), default=None))


def _subset(partitions_def, partitions):
    if not partitions:
        return partitions_def.empty_subset()
    valid = get_validated_partition_keys(partitions_def, set(partitions))
    return partitions_def.empty_subset().with_partition_keys(valid)


def _keys(subset) -> set[str]:
    return set(subset.get_partition_keys())  # strings, as deserialized (a MultiPartitionKey is a str too)
