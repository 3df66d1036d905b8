"""ftw_assets.storage: the dataset instance's event log records what Dagster's own records, faster."""

import sqlite3
import time

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ftw_assets.batch import add_partition_metadata
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.partitions import CHIPS, YEARS, chip_year_backfill, chip_year_partitions
from ftw_assets.instance import DAGSTER_YAML, instance_yaml, open_instance
from ftw_assets.runner import QUIET
from ftw_assets.storage import (
    VERSION_CHECK_S, PooledConsolidatedSqliteEventLogStorage, PooledSqliteEventLogStorage, enable_event_batches,
)

CHIP_IDS = [f"ftw-33UWP{i:04d}" for i in range(12)]


def _graph() -> dg.Definitions:
    @dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill)
    def first(context: dg.AssetExecutionContext) -> None:
        add_partition_metadata(context, {k: {"chip": k.split("|")[0], "n": i} for i, k in
                                         enumerate(context.partition_keys)})

    @dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[first])
    def second(context: dg.AssetExecutionContext) -> None:
        for k in context.partition_keys:
            context.add_asset_metadata({"chip": k.split("|")[0]}, partition_key=k)

    return dg.Definitions(assets=[first, second])


def _run(home, yaml: str) -> tuple[dg.DagsterInstance, dict]:
    (home / "dagster.yaml").write_text(yaml)
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions(CHIPS, CHIP_IDS)
    instance.add_dynamic_partitions(YEARS, ["2024"])
    result = _graph().resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, run_config=QUIET,
        tags={ASSET_PARTITION_RANGE_START_TAG: f"{CHIP_IDS[0]}|2024", ASSET_PARTITION_RANGE_END_TAG: f"{CHIP_IDS[-1]}|2024"})
    assert result.success
    recorded = {}
    for key in ("first", "second"):
        for record in instance.fetch_materializations(dg.AssetKey(key), limit=100).records:
            m = record.asset_materialization
            recorded[(key, m.partition)] = {k: v.value for k, v in m.metadata.items()}
    return instance, recorded


@pytest.mark.parametrize("sharded", [False, True])
def test_same_materializations_and_metadata_as_dagsters_own_storage(tmp_path, monkeypatch, sharded):
    (tmp_path / "default").mkdir()
    (tmp_path / "ftw").mkdir()
    _, default = _run(tmp_path / "default", DAGSTER_YAML)
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    enable_event_batches()
    instance, ours = _run(tmp_path / "ftw", instance_yaml(tmp_path / "ftw", sharded=sharded))
    storage = PooledSqliteEventLogStorage if sharded else PooledConsolidatedSqliteEventLogStorage
    assert type(instance.event_log_storage) is storage
    assert len(ours) == 24 and ours == default
    assert ours[("first", f"{CHIP_IDS[5]}|2024")] == {"chip": CHIP_IDS[5], "n": 5}
    # Dagster's own tables, readable by Dagster's own storage class (a dataset opened without ftw_assets).
    plain_yaml = instance_yaml(tmp_path / "ftw", sharded=sharded).replace("module: ftw_assets.storage", (
        "module: dagster._core.storage.event_log")).replace(storage.__name__, storage.__mro__[2].__name__)
    (tmp_path / "ftw" / "dagster.yaml").write_text(plain_yaml)
    plain = dg.DagsterInstance.from_config(str(tmp_path / "ftw"))
    assert type(plain.event_log_storage) is storage.__mro__[2]
    assert sorted(map(str, plain.get_materialized_partitions(dg.AssetKey("second")))) == \
        sorted(f"{c}|2024" for c in CHIP_IDS)
    instance.dispose()
    # Each materialization stored twice when sharded (its run's file and the index), once when not.
    files = list((tmp_path / "ftw" / "history").rglob("*.db"))
    stored = 0
    for path in files:
        with sqlite3.connect(path) as db:
            if db.execute("select count(*) from sqlite_master where name = 'event_logs'").fetchone()[0]:
                stored += db.execute("select count(*) from event_logs where dagster_event_type = "
                                     "'ASSET_MATERIALIZATION'").fetchone()[0]
    assert stored == (48 if sharded else 24)
    assert (tmp_path / "ftw" / "history" / ("runs/index.db" if sharded else "event_log.db")).exists()


