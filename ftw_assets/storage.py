"""The dataset instance's event log: Dagster's SQLite storage, with its connections kept open and a
step's materializations written together.

Why: Dagster's ``SqliteEventLogStorage`` creates a SQLAlchemy engine, opens a new SQLite connection,
and disposes of both for every statement group: each stored event, and each dynamic-partition lookup
that resolving a run's partition range makes. A chip-year costs six materializations (one per asset),
each written to the run's shard and mirrored into the index shard. Measured on an empty six-asset
graph (``make bench``), that connection churn was most of Dagster's per-chip-year cost.

This subclass changes only how connections are made and how a batch is written; the files, tables
and rows are Dagster's own, so the UI, the daemon and ``dagster`` commands read them as usual (and a
dataset made before it reads the same):

- one engine per shard, kept open (the index shard always; the last few run shards), instead of one
  per statement group;
- ``store_event_batch`` (used when ``DAGSTER_EVENT_BATCH_SIZE`` is set, which ftw_assets does for its
  runs): the events of a batch go into the run shard in one transaction and are mirrored into the
  index shard in one more, instead of two transactions per event.

- the asset_keys table's columns, which Dagster reflects for every asset event, looked up once;
- the dynamic partitions (chips, years) read from the index shard are kept while SQLite's
  ``PRAGMA data_version`` says no other connection changed that file: resolving a run's partition
  range (which Dagster does for every ``add_asset_metadata`` call) then reads no rows. Another
  process's commit to the index (a run elsewhere, the UI adding a partition) makes the next read
  fetch them again;
- the partitions whose latest materialization attempt has no materialization after it (what Dagster's
  partition status reads to find failed and in-progress partitions) found in one query: Dagster's own
  runs its latest-event subquery twice and reads every materialized partition back into Python, 2.4 s
  per asset at 100,000 chip-years against 0.25 s.

Dagster keeps the shards in WAL mode; a connection kept open leaves recent writes in the ``-wal``
file until SQLite checkpoints it (every 1000 pages, and on close), which Dagster's own watcher of
run shards follows; the kept connections are closed when the storage is dropped or the process exits.
"""

from __future__ import annotations

import os
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator, Sequence

import dagster._check as check
import sqlalchemy as db
from dagster._core.definitions.events import AssetKey
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlalchemy_compat import db_select
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool

# Events a step writes together: a run's step over 100 chip-years yields 100 materializations.
EVENT_BATCH_SIZE = 1000
VERSION_CHECK_S = 0.5
RUN_SHARDS_KEPT = 4  # open run shards besides the index (a run writes one; the UI may read others)


