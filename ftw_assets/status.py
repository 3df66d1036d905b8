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
and years (same fields, same serialized subsets; tested against Dagster's rebuild).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.definitions.partitions.subset.default import DefaultPartitionsSubset
from dagster._core.storage.partition_status_cache import (
    AssetStatusCacheValue, build_failed_and_in_progress_partition_subset, get_and_update_asset_status_cache_value,
    get_last_planned_storage_id,
)

from ftw_assets.core.dataset.chip_year import KEY_SEPARATOR, ChipYear
from ftw_assets.partitions import CHIPS, YEARS


def partition_status(defs: dg.Definitions, instance: dg.DagsterInstance, assets=None) -> dict[str, dict[str, int]]:
    """Per chip-year asset (of ``assets``, default all): materialized, failed, in progress and missing
    partitions, from the instance."""
    chips, years = instance.get_dynamic_partitions(CHIPS), instance.get_dynamic_partitions(YEARS)
    keys = ChipYear.keys(chips, years)
    graph = defs.resolve_asset_graph()
    out = {}
    for key in sorted(assets or graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        partitions_def = graph.get(key).partitions_def
        if partitions_def is None:
            continue
        cached = status_cache(instance, key, partitions_def) if keys else None
        in_progress = failed = materialized = set()
        if isinstance(cached, AssetStatusCacheValue):
            # A partition in progress is in progress whatever it had before; failed beats an older success.
            in_progress = _keys(cached.deserialize_in_progress_partition_subsets(partitions_def)) & keys
            failed = (_keys(cached.deserialize_failed_partition_subsets(partitions_def)) & keys) - in_progress
            materialized = (_keys(cached.deserialize_materialized_partition_subsets(partitions_def)) & keys
                            ) - in_progress - failed
        counts = {"materialized": len(materialized), "failed": len(failed), "in_progress": len(in_progress)}
        counts["missing"] = len(keys) - sum(counts.values())
        counts["total"] = len(keys)
        out[key.to_user_string()] = counts
    return out


def warm_status_cache(defs: dg.Definitions, instance: dg.DagsterInstance, assets) -> None:
    """Bring the status cache of ``assets`` up to date with the events stored since its cursor."""
    graph = defs.resolve_asset_graph()
    for key in assets:
        partitions_def = graph.get(key).partitions_def
        if partitions_def is not None:
            status_cache(instance, key, partitions_def)


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
    strings against the registered chips and years. Failed and in-progress partitions (few) go
    through Dagster's own function."""
    last_materialized = record.asset_entry.last_materialization_storage_id if record else None
    last_planned = get_last_planned_storage_id(instance, key, record)
    latest = max(last_materialized or 0, last_planned or 0)
    if not latest:
        return None
    chips, years = set(instance.get_dynamic_partitions(CHIPS)), set(instance.get_dynamic_partitions(YEARS))
    materialized = set()
    for partition in instance.get_materialized_partitions(key):
        chip, _, year = partition.partition(KEY_SEPARATOR)
        if chip in chips and year in years:
            materialized.add(partition)
    failed, in_progress, earliest_in_progress = build_failed_and_in_progress_partition_subset(
        instance, key, partitions_def, last_planned_materialization_storage_id=last_planned)
    return AssetStatusCacheValue(
        latest_storage_id=latest,
        partitions_def_id=partitions_def.get_serializable_unique_identifier(),
        serialized_materialized_partition_subset=DefaultPartitionsSubset(materialized).serialize(),
        serialized_failed_partition_subset=failed.serialize(),
        serialized_in_progress_partition_subset=in_progress.serialize(),
        earliest_in_progress_materialization_event_id=earliest_in_progress,
    )


def _keys(subset) -> set[str]:
    return set(subset.get_partition_keys())  # strings, as deserialized (a MultiPartitionKey is a str too)
