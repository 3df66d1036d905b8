"""Sentinel-1 RTC for the local archive, shaped like Planetary Computer ``sentinel-1-rtc`` items.

Per year, six Sentinel-1A IW dual-pol (VV+VH) acquisitions from April to October, alternately from a
descending (relative orbit 124, about 05:03 UTC) and an ascending pass (orbit 73, about 16:51 UTC),
each on its orbit's 12-day repeat cycle. ``vv`` and ``vh`` are float32 COGs of linear gamma naught
power (not dB), nodata -32768, on the archive's 10 m UTM grid (the Sentinel-2 one, EPSG:32633), in
1024 px blocks. The backscatter follows the parcels of the demo world: a mean per land cover that
moves from its planting-time to its harvest-time value through the season (bare soil about -13/-21 dB
VV/VH, green crops -10.5/-16.5, forest -7.5/-12.5), shifted per parcel and per pass direction, times
gamma-distributed speckle of 4.4 looks (the item's ``sar:looks_equivalent_number``), clipped to
-28..+5 dB. Values keep 8 mantissa bits (a relative error below 0.4 %, 0.02 dB) so that they
compress (1.5 MB per band and 1024 px block instead of 3.3 MB).

Like PC: ``platform`` is ``SENTINEL-1A`` and ``constellation`` ``Sentinel-1`` (upper case),
``start_datetime``/``end_datetime`` are written as ``"2024-04-19 04:59:04.220006+00:00"`` (a space and
an offset), ``datetime`` is the middle of the slice in ISO form, ``proj:transform`` has 9 numbers and
``file:checksum`` is a plain md5. ``s1:shape`` is (width, height) of the written raster.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from ftw_assets.demo.archive import HARVEST_DAY, PLANTING_DAY, TILE_EPSG, ArchiveSpec
from ftw_assets.demo.landscape import COVERS, Grid10m, Parcels, make_parcels
from ftw_assets.demo.sensors import COG_TYPE, SENTINEL1, geo, href, to_wgs84, utm_box, write_cog

NODATA = -32768.0
ENL = 4.4  # equivalent number of looks of GRDH IW
MIN_DB, MAX_DB = -28.0, 5.0
# Days of year, alternately descending and ascending; a pass falls 0-11 days after each (the 12-day cycle),
# so the first and last land within 6 days of the demo's planting and harvest dates (the seasons' windows).
TARGET_DAYS = (PLANTING_DAY - 6, 135, 170, 205, 240, HARVEST_DAY - 6)
# pass direction -> (relative orbit, a date on its 12-day cycle, UTC time of the slice start, dB offset)
PASSES = {
    "descending": (124, date(2021, 1, 4), (5, 3, 11), 0.0),
    "ascending": (73, date(2021, 1, 9), (16, 51, 2), 0.6),  # a steeper incidence: a little brighter
}
# gamma0 in dB (VV, VH) of each look of the demo world's land covers
LOOK_DB = {
    "bare": (-13.0, -21.0), "green": (-10.5, -16.5), "senescent": (-11.5, -18.5),
    "forest": (-7.5, -12.5), "track": (-14.0, -22.0),
}
# A real S1A slice for the absolute orbit count: 2024-04-19, absolute orbit 53498 (relative 51).
REF_ORBIT = (datetime(2024, 4, 19, 4, 59, tzinfo=timezone.utc), 53498)
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
]


@dataclass(frozen=True)
class S1Scene:
    start: datetime
    orbit_state: str
    relative_orbit: int
    absolute_orbit: int

    @property
    def stop(self) -> datetime:
        return self.start + timedelta(seconds=12, microseconds=433399)

    @property
    def product(self) -> str:
        return (f"S1A_IW_GRDH_1SDV_{self.start:%Y%m%dT%H%M%S}_{self.stop:%Y%m%dT%H%M%S}_{self.absolute_orbit:06d}_"
                f"{self.datatake:06X}")

    @property
    def id(self) -> str:
        return f"{self.product}_rtc"

    @property
    def datatake(self) -> int:
        return int(self.absolute_orbit * 7.953) % 0xFFFFFF

    @property
    def folder(self) -> str:
        suffix = hashlib.sha256(self.product.encode()).hexdigest()[:4].upper()
        s = self.start
        return f"{SENTINEL1}/GRD/{s.year}/{s.month}/{s.day}/IW/DV/{self.product}_{suffix}/measurement"


def plan_s1(spec: ArchiveSpec) -> list[S1Scene]:
    scenes = []
    for year in spec.years:
        for i, doy in enumerate(TARGET_DAYS):
            state = "descending" if i % 2 == 0 else "ascending"
            orbit, cycle_day, (hh, mm, ss), _ = PASSES[state]
            target = date(year, 1, 1) + timedelta(days=doy - 1)
            day = target + timedelta(days=(cycle_day - target).days % 12)
            start = datetime(day.year, day.month, day.day, hh, mm, ss, 220006 + 1000 * (day.toordinal() % 700),
                             tzinfo=timezone.utc)
            scenes.append(S1Scene(start, state, orbit, _absolute_orbit(start, orbit)))
    return scenes


def _absolute_orbit(when: datetime, relative: int) -> int:
    """S1A's absolute orbit near ``when`` with the given relative orbit (175 orbits in 12 days;
    relative = (absolute - 73) mod 175 + 1)."""
    ref_time, ref_abs = REF_ORBIT
    estimate = ref_abs + round((when - ref_time).total_seconds() / 86400 * 175 / 12)
    shift = (relative - ((estimate - 73) % 175 + 1) + 87) % 175 - 87
    return estimate + shift


def write_s1(root: Path, spec: ArchiveSpec, workers: int = 2) -> list[dict[str, Any]]:
    grid = spec.grid()
    parcels = make_parcels(grid, spec.seed)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda s: _write_scene(root, s, grid, parcels, spec.seed), plan_s1(spec)))


def backscatter(scene: S1Scene, parcels: Parcels, seed: int) -> dict[str, np.ndarray]:
    """Linear gamma0 (float32) for ``vv`` and ``vh`` over the parcels' grid."""
    doy = scene.start.timetuple().tm_yday
    t = float(np.clip((doy - PLANTING_DAY) / (HARVEST_DAY - PLANTING_DAY), 0.0, 1.0))
    rng = np.random.default_rng([seed, scene.start.toordinal(), 1])
    offset = PASSES[scene.orbit_state][3]
    parcel_db = 10 * np.log10(parcels.factor)  # the parcel's brightness factor, in dB (about +-0.5)
    out = {}
    for pol_index, pol in enumerate(("vv", "vh")):
        table = [(1 - t) * LOOK_DB[COVERS[name][0]][pol_index] + t * LOOK_DB[COVERS[name][1]][pol_index]
                 for name in parcels.names] + [LOOK_DB["track"][pol_index]]
        mean_db = np.asarray(table, dtype=np.float32)[parcels.cover.astype(np.int16)] + parcel_db + offset
        speckle = rng.gamma(ENL, 1.0 / ENL, mean_db.shape).astype(np.float32)
        power = np.power(np.float32(10.0), mean_db / np.float32(10.0)) * speckle
        power = np.clip(power, 10 ** (MIN_DB / 10), 10 ** (MAX_DB / 10)).astype(np.float32)
        out[pol] = (power.view(np.uint32) & np.uint32(0xFFFF8000)).view(np.float32)  # keep 8 mantissa bits
    return out


