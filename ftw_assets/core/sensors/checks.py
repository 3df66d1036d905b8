"""The quality checks of the sensor images on disk, per modality, with the thresholds of
:data:`~.config.SENSORS` (``checks``). No Dagster here; ``defs/sensors/checks.py`` reports them.

Every sensor: a valid COG on its chip's mask grid, at most ``max_nodata_percent`` nodata. Then:

- optical (Landsat): no blank band (std dev of the valid pixels above ``min_std``), every pixel in
  ``pixel_range`` and each band's median in ``value_range`` (reflectance);
- radar (Sentinel-1): a dual-polarisation pair present (VV/VH, or HH/HV), the median backscatter of each
  band within ``value_range`` dB after conversion from linear power (or amplitude, as the image's unit tag
  says), and speckle: std dev in dB of at least ``min_std``;
- DEM: every height within ``pixel_range`` (plausible on Earth);
- land cover: only the product's class values (``allowed_values``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.sensors.config import sensor_config
from ftw_assets.core.sensors.quality import to_db

COMMON = ("valid_cog_on_mask_grid", "nodata_at_most_limit")
MODALITY_CHECKS = {
    "landsat": ("no_blank_band", "values_in_range"),
    "s1": ("polarizations_present", "backscatter_in_range", "speckle_std"),
    "dem": ("plausible_heights",),
    "landcover": ("known_classes_only",),
}


def check_names(sensor: str) -> tuple[str, ...]:
    return COMMON + MODALITY_CHECKS[sensor_config(sensor).name]


def image_glob(sensor: str) -> str:
    """The image files of ``sensor`` in a chip-year folder (``*_image_{sensor}.tif``)."""
    return f"*/*_image_{sensor}.tif"


def check_sensor_images(layout: Layout, sensor: str, mask_type: str | None) -> dict:
    """Every image of ``sensor`` in the dataset: {"images": n, "problems": {check: [entries]},
    "max_nodata_share": ...}; an entry names the file (and band) and what is wrong."""
    problems = {name: [] for name in check_names(sensor)}
    paths = sorted(layout.catalog_dir.glob(image_glob(sensor))) if layout.catalog_dir.exists() else []
    shares = []
    for path in paths:
        share, found = check_image(path, sensor, mask_type)
        shares.append(share)
        for name, entries in found.items():
            problems[name] += entries
    return {"images": len(paths), "problems": problems, "max_nodata_share": round(max(shares), 6) if shares else 0.0}


def check_image(path: Path, sensor: str, mask_type: str | None) -> tuple[float, dict[str, list[str]]]:
    """(nodata share, {check: problems}) of one sensor image."""
    cfg = sensor_config(sensor)
    checks = cfg.checks
    out: dict[str, list[str]] = {name: [] for name in check_names(cfg.name)}
    mask = path.parent / f"{path.parent.name}_{mask_type}.tif" if mask_type else None
    with rasterio.open(path) as src:
        t = src.transform
        grid = ChipGrid(src.crs.to_epsg(), t.c, t.f, src.width, src.height, t.a)
        data, names, nodata = src.read(), [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)], src.nodata
        tags = src.tags()
    if not is_valid_cog(path) or (mask is not None and mask.exists() and grid != read_grid(mask)):
        out["valid_cog_on_mask_grid"].append(path.name)
    valid = ~np.any(_missing(data, nodata), axis=0)
    share = 1.0 - float(valid.mean())
    if share * 100 > checks.max_nodata_percent:
        out["nodata_at_most_limit"].append(f"{path.name}: {share * 100:.1f} % nodata > {checks.max_nodata_percent:g} %")
    for band, name in zip(data, names):
        px = band[valid].astype(np.float64)
        where = f"{path.name}:{name}"
        if cfg.name == "s1":
            _radar(px, where, checks, out, "amplitude" if "amplitude" in tags.get(f"{name}_unit", "") else "power")
        elif cfg.name == "landsat":
            _optical(px, where, checks, out)
        elif cfg.name == "dem":
            lo, hi = checks.pixel_range
            if px.size and (px.min() < lo or px.max() > hi):
                out["plausible_heights"].append(f"{where} {px.min():.1f}..{px.max():.1f} m outside {lo:g}..{hi:g}")
        elif cfg.name == "landcover":
            unknown = sorted(set(np.unique(px).astype(int).tolist()) - set(checks.allowed_values))
            if unknown:
                out["known_classes_only"].append(f"{where}: unknown class values {unknown[:10]}")
    if cfg.name == "s1":
        present = {n.upper() for n in names}
        if not any(set(pair) <= present for pair in checks.polarization_pairs):
            out["polarizations_present"].append(f"{path.name}: has {', '.join(sorted(present))}, no dual-pol pair")
    return share, out


def _radar(px: np.ndarray, where: str, checks, out: dict, quantity: str) -> None:
    """Linear power (RTC gamma0) or amplitude (GRD: uncalibrated DN, so its dB fail the range: calibrate first)."""
    db = to_db(px, quantity)
    db = db[np.isfinite(db)]
    if not db.size:
        out["backscatter_in_range"].append(f"{where}: no valid backscatter")
        return
    lo, hi = checks.value_range
    median = float(np.median(db))
    if not lo <= median <= hi:
        out["backscatter_in_range"].append(f"{where}: median {median:.1f} dB outside {lo:g}..{hi:g} dB")
    if not checks.std_ok(float(db.std())):
        out["speckle_std"].append(f"{where}: std dev {db.std():.2f} dB < {checks.min_std:g} dB (too smooth for radar)")


def _optical(px: np.ndarray, where: str, checks, out: dict) -> None:
    if not px.size or not checks.std_ok(float(px.std())):
        out["no_blank_band"].append(f"{where}: std dev {float(px.std()) if px.size else 0:.6f}")
        return
    lo, hi = checks.pixel_range
    median, (vlo, vhi) = float(np.median(px)), checks.value_range
    if px.min() < lo or px.max() > hi or not vlo <= median <= vhi:
        out["values_in_range"].append(f"{where}: {px.min():.4f}..{px.max():.4f}, median {median:.4f}")


def _missing(data: np.ndarray, nodata) -> np.ndarray:
    gone = np.isnan(data) if data.dtype.kind == "f" else np.zeros(data.shape, dtype=bool)
    if nodata is not None and not np.isnan(nodata):
        gone |= data == nodata
    return gone
