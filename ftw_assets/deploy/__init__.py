"""The deployment past one machine: the same asset graph on a PostgreSQL instance, runs queued by Dagster's
``QueuedRunCoordinator`` and launched on Celery workers (``dagster-celery``) on several hosts.

``ftwd`` keeps its in-process default (the dataset's own SQLite instance under ``OUTPUT_DIR/dagster_home``).
With a deployment (``--instance DIR`` or ``FTW_DAGSTER_INSTANCE=DIR``, a folder holding the deployment's
``dagster.yaml``, written by :func:`ftw_assets.deploy.config.write_deployment`) the same planned runs are
submitted to that instance (:mod:`ftw_assets.deploy.submit`) and followed to the end.

Modules: :mod:`~ftw_assets.deploy.config` (the ``dagster.yaml``), :mod:`~ftw_assets.deploy.preflight`
(broker and database reachable before anything is written), :mod:`~ftw_assets.deploy.launcher` (the Celery run
launcher with tile routing and worker-death detection), :mod:`~ftw_assets.deploy.submit` (submit and follow),
:mod:`~ftw_assets.deploy.definitions` (the code location: every run in one process, whoever launches it).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "FTW_DAGSTER_INSTANCE"  # the deployment's folder (its dagster.yaml); unset: in-process on the dataset's SQLite


def deployment_home() -> Path | None:
    """The configured deployment folder, or None (the in-process default)."""
    value = os.environ.get(ENV)
    return Path(value).resolve() if value else None