def enable_event_batches() -> None:
    """Let Dagster hand a step's materializations to ``store_event_batch`` together (its own switch, an
    environment variable it reads at each event; a value already set is kept)."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


class _Caches:
    """What both storages keep between calls: the asset table's columns, and the dynamic partitions
    while SQLite's ``data_version`` of the file holding them says no other connection changed it."""

    def _init_caches(self) -> None:
        self._version_checked = (float("-inf"), 0)
        self._asset_key_columns: dict[str, bool] = {}
        self._partitions: dict[str, tuple[int, list[str], frozenset[str]]] = {}  # name -> (data_version, keys)

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        # Dagster reflects the asset_keys table's columns for every asset event it stores; a migration
        # (``dagster instance migrate``) runs in another process, so once per process is enough.
        if column_name not in self._asset_key_columns:
            self._asset_key_columns[column_name] = super()._has_asset_key_col_on_connection(conn, column_name)
        return self._asset_key_columns[column_name]

    def _data_version(self) -> int:
        # Asked at most every VERSION_CHECK_S: a partition added elsewhere shows here that much later.
        now = time.monotonic()
        if now - self._version_checked[0] > VERSION_CHECK_S:
            with self.index_connection() as conn:
                self._version_checked = (now, conn.exec_driver_sql("PRAGMA data_version").scalar())
        return self._version_checked[1]

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        version = self._data_version()
        cached = self._partitions.get(partitions_def_name)
        if cached is None or cached[0] != version:
            keys = list(super().get_dynamic_partitions(partitions_def_name))
            cached = self._partitions[partitions_def_name] = (version, keys, frozenset(keys))
        return list(cached[1])

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        cached = self._partitions.get(partitions_def_name)
        if cached is not None and cached[0] == self._data_version():
            return partition_key in cached[2]
        return super().has_dynamic_partition(partitions_def_name, partition_key)  # one row, not the list

    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys: Sequence[str]) -> None:
        self._partitions.pop(partitions_def_name, None)  # our own commits do not move data_version
        super().add_dynamic_partitions(partitions_def_name, partition_keys)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self._partitions.pop(partitions_def_name, None)
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    def get_materialized_partitions(self, asset_key: AssetKey, before_cursor: int | None = None,
                                    after_cursor: int | None = None) -> set[str]:
        """Dagster's contract: the partitions with a materialization (between the cursors, after the
        asset's last wipe). Dagster groups by partition to take each one's latest event id, which it
        then drops; DISTINCT partitions is read from the (asset, type, partition) index alone, and
        without SQLAlchemy's row objects: half the time at 100,000 chip-years, for ``ftwd status``
        and the UI when they rebuild the status cache."""
        table = SqlEventLogStorageTable
        query = db_select([table.c.partition]).distinct().where(
            table.c.asset_key == asset_key.to_string(), table.c.partition.isnot(None),
            table.c.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION.value)
        query = self._add_assets_wipe_filter_to_query(query, self._get_assets_details([asset_key]), [asset_key])
        if after_cursor:
            query = query.where(table.c.id > after_cursor)
        if before_cursor:
            query = query.where(table.c.id < before_cursor)
        with self.index_connection() as conn:
            return set(conn.execute(query).scalars())

    def get_latest_asset_partition_materialization_attempts_without_materializations(
            self, asset_key: AssetKey, after_storage_id: int | None = None) -> dict[str, tuple[str, int]]:
        """Dagster's contract: partition -> (run id, event id) of its latest materialization planned event
        (after ``after_storage_id``) that no materialization followed. That is the partitions whose latest
        event of the two kinds is the planned one, taken here in one query (see the module docstring)."""
        table = SqlEventLogStorageTable
        kinds = [DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value]
        latest = db_select([db.func.max(table.c.id)]).where(
            table.c.asset_key == asset_key.to_string(), table.c.partition.isnot(None),
            table.c.dagster_event_type.in_(kinds))
        if after_storage_id is not None:
            latest = latest.where(table.c.id > after_storage_id)
        latest = self._add_assets_wipe_filter_to_query(latest.group_by(table.c.partition),
                                                       self._get_assets_details([asset_key]), [asset_key])
        query = db_select([table.c.partition, table.c.run_id, table.c.id]).where(
            table.c.id.in_(latest.scalar_subquery()),
            table.c.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value)
        with self.index_connection() as conn:
            return {partition: (run_id, event_id) for partition, run_id, event_id in conn.execute(query)}


CHUNK = 500  # values per SQL IN list


def attempts_without_materializations_in_runs(storage, asset_key: AssetKey, run_ids: Sequence[str]
                                              ) -> dict[str, tuple[str, int]]:
    """What Dagster's ``get_latest_asset_partition_materialization_attempts_without_materializations``
    answers, limited to the attempts made by ``run_ids``: partition -> (run id, event id) of its
    latest planned materialization where that is the partition's latest event of the two kinds (after
    the asset's last wipe). Dagster's reads every partition's latest event; the status only needs
    those of failed and unfinished runs, which are found by run id, then checked against each
    partition's latest event through the (asset, type, partition) index. Any SQL event log storage."""
    table = SqlEventLogStorageTable
    wipe = storage._get_assets_details([asset_key])
    planned: dict[str, tuple[str, int]] = {}
    with storage.index_connection() as conn:
        for i in range(0, len(run_ids), CHUNK):
            query = db_select([table.c.partition, table.c.run_id, table.c.id]).where(
                table.c.run_id.in_(list(run_ids[i:i + CHUNK])), table.c.asset_key == asset_key.to_string(),
                table.c.partition.isnot(None),
                table.c.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value)
            for partition, run_id, event_id in conn.execute(
                    storage._add_assets_wipe_filter_to_query(query, wipe, [asset_key])):
                if partition not in planned or event_id > planned[partition][1]:
                    planned[partition] = (run_id, event_id)
        kinds = [DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value]
        latest: dict[str, int] = {}
        partitions = list(planned)
        for i in range(0, len(partitions), CHUNK):
            query = db_select([table.c.partition, db.func.max(table.c.id)]).where(
                table.c.asset_key == asset_key.to_string(), table.c.partition.in_(partitions[i:i + CHUNK]),
                table.c.dagster_event_type.in_(kinds)).group_by(table.c.partition)
            latest.update(conn.execute(query).all())
    return {p: attempt for p, attempt in planned.items() if latest.get(p) == attempt[1]}


