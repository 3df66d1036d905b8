"""Crop calendar lookups on the real FTW calendar COGs, and getting the files."""

import shutil

import pytest

from ftw_assets.core.scenes.calendar import CalendarError, CropCalendar, NoCalendarValue, calendar_files
from ftw_assets_tests.helpers import shared_file


@pytest.fixture(scope="module")
def calendar():
    folder = shared_file("crop_calendar", "sc-sos-3x3-v2-cog.tiff").parent
    return CropCalendar.open(folder)


def test_known_values(calendar):
    days = calendar.lookup(16.0, 48.0)
    assert (days.planting_day, days.harvest_day, days.source) == (92, 293, "pixel")
    assert str(days.target("planting", 2024)) == "2024-04-01" and str(days.target("harvest", 2024)) == "2024-10-19"
    # The demo chips lie in the pixel east of 16.0 E: harvest 302.
    assert (calendar.lookup(16.06, 48.1).planting_day, calendar.lookup(16.06, 48.1).harvest_day) == (92, 302)


def test_harvest_before_planting_falls_in_the_next_year(calendar):
    days = calendar.lookup(27.0, -27.0)
    assert (days.planting_day, days.harvest_day, days.harvest_next_year) == (285, 162, True)
    assert str(days.target("planting", 2023)) == "2023-10-12" and str(days.target("harvest", 2023)) == "2024-06-10"
    start, end = days.window("harvest", 2023, 14)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2024-05-27", "2024-06-24")


def test_coast_uses_the_nearest_valid_pixel_within_the_bound(calendar):
    days = calendar.lookup(-11.75, 53.5)  # sea west of Ireland: the pixel itself is nodata
    assert (days.planting_day, days.harvest_day, days.source, days.distance_km) == (66, 269, "nearest", 33.1)


def test_open_ocean_has_no_value(calendar):
    with pytest.raises(NoCalendarValue, match="no crop calendar value within 75 km"):
        calendar.lookup(-30.0, 0.0)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(CalendarError) as err:
        calendar_files(tmp_path, "summer")
    assert str(tmp_path) in str(err.value) and "sc-sos-3x3-v2-cog.tiff" in str(err.value)
    assert "--crop-calendar-dir" in str(err.value)


def test_download_into_the_cache_from_a_real_server(tmp_path, monkeypatch):
    from ftw_assets_tests.servers.harness import CogServer

    src = shared_file("crop_calendar", "wc-sos-3x3-v2-cog.tiff").parent
    served = tmp_path / "served"
    shutil.copytree(src, served)
    server = CogServer(served)
    try:
        monkeypatch.setenv("FTW_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("FTW_CROP_CALENDAR_URL", server.url)
        planting, harvest = calendar_files(None, "winter")
        assert planting == tmp_path / "cache" / "crop_calendar" / "wc-sos-3x3-v2-cog.tiff"
        assert planting.read_bytes() == (src / planting.name).read_bytes() and harvest.exists()
        assert not list(planting.parent.glob(".*tmp*"))  # nothing half-written left behind
        monkeypatch.setenv("FTW_CROP_CALENDAR_URL", server.url + "/nowhere")
        with pytest.raises(CalendarError, match="downloading .*nowhere/sc-sos-3x3-v2-cog.tiff failed"):
            calendar_files(None, "summer")
    finally:
        server.stop()
