"""The deployment's instance storage: dagster-postgres' run and event log storages with their connections
kept open.

Why: dagster-postgres opens a new PostgreSQL connection (SQLAlchemy ``NullPool``) for every statement group:
each stored event, each run lookup. Each connection is a new backend process and a password exchange on the
server, and each stored asset event also reflects the ``asset_keys`` table's columns again. Measured in
``make bench-cluster`` (420 chip-years with images, one worker): PostgreSQL took 0.65 cores of 2 while the
runs themselves took 0.62. Here each process keeps a small pool (what dagster-postgres already does for the
webserver, ``optimize_for_webserver``) and the columns are looked up once; tables, rows and migrations are
dagster-postgres' own, so the daemon, the webserver and ``dagster`` commands read them as usual.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage.run_storage import PostgresRunStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_S = 3600  # connections older than this are replaced (a server restart, a proxy's idle cut)
MAX_OVERFLOW = 4  # beyond the one kept connection: a run's threads, the event watcher
NO_STATEMENT_TIMEOUT = 0  # the webserver sets one; runs and the daemon must not be cut off


def _pooled(storage) -> None:
    storage.optimize_for_webserver(statement_timeout=NO_STATEMENT_TIMEOUT, pool_recycle=POOL_RECYCLE_S,
                                   max_overflow=MAX_OVERFLOW)


def _arguments(inst_data: ConfigurableClassData | None, config_value) -> dict:
    return {"inst_data": inst_data, "postgres_url": pg_url_from_config(config_value),
            "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
            "token_provider": get_token_provider_from_config(config_value)}


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` with a connection pool per process and the asset table's columns
    looked up once (see the module docstring). Configured as dagster-postgres' own (``postgres_db``)."""

    def __init__(self, *args, **kwargs):
        self._asset_key_columns: dict[str, bool] = {}
        super().__init__(*args, **kwargs)
        _pooled(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value
                          ) -> "PooledPostgresEventLogStorage":
        return cls(**_arguments(inst_data, config_value))

    def _has_asset_key_col_on_connection(self, conn, column_name: str) -> bool:
        # A migration (``dagster instance migrate``) runs in another process: once per process is enough.
        if column_name not in self._asset_key_columns:
            self._asset_key_columns[column_name] = super()._has_asset_key_col_on_connection(conn, column_name)
        return self._asset_key_columns[column_name]


class PooledPostgresRunStorage(PostgresRunStorage):
    """``PostgresRunStorage`` with a connection pool per process (runs are looked up at every step of a
    run and by every follower). Configured as dagster-postgres' own (``postgres_db``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _pooled(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> "PooledPostgresRunStorage":
        return cls(**_arguments(inst_data, config_value))
