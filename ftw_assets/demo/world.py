"""The embedded demo world: field parcels near 48.0 N, 16.0 E (Lower Austria, UTM 33N).

Deterministic for a seed. The crop calendar over the demo chips gives planting day 92 and harvest day 302,
and the parcels cover a 3 x 2 block of 2 km cells plus a few fields spilling into neighbours.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity

from ftw_assets.core.atomic import atomic_path

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


# The real FTW summer calendar holds planting 92 / harvest 302 in the 0.5 degree pixel over the demo
# chips (47.75-48.25 N, 16.0-16.5 E) and 92 / 293 in the pixel to its west. Offline with no cached
# calendar, the demo writes this small excerpt on the real calendar's pixel grid instead.
CALENDAR_ORIGIN = (-179.999725463, 83.749999999)
DEMO_CALENDAR_PIXEL = (71, 392)  # row, column of the demo chips' pixel in the global grid


def write_demo_calendar(folder: str | Path) -> Path:
    """A 6 x 6 pixel excerpt of the summer crop calendar around the demo site (same grid, same files)."""
    import rasterio
    from affine import Affine

    from ftw_assets.core.scenes.calendar import CALENDAR_FILES

    folder = Path(folder)
    row0, col0 = DEMO_CALENDAR_PIXEL[0] - 3, DEMO_CALENDAR_PIXEL[1] - 3
    transform = Affine(0.5, 0, CALENDAR_ORIGIN[0] + col0 * 0.5, 0, -0.5, CALENDAR_ORIGIN[1] - row0 * 0.5)
    planting = np.full((6, 6), 92, dtype=np.float32)
    harvest = np.full((6, 6), 302, dtype=np.float32)
    harvest[:, :3] = 293  # the pixels west of 16.0 E
    for name, data in zip(CALENDAR_FILES["summer"], (planting, harvest)):
        with atomic_path(folder / name, suffix=".tiff") as tmp:
            with rasterio.open(tmp, "w", driver="GTiff", width=6, height=6, count=1, dtype="float32",
                               crs="EPSG:4326", transform=transform, nodata=0) as dst:
                dst.write(data, 1)
    return folder
