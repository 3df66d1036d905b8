"""The scene inventory: one search per MGRS tile and year over the chips of that tile, summarised."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import geopandas as gpd
import pandas as pd
import shapely

from ftw_assets.core.scenes.sources import SceneQuery

CLEAR_BELOW = 10.0  # scene-level cloud cover counted as "clear" in the summary


def inventory_queries(chips: gpd.GeoDataFrame, years: list[int]) -> Iterator[tuple[str, int, SceneQuery]]:
    """(tile, year, query) per MGRS tile of the chip table (WGS84 cells) and year."""
    for tile, cells in chips.groupby("mgrs_tile", sort=True):
        area = shapely.union_all(cells.geometry.values).envelope
        for year in sorted(years):
            yield tile, year, SceneQuery(
                datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
                bbox=tuple(float(v) for v in area.bounds),
            )


def summarize(scenes: pd.DataFrame) -> pd.DataFrame:
    """Per tile and year: scenes, clear scenes, lowest cover, baselines and offsets decided."""
    if scenes.empty:
        return pd.DataFrame(columns=["tile", "year", "scenes", "clear", "min_cloud", "baselines", "offsets"])
    grouped = scenes.groupby(["tile", "year"], sort=True)
    return grouped.agg(
        scenes=("scene_id", "count"),
        clear=("cloud_cover", lambda c: int((c < CLEAR_BELOW).sum())),
        min_cloud=("cloud_cover", "min"),
        baselines=("processing_baseline", lambda b: ",".join(sorted(set(map(str, b))))),
        offsets=("boa_offset", lambda o: ",".join(str(v) for v in sorted(set(o)))),
    ).reset_index()
