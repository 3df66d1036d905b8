"""The typed per chip-year records: files byte for byte as the untyped writer made them
(``json.dumps(dict, indent=2, sort_keys=True) + "\\n"``), keys that do not apply left out."""

import json
from datetime import datetime, timezone

import pytest
import shapely

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import (CalendarRecord, ImagesRecord, RefinementRecord, SeasonImage,
                                             SeasonRefinement, SeasonSelection, SelectionRecord, load, load_all,
                                             save)
from ftw_assets.core.errors import InputError
from ftw_assets.core.scenes.calendar import CalendarDays
from ftw_assets.core.scenes.model import Band, Scene, scene_to_dict

CY = ChipYear("ftw-33UWP7830", 2024)
SETTINGS = {"ftw:buffer_days": 14, "ftw:cloud_cover_pixel_threshold": 0.0, "ftw:cloud_cover_scene_threshold": 10.0,
            "ftw:on_missing": "skip", "ftw:pixel_check": False, "ftw:stac_host": "earthsearch"}
SCENE = Scene("S2B_T33UWP_20241030T100643_L2A", "sentinel-2-c1-l2a", "local",
              datetime(2024, 10, 30, 10, 6, 43, tzinfo=timezone.utc), "33UWP", 32633,
              shapely.box(15.96, 48.01, 16.24, 48.19), 0.0, 0.0, "05.11", 1000, "offset -0.1",
              {"red": Band("red", "red", "/archive/B04.tif", 10.0, 0.0, 0.0001, -0.1)})