def _write_scene(root: Path, scene: S1Scene, grid: Grid10m, parcels: Parcels, seed: int) -> dict[str, Any]:
    pixels = backscatter(scene, parcels, seed)
    transform = Affine(10.0, 0.0, grid.x_min, 0.0, -10.0, grid.y_max)
    assets: dict[str, Any] = {}
    for pol, across in (("vh", "horizontal"), ("vv", "vertical")):
        path = root / scene.folder / f"iw-{pol}.rtc.tiff"
        info = write_cog(path, pixels[pol], transform, f"EPSG:{TILE_EPSG}", NODATA, 1024, predictor=3)
        assets[pol] = {
            "href": href(path, root), "file:size": info["size"], "file:checksum": info["md5"], "type": COG_TYPE,
            "roles": ["data"], "title": f"{pol.upper()}: vertical transmit, {across} receive",
            "description": ("Terrain-corrected gamma naught values of signal transmitted with vertical polarization "
                            f"and received with {across} polarization with radiometric terrain correction applied."),
            "raster:bands": [{"nodata": -32768, "data_type": "float32", "spatial_resolution": 10.0}],
        }
    return scene_item(scene, grid, assets)


def _pc_time(t: datetime) -> str:
    return t.isoformat(sep=" ", timespec="microseconds")  # "2024-04-19 04:59:04.220006+00:00", as PC serves it


def scene_item(scene: S1Scene, grid: Grid10m, assets: dict[str, Any]) -> dict[str, Any]:
    """The STAC item of a scene over ``grid`` with the given assets."""
    box = utm_box(grid.x_min, grid.y_max, grid.width * 10.0, grid.height * 10.0)
    bbox, geometry = geo(to_wgs84(box))
    middle = scene.start + (scene.stop - scene.start) / 2
    props = {
        "datetime": middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": "SENTINEL-1A",
        "s1:shape": [grid.width, grid.height],
        "proj:bbox": [float(v) for v in box.bounds],
        "proj:epsg": TILE_EPSG,
        "proj:shape": [grid.height, grid.width],
        "end_datetime": _pc_time(scene.stop),
        "constellation": "Sentinel-1",
        "s1:resolution": "high",
        "proj:transform": [10.0, 0.0, grid.x_min, 0.0, -10.0, grid.y_max, 0.0, 0.0, 1.0],
        "s1:datatake_id": str(scene.datatake),
        "start_datetime": _pc_time(scene.start),
        "s1:orbit_source": "RESORB",
        "s1:slice_number": "12",
        "s1:total_slices": "20",
        "sar:looks_range": 5,
        "sat:orbit_state": scene.orbit_state,
        "sar:product_type": "GRD",
        "sar:looks_azimuth": 1,
        "sar:polarizations": ["VV", "VH"],
        "sar:frequency_band": "C",
        "sat:absolute_orbit": scene.absolute_orbit,
        "sat:relative_orbit": scene.relative_orbit,
        "s1:processing_level": "1",
        "sar:instrument_mode": "IW",
        "sar:center_frequency": 5.405,
        "sar:resolution_range": 20,
        "s1:product_timeliness": "Fast-24h",
        "sar:resolution_azimuth": 22,
        "sar:pixel_spacing_range": 10,
        "sar:observation_direction": "right",
        "sar:pixel_spacing_azimuth": 10,
        "sar:looks_equivalent_number": ENL,
        "s1:instrument_configuration_ID": "7",
        "sat:platform_international_designator": "2014-016A",
    }
    return {
        "id": scene.id, "bbox": bbox, "type": "Feature", "links": [], "assets": assets, "geometry": geometry,
        "collection": SENTINEL1, "properties": props, "stac_extensions": STAC_EXTENSIONS, "stac_version": "1.0.0",
    }
