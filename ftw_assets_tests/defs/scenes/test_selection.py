"""select-images end to end on the generated archive, through the geoparquet source and through the
real STAC API (behind a counting proxy), with the real crop calendar where ../shared is present."""

import json

import duckdb
import pytest

from ftw_assets.demo.world import write_demo_calendar, write_demo_fields
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets_tests.conftest import SHARED
from ftw_assets_tests.servers.harness import FaultProxy
from ftw_assets_tests.test_create_dataset import ftwd

APR03, MAR29, APR08 = "S2B_T33UWP_20240403T100613_L2A", "S2A_T33UWP_20240329T101638_L2A", "S2A_T33UWP_20240408T100648_L2A"
OCT30 = "S2B_T33UWP_20241030T100643_L2A"
WEST = ["ftw-33UWP7828", "ftw-33UWP7830", "ftw-33UWP8028", "ftw-33UWP8030"]
EAST = ["ftw-33UWP8228", "ftw-33UWP8230", "ftw-33UWP8428", "ftw-33UWP8430"]
# Without the pixel check: the east chips take the 0 % scene of the neighbouring orbit (Mar 29); its
# swath edge leaves the west chips without data, so they take Apr 3 (0.16 % at scene level).
# Harvest: two 0 % scenes, Oct 25 and Oct 30; Oct 30 is closer to the target (Oct 28).
EXPECTED = {**{(c, "planting"): APR03 for c in WEST}, **{(c, "planting"): MAR29 for c in EAST},
            **{(c, "harvest"): OCT30 for c in WEST + EAST}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("selection")
    calendar = SHARED / "crop_calendar"
    if not (calendar / "sc-sos-3x3-v2-cog.tiff").exists():
        calendar = write_demo_calendar(root / "calendar")  # the same values at the demo pixels
    return write_demo_fields(root / "fields.gpkg"), calendar


def chosen(out):
    result = {}
    for path in sorted((out / "ds-chips").glob("*/*_s2.json")):
        item = json.loads(path.read_text())
        chip, _, season, _ = item["id"].split("_")
        via = next(link["href"] for link in item["links"] if link["rel"] == "via")
        result[(chip, season)] = via.rsplit("/", 1)[-1].split("#")[-1]
    return result


def test_geoparquet_selection_then_pixel_check(tmp_path, archive_parquet, inputs):
    fields, calendar = inputs
    out = tmp_path / "out"
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--select-images", "--crop-calendar-dir", calendar)
    assert run.returncode == 0, run.stderr
    assert chosen(out) == EXPECTED
    assert "Selection: 8 of 8 chip-years with both seasons" in run.stdout
    parent = json.loads((out / "ds-chips" / "ftw-33UWP7830_2024" / "ftw-33UWP7830_2024.json").read_text())
    props = parent["properties"]
    assert (props["ftw:planting_day"], props["ftw:harvest_day"], props["ftw:calendar_year"]) == (92, 302, 2024)
    assert (props["start_datetime"], props["end_datetime"]) == ("2024-04-03T10:06:13Z", "2024-10-30T10:06:43Z")
    assert props["ftw:cloud_cover_scene_threshold"] == 10.0 and props["ftw:pixel_check"] is False
    child = json.loads((out / "ds-chips" / "ftw-33UWP7830_2024" / "ftw-33UWP7830_2024_planting_s2.json").read_text())
    assert child["properties"]["eo:cloud_cover"] == 0.162793 and child["properties"]["ftw:boa_offset"] == 1000
    assert set(child["assets"]) == {"red", "green", "blue", "nir", "scl", "cloud_probability"}
    assert child["assets"]["red"]["href"].endswith(f"/{APR03}/B04.tif")
    for path in (out / "ds-chips").glob("*/*.json"):
        validate_stac(json.loads(path.read_text()))
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out / 'ds-chips' / 'items.parquet'}')").fetchall()[0][0]
    assert rows == 24  # 8 parents + 16 season items

    # The pixel check rejects the scene with one small cloud for the chip under it, and only there.
    again = ftwd("select-images", out / "ds-chips", "--pixel-check", "--crop-calendar-dir", calendar)
    assert again.returncode == 0, again.stderr
    assert "every chip-year is selected again" in again.stdout
    picks = chosen(out)
    assert picks[("ftw-33UWP7830", "planting")] == APR08
    assert all(picks[(c, "planting")] == APR03 for c in WEST + EAST if c != "ftw-33UWP7830")
    child = json.loads((out / "ds-chips" / "ftw-33UWP7830_2024" / "ftw-33UWP7830_2024_planting_s2.json").read_text())
    assert child["properties"]["eo:cloud_cover"] == 0.0 and child["properties"]["ftw:cloud_cover_measured"] is True
    report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
    assert (report["total_processed"], report["successful"], report["skipped"], report["failed"]) == (8, 8, [], [])


def test_stac_api_gives_the_same_choices_with_one_search_per_tile_and_season(tmp_path, inputs, stac_api):
    fields, calendar = inputs
    proxy = FaultProxy(stac_api.port)
    try:
        proxy.set()  # no faults: the proxy only counts what reaches the server
        run = ftwd("create-dataset", fields, tmp_path / "out", "--name", "ds", "--year", "2024", "--stac-host",
                   proxy.url, "--collection", "sentinel-2-c1-l2a", "--select-images", "--crop-calendar-dir", calendar)
        assert run.returncode == 0, run.stderr
        assert chosen(tmp_path / "out") == EXPECTED
        # 8 chips of one MGRS tile, 2 season windows: 2 searches at the server, not 16.
        assert proxy.stats()["paths"].get("/search") == 2
    finally:
        proxy.stop()


def test_missing_crop_calendar_fails_before_writing(tmp_path, inputs, archive_parquet):
    fields, _ = inputs
    run = ftwd("create-dataset", fields, tmp_path / "out", "--year", "2024", "--stac-host", archive_parquet,
               "--select-images", "--crop-calendar-dir", tmp_path / "empty")
    assert run.returncode == 2 and "sc-sos-3x3-v2-cog.tiff" in run.stderr and "--crop-calendar-dir" in run.stderr
    assert not (tmp_path / "out").exists()


def test_on_missing_skip_and_fail_are_reported(tmp_path, archive_parquet, inputs):
    fields, calendar = inputs
    out = tmp_path / "out"
    # No archive scene falls on the target days themselves (Apr 1, Oct 28): a 0-day buffer finds nothing.
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--select-images", "--crop-calendar-dir", calendar, "--buffer-days", "0")
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
    assert report["successful"] == 0 and len(report["skipped"]) == 16 and report["failed"] == []
    assert report["skipped"][0]["reason"] == "no scene in the window with scene-level cloud cover <= 10 %"
    assert not list((out / "ds-chips").glob("*/*_s2.json"))
    parent = json.loads((out / "ds-chips" / "ftw-33UWP7828_2024" / "ftw-33UWP7828_2024.json").read_text())
    assert [m["season"] for m in parent["properties"]["ftw:seasons_missing"]] == ["planting", "harvest"]

    failing = ftwd("select-images", out, "--stac-host", archive_parquet, "--crop-calendar-dir", calendar,
                   "--buffer-days", "0", "--on-missing", "fail")
    assert failing.returncode == 1
    assert "no scene for ftw-33UWP7828|2024" in failing.stderr and "--on-missing skip or best-available" in failing.stderr
    report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
    assert len(report["failed"]) == 8 and report["failed"][0]["chip"] == "ftw-33UWP7828_2024"
