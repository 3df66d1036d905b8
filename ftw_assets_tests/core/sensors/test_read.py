"""Reading Sentinel-1, Landsat, DEM and WorldCover onto a chip grid (rasterio reprojection from datasets kept
open), checked pixel by pixel against plain rasterio on the generated archive; plus its time against a
WarpedVRT window read.
(A DEM mosaic of two tiles: ftw_assets_tests/test_sensors_end_to_end.py, on the larger test archive.)"""

import time

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ftw_assets.core.geometry.grid import grid_footprint
from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.raster.windows import read_window
from ftw_assets.core.scenes.sources import SceneQuery
from ftw_assets.core.sensors.quality import WORLDCOVER_CLASSES
from ftw_assets.core.sensors.read import read_sensor_chip, write_sensor_chip
from ftw_assets.core.sensors.search import open_sensor_source, search_sensor
from ftw_assets_tests.core.sensors.conftest import GRID, YEAR_2024


def _scenes(archive, sensor, start=YEAR_2024[0], end=YEAR_2024[1]):
    source = open_sensor_source(str(archive / "sentinel-2-c1-l2a.parquet"), sensor)
    query = SceneQuery(start.replace(year=2000), end, intersects=grid_footprint(GRID))
    found = search_sensor(source, sensor, query)
    assert found.scenes and not found.rejected
    return found.scenes


def _reproject(href, resampling, dtype="float32", dst_nodata=None):
    out = np.zeros((GRID.height, GRID.width), dtype=dtype)
    with rasterio.open(href) as src:
        reproject(rasterio.band(src, 1), out, dst_transform=GRID.transform, dst_crs=GRID.crs,
                  resampling=resampling, dst_nodata=dst_nodata)
    return out


def test_dem_chip_equals_a_bilinear_reprojection_of_the_tile(sensor_archive):
    (scene,) = _scenes(sensor_archive, "dem")
    chip = read_sensor_chip([scene], GRID)
    expected = _reproject(scene.href("elevation"), Resampling.bilinear)
    got = chip.layers["elevation"]
    assert got.dtype == np.float32 and got.shape == (GRID.height, GRID.width) and not np.isnan(got).any()
    assert np.array_equal(got, expected)  # the same GDAL warp of the same pixels: exactly equal
    assert chip.resampling == {"elevation": "bilinear"} and chip.reprojected and chip.units["elevation"] == "meter"


def test_landcover_classes_are_kept_exactly_by_nearest(sensor_archive):
    (scene,) = _scenes(sensor_archive, "landcover")
    chip = read_sensor_chip([scene], GRID)
    got = chip.layers["landcover"]
    assert got.dtype == np.uint8
    with rasterio.open(scene.href("landcover")) as src:
        source_values = set(np.unique(src.read(1)).tolist())
    assert set(np.unique(got).tolist()) <= source_values <= {c.value for c in WORLDCOVER_CLASSES}
    np.testing.assert_array_equal(got, _reproject(scene.href("landcover"), Resampling.nearest, "uint8", 0))
    assert chip.resampling == {"landcover": "nearest"} and chip.nodata["landcover"] == 0


def test_landsat_scale_and_offset_are_applied_as_declared(sensor_archive):
    scene = _scenes(sensor_archive, "landsat")[0]
    chip = read_sensor_chip([scene], GRID, bands=("red", "nir08", "qa_pixel"))
    band = scene.bands["red"]
    assert (band.scale, band.offset) == (2.75e-05, -0.2)
    with rasterio.open(scene.href("red")) as src:
        dn, t = src.read(1).astype(float), src.transform
    # Landsat pixel centres lie 5 m off the chip's (USGS grid): the chip pixel is the bilinear blend of
    # the four source DNs around its centre, then scaled.
    r, c = 15, 15
    x, y = GRID.x_min + 10 * c + 5, GRID.y_max - 10 * r - 5
    fc, fr = (x - t.c) / t.a - 0.5, (y - t.f) / t.e - 0.5
    c0, r0 = int(np.floor(fc)), int(np.floor(fr))
    wc, wr = fc - c0, fr - r0
    blend = ((1 - wr) * ((1 - wc) * dn[r0, c0] + wc * dn[r0, c0 + 1])
             + wr * ((1 - wc) * dn[r0 + 1, c0] + wc * dn[r0 + 1, c0 + 1]))
    assert chip.layers["red"][r, c] == pytest.approx(blend * 2.75e-05 - 0.2, abs=1e-6)
    assert chip.scale["red"] == 2.75e-05 and chip.offset["red"] == -0.2
    expected = _reproject(scene.href("red"), Resampling.bilinear) * 2.75e-05 - 0.2
    np.testing.assert_allclose(chip.layers["red"], expected, atol=1e-5)
    qa = chip.layers["qa_pixel"]  # bits are not interpolated: every value is one the source has
    with rasterio.open(scene.href("qa_pixel")) as src:
        assert qa.dtype == np.uint16 and set(np.unique(qa).tolist()) <= set(np.unique(src.read(1)).tolist())
    assert chip.continuous() == ("red", "nir08") and chip.categorical() == ("qa_pixel",)


def test_radar_and_written_cogs_are_on_the_chip_grid(sensor_archive, tmp_path):
    scene = _scenes(sensor_archive, "s1")[0]
    chip = read_sensor_chip([scene], GRID)
    assert set(chip.layers) == {"vv", "vh"} and chip.units["vv"] == "gamma0 linear power"
    db = 10 * np.log10(chip.layers["vv"])
    assert -30 < np.nanmedian(db) < 10 and chip.nodata_share() == 0.0
    path = write_sensor_chip(chip, ("vv", "vh"), tmp_path / "planting_image_s1.tif")
    assert is_valid_cog(path) and read_grid(path) == GRID
    with rasterio.open(path) as src:
        assert src.descriptions == ("vv", "vh") and src.tags()["vv_resampling"] == "bilinear"
        np.testing.assert_array_equal(src.read(1), chip.layers["vv"])


def test_chip_reader_against_a_warped_window_read(sensor_archive, capsys):
    """Not a pass/fail speed test: prints the time per chip of both ways (see the report of issue 15)."""
    timings = {}
    for sensor, band in (("dem", "elevation"), ("landcover", "landcover"), ("landsat", "red")):
        scene = _scenes(sensor_archive, sensor)[0]
        resampling = Resampling.nearest if band == "landcover" else Resampling.bilinear
        read_window(scene.href(band), GRID, resampling)  # warm both (file cache, imports)
        read_sensor_chip([scene], GRID, bands=(band,))
        t0 = time.perf_counter()
        for _ in range(5):
            read_sensor_chip([scene], GRID, bands=(band,))
        t1 = time.perf_counter()
        for _ in range(5):
            read_window(scene.href(band), GRID, resampling)
        t2 = time.perf_counter()
        timings[sensor] = ((t1 - t0) / 5 * 1000, (t2 - t1) / 5 * 1000)
    with capsys.disabled():
        for sensor, (chip_ms, vrt_ms) in timings.items():
            print(f"\n{sensor}: read_sensor_chip {chip_ms:.1f} ms/chip, WarpedVRT window {vrt_ms:.1f} ms/chip")
