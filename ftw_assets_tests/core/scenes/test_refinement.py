"""Cloud refinement's per-season outcome, its record entries, the exclusion table and the report."""

import duckdb
import numpy as np

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import RefinementRecord, SeasonRefinement
from ftw_assets.core.raster.clip import image_stats
from ftw_assets.core.scenes.refinement import (REJECTED, RefinementSettings, add_rejections, blank_reason,
                                               item_properties, refinement_report, rejections, season_refinement)

STRICT = RefinementSettings(cloud_cover_pixel=0.0)


def test_season_entry_rounds_and_decides():
    assert season_refinement("a", 0.266512345, 0.00000049, STRICT, 1) == SeasonRefinement(
        "a", 26.6512, 0.0, "rejected", 1)
    assert season_refinement("b", 0.0, 0.0, STRICT, 0).outcome == "accepted"
    assert season_refinement("c", 0.02, 0.0, RefinementSettings(cloud_cover_pixel=5.0), 0).outcome == "accepted"
    assert season_refinement("d", 0.0, 1.0, STRICT, 0).outcome == "no data"
    assert season_refinement("e", 0.0, 0.0, STRICT, 2, blank=True).outcome == "blank"
    assert {"rejected", "blank", "no data"} == set(REJECTED)


def test_default_threshold_tolerates_a_few_pixels_not_a_cloud():
    default = RefinementSettings()
    assert default.cloud_cover_pixel == 1.0 and default.max_attempts == 3
    assert season_refinement("a", 0.009, 0.0, default, 0).outcome == "accepted"  # 0.9 %: SCL noise
    assert season_refinement("b", 0.16, 0.0, default, 0).outcome == "rejected"  # the demo's cloud over one chip


def test_blank_images_from_their_recorded_band_statistics():
    rng = np.random.default_rng(0)
    clear = rng.integers(200, 3000, size=(5, 64, 64), dtype=np.uint16)
    bands = ("red", "green", "blue", "nir", "scl")
    clear[4] = 4  # SCL all vegetation: uniform, and no reason to call the image blank
    assert blank_reason(**image_stats(clear, bands)) is None
    saturated = clear.copy()
    saturated[:4, :, :] = np.array([9000, 9100, 9200, 9300], dtype=np.uint16)[:, None, None]
    saturated[:, :10, :] = 0  # nodata rows do not count as values
    assert blank_reason(**image_stats(saturated, bands)) == "red, green, blue, nir constant"
    one_flat = clear.copy()
    one_flat[3] = 5000
    assert blank_reason(**image_stats(one_flat, bands)) == "nir constant"
    assert blank_reason(**image_stats(np.zeros((5, 8, 8), dtype=np.uint16), bands)) == "no valid pixel"


def test_item_properties_carry_the_decision():
    entry = season_refinement("S2B", 0.0, 0.0, STRICT, 2)
    assert item_properties(entry, {"S2C", "S2A"}) == {
        "eo:cloud_cover": 0.0, "ftw:cloud_cover_measured": True, "ftw:refinement_outcome": "accepted",
        "ftw:rejected_scenes": ["S2A", "S2C"]}


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
