"""The chip-year status counts and the status cache they are read from."""

import threading

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.storage.partition_status_cache import _build_status_cache, get_and_update_asset_status_cache_value

from ftw_assets.partitions import CHIPS, YEARS, chip_year_partitions
from ftw_assets import status
from ftw_assets.status import _rebuilt_status_cache, partition_status, status_cache

CHIP_IDS = [f"ftw-33UWP{x:02d}{y:02d}" for x in range(0, 8, 2) for y in range(0, 6, 2)]  # 12 chips


ENTERED, GATE = threading.Event(), threading.Event()  # a run held in progress (chip 8)


@dg.asset(partitions_def=chip_year_partitions)
def chip_thing(context: dg.AssetExecutionContext) -> None:
    chip = context.partition_key.keys_by_dimension["chip"]
    if chip == CHIP_IDS[5]:
        raise RuntimeError("this chip fails")
    if chip == CHIP_IDS[8]:
        ENTERED.set()
        assert GATE.wait(60)


def _instance_with_history(tmp_path) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    instance.add_dynamic_partitions(CHIPS, CHIP_IDS)
    instance.add_dynamic_partitions(YEARS, ["2023", "2024"])
    for chip in CHIP_IDS[:7]:
        for year in ("2023", "2024"):
            dg.materialize([chip_thing], instance=instance, partition_key=f"{chip}|{year}", raise_on_error=False)
    instance.delete_dynamic_partition(CHIPS, CHIP_IDS[0])  # its materializations stay in the event log
    return instance


def test_the_rebuilt_status_cache_equals_dagsters_rebuild(tmp_path):
    instance = _instance_with_history(tmp_path)
    key = chip_thing.key
    record = next(iter(instance.get_asset_records(asset_keys=[key])))
    with partition_loading_context(None, instance):
        ours = _rebuilt_status_cache(instance, key, chip_year_partitions, record)
        dagsters = _build_status_cache(instance, key, chip_year_partitions, None, record)
    assert ours == dagsters
    materialized = chip_year_partitions.deserialize_subset(ours.serialized_materialized_partition_subset)
    # chips 1-4 and 6 in both years: chip 0 is no longer registered, chip 5 failed
    assert len(materialized) == 10 and f"{CHIP_IDS[0]}|2024" not in materialized
    failed = chip_year_partitions.deserialize_subset(ours.serialized_failed_partition_subset)
    assert sorted(map(str, failed.get_partition_keys())) == [
        f"{CHIP_IDS[5]}|2023", f"{CHIP_IDS[5]}|2024"]


def _both_rebuilds(instance):
    record = next(iter(instance.get_asset_records(asset_keys=[chip_thing.key])))
    with partition_loading_context(None, instance):
        return (_rebuilt_status_cache(instance, chip_thing.key, chip_year_partitions, record),
                _build_status_cache(instance, chip_thing.key, chip_year_partitions, None, record))


def test_failed_and_in_progress_partitions_equal_dagsters_by_run_and_by_partition(tmp_path, monkeypatch):
    instance = _instance_with_history(tmp_path)
    # chip 5 failed in both years (2 failed runs); chip 8 in 2024 is held in its run, in progress
    ENTERED.clear(), GATE.clear()
    held = threading.Thread(target=dg.materialize, args=([chip_thing],),
                            kwargs={"instance": instance, "partition_key": f"{CHIP_IDS[8]}|2024"})
    held.start()
    try:
        assert ENTERED.wait(60)
        for many_runs in (status.MANY_RUNS, 0):  # the failed and unfinished runs asked, or every partition
            monkeypatch.setattr(status, "MANY_RUNS", many_runs)
            ours, dagsters = _both_rebuilds(instance)
            assert ours == dagsters
            in_progress = chip_year_partitions.deserialize_subset(ours.serialized_in_progress_partition_subset)
            assert list(map(str, in_progress.get_partition_keys())) == [f"{CHIP_IDS[8]}|2024"]
            assert ours.earliest_in_progress_materialization_event_id is not None
            failed = chip_year_partitions.deserialize_subset(ours.serialized_failed_partition_subset)
            assert sorted(map(str, failed.get_partition_keys())) == [f"{CHIP_IDS[5]}|2023", f"{CHIP_IDS[5]}|2024"]
    finally:
        GATE.set()
        held.join()
    monkeypatch.undo()
    # the held run succeeded, chip 5 failed once more: nothing in progress, the same failed partitions
    dg.materialize([chip_thing], instance=instance, partition_key=f"{CHIP_IDS[5]}|2024", raise_on_error=False)
    ours, dagsters = _both_rebuilds(instance)
    assert ours == dagsters and ours.earliest_in_progress_materialization_event_id is None
    instance.wipe_assets([chip_thing.key])  # nothing before the wipe counts
    dg.materialize([chip_thing], instance=instance, partition_key=f"{CHIP_IDS[2]}|2023")
    ours, dagsters = _both_rebuilds(instance)
    assert ours == dagsters
    assert list(map(str, chip_year_partitions.deserialize_subset(
        ours.serialized_materialized_partition_subset).get_partition_keys())) == [f"{CHIP_IDS[2]}|2023"]


def test_status_counts_after_a_chip_is_added_rebuild_the_cache(tmp_path):
    instance = _instance_with_history(tmp_path)
    counts = partition_status(instance, [chip_thing.key])["chip_thing"]
    assert counts == {"materialized": 10, "failed": 2, "in_progress": 0, "missing": 10, "total": 22}
    instance.add_dynamic_partitions(CHIPS, ["ftw-33UWP9090"])  # the cache's partitions identity changes
    stale = next(iter(instance.get_asset_records(asset_keys=[chip_thing.key]))).asset_entry.cached_status
    assert stale is not None
    value = status_cache(instance, chip_thing.key, chip_year_partitions)
    assert value.partitions_def_id != stale.partitions_def_id
    assert partition_status(instance, [chip_thing.key])["chip_thing"] == {
        "materialized": 10, "failed": 2, "in_progress": 0, "missing": 12, "total": 24}
    dg.materialize([chip_thing], instance=instance, partition_key="ftw-33UWP9090|2024")  # updated from its cursor
    assert partition_status(instance, [chip_thing.key])["chip_thing"]["materialized"] == 11


def test_an_up_to_date_status_cache_is_taken_as_stored_and_equals_dagsters_update(tmp_path):
    instance = _instance_with_history(tmp_path)
    key = chip_thing.key
    first = status_cache(instance, key, chip_year_partitions)  # rebuilt and stored
    stored = next(iter(instance.get_asset_records(asset_keys=[key]))).asset_entry.cached_status
    assert first == stored
    again = status_cache(instance, key, chip_year_partitions)
    with partition_loading_context(None, instance):
        assert again == get_and_update_asset_status_cache_value(instance, key, chip_year_partitions) == stored
    dg.materialize([chip_thing], instance=instance, partition_key=f"{CHIP_IDS[9]}|2023")  # a newer event
    updated = status_cache(instance, key, chip_year_partitions)
    assert updated.latest_storage_id > stored.latest_storage_id
    assert f"{CHIP_IDS[9]}|2023" in chip_year_partitions.deserialize_subset(
        updated.serialized_materialized_partition_subset)
