"""The embedded demo world: field parcels near 48.0 N, 16.0 E (Lower Austria, UTM 33N).

Deterministic for a seed. The crop calendar there gives planting day 92 and harvest day 293,
and the parcels cover a 3 x 2 block of 2 km cells plus a few fields spilling into neighbours.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity

from .atomic import atomic_path

DEMO_EPSG = 32633
# South-west corner of the demo block: MGRS 33UWP 78/28 (48.1 N, 16.05 E), on the 2 km grid,
# clear of the 48° latitude-band edge.
DEMO_ORIGIN = (578000.0, 5328000.0)
DEMO_YEAR = 2024


def make_demo_fields(seed: int = 7, cells_x: int = 3, cells_y: int = 2) -> gpd.GeoDataFrame:
    """Rectangular parcels (some rotated) on farm tracks 20 m wide; about a fifth left unfarmed."""
    rng = np.random.default_rng(seed)
    x0, y0 = DEMO_ORIGIN
    width, height = cells_x * 2000.0, cells_y * 2000.0
    polys, ids = [], []
    y = y0 + 60.0
    while y < y0 + height - 100:
        row_h = float(rng.choice([180.0, 240.0, 300.0, 360.0]))
        x = x0 + 40.0
        while x < x0 + width + 150:  # the last column spills over the block's east edge
            w = float(rng.choice([150.0, 220.0, 310.0, 400.0]))
            if rng.random() > 0.2:
                poly = shapely.box(x, y, x + w, y + row_h)
                if rng.random() < 0.25:
                    poly = affinity.rotate(poly, float(rng.uniform(-12, 12)), origin="centroid")
                polys.append(poly)
                ids.append(f"AT-{len(ids):04d}")
            x += w + 20.0
        y += row_h + 20.0
    frame = gpd.GeoDataFrame({"id": ids}, geometry=polys, crs=DEMO_EPSG)
    frame["determination_datetime"] = np.datetime64(f"{DEMO_YEAR}-06-01T00:00:00", "ms")
    return frame


def write_demo_fields(path: str | Path, seed: int = 7) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".gpkg") as tmp:
        make_demo_fields(seed).to_file(tmp, driver="GPKG", layer="fields")
    return path