def old_bytes(data: dict) -> str:
    """What the untyped ``write_record`` wrote for ``data``."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def saved(tmp_path, record) -> str:
    layout = Layout(tmp_path, "ds")
    path = save(layout, CY, record)
    assert path == tmp_path / "state" / "ftw-33UWP7830_2024" / type(record).FILE
    return path.read_text()


def test_calendar_record_with_days_and_skipped(tmp_path):
    base = CalendarRecord("summer", 16.061667, 48.127351, 2024)
    record = base.with_days(CalendarDays(92, 302, "pixel", 0.0))
    assert saved(tmp_path, record) == """{
  "calendar": "summer",
  "calendar_distance_km": 0.0,
  "calendar_source": "pixel",
  "harvest_day": 302,
  "harvest_next_year": false,
  "lat": 48.127351,
  "lon": 16.061667,
  "planting_day": 92,
  "year": 2024
}
"""
    assert load(Layout(tmp_path, "ds"), CY, CalendarRecord) == record
    assert record.days() == CalendarDays(92, 302, "pixel", 0.0)

    base.skipped = "no crop calendar value within 75 km"
    assert saved(tmp_path, base) == old_bytes({"calendar": "summer", "lat": 48.127351, "lon": 16.061667,
                                               "skipped": "no crop calendar value within 75 km", "year": 2024})
    assert load(Layout(tmp_path, "ds"), CY, CalendarRecord).days() is None


def test_winter_calendar_harvest_next_year_round_trips(tmp_path):
    record = CalendarRecord("winter", 1.0, 2.0, 2024).with_days(CalendarDays(290, 180, "nearest", 12.5))
    assert record.harvest_next_year is True
    assert json.loads(saved(tmp_path, record))["calendar_distance_km"] == 12.5
    assert load(Layout(tmp_path, "ds"), CY, CalendarRecord).days().target("harvest", 2024).isoformat() == "2025-06-29"


def test_selection_record_partial_as_the_old_shape(tmp_path):
    chosen = SeasonSelection(1, [], scene=scene_to_dict(SCENE), scene_id=SCENE.id,
                             datetime="2024-10-30T10:06:43+00:00", cloud_cover=0.0, days_from_target=2)
    missing = SeasonSelection(0, [], reason="no scene in the window with scene-level cloud cover <= 10 %")
    record = SelectionRecord("partial", {"planting": missing, "harvest": chosen}, source="earthsearch",
                             settings=SETTINGS)
    old = {"source": "earthsearch", "settings": SETTINGS, "status": "partial", "seasons": {
        "planting": {"reason": "no scene in the window with scene-level cloud cover <= 10 %", "candidates_checked": 0,
                     "relaxed": []},
        "harvest": {"scene": scene_to_dict(SCENE), "scene_id": SCENE.id, "datetime": "2024-10-30T10:06:43+00:00",
                    "cloud_cover": 0.0, "days_from_target": 2, "candidates_checked": 1, "relaxed": []}}}
    text = saved(tmp_path, record)
    assert text == old_bytes(old)
    again = load(Layout(tmp_path, "ds"), CY, SelectionRecord)
    assert again == record and again.seasons["harvest"].chosen and not again.seasons["planting"].chosen
    assert list(again.scenes()) == ["harvest"] and again.scenes()["harvest"].id == SCENE.id
    assert again.scenes()["harvest"].bands["red"].href == "/archive/B04.tif"


def test_selection_records_without_a_search(tmp_path):
    # A whole-batch failure records only the status and the error (no source, settings or season entries).
    assert saved(tmp_path, SelectionRecord("failed", error="search failed: 503")) == old_bytes(
        {"status": "failed", "error": "search failed: 503", "seasons": {}})
    # No calendar value: both seasons with the reason and no "relaxed" key, as no search ran.
    reason = "no crop calendar value: open water"
    record = SelectionRecord("skipped", {s: SeasonSelection(0, reason=reason) for s in ("planting", "harvest")},
                             source="earthsearch", settings=SETTINGS)
    assert saved(tmp_path, record) == old_bytes({"source": "earthsearch", "settings": SETTINGS, "status": "skipped",
                                                 "seasons": {"planting": {"reason": reason, "candidates_checked": 0},
                                                             "harvest": {"reason": reason, "candidates_checked": 0}}})


def test_images_record_written_and_failed(tmp_path):
    stats = {"nodata_share": 0.0, "bands": {"red": {"min": 215, "max": 1821, "std": 452.013}}}
    seasons = {"planting": SeasonImage.written("ftw-33UWP7830_2024_planting_image_s2.tif", "S2A", False, stats),
               "harvest": SeasonImage.failed("https://example.test/B04.tif", "HTTP 500")}
    record = ImagesRecord.of(("red",), seasons)
    assert record.status == "failed" and record.errors() == ["harvest: HTTP 500"]
    assert saved(tmp_path, record) == old_bytes({"bands": ["red"], "status": "failed", "seasons": {
        "planting": {"status": "written", "image": "ftw-33UWP7830_2024_planting_image_s2.tif", "scene_id": "S2A",
                     "reprojected": False, **stats},
        "harvest": {"status": "failed", "url": "https://example.test/B04.tif", "error": "HTTP 500"}}})
    assert load(Layout(tmp_path, "ds"), CY, ImagesRecord) == record
    assert ImagesRecord.of(("red",), {"planting": seasons["planting"]}).status == "written"


def test_refinement_record(tmp_path):
    record = RefinementRecord(0.0, {"planting": SeasonRefinement("S2B", 26.65, 0.0, "rejected", 1)})
    assert saved(tmp_path, record) == old_bytes({"threshold": 0.0, "seasons": {"planting": {
        "scene_id": "S2B", "cloud_cover": 26.65, "nodata_share": 0.0, "outcome": "rejected", "rejections": 1}}})
    assert load(Layout(tmp_path, "ds"), CY, RefinementRecord) == record


def test_records_written_by_earlier_versions_without_rejections_read_as_zero():
    old = {"threshold": 5.0, "seasons": {"harvest": {"scene_id": "a", "cloud_cover": 1.0, "nodata_share": 0.0,
                                                     "outcome": "accepted"}}}
    assert RefinementRecord.from_dict(old).seasons["harvest"].rejections == 0


def test_load_missing_and_load_all_in_chip_year_order(tmp_path):
    layout = Layout(tmp_path, "ds")
    assert load(layout, CY, SelectionRecord) is None and load_all(layout, SelectionRecord) == {}
    keys = [ChipYear("ftw-33UWP8028", 2024), ChipYear("ftw-33UWP7828", 2025), ChipYear("ftw-33UWP7828", 2024)]
    for i, cy in enumerate(keys):
        save(layout, cy, SelectionRecord("selected", error=str(i)))
    save(layout, keys[0], RefinementRecord(1.0))  # another kind in the same folder is not listed
    found = load_all(layout, SelectionRecord)
    assert list(found) == sorted(keys) == [keys[2], keys[1], keys[0]]
    assert [r.error for r in found.values()] == ["2", "1", "0"]
    assert list(load_all(layout, RefinementRecord)) == [keys[0]]


def test_record_paths_only_from_grid_chip_ids(tmp_path):
    with pytest.raises(InputError):
        save(Layout(tmp_path, "ds"), ChipYear("../../etc", 2024), RefinementRecord(0.0))
    assert not (tmp_path / "state").exists()
