"""Resources: which dataset folder the assets work on, and its DuckDB database.

The folder comes from ``FTW_OUTPUT_DIR`` (the ``ftwd`` commands set it; the default is the
demo dataset under ``data/``). The dataset's parameters live in that folder's
``dataset.json``, so the UI, ``dagster asset materialize`` and ``ftwd`` build the same thing.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from .core.dataset import DatasetSettings, Layout
from .scenes.resources import SceneSourceResource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "data" / "demo"


class DatasetResource(dg.ConfigurableResource):
    """The dataset folder; its ``dataset.json`` holds the create-dataset parameters."""

    output_dir: str

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
            attempts=int(os.environ.get("FTW_HTTP_ATTEMPTS", 4)), backoff_s=float(os.environ.get("FTW_HTTP_BACKOFF_S", 0.5)),
            timeout_s=float(os.environ.get("FTW_HTTP_TIMEOUT_S", 30)),
        ),
    }
