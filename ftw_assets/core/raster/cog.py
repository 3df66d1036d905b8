"""Cloud-optimised GeoTIFFs: written by GDAL's COG driver to a temp file, then renamed into place;
validated with rio-cogeo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as copy_dataset
from rio_cogeo.cogeo import cog_validate

from ftw_assets.core.atomic import atomic_path
from ftw_assets.core.geometry.grid import ChipGrid


def write_cog(
    path: str | Path,
    data: np.ndarray,
    grid: ChipGrid,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
    tags: dict[str, str] | None = None,
    blocksize: int = 256,
) -> Path:
    """Write ``data`` (bands, rows, cols) or (rows, cols) on ``grid`` as a DEFLATE COG, atomically.

    GDAL's COG driver copies a MEM dataset (pixels as they are, not encoded as an in-memory GTiff
    first) straight to the temp file (no overviews: a chip is one or a few blocks). rio-cogeo's
    ``cog_translate`` made the same file through an extra VRT and GTiff pass, 1.6x the time per COG
    (``make bench``), and the in-memory GTiff source 1.3x; ``is_valid_cog`` still checks with rio-cogeo."""
    arr = data[np.newaxis] if data.ndim == 2 else data
    if arr.shape[1:] != (grid.height, grid.width):
        raise ValueError(f"array shape {arr.shape[1:]} does not match the chip grid {(grid.height, grid.width)}")
    src_profile = dict(
        driver="MEM", count=arr.shape[0], width=grid.width, height=grid.height, dtype=arr.dtype.name,
        crs=grid.crs, transform=grid.transform, nodata=nodata,
    )
    options = dict(COMPRESS="DEFLATE", BLOCKSIZE=str(blocksize), OVERVIEWS="NONE", INTERLEAVE="PIXEL",
                   PREDICTOR="2" if arr.dtype.kind in "iu" else "NO")
    path = Path(path)
    with rasterio.open("chip", "w", **src_profile) as src:
        src.write(arr)
        for i, name in enumerate(descriptions or [], start=1):
            src.set_band_description(i, name)
        if tags:
            src.update_tags(**tags)
        with atomic_path(path, suffix=".tif") as tmp:
            copy_dataset(src, str(tmp), driver="COG", **options)
    return path


def is_valid_cog(path: str | Path) -> bool:
    valid, _errors, _warnings = cog_validate(str(path), quiet=True)
    return bool(valid)


def read_grid(path: str | Path) -> ChipGrid:
    """The pixel grid a raster file is on, for checking it against a chip's grid."""
    with rasterio.open(path) as src:
        t = src.transform
        return ChipGrid(src.crs.to_epsg(), t.c, t.f, src.width, src.height, t.a)
