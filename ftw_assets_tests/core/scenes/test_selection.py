"""Ranking and on-missing behaviour on constructed candidate lists (measurements from a truth table)."""

from datetime import date, datetime, timezone

import shapely

from ftw_assets.core.scenes.model import Scene
from ftw_assets.core.scenes.selection import Decision, SelectionSettings, candidates_for, decide, rank, selection_report

TARGET = date(2024, 4, 1)
AREA = shapely.box(16.0, 48.0, 16.1, 48.1)


def scene(ident, day, cloud, tile="33UWP", footprint=AREA):
    return Scene(ident, "c", "local", datetime(2024, 3, day, 10, tzinfo=timezone.utc) if day < 32 else
                 datetime(2024, 4, day - 31, 10, tzinfo=timezone.utc), tile, 32633, footprint, cloud, 0.0, "05.10",
                 1000, "test", {})


def run(scenes, truth, **options):
    """``truth``: scene id -> (nodata share, cloud share) on the chip."""
    settings = SelectionSettings(**options)
    reads = []

    def measure(cands):
        reads.append(sorted(c.scene.id for c in cands))
        for c in cands:
            c.nodata_share, c.cloud_share = truth.get(c.scene.id, (0.0, 0.0))

    pending = {"k": (Decision("planting", TARGET), candidates_for(scenes, "chip", AREA, "33UWP", TARGET))}
    decide(pending, settings, measure)
    return pending["k"][0], reads


def test_zero_percent_is_best_and_ties_go_to_the_closest_date():
    scenes = [scene("far-zero", 20, 0.0), scene("near-zero", 34, 0.0), scene("one", 32, 1.0), scene("cloudy", 33, 40.0)]
    decision, reads = run(scenes, {})
    assert decision.chosen.scene.id == "near-zero" and decision.chosen.days_from_target == 2
    assert reads == [["near-zero"]] and decision.candidates_checked == 1  # the first usable one ends it
    assert [c.scene.id for c in rank(candidates_for(scenes, "c", AREA, "33UWP", TARGET), False)] == [
        "near-zero", "far-zero", "one", "cloudy"]


def test_nodata_on_the_chip_moves_to_the_next_scene_in_rounds():
    scenes = [scene("edge", 34, 0.0), scene("clear", 36, 3.0), scene("later", 40, 5.0)]
    decision, reads = run(scenes, {"edge": (0.3, 0.0)})
    assert decision.chosen.scene.id == "clear" and reads == [["edge"], ["clear"]] and decision.candidates_checked == 2


def test_own_tile_scenes_are_preferred():
    scenes = [scene("other-tile", 33, 0.0, tile="33UXP"), scene("own", 36, 5.0)]
    assert run(scenes, {})[0].chosen.scene.id == "own"
    assert run([scene("other-tile", 33, 0.0, tile="33UXP")], {})[0].chosen.scene.id == "other-tile"


def test_pixel_check_ranks_by_chip_cloud_and_trusts_very_clear_scenes():
    scenes = [scene("local-cloud", 33, 0.5), scene("trusted", 25, 0.05), scene("clear-chip", 34, 6.0),
              scene("too-cloudy", 32, 55.0)]
    truth = {"local-cloud": (0.0, 0.16), "trusted": (0.0, 0.9), "clear-chip": (0.0, 0.0)}
    decision, reads = run(scenes, truth, pixel_check=True, cloud_cover_pixel=0.0, include_alternatives=True)
    # "trusted" (scene < 0.1 %) counts at its scene-level 0.05 %; "clear-chip" measures 0 % and wins.
    assert decision.chosen.scene.id == "clear-chip" and decision.chosen.cloud_cover(True) == 0.0
    assert reads == [["clear-chip", "local-cloud", "trusted"]]  # one grouped round; 55 % never read
    decision, _ = run(scenes, truth, pixel_check=True, cloud_cover_pixel=0.1)
    assert decision.chosen.scene.id == "clear-chip"
    decision, _ = run(scenes[:2], truth, pixel_check=True, cloud_cover_pixel=0.0)
    assert decision.chosen is None and "pixel check" in decision.reason


def test_on_missing_modes():
    scenes = [scene("cloudy", 33, 40.0), scene("overcast", 35, 90.0)]
    skipped, _ = run(scenes, {}, on_missing="skip")
    assert skipped.chosen is None and "cloud cover <= 10" in skipped.reason
    best, _ = run(scenes, {}, on_missing="best-available")
    assert best.chosen.scene.id == "cloudy" and best.relaxed == ["cloud_cover_scene 10 -> 100"]
    all_nodata, _ = run([scene("a", 33, 1.0), scene("b", 34, 2.0)], {"a": (0.5, 0), "b": (0.2, 0)}, on_missing="best-available")
    assert all_nodata.chosen.scene.id == "b" and all_nodata.relaxed[-1] == "chip window may hold nodata"
    none, _ = run([], {}, on_missing="best-available")
    assert none.chosen is None and none.reason.startswith("no scene in the window")


def test_report_counts():
    records = {
        "ftw-33UWP7828_2024": {"status": "selected", "seasons": {"planting": {"scene_id": "a"}, "harvest": {"scene_id": "b"}}},
        "ftw-33UWP7830_2024": {"status": "partial", "seasons": {"planting": {"scene_id": "a"},
                                                                "harvest": {"reason": "none", "candidates_checked": 3}}},
        "ftw-33UWP8028_2024": {"status": "failed", "error": "boom", "seasons": {}},
    }
    report = selection_report(records)
    assert report["total_processed"] == 3 and report["successful"] == 1
    assert report["skipped"] == [{"chip": "ftw-33UWP7830_2024", "season": "harvest", "reason": "none", "candidates_checked": 3}]
    assert report["failed"] == [{"chip": "ftw-33UWP8028_2024", "error": "boom"}]
