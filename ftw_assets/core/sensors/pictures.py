"""Thumbnails of the sensor chips, one way per modality (uint8 (3, rows, cols) pictures for
:func:`~ftw_assets.core.raster.thumbnail.write_picture`; 0 is nodata, black):

- Landsat: red, green, blue reflectance, 2-98 % stretch (as Sentinel-2);
- Sentinel-1: VV dB as red, VH dB as green, VV/VH ratio (VV dB - VH dB) as blue, each stretched;
- DEM: a hillshade (sun from the north-west, 45 degrees high) tinted by height;
- land cover: each class in the product's own colour.
"""

from __future__ import annotations

import numpy as np

from ftw_assets.core.raster.thumbnail import stretch
from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES, to_db
from ftw_assets.core.sensors.read import SensorChip


def picture(chip: SensorChip) -> np.ndarray | None:
    """The thumbnail of ``chip``, or None when its sensor has no picture of its bands."""
    layers = chip.layers
    if chip.sensor == "landsat" and all(b in layers for b in ("red", "green", "blue")):
        return _stretched([layers[b] for b in ("red", "green", "blue")])
    if chip.sensor == "s1" and len(chip.continuous()) >= 2:
        co, cross = (to_db(layers[b]) for b in chip.continuous()[:2])
        return _stretched([co, cross, co - cross])
    if chip.sensor == "dem" and "elevation" in layers:
        return hillshade(layers["elevation"], chip.grid.res)
    if chip.sensor == "landcover" and "landcover" in layers:
        return class_colours(layers["landcover"])
    return None


def _stretched(bands: list[np.ndarray]) -> np.ndarray:
    """Float bands with NaN as nodata, stretched 2-98 % (nodata 0)."""
    stack = np.stack([np.asarray(b, dtype=np.float32) for b in bands])
    valid = np.all(np.isfinite(stack), axis=0)
    shifted = np.where(valid, stack - np.nanmin(np.where(valid, stack, np.nan), axis=(1, 2), keepdims=True) + 1, 0)
    return stretch(shifted) if valid.any() else np.zeros(stack.shape, dtype=np.uint8)


def hillshade(height: np.ndarray, res: float, azimuth: float = 315.0, altitude: float = 45.0) -> np.ndarray:
    """Shaded relief of a height grid (metres, NaN nodata), lightly tinted from green (low) to brown (high)."""
    z = np.where(np.isfinite(height), height, np.nanmean(height) if np.isfinite(height).any() else 0.0)
    dy, dx = np.gradient(z, res)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    az, alt = np.radians(360.0 - azimuth + 90.0), np.radians(altitude)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0, 1)
    lo, hi = np.nanpercentile(z, (2, 98))
    t = np.clip((z - lo) / max(hi - lo, 1e-6), 0, 1)
    tint = np.stack([90 + 110 * t, 150 - 20 * t, 80 - 10 * t])  # green lowland to brown upland
    out = np.clip(tint * (0.35 + 0.65 * shade), 1, 255).astype(np.uint8)
    out[:, ~np.isfinite(height)] = 0
    return out


def class_colours(classes: np.ndarray) -> np.ndarray:
    """Each WorldCover class in its colour; other values (nodata) black."""
    out = np.zeros((3, *classes.shape), dtype=np.uint8)
    for c in WORLDCOVER_CLASSES:
        where = classes == c.value
        for i in range(3):
            out[i][where] = int(c.color[2 * i:2 * i + 2], 16)
    return out
