"""A small generated archive with every sensor (one 1024 px block of 33UWP, 2024), built once per session,
and a helper that searches it the way the pipeline does."""

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.demo.archive import ALL_SENSORS, ArchiveSpec, build_archive

SPEC = replace(ArchiveSpec(block_col=8, block_row=6, block_cols=1, block_rows=1, years=(2024,)), sensors=ALL_SENSORS)
# A 2 km chip inside the archive's block, on the 10 m grid the masks use.
GRID = ChipGrid(32633, 584000.0, 5336000.0, 200, 200)
YEAR_2024 = (datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 12, 31, 23, 59, tzinfo=timezone.utc))


@pytest.fixture(scope="session")
def sensor_archive(tmp_path_factory) -> Path:
    """The archive folder: the Sentinel-2 parquet and ``{collection}.parquet`` of every other sensor."""
    root = tmp_path_factory.mktemp("sensors-archive")
    build_archive(root, SPEC)
    return root
