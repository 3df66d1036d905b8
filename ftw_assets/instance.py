"""The dataset's own Dagster instance: where its history lives, how it is opened, and the last errors
it recorded. Kept apart from the runner so that commands that only read the history (``ftwd
status``) import Dagster and the storage, not the asset graph and the raster stack."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from ftw_assets.core.atomic import write_text
from ftw_assets.core.dataset.files import DAGSTER_HOME
from ftw_assets.storage import enable_event_batches

if TYPE_CHECKING:
    from ftw_assets.core.dataset.layout import Layout  # its grid check imports the raster stack

DAGSTER_YAML = """# Written by ftw_assets: the dataset's own Dagster instance (run and event history).
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    # Steps in a pool (stac_api: every search of a scene source) run at most this many at a time
    # across all runs, so backfills cannot flood one API.
    default_limit: 2
"""
EVENT_LOG_YAML = """# The event log: Dagster's SQLite storage with its connection kept open and a step's events
# written together (ftw_assets/storage.py); the same tables as Dagster's own.
event_log_storage:
  module: ftw_assets.storage
  class: {storage}
  config:
    base_dir: {base_dir}
"""
# New datasets keep every event once, in history/event_log.db; a dataset made before keeps the
# sharded layout its history is in (history/runs/index.db and a file per run).
CONSOLIDATED, SHARDED = "PooledConsolidatedSqliteEventLogStorage", "PooledSqliteEventLogStorage"


def instance_yaml(home: Path, sharded: bool | None = None) -> str:
    """The dataset instance's ``dagster.yaml``, its event log through :mod:`ftw_assets.storage`: in
    ``home/history/event_log.db``, or (``sharded``; default: when ``home`` already holds that layout)
    in ``home/history/runs``, a file per run and the index, where Dagster's default puts it."""
    home = Path(home).resolve()
    history = home / "history"
    if sharded is None:
        sharded = (history / "runs" / "index.db").exists() and not (history / "event_log.db").exists()
    folder = history / "runs" if sharded else history
    return DAGSTER_YAML + EVENT_LOG_YAML.format(storage=SHARDED if sharded else CONSOLIDATED,
                                                base_dir=json.dumps(str(folder)))


def open_instance(dataset: Layout | Path, read_only: bool = False) -> dg.DagsterInstance:
    """The persistent instance of ``dataset`` (its layout or its folder) under
    ``OUTPUT_DIR/dagster_home`` (created on first use).
    A ``dagster.yaml`` that ftw_assets wrote is brought up to date (an older one without the event log
    block, or a dataset folder moved since); one written by hand is left as it is. ``read_only``: for
    commands that only read; a dataset on a read-only disk is then read from a temporary copy of its
    history (SQLite cannot open its databases where it cannot write their journals)."""
    from ftw_assets.deploy import deployment_home

    if deployment_home() is not None:  # --instance / FTW_DAGSTER_INSTANCE: the deployment's PostgreSQL instance
        return dg.DagsterInstance.from_config(str(deployment_home()))
    home = dataset.dagster_home if hasattr(dataset, "dagster_home") else Path(dataset) / DAGSTER_HOME
    if read_only and home.is_dir() and not os.access(home, os.W_OK):
        return _read_only_copy(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    wanted = instance_yaml(home)
    if not path.exists() or (path.read_text().startswith(DAGSTER_YAML.splitlines()[0]) and path.read_text() != wanted):
        try:
            write_text(path, wanted)
        except OSError:  # a read-only dataset: its own dagster.yaml still opens it (with Dagster's storage)
            if not path.exists():
                raise
    enable_event_batches()
    return dg.DagsterInstance.from_config(str(home))


def _read_only_copy(home: Path) -> dg.DagsterInstance:
    copy = Path(tempfile.mkdtemp(prefix="ftw-history-")) / "dagster_home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("*.lock", "*-journal"))
    atexit.register(shutil.rmtree, copy.parent, True)
    write_text(copy / "dagster.yaml", instance_yaml(copy))
    enable_event_batches()
    return dg.DagsterInstance.from_config(str(copy))


def last_errors(instance: dg.DagsterInstance, limit: int = 5) -> list[str]:
    """The step failures of the most recent failed runs."""
    from dagster._core.events import DagsterEventType

    errors = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=limit):
        for entry in instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            error = entry.dagster_event.step_failure_data.error
            message = (error.cause.message if error and error.cause else error.message if error else "").strip()
            lines = [ln.strip() for ln in message.splitlines() if ln.strip()][:2]  # the summary and the first chip
            errors.append(f"run {record.dagster_run.run_id[:8]} {entry.step_key}: {' '.join(lines)[:400]}")
    return errors
