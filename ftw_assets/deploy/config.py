"""The deployment's ``dagster.yaml``: PostgreSQL storage, the queued run coordinator and the Celery run launcher.

Secrets stay out of the file: the database password is read from an environment variable on every host
(``env:`` in dagster.yaml, :data:`PASSWORD_ENV`). The same file serves ``ftwd``, the daemon, the webserver and
every worker (``DAGSTER_HOME`` pointing at its folder on each host).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ftw_assets.core.atomic import write_text

PASSWORD_ENV = "FTW_PG_PASSWORD"
FIRST_LINE = "# Written by ftw_assets.deploy: a deployment of the FTW asset graph over several hosts."
COMMON_QUEUE = "ftw"  # every worker listens here too: retries and runs without a tile go to any live worker
# What the Celery workers read (dagster-celery worker start -y): the broker and result backend of the launcher.
CELERY_YAML = "celery.yaml"
WORKSPACE_YAML = "workspace.yaml"  # for the daemon and the webserver: dagster-daemon run -w DIR/workspace.yaml
CODE_MODULE = "ftw_assets.deploy.definitions"  # the deployment's code location (every run in one process)


@dataclass(frozen=True)
class Deployment:
    """Where the shared services are. ``shards``: tile queues ``ftw-shard-0`` .. (a worker listens to one or
    more of them and to the common queue). ``max_retries``: automatic retries of a failed run."""

    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_db: str = "dagster"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    shards: int = 2
    max_retries: int = 2
    max_concurrent_runs: int = 8
    stac_api_limit: int = 2  # steps of the stac_api pool at a time over all runs and hosts
    monitor_interval_s: int = 5
    # A launched run not started by then (e.g. waiting in the queue of a worker that died) fails and is retried:
    # keep it above the longest wait behind another run of the same worker.
    start_timeout_s: int = 300

    @property
    def broker(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/0"

    @property
    def backend(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/1"


def shard_queue(shard: int) -> str:
    return f"ftw-shard-{shard}"


def instance_config(d: Deployment) -> dict:
    pg = {"postgres_db": {"hostname": d.pg_host, "port": d.pg_port, "username": d.pg_user,
                          "password": {"env": PASSWORD_ENV}, "db_name": d.pg_db,
                          # SQLAlchemy 2.1 with psycopg 3 installed: a plain postgresql:// URL fails with
                          # 'syntax error at or near "$1"'; psycopg2 (dagster-postgres' own) works.
                          "scheme": "postgresql+psycopg2"}}
    return {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        # dagster-postgres' storages with their connections kept open (ftw_assets/deploy/storage.py); schedules
        # (rarely written) on its own.
        "run_storage": {"module": "ftw_assets.deploy.storage", "class": "PooledPostgresRunStorage", "config": pg},
        "event_log_storage": {"module": "ftw_assets.deploy.storage", "class": "PooledPostgresEventLogStorage",
                              "config": pg},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             "config": pg},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 1},
        },
        "run_launcher": {
            "module": "ftw_assets.deploy.launcher",
            "class": "FtwCeleryRunLauncher",
            "config": {"broker": d.broker, "backend": d.backend, "default_queue": COMMON_QUEUE,
                       "shards": d.shards},
        },
        "concurrency": {
            # Steps of a pool (stac_api: every search of a scene source) run at most this many at a time over all
            # runs and hosts, so backfills cannot flood one API.
            "pools": {"default_limit": d.stac_api_limit},
            # Runs launched at a time (about twice the workers' slots: each worker's next run waits in its Celery
            # queue and starts as its previous one ends), and re-selection rounds, which search the scene source
            # for every chip they redo: two at a time.
            "runs": {"max_concurrent_runs": d.max_concurrent_runs,
                     "tag_concurrency_limits": [{"key": "ftw/trigger", "value": "cloud-refinement", "limit": 2}]},
        },
        # A worker killed mid-run: its run found failed by the daemon (the launcher asks the worker), then retried.
        "run_monitoring": {"enabled": True, "start_timeout_seconds": d.start_timeout_s, "poll_interval_seconds":
                           d.monitor_interval_s, "max_resume_run_attempts": 0,
                           # A killed run's stac_api pool slots go back to the pool (else its retry waits for ever).
                           "free_slots_after_run_end_seconds": 10},
        "run_retries": {"enabled": True, "max_retries": d.max_retries},
    }


def write_deployment(home: Path, deployment: Deployment) -> Path:
    """``home/dagster.yaml``, ``home/celery.yaml`` (the workers' broker) and ``home/workspace.yaml`` (the daemon's
    and webserver's code location) for ``deployment``; returns ``home``."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = instance_config(deployment)
    write_text(home / "dagster.yaml", FIRST_LINE + "\n" + yaml.safe_dump(config, sort_keys=False))
    launcher = config["run_launcher"]["config"]
    # dagster-celery's worker reads the executor config block: execution.config.{broker,backend}
    write_text(home / CELERY_YAML, yaml.safe_dump({"execution": {"config": {"broker": launcher["broker"],
                                                                            "backend": launcher["backend"]}}}))
    # The daemon's and webserver's code location: the deployment's Definitions by their module, as ftwd submits
    # runs (the package's lazy `defs` is its subpackage in a process that imported ftw_assets.defs first, as a
    # worker has). Their executor is the in-process one: a run executes inside a Celery pool process, which may
    # not start a process per step (ftw_assets/deploy/definitions.py).
    write_text(home / WORKSPACE_YAML, yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": CODE_MODULE, "attribute": "defs", "location_name": "ftw_assets"}}]}))
    return home


def postgres_db(config: dict) -> dict | None:
    """The ``postgres_db`` block of a deployment's dagster.yaml (its event log storage's, or the combined
    ``storage.postgres`` form's)."""
    for block in ((config.get("event_log_storage") or {}).get("config"), (config.get("storage") or {}).get("postgres")):
        if isinstance(block, dict) and isinstance(block.get("postgres_db"), dict):
            return block["postgres_db"]
    return None


def read_config(home: Path) -> dict:
    """The deployment's dagster.yaml as data (``env:`` values left as they are)."""
    return yaml.safe_load((Path(home) / "dagster.yaml").read_text()) or {}