def _dispose_all(engines: dict) -> None:
    """Close the kept connections of ``engines`` (called when their storage is dropped or, at the latest,
    among the exit handlers: weakref.finalize's). Closing the last connection checkpoints the WAL into
    the database and removes the ``-wal`` file, which ftwd's processes, ending without teardown
    (process_exit), would otherwise leave beside it."""
    for engine in list(engines.values()):
        engine.dispose()


class PooledSqliteEventLogStorage(_Caches, SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with open connections per shard and batched event writes (see the
    module docstring). Configured as Dagster's own, with ``base_dir``."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, object] = OrderedDict()
        weakref.finalize(self, _dispose_all, self._engines)
        self._init_caches()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> "PooledSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                                   max_overflow=2, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                                 "check_same_thread": False})
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in runs[:-RUN_SHARDS_KEPT]:
                self._engines.pop(old).dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            check.str_param(shard, "shard")
            with self._engine(shard).connect() as conn:
                with conn.begin():
                    yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The batch's events in their run shards, one transaction each, then the asset events mirrored
        into the index shard in one transaction; other events as :meth:`store_event` stores them."""
        mirrored, plain = [], []
        for e in events:
            (mirrored if e.is_dagster_event and e.dagster_event_type in ASSET_EVENTS else plain).append(e)
        inserts = {id(e): self.prepare_insert_event(e) for e in mirrored}  # serialised once, used twice
        by_run: dict[str, list[EventLogEntry]] = {}
        for event in mirrored:
            by_run.setdefault(event.run_id, []).append(event)
        for run_id, run_events in by_run.items():
            with self.run_connection(run_id) as conn:
                for event in run_events:
                    conn.execute(inserts[id(event)])
        if mirrored:
            with self.index_transaction() as conn:
                ids = [conn.execute(inserts[id(e)]).inserted_primary_key[0] for e in mirrored]
                self._store_asset_event_tags(conn, mirrored, ids)
                for event, event_id in zip(mirrored, ids):
                    self._store_asset_event(conn, event, event_id)
        for event in plain:
            self.store_event(event)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        super().dispose()



class PooledConsolidatedSqliteEventLogStorage(_Caches, ConsolidatedSqliteEventLogStorage):
    """Dagster's ``ConsolidatedSqliteEventLogStorage`` (every event once, in one ``event_log.db``: half
    the bytes of the sharded layout, which stores each asset event in its run's shard and again in the
    index) with one engine kept open, a step's events written in one transaction, and the same caches
    as :class:`PooledSqliteEventLogStorage`. What ``ftwd`` makes for a new dataset."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._pooled = None
        self._kept: dict[str, object] = {}  # the engine, for closing at exit (_dispose_all)
        weakref.finalize(self, _dispose_all, self._kept)
        self._init_caches()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value
                          ) -> "PooledConsolidatedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._pooled is None:
            self._pooled = create_engine(self._conn_string, poolclass=QueuePool, pool_size=1, max_overflow=2,
                                         connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                       "check_same_thread": False})
            self._kept["index"] = self._pooled
        with self._pooled.connect() as conn:
            with conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The batch's events and their asset rows in one transaction; asset check events then as
        :meth:`store_event` stores them."""
        inserted = []
        with self.index_transaction() as conn:
            for event in events:
                inserted.append(conn.execute(self.prepare_insert_event(event)).inserted_primary_key[0])
            assets = [(e, i) for e, i in zip(events, inserted) if e.is_dagster_event
                      and e.dagster_event_type in ASSET_EVENTS and e.dagster_event.asset_key]
            if assets:
                self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
                for event, event_id in assets:
                    self._store_asset_event(conn, event, event_id)
        for event, event_id in zip(events, inserted):
            if event.is_dagster_event and event.dagster_event_type in ASSET_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)

    def dispose(self) -> None:
        if self._pooled is not None:
            self._pooled.dispose()
            self._pooled = None
        super().dispose()
