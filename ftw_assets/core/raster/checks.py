"""What the clipped-image checks verify, over every image of a dataset on disk."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio

from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.dataset.layout import Layout

# Reflectance x 10000 stays below 2^15 (bright clouds and snow reach about 20000); SCL has classes
# 0-11; cloud probability is a percentage.
RANGES = {"scl": (0, 11), "cloud_probability": (0, 100)}
REFLECTANCE_RANGE = (0, 32767)


def check_images(layout: Layout, mask_type: str | None, workers: int = 2) -> dict:
    """Every clipped image of the dataset: a valid COG on its chip's mask grid, no blank band, values
    in range; and the nodata shares. Images are checked on ``workers`` threads (GDAL decodes and
    rio-cogeo validates without holding the GIL), each opened once for its grid and pixels."""
    problems: dict[str, list] = {"valid_cog_on_mask_grid": [], "no_blank_band": [], "values_in_range": []}
    paths = sorted(layout.catalog_dir.glob("*/*_image_s2.tif")) if layout.catalog_dir.exists() else []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = list(pool.map(lambda p: _check_image(p, mask_type), paths))
    shares = [share for share, _ in found]
    for _, image_problems in found:  # in path order, whatever the threads' order
        for kind, entries in image_problems.items():
            problems[kind] += entries
    return {"images": len(paths), "problems": problems,
            "max_nodata_share": round(max(shares), 6) if shares else 0.0,
            "mean_nodata_share": round(float(np.mean(shares)), 6) if shares else 0.0}


def _check_image(path: Path, mask_type: str | None) -> tuple[float, dict[str, list]]:
    problems: dict[str, list] = {"valid_cog_on_mask_grid": [], "no_blank_band": [], "values_in_range": []}
    chip_year = path.parent.name
    mask = path.parent / f"{chip_year}_{mask_type}.tif" if mask_type else None
    with rasterio.open(path) as src:
        t = src.transform
        grid = ChipGrid(src.crs.to_epsg(), t.c, t.f, src.width, src.height, t.a)
        data = src.read()
        names = list(src.descriptions)
    if not is_valid_cog(path) or (mask is not None and mask.exists() and grid != read_grid(mask)):
        problems["valid_cog_on_mask_grid"].append(path.name)
    valid = np.any(data != 0, axis=0)
    for i, name in enumerate(names):
        px = data[i][valid]
        if px.size == 0 or float(px.std()) == 0.0:
            problems["no_blank_band"].append(f"{path.name}:{name}")
        lo, hi = RANGES.get(name, REFLECTANCE_RANGE)
        if px.size and (int(px.min()) < lo or int(px.max()) > hi):
            problems["values_in_range"].append(f"{path.name}:{name} {int(px.min())}..{int(px.max())}")
    return 1.0 - float(valid.mean()), problems
