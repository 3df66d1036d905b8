"""Cloud refinement's per-season outcome, its record entries, the exclusion table and the report."""

import duckdb

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import RefinementRecord, SeasonRefinement
from ftw_assets.core.scenes.refinement import (RefinementSettings, add_rejections, refinement_report, rejections,
                                               season_refinement)

STRICT = RefinementSettings(cloud_cover_pixel=0.0)


def test_season_entry_rounds_and_decides():
    assert season_refinement("a", 0.266512345, 0.00000049, STRICT, 1) == SeasonRefinement(
        "a", 26.6512, 0.0, "rejected", 1)
    assert season_refinement("b", 0.0, 0.0, STRICT, 0).outcome == "accepted"
    assert season_refinement("c", 0.02, 0.0, RefinementSettings(cloud_cover_pixel=5.0), 0).outcome == "accepted"
    assert season_refinement("d", 0.0, 1.0, STRICT, 0).outcome == "no data"


def test_rejections_only_for_the_asked_chip_years():
    conn = duckdb.connect()
    add_rejections(conn, [("ftw-33UWP7830", 2024, "planting", "S2B", 26.65, 0.0),
                          ("ftw-33UWP7830", 2024, "planting", "S2A", 3.0, 0.0),
                          ("ftw-33UWP7828", 2024, "harvest", "S2C", 1.0, 0.0),
                          ("ftw-33UWP7830", 2025, "planting", "S2D", 1.0, 0.0)])
    add_rejections(conn, [("ftw-33UWP7830", 2024, "planting", "S2B", 26.65, 0.0)])  # again: kept once
    assert rejections(conn, [ChipYear("ftw-33UWP7830", 2024)]) == {("ftw-33UWP7830", 2024, "planting"): {"S2A", "S2B"}}
    assert rejections(conn, []) == {}


def test_report_rows_by_chip_year_and_season():
    records = {
        ChipYear("ftw-33UWP7830", 2024): RefinementRecord(0.0, {
            "planting": SeasonRefinement("S2B", 26.65, 0.0, "rejected", 1),
            "harvest": SeasonRefinement("S2C", 0.0, 0.0, "accepted")}),
        ChipYear("ftw-33UWP7828", 2024): RefinementRecord(0.0, {"planting": SeasonRefinement("S2A", 0.0, 1.0, "no data")}),
    }
    report = refinement_report(records)
    assert report["chip_seasons"] == 3 and report["counts"] == {"no data": 1, "accepted": 1, "rejected": 1}
    assert [(r["chip"], r["season"], r["outcome"], r["rejections"]) for r in report["rows"]] == [
        ("ftw-33UWP7828_2024", "planting", "no data", 0), ("ftw-33UWP7830_2024", "harvest", "accepted", 0),
        ("ftw-33UWP7830_2024", "planting", "rejected", 1)]
    assert report["rows"][2] == {"chip": "ftw-33UWP7830_2024", "season": "planting", "scene_id": "S2B",
                                 "cloud_cover": 26.65, "threshold": 0.0, "outcome": "rejected", "rejections": 1}
