"""select-images end to end on the generated archive, through the geoparquet source and through the
real STAC API (behind a counting proxy), with the real crop calendar where ../shared is present."""

import json

import duckdb

from ftw_assets.core.stac.validation import validate_stac
from ftw_assets_tests.helpers import APR03, APR08, EAST, EXPECTED, WEST, chosen, ftwd
from ftw_assets_tests.servers.harness import FaultProxy


def test_geoparquet_selection_then_pixel_check(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
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


def test_stac_api_gives_the_same_choices_with_one_search_per_tile_and_season(tmp_path, demo_inputs, stac_api):
    fields, calendar = demo_inputs
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


def test_missing_crop_calendar_fails_before_writing(tmp_path, demo_inputs, archive_parquet):
    fields, _ = demo_inputs
    run = ftwd("create-dataset", fields, tmp_path / "out", "--year", "2024", "--stac-host", archive_parquet,
               "--select-images", "--crop-calendar-dir", tmp_path / "empty")
    assert run.returncode == 2 and "sc-sos-3x3-v2-cog.tiff" in run.stderr and "--crop-calendar-dir" in run.stderr
    assert not (tmp_path / "out").exists()


def test_on_missing_skip_and_fail_are_reported(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    # No archive scene falls on the target days themselves (Apr 1, Oct 28): a 0-day buffer finds nothing.
    run = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
               "--select-images", "--crop-calendar-dir", calendar, "--buffer-days", "0")
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
    assert report["successful"] == 0 and len(report["skipped"]) == 16 and report["failed"] == []
    # Not the clouds: there is no scene at all on those days.
    holds = "24 scene(s) of MGRS tile 33UWP over lon 15.960..16.240, lat 48.009..48.197, dated 2021-03-20..2024-11-09"
    assert {(s["season"], s["reason"]) for s in report["skipped"]} == {
        (season, f"no Sentinel-2 scene in the window {day}..{day} for tile 33UWP (the source has none there; it "
                 f"holds {holds})") for season, day in (("planting", "2024-04-01"), ("harvest", "2024-10-28"))}
    assert not list((out / "ds-chips").glob("*/*_s2.json"))
    parent = json.loads((out / "ds-chips" / "ftw-33UWP7828_2024" / "ftw-33UWP7828_2024.json").read_text())
    assert [m["season"] for m in parent["properties"]["ftw:seasons_missing"]] == ["planting", "harvest"]

    failing = ftwd("select-images", out, "--stac-host", archive_parquet, "--crop-calendar-dir", calendar,
                   "--buffer-days", "0", "--on-missing", "fail")
    assert failing.returncode == 1
    assert "no scene for ftw-33UWP7828|2024" in failing.stderr and "--on-missing skip or best-available" in failing.stderr
    report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
    assert len(report["failed"]) == 8 and report["failed"][0]["chip"] == "ftw-33UWP7828_2024"
