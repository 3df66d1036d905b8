"""Choosing Sentinel-1, Landsat, DEM and land-cover scenes per chip on the generated archive: one search
per tile x window, radar nearest the target dates, Landsat by the chip's own qa_pixel, static tiles
of the newest product; and the sources a sensor can (not) come from."""

import pytest

from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint
from ftw_assets.core.scenes.sources import SceneQuery
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.sensors.choice import STATIC, SensorRequest, choose_batch, seasons_of
from ftw_assets.core.sensors.quality import qa_pixel_mask
from ftw_assets.core.sensors.read import read_sensor_chip
from ftw_assets.core.sensors.search import open_sensor_source, search_sensor
from ftw_assets.demo.archive import HARVEST_DAY, PLANTING_DAY
from ftw_assets_tests.core.sensors.conftest import GRID

DEMO_DAYS = CalendarDays(PLANTING_DAY, HARVEST_DAY, "pixel")
EAST = ChipGrid(GRID.epsg, GRID.x_min + 2000, GRID.y_max, GRID.width, GRID.height)
REQUESTS = [SensorRequest("ftw-33UWP8436", 2024, "33UWP", GRID, DEMO_DAYS),
            SensorRequest("ftw-33UWP8636", 2024, "33UWP", EAST, DEMO_DAYS)]


def _source(archive, sensor):
    return open_sensor_source(str(archive / "sentinel-2-c1-l2a.parquet"), sensor)


def test_radar_is_nearest_the_target_dates_with_its_orbit_recorded(sensor_archive):
    batch = choose_batch(REQUESTS, "s1", _source(sensor_archive, "s1"))
    assert batch.searches == 2  # one per season window, shared by both chips
    for season in ("planting", "harvest"):
        target = DEMO_DAYS.target(season, 2024)
        first, second = (batch.choices[(r.chip, 2024, season)] for r in REQUESTS)
        assert first.chosen and first.scenes == second.scenes
        summary = first.summary()
        assert summary["target"] == target.isoformat() and summary["days_from_target"] <= 6
        assert summary["orbit_state"] in ("ascending", "descending") and summary["backscatter"] == "gamma0 power"
    assert batch.choices[(REQUESTS[0].chip, 2024, "planting")].scenes[0].orbit_state == "descending"


def test_landsat_takes_the_scene_clearest_over_the_chip(sensor_archive):
    days = CalendarDays(150, 250, "pixel")  # windows holding several Landsat scenes (buffer 60 days)
    source = _source(sensor_archive, "landsat")
    batch = choose_batch([SensorRequest("ftw-33UWP8436", 2024, "33UWP", GRID, days)], "landsat", source, buffer_days=60)
    choice = batch.choices[("ftw-33UWP8436", 2024, "planting")]
    assert choice.candidates >= 2
    start, end = days.window("planting", 2024, 60)
    scenes = search_sensor(source, "landsat", SceneQuery(start, end, intersects=grid_footprint(GRID))).scenes
    shares = {s.id: float(qa_pixel_mask(read_sensor_chip([s], GRID, ("qa_pixel",)).layers["qa_pixel"]).mean())
              for s in scenes}
    assert choice.unusable_share == min(shares.values())
    assert shares[choice.scenes[0].id] == min(shares.values())


def test_static_sensors_take_the_covering_tiles(sensor_archive):
    for sensor, prefix in (("dem", "Copernicus_DSM_COG_10_N48"), ("landcover", "ESA_WorldCover_10m_2021_v200")):
        assert seasons_of(sensor) == (STATIC,)
        batch = choose_batch(REQUESTS, sensor, _source(sensor_archive, sensor))
        assert batch.searches == 1
        for request in REQUESTS:
            choice = batch.choices[(request.chip, 2024, STATIC)]
            assert [s.id[:len(prefix)] for s in choice.scenes] == [prefix]


def test_no_calendar_or_no_scene_is_a_reason_not_an_error(sensor_archive):
    requests = [SensorRequest("ftw-33UWP8436", 2024, "33UWP", GRID, None),
                SensorRequest("ftw-33UWP8636", 2019, "33UWP", EAST, DEMO_DAYS)]
    batch = choose_batch(requests, "s1", _source(sensor_archive, "s1"))
    assert batch.choices[("ftw-33UWP8436", 2024, "planting")].reason == "no crop calendar dates"
    missing = batch.choices[("ftw-33UWP8636", 2019, "harvest")]
    assert not missing.chosen and "no Sentinel-1 IW scene over the chip" in missing.reason


def test_a_sensor_the_source_lacks_is_an_input_error(sensor_archive, tmp_path):
    with pytest.raises(InputError, match="planetary-computer|earthsearch has no ESA WorldCover"):
        open_sensor_source("earthsearch", "landcover")
    with pytest.raises(InputError, match="not a sensor"):
        open_sensor_source("earthsearch", "modis")
    lone = tmp_path / "sentinel-2-c1-l2a.parquet"
    lone.write_bytes((sensor_archive / "sentinel-2-c1-l2a.parquet").read_bytes())
    with pytest.raises(InputError, match=r"no Sentinel-1 IW scenes \(no sentinel-1-rtc.parquet or sentinel-1-grd"):
        open_sensor_source(str(lone), "s1")
    assert open_sensor_source(str(sensor_archive / "sentinel-2-c1-l2a.parquet"), "dem").collection == "cop-dem-glo-30"
