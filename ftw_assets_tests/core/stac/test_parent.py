"""The parent item's fields from the chip row and the chip-year's records."""

import datetime as dt

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import CalendarRecord, RefinementRecord, SeasonSelection, SelectionRecord
from ftw_assets.core.geometry.grid import chip_pixel_grid
from ftw_assets.core.stac.items import chip_item, item_dict
from ftw_assets.core.stac.parent import parent_fields
from ftw_assets.core.stac.validation import validate_stac

CY = ChipYear("ftw-33UWP7830", 2024)
ROW = {"split": "val", "coverage": 37.123456, "field_count": 12, "cell_m": 2000, "mgrs_tile": "33UWP"}
CHIP_PROPS = {"ftw:split": "val", "ftw:coverage": 37.1235, "ftw:field_count": 12, "ftw:cell_km": 2,
              "ftw:mgrs_tile": "33UWP", "ftw:year": 2024, "ftw:presence_only": False}
SETTINGS = {"ftw:buffer_days": 14, "ftw:cloud_cover_pixel_threshold": 0.0, "ftw:cloud_cover_scene_threshold": 10.0,
            "ftw:on_missing": "skip", "ftw:pixel_check": False, "ftw:stac_host": "earthsearch"}
CALENDAR = CalendarRecord("summer", 16.06, 48.13, 2024, 92, 302, "pixel", 0.0, False)
PLANTING = SeasonSelection(1, [], scene={"id": "p"}, scene_id="p", datetime="2024-04-03T10:06:13+00:00")
HARVEST = SeasonSelection(1, [], scene={"id": "h"}, scene_id="h", datetime="2024-10-30T10:06:43+00:00")


def test_chip_only_before_the_scene_assets_ran():
    fields = parent_fields(CY, ROW, False, None, None, None, set())
    assert fields.properties == CHIP_PROPS and fields.interval is None and fields.season_items == ()


def test_calendar_selection_and_refinement_in_item_order():
    selection = SelectionRecord("selected", {"harvest": HARVEST, "planting": PLANTING}, "earthsearch", SETTINGS)
    fields = parent_fields(CY, ROW, True, CALENDAR, selection, RefinementRecord(2.5), {"planting", "harvest"})
    assert list(fields.properties.items()) == [
        *{**CHIP_PROPS, "ftw:presence_only": True}.items(),
        ("ftw:planting_day", 92), ("ftw:harvest_day", 302), ("ftw:calendar_year", 2024), ("ftw:calendar", "summer"),
        ("ftw:calendar_source", "pixel"),
        # the selection's parameters, then the refinement's threshold replacing the selection's in place
        ("ftw:buffer_days", 14), ("ftw:cloud_cover_pixel_threshold", 2.5), ("ftw:cloud_cover_scene_threshold", 10.0),
        ("ftw:on_missing", "skip"), ("ftw:pixel_check", False), ("ftw:stac_host", "earthsearch"),
        ("ftw:source", "earthsearch")]
    utc = dt.timezone.utc
    assert fields.interval == (dt.datetime(2024, 4, 3, 10, 6, 13, tzinfo=utc), dt.datetime(2024, 10, 30, 10, 6, 43, tzinfo=utc))
    assert fields.season_items == ("ftw-33UWP7830_2024_planting_s2", "ftw-33UWP7830_2024_harvest_s2")
    item = chip_item(CY.chip, CY.year, chip_pixel_grid(32633, 578000, 5328000, 2000), fields.properties,
                     {"instance": "x_instance.tif"}, None, fields.interval, fields.season_items)
    item.collection_id = "ds-chips"
    validate_stac(item_dict(item))


def test_nearest_calendar_pixel_records_its_distance():
    nearest = CalendarRecord("winter", 3.0, 51.0, 2024, 290, 180, "nearest", 4.2, True)
    props = parent_fields(CY, ROW, False, nearest, None, None, set()).properties
    assert (props["ftw:calendar_source"], props["ftw:calendar_distance_km"]) == ("nearest", 4.2)
    assert "ftw:calendar_distance_km" not in parent_fields(CY, ROW, False, CALENDAR, None, None, set()).properties


def test_missing_seasons_with_reasons_and_items_not_on_disk():
    missing = SeasonSelection(2, [], reason="no scene in the window with scene-level cloud cover <= 10 %")
    selection = SelectionRecord("partial", {"harvest": HARVEST, "planting": missing}, "earthsearch", SETTINGS)
    fields = parent_fields(CY, ROW, False, CALENDAR, selection, None, {"harvest"})
    assert fields.properties["ftw:seasons_missing"] == [
        {"season": "planting", "reason": "no scene in the window with scene-level cloud cover <= 10 %"}]
    assert fields.season_items == ("ftw-33UWP7830_2024_harvest_s2",)
    assert fields.interval == (dt.datetime(2024, 10, 30, 10, 6, 43, tzinfo=dt.timezone.utc),) * 2
    # A chosen scene whose item is gone (removed since) counts as not selected.
    gone = parent_fields(CY, ROW, False, CALENDAR, selection, None, set())
    assert gone.properties["ftw:seasons_missing"][1] == {"season": "harvest", "reason": "not selected"}
    assert gone.interval is None and gone.season_items == ()


def test_skipped_calendar_and_failed_selection_add_nothing():
    skipped = CalendarRecord("summer", -30.0, 0.5, 2024, skipped="no value")
    failed = SelectionRecord("failed", error="search failed")
    assert parent_fields(CY, ROW, False, skipped, failed, None, set()).properties == CHIP_PROPS
