"""Landsat Collection 2 Level-2 for the local archive, shaped like Planetary Computer ``landsat-c2-l2``.

WRS-2 path 190, row 027 (UTM zone 33N, EPSG:32633). Landsat 8 passes every 16 days and, from
November 2021, Landsat 9 eight days after it; per year six of those dates from April to October are
written (scripted weather: clear, scattered clouds, cloudy), about 09:43 UTC.

The rasters are on a 30 m grid of their own: pixel corners at x, y = 15 (mod 30), as on the USGS grid,
so 15 m (half a pixel) off the 10 m Sentinel-2 grid; the area is the archive's rounded inwards to
whole 30 m pixels. The pixels are the demo world's Sentinel-2 rendering
(:func:`~ftw_assets.demo.landscape.render_scene`, on the 10 m grid that splits each 30 m pixel in
3 x 3) averaged to 30 m, so clouds, shadows and parcels agree with the other sensors.

- ``coastal``, ``blue``, ``green``, ``red``, ``nir08``, ``swir16``, ``swir22``: uint16 surface reflectance
  DN, ``raster:bands`` scale 2.75e-05, offset -0.2 (reflectance = DN * 2.75e-05 - 0.2), nodata 0;
- ``lwir11``: surface temperature, scale 0.00341802, offset 149.0 kelvin, nodata 0;
- ``qa_pixel``: the real bit flags (bit 0 fill, 1 dilated cloud, 3 cloud, 4 cloud shadow, 6 clear,
  7 water, 8-15 confidence pairs), e.g. 21824 clear land, 22280 cloud, 21762 dilated cloud,
  23888 cloud shadow; a cloud pixel is one whose 30 m cloud density exceeds 0.35 (the Sentinel-2
  medium/high-probability threshold), dilated cloud is 3 pixels around that (and thinner cloud);
  nodata 1 (fill), as in the real ``raster:bands``.

``eo:cloud_cover`` (and ``landsat:cloud_cover_land``) is the percentage of cloud and dilated-cloud
pixels, with two decimals.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from ftw_assets.demo.archive import HARVEST_DAY, PLANTING_DAY, TILE_EPSG, ArchiveSpec
from ftw_assets.demo.landscape import Cloud, Grid10m, Parcels, SceneSky, make_parcels, render_scene
from ftw_assets.demo.sensors import COG_TYPE, LANDSAT, block3, dilate, geo, href, to_wgs84, utm_box, write_cog

WRS_PATH, WRS_ROW = "190", "027"
L8_CYCLE_DAY = date(2021, 1, 6)  # a Landsat 8 date of path 190; Landsat 9 passes 8 days later
L9_FIRST_DAY = date(2021, 11, 1)
SEASON = (91, 304)  # April to October, days of year
WEATHER = ("scattered", "clear", "cloudy", "scattered", "clear", "cloudy")
SCALE, OFFSET = 2.75e-05, -0.2
ST_SCALE, ST_OFFSET = 0.00341802, 149.0
# qa_pixel bits
FILL, DILATED, CLOUD, SHADOW, CLEAR, WATER = 1, 1 << 1, 1 << 3, 1 << 4, 1 << 6, 1 << 7
LOW = (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)  # low confidence of cloud, shadow, snow, cirrus
CLOUD_HIGH, SHADOW_HIGH = 3 << 8, 3 << 10
# asset key, file suffix, demo band, eo:bands name, centre, fwhm, description, title
BANDS = (
    ("coastal", "SR_B1", "blue", "OLI_B1", 0.44, 0.02, "Coastal/Aerosol", "Coastal/Aerosol Band"),
    ("blue", "SR_B2", "blue", "OLI_B2", 0.48, 0.06, "Visible blue", "Blue Band"),
    ("green", "SR_B3", "green", "OLI_B3", 0.56, 0.06, "Visible green", "Green Band"),
    ("red", "SR_B4", "red", "OLI_B4", 0.65, 0.04, "Visible red", "Red Band"),
    ("nir08", "SR_B5", "nir08", "OLI_B5", 0.87, 0.03, "Near infrared", "Near Infrared Band 0.8"),
    ("swir16", "SR_B6", "swir16", "OLI_B6", 1.61, 0.09, "Short-wave infrared", "Short-wave Infrared Band 1.6"),
    ("swir22", "SR_B7", "swir22", "OLI_B7", 2.2, 0.19, "Short-wave infrared", "Short-wave Infrared Band 2.2"),
)
QA_BITS = (  # name, offset, length, description, classes (name, description) by value
    ("fill", 0, 1, "Image or fill data", (("not_fill", "Image data"), ("fill", "Fill data"))),
    ("dilated_cloud", 1, 1, "Dilated cloud",
     (("not_dilated", "Cloud is not dilated or no cloud"), ("dilated", "Cloud dilation"))),
    ("cirrus", 2, 1, "Cirrus mask",
     (("not_cirrus", "Cirrus confidence is not high"), ("cirrus", "High confidence cirrus"))),
    ("cloud", 3, 1, "Cloud mask", (("not_cloud", "Cloud confidence is not high"), ("cloud", "High confidence cloud"))),
    ("cloud_shadow", 4, 1, "Cloud shadow mask",
     (("not_shadow", "Cloud shadow confidence is not high"), ("shadow", "High confidence cloud shadow"))),
    ("snow", 5, 1, "Snow/Ice mask",
     (("not_snow", "Snow/Ice confidence is not high"), ("snow", "High confidence snow cover"))),
    ("clear", 6, 1, "Clear mask",
     (("not_clear", "Cloud or dilated cloud bits are set"), ("clear", "Cloud and dilated cloud bits are not set"))),
    ("water", 7, 1, "Water mask", (("not_water", "Land or cloud"), ("water", "Water"))),
    ("cloud_confidence", 8, 2, "Cloud confidence levels", (("not_set", "No confidence level set"),
     ("low", "Low confidence cloud"), ("medium", "Medium confidence cloud"), ("high", "High confidence cloud"))),
    ("cloud_shadow_confidence", 10, 2, "Cloud shadow confidence levels", (("not_set", "No confidence level set"),
     ("low", "Low confidence cloud shadow"), ("reserved", "Reserved - value not used"),
     ("high", "High confidence cloud shadow"))),
    ("snow_confidence", 12, 2, "Snow/Ice confidence levels", (("not_set", "No confidence level set"),
     ("low", "Low confidence snow/ice"), ("reserved", "Reserved - value not used"),
     ("high", "High confidence snow/ice"))),
    ("cirrus_confidence", 14, 2, "Cirrus confidence levels", (("not_set", "No confidence level set"),
     ("low", "Low confidence cirrus"), ("reserved", "Reserved - value not used"), ("high", "High confidence cirrus"))),
)
STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://landsat.usgs.gov/stac/landsat-extension/v1.1.1/schema.json",
    "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
    "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
]


@dataclass(frozen=True)
class LandsatScene:
    when: datetime
    platform: str  # landsat-8 or landsat-9
    weather: str

    @property
    def product(self) -> str:
        processed = self.when + timedelta(days=1 + self.when.toordinal() % 9)
        return f"LC0{self.platform[-1]}_L2SP_{WRS_PATH}{WRS_ROW}_{self.when:%Y%m%d}_{processed:%Y%m%d}_02_T1"

    @property
    def id(self) -> str:
        return f"LC0{self.platform[-1]}_L2SP_{WRS_PATH}{WRS_ROW}_{self.when:%Y%m%d}_02_T1"

    @property
    def folder(self) -> str:
        return f"{LANDSAT}/level-2/standard/oli-tirs/{self.when.year}/{WRS_PATH}/{WRS_ROW}/{self.product}"


def plan_landsat(spec: ArchiveSpec) -> list[LandsatScene]:
    scenes = []
    for year in spec.years:
        first, last = date(year, 1, 1) + timedelta(days=SEASON[0] - 1), date(year, 1, 1) + timedelta(days=SEASON[1] - 1)
        candidates = []
        day = first + timedelta(days=(L8_CYCLE_DAY - first).days % 8)
        while day <= last:
            on_l8 = (day - L8_CYCLE_DAY).days % 16 == 0
            if on_l8 or day >= L9_FIRST_DAY:
                candidates.append((day, "landsat-8" if on_l8 else "landsat-9"))
            day += timedelta(days=8)
        picks = np.unique(np.round(np.linspace(0, len(candidates) - 1, len(WEATHER))).astype(int))
        for weather, i in zip(WEATHER, picks):
            day, platform = candidates[i]
            second = 5 + day.toordinal() % 50
            when = datetime(day.year, day.month, day.day, 9, 43, second, 477296, tzinfo=timezone.utc)
            scenes.append(LandsatScene(when, platform, weather))
    return scenes


def landsat_grid(spec: ArchiveSpec) -> tuple[Affine, int, int]:
    """(transform, width, height) of the 30 m grid: the archive's area rounded inwards to pixels
    whose corners are at 15 (mod 30) m."""
    grid = spec.grid()
    x0 = math.ceil((grid.x_min - 15) / 30) * 30 + 15
    x1 = math.floor((grid.x_min + grid.width * 10 - 15) / 30) * 30 + 15
    y1 = math.floor((grid.y_max - 15) / 30) * 30 + 15
    y0 = math.ceil((grid.y_max - grid.height * 10 - 15) / 30) * 30 + 15
    return Affine(30.0, 0.0, float(x0), 0.0, -30.0, float(y1)), (x1 - x0) // 30, (y1 - y0) // 30


def landsat_sky(scene: LandsatScene, transform: Affine, width: int, height: int, seed: int) -> SceneSky:
    """The clouds planted in a scene (map coordinates, EPSG:32633)."""
    rng = np.random.default_rng([seed, scene.when.toordinal(), 30])
    blocks = width * height / 341**2  # 1024 px blocks of the 10 m grid
    n, sigma, dens = {"clear": (0, (0, 0), (0, 0)), "scattered": (int(rng.integers(2, 5)), (300, 700), (0.7, 1.0)),
                      "cloudy": (int(blocks * 4) + 2, (600, 1300), (0.7, 1.0))}[scene.weather]
    clouds = tuple(Cloud(transform.c + rng.uniform(0.05, 0.95) * width * 30,
                         transform.f - rng.uniform(0.05, 0.95) * height * 30,
                         float(rng.uniform(*sigma)), float(rng.uniform(*dens))) for _ in range(n))
    return SceneSky(clouds)


def write_landsat(root: Path, spec: ArchiveSpec, workers: int = 2) -> list[dict[str, Any]]:
    transform, width, height = landsat_grid(spec)
    grid = spec.grid()
    parcels = make_parcels(grid, spec.seed)
    # The 10 m cells splitting the 30 m pixels: S2 pixels shifted by 5 m, picked by their centres.
    col0 = int(transform.c - grid.x_min + 5) // 10
    row0 = int(grid.y_max - transform.f + 5) // 10
    window = (slice(row0, row0 + 3 * height), slice(col0, col0 + 3 * width))
    fine = Parcels(parcels.cover[window], parcels.factor[window], parcels.names)
    fine_grid = Grid10m(transform.c, transform.f, 3 * width, 3 * height)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda s: _write_scene(root, s, transform, fine_grid, fine, spec.seed),
                             plan_landsat(spec)))


def qa_pixel(cloud_density: np.ndarray, shadow_share: np.ndarray) -> np.ndarray:
    """qa_pixel from the 30 m cloud density and the share of shadowed 10 m cells."""
    cloud = cloud_density > 0.35
    dilated = (dilate(cloud, 3) | (cloud_density > 0.2)) & ~cloud
    shadow = (shadow_share >= 0.5) & ~cloud & ~dilated
    qa = np.full(cloud.shape, LOW | CLEAR, dtype=np.uint16)
    qa[dilated] = LOW | DILATED
    qa[cloud] = (LOW & ~(3 << 8)) | CLOUD_HIGH | CLOUD
    qa[shadow] = (LOW & ~(3 << 10)) | SHADOW_HIGH | SHADOW | CLEAR
    return qa


def _write_scene(root: Path, scene: LandsatScene, transform: Affine, fine_grid: Grid10m, parcels: Parcels,
                 seed: int) -> dict[str, Any]:
    height, width = fine_grid.height // 3, fine_grid.width // 3
    sky = landsat_sky(scene, transform, width, height, seed)
    season = "planting" if scene.when.timetuple().tm_yday < (PLANTING_DAY + HARVEST_DAY) / 2 else "harvest"
    pixels = render_scene(fine_grid, parcels, sky, season, seed=seed * 100003 + scene.when.toordinal() + 30)
    density = block3(pixels["cloud"].astype(np.float32) / 100)
    qa = qa_pixel(density, block3((pixels["scl"] == 3).astype(np.float32)))
    folder = root / scene.folder
    crs = f"EPSG:{TILE_EPSG}"
    assets: dict[str, Any] = {}
    for key, suffix, band, eo_name, centre, fwhm, text, title in BANDS:
        refl = block3(pixels[band]) / 10000 * (1.05 if key == "coastal" else 1.0)
        dn = np.clip(np.rint((refl - OFFSET) / SCALE), 1, 65535).astype(np.uint16)
        path = folder / f"{scene.product}_{suffix}.TIF"
        info = write_cog(path, dn, transform, crs, 0, 512, predictor=2)
        assets[key] = {
            "href": href(path, root), "type": COG_TYPE, "title": title,
            "eo:bands": [{"name": eo_name, "common_name": key, "description": text, "center_wavelength": centre,
                          "full_width_half_max": fwhm}],
            "description": f"Collection 2 Level-2 {title} ({suffix}) Surface Reflectance",
            "raster:bands": [{"scale": SCALE, "nodata": 0, "offset": OFFSET, "data_type": "uint16",
                              "spatial_resolution": 30}],
            "file:size": info["size"], "roles": ["data", "reflectance"],
        }
    nir, red = block3(pixels["nir08"]), block3(pixels["red"])
    ndvi = (nir - red) / np.maximum(nir + red, 1)
    kelvin = 302.0 - 8.0 * ndvi - 35.0 * density  # warm bare soil, cooler crops, cold cloud tops
    st = np.clip(np.rint((kelvin - ST_OFFSET) / ST_SCALE), 1, 65535).astype(np.uint16)
    path = folder / f"{scene.product}_ST_B10.TIF"
    info = write_cog(path, st, transform, crs, 0, 512, predictor=2)
    assets["lwir11"] = {
        "href": href(path, root), "gsd": 100, "type": COG_TYPE, "roles": ["data", "temperature"],
        "title": "Surface Temperature Band",
        "eo:bands": [{"name": "TIRS_B10", "common_name": "lwir11", "description": "Long-wave infrared",
                      "center_wavelength": 10.9, "full_width_half_max": 0.59}],
        "description": "Collection 2 Level-2 Thermal Infrared Band (ST_B10) Surface Temperature",
        "raster:bands": [{"unit": "kelvin", "scale": ST_SCALE, "nodata": 0, "offset": ST_OFFSET, "data_type": "uint16",
                          "spatial_resolution": 30}],
        "file:size": info["size"],
    }
    path = folder / f"{scene.product}_QA_PIXEL.TIF"
    info = write_cog(path, qa, transform, crs, 1, 512, predictor=2)
    assets["qa_pixel"] = {
        "href": href(path, root), "classification:bitfields": _bitfields(), "type": COG_TYPE,
        "roles": ["cloud", "cloud-shadow", "snow-ice", "water-mask"], "title": "Pixel Quality Assessment Band",
        "description": "Collection 2 Level-1 Pixel Quality Assessment Band (QA_PIXEL)",
        "raster:bands": [{"unit": "bit index", "nodata": 1, "data_type": "uint16", "spatial_resolution": 30}],
        "file:size": info["size"],
    }
    cloudy = round(100.0 * float(((qa & (CLOUD | DILATED)) > 0).mean()), 2)
    return _item(scene, transform, width, height, assets, cloudy)


def _bitfields() -> list[dict[str, Any]]:
    return [{"name": name, "length": length, "offset": offset, "description": text,
             "classes": [{"name": c, "value": v, "description": d} for v, (c, d) in enumerate(classes)]}
            for name, offset, length, text, classes in QA_BITS]


def _item(scene: LandsatScene, transform: Affine, width: int, height: int, assets: dict[str, Any],
          cloudy: float) -> dict[str, Any]:
    bbox, geometry = geo(to_wgs84(utm_box(transform.c, transform.f, width * 30.0, height * 30.0)))
    doy = scene.when.timetuple().tm_yday
    elevation = 90 - 48.1 + 23.44 * math.sin(2 * math.pi * (doy - 81) / 365) - 9.0  # mid-morning, 48 N
    props = {
        "gsd": 30, "created": (scene.when + timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sci:doi": "10.5066/P9OGBGM6", "datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": scene.platform, "proj:epsg": TILE_EPSG, "proj:shape": [height, width],
        "description": "Landsat Collection 2 Level-2", "instruments": ["oli", "tirs"], "eo:cloud_cover": cloudy,
        "proj:transform": list(transform)[:6], "view:off_nadir": 0, "landsat:wrs_row": WRS_ROW,
        "landsat:scene_id": f"LC{scene.platform[-1]}{WRS_PATH}{WRS_ROW}{scene.when:%Y}{doy:03d}LGN00",
        "landsat:wrs_path": WRS_PATH, "landsat:wrs_type": "2", "view:sun_azimuth": round(150.0 - 0.05 * (doy - 172), 8),
        "landsat:correction": "L2SP", "view:sun_elevation": round(elevation, 8), "landsat:cloud_cover_land": cloudy,
        "landsat:collection_number": "02", "landsat:collection_category": "T1",
    }
    return {
        "id": scene.id, "bbox": bbox, "type": "Feature", "links": [], "assets": assets, "geometry": geometry,
        "collection": LANDSAT, "properties": props, "stac_extensions": STAC_EXTENSIONS, "stac_version": "1.0.0",
    }