def test_partitions_added_by_another_process_are_seen(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    one = dg.DagsterInstance.from_config(str(home))
    one.add_dynamic_partitions(CHIPS, ["ftw-33UWP0000"])
    assert one.get_dynamic_partitions(CHIPS) == ["ftw-33UWP0000"]
    other = dg.DagsterInstance.from_config(str(home))  # another process's connection to the same files
    other.add_dynamic_partitions(CHIPS, ["ftw-33UWP0001"])
    time.sleep(VERSION_CHECK_S + 0.1)
    assert one.has_dynamic_partition(CHIPS, "ftw-33UWP0001")
    assert one.get_dynamic_partitions(CHIPS) == ["ftw-33UWP0000", "ftw-33UWP0001"]
    one.delete_dynamic_partition(CHIPS, "ftw-33UWP0000")  # our own change: seen at once
    assert one.get_dynamic_partitions(CHIPS) == ["ftw-33UWP0001"]
    one.dispose()
    other.dispose()


def test_open_instance_brings_an_older_or_moved_dagster_yaml_up_to_date(tmp_path):
    fresh = open_instance(Layout(tmp_path / "new", "x"))  # a new dataset: every event once
    assert type(fresh.event_log_storage) is PooledConsolidatedSqliteEventLogStorage
    fresh.dispose()
    layout = Layout(tmp_path / "out", "x")
    layout.dagster_home.mkdir(parents=True)
    (layout.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)  # as ftw_assets wrote it before
    old = dg.DagsterInstance.from_config(str(layout.dagster_home))  # its history: Dagster's sharded layout
    old.add_dynamic_partitions(CHIPS, ["ftw-33UWP0000"])
    old.dispose()
    instance = open_instance(layout)
    assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
    assert instance.get_dynamic_partitions(CHIPS) == ["ftw-33UWP0000"]  # the same history
    text = (layout.dagster_home / "dagster.yaml").read_text()
    assert str((layout.dagster_home / "history" / "runs").resolve()) in text
    instance.dispose()
    hand_written = "telemetry:\n  enabled: false\n"
    (layout.dagster_home / "dagster.yaml").write_text(hand_written)
    open_instance(layout).dispose()
    assert (layout.dagster_home / "dagster.yaml").read_text() == hand_written  # left as the user wrote it


@pytest.mark.parametrize("sharded", [False, True])
def test_unmaterialized_attempts_are_the_ones_dagsters_own_query_finds(tmp_path, sharded):
    """The one-query override returns, partition for partition, what Dagster's own two-query version does:
    after successes, failed runs over some of the same chips, and a later success over one of those; and
    the materialized partitions' override what Dagster's own query does, between any two cursors and
    after a wipe."""
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    fail = set()

    @dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill)
    def first(context: dg.AssetExecutionContext) -> None:
        if fail & set(context.partition_keys):
            raise RuntimeError("no scene for this chip")

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home, sharded=sharded))
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions(CHIPS, CHIP_IDS)
    instance.add_dynamic_partitions(YEARS, ["2024"])
    job = dg.Definitions(assets=[first]).resolve_implicit_global_asset_job_def()
    key, cursors = dg.AssetKey("first"), [None]
    for lo, hi, failing in ((0, 5, False), (3, 8, True), (8, 9, False), (10, 10, True)):
        fail.clear()
        if failing:
            fail.update(f"{c}|2024" for c in CHIP_IDS[lo:hi + 1])
        job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False, tags={
            ASSET_PARTITION_RANGE_START_TAG: f"{CHIP_IDS[lo]}|2024", ASSET_PARTITION_RANGE_END_TAG: f"{CHIP_IDS[hi]}|2024"})
        cursors.append(instance.event_log_storage.get_maximum_record_id())
    storage = instance.event_log_storage
    ours = storage.get_latest_asset_partition_materialization_attempts_without_materializations(key)
    # Chips 3-7 failed after run 1 (3-5 had succeeded), 8 failed and then succeeded, 10 failed.
    assert sorted(ours) == [f"{CHIP_IDS[i]}|2024" for i in (3, 4, 5, 6, 7, 10)]
    for after in cursors:
        assert storage.get_latest_asset_partition_materialization_attempts_without_materializations(key, after) == \
            SqlEventLogStorage.get_latest_asset_partition_materialization_attempts_without_materializations(
                storage, key, after)
        for before in cursors[1:]:  # the materialized partitions' override too
            assert storage.get_materialized_partitions(key, before_cursor=before, after_cursor=after) == \
                SqlEventLogStorage.get_materialized_partitions(storage, key, before_cursor=before, after_cursor=after)
    assert len(storage.get_materialized_partitions(key)) == 8  # chips 0-5, 8 and 9
    instance.wipe_assets([key])  # a wiped asset has no materialized partitions, here as in Dagster
    assert storage.get_materialized_partitions(key) == SqlEventLogStorage.get_materialized_partitions(storage, key) \
        == set()
    instance.dispose()
