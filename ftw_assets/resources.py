"""Resources: which dataset folder the assets work on, and its DuckDB database.

The folder comes from ``FTW_OUTPUT_DIR`` (the ``ftwd`` commands set it; the default is the
demo dataset under ``data/``). The dataset's parameters live in that folder's
``dataset.json``, so the UI, ``dagster asset materialize`` and ``ftwd`` build the same thing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.selection import SelectionSettings
from ftw_assets.core.scenes.sources import SceneSource, open_source

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "data" / "demo"


# Every asset that talks to a scene source runs in this pool; the dataset instance's dagster.yaml
# caps it (ftw_assets.instance.DAGSTER_YAML), so parallel steps and backfill runs cannot flood one API.
STAC_POOL = "stac_api"
WORKER_ENV = "FTW_WORKER_NAME"  # set on a deployment's Celery workers (ftw_assets.deploy.worker)


class SceneSourceResource(dg.ConfigurableResource):
    """Where scenes come from. Unset fields fall back to the dataset's ``dataset.json``
    (``--stac-host`` / ``--collection`` of ``ftwd create-dataset``)."""

    stac_host: Optional[str] = Field(
        default=None, description=f"{DatasetSettings.describe('stac_host')} Unset: the dataset's (FTW_STAC_HOST).")
    collection: Optional[str] = Field(
        default=None, description=f"{DatasetSettings.describe('collection')} Unset: the dataset's (FTW_COLLECTION).")
    attempts: int = Field(default=RetryPolicy.attempts,
                          description="HTTP attempts per request, the first included (FTW_HTTP_ATTEMPTS).")
    backoff_s: float = Field(default=RetryPolicy.backoff_s,
                             description="Seconds before the first retry, doubling after each (FTW_HTTP_BACKOFF_S).")
    timeout_s: float = Field(default=RetryPolicy.timeout_s,
                             description="Timeout of one HTTP request in seconds (FTW_HTTP_TIMEOUT_S).")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts, backoff_s=self.backoff_s, timeout_s=self.timeout_s)

    def open(self, settings: DatasetSettings) -> SceneSource:
        return open_source(self.stac_host or settings.stac_host, self.collection or settings.collection, self.policy())

    def open_for_selection(self, selection: SelectionSettings) -> SceneSource:
        return open_source(self.stac_host or selection.stac_host, self.collection or selection.collection, self.policy())


class DatasetResource(dg.ConfigurableResource):
    """The dataset folder; its ``dataset.json`` holds the create-dataset parameters."""

    output_dir: str = Field(description="The dataset folder: holds dataset.json, the catalog, ftw.duckdb and "
                                        "dagster_home (FTW_OUTPUT_DIR).")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """On a deployment's worker (FTW_WORKER_NAME set): the dataset folder must be the run's and visible
        here (the shared mount), and the run records the worker that ran it."""
        worker = os.environ.get(WORKER_ENV)
        run = getattr(context, "run", None) if worker else None
        if run is None:
            return
        from ftw_assets.deploy.worker import check_dataset_folder

        check_dataset_folder(Path(self.output_dir), run.tags.get("ftw/output_dir"))
        context.instance.add_run_tags(run.run_id, {"ftw/worker": f"{worker}:{os.getpid()}"})

    def settings(self) -> DatasetSettings:
        return DatasetSettings.load(Path(self.output_dir))

    def layout(self) -> Layout:
        return Layout(Path(self.output_dir).resolve(), self.settings().name)


def output_dir_from_env() -> Path:
    return Path(os.environ.get("FTW_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR).resolve()


def build_resources(output_dir: Path) -> dict:
    output_dir = Path(output_dir).resolve()
    return {
        "dataset": DatasetResource(output_dir=str(output_dir)),
        # One writer (chip_registry) holds the connection only while it writes.
        "duckdb": DuckDBResource(database=str(output_dir / "ftw.duckdb")),
        # FTW_STAC_HOST / FTW_COLLECTION override the dataset's --stac-host / --collection.
        "scene_source": SceneSourceResource(
            stac_host=os.environ.get("FTW_STAC_HOST") or None, collection=os.environ.get("FTW_COLLECTION") or None,
            # The HTTP retry budget: attempts per request, first backoff (doubling), timeout per request.
            attempts=int(os.environ.get("FTW_HTTP_ATTEMPTS", RetryPolicy.attempts)),
            backoff_s=float(os.environ.get("FTW_HTTP_BACKOFF_S", RetryPolicy.backoff_s)),
            timeout_s=float(os.environ.get("FTW_HTTP_TIMEOUT_S", RetryPolicy.timeout_s)),
        ),
    }
