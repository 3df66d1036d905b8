"""Cloud-optimised GeoTIFFs: written with rio-cogeo to a temp file, then renamed into place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

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
    """Write ``data`` (bands, rows, cols) or (rows, cols) on ``grid`` as a DEFLATE COG, atomically."""
    arr = data[np.newaxis] if data.ndim == 2 else data
    if arr.shape[1:] != (grid.height, grid.width):
        raise ValueError(f"array shape {arr.shape[1:]} does not match the chip grid {(grid.height, grid.width)}")
    src_profile = dict(
        driver="GTiff", count=arr.shape[0], width=grid.width, height=grid.height, dtype=arr.dtype.name,
        crs=grid.crs, transform=grid.transform, nodata=nodata,
    )
    dst_profile = cog_profiles.get("deflate")
    dst_profile.update(blockxsize=blocksize, blockysize=blocksize)
    if arr.dtype.kind in "iu":
        dst_profile["predictor"] = 2
    path = Path(path)
    with MemoryFile() as mem:
        with mem.open(**src_profile) as dst:
            dst.write(arr)
            for i, name in enumerate(descriptions or [], start=1):
                dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**tags)
        with mem.open() as src, atomic_path(path, suffix=".tif") as tmp:
            cog_translate(src, str(tmp), dst_profile, in_memory=True, quiet=True, overview_level=0,
                          add_mask=False, use_cog_driver=False)
    return path


def is_valid_cog(path: str | Path) -> bool:
    valid, _errors, _warnings = cog_validate(str(path), quiet=True)
    return bool(valid)


def read_grid(path: str | Path) -> ChipGrid:
    """The pixel grid a raster file is on, for checking it against a chip's grid."""
    with rasterio.open(path) as src:
        t = src.transform
        return ChipGrid(src.crs.to_epsg(), t.c, t.f, src.width, src.height, t.a)
