"""Ranking and on-missing behaviour on constructed candidate lists (measurements from a truth table)."""

import re
from datetime import date, datetime, timezone

import pytest
import shapely

from ftw_assets.core.scenes.model import Scene
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import CalendarRecord, SeasonSelection, SelectionRecord
from ftw_assets.core.errors import FtwError
from ftw_assets.core.scenes.model import scene_to_dict
from ftw_assets.core.scenes.selection import (Candidate, Decision, SelectionSettings, candidates_for, decide, rank,
                                              season_files, selection_outcome, selection_report)

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
    # Scenes were there, only too cloudy: the reason says how many, and they count as checked.
    assert skipped.chosen is None and skipped.candidates_checked == 2
    assert skipped.reason == "none of the 2 scene(s) in the window over the chip has scene-level cloud cover <= 10 %"
    best, _ = run(scenes, {}, on_missing="best-available")
    assert best.chosen.scene.id == "cloudy" and best.relaxed == ["cloud_cover_scene 10 -> 100"]
    all_nodata, _ = run([scene("a", 33, 1.0), scene("b", 34, 2.0)], {"a": (0.5, 0), "b": (0.2, 0)}, on_missing="best-available")
    assert all_nodata.chosen.scene.id == "b" and all_nodata.relaxed[-1] == "chip window may hold nodata"
    none, _ = run([], {}, on_missing="best-available")
    assert none.chosen is None and none.reason.startswith("no scene in the window")


def test_report_counts():
    records = {
        ChipYear("ftw-33UWP7828", 2024): SelectionRecord("selected", {"planting": chosen_entry("a"),
                                                                      "harvest": chosen_entry("b")}),
        ChipYear("ftw-33UWP7830", 2024): SelectionRecord("partial", {"planting": chosen_entry("a"),
                                                                     "harvest": SeasonSelection(3, reason="none")}),
        ChipYear("ftw-33UWP8028", 2024): SelectionRecord("failed", error="boom"),
    }
    report = selection_report(records)
    assert report["total_processed"] == 3 and report["successful"] == 1
    assert report["skipped"] == [{"chip": "ftw-33UWP7830_2024", "season": "harvest", "reason": "none", "candidates_checked": 3}]
    assert report["failed"] == [{"chip": "ftw-33UWP8028_2024", "error": "boom"}]


def chosen_entry(scene_id):
    return SeasonSelection(1, [], scene={"id": scene_id}, scene_id=scene_id)


CY = ChipYear("ftw-33UWP7828", 2024)
CALENDAR = CalendarRecord("summer", 16.0, 48.1, 2024, 92, 302, "pixel", 0.0, False)
NO_VALUE = CalendarRecord("summer", -30.0, 0.5, 2024, skipped="no crop calendar value within 75 km")


def decisions(planting=None, harvest=None, relaxed=()):
    """The batch's decisions for CY: a scene id per season, or None for no scene."""
    out = {}
    for season, ident in (("planting", planting), ("harvest", harvest)):
        d = Decision(season, TARGET, candidates_checked=2, relaxed=list(relaxed))
        if ident:
            d.chosen = Candidate(scene(ident, 34, 0.5), 2, CY.chip, 0.0, 0.0)
        else:
            d.reason = "no scene in the window with scene-level cloud cover <= 10 %"
        out[(CY.chip, CY.year, season)] = d
    return out


def outcome(calendar, found, on_missing="skip"):
    return selection_outcome(CY, calendar, found, SelectionSettings(on_missing=on_missing), "earthsearch")


def test_both_seasons_found_is_selected_with_the_scenes_recorded():
    result = outcome(CALENDAR, decisions("p", "h"))
    record = result.record
    assert (record.status, record.error, result.error, result.forget, result.missing) == ("selected", None, None, [], [])
    assert list(result.chosen) == ["planting", "harvest"] and record.source == "earthsearch"
    assert record.settings["ftw:on_missing"] == "skip" and record.settings["ftw:cloud_cover_scene_threshold"] == 10.0
    planting = record.seasons["planting"].to_dict()
    assert planting == {"candidates_checked": 2, "relaxed": [], "scene": scene_to_dict(scene("p", 34, 0.5)),
                        "scene_id": "p", "datetime": "2024-04-03T10:00:00+00:00", "cloud_cover": 0.5,
                        "days_from_target": 2}


@pytest.mark.parametrize("on_missing", ["skip", "best-available"])
def test_a_missing_season_is_partial_and_its_files_are_forgotten(on_missing):
    result = outcome(CALENDAR, decisions("p", None, relaxed=["cloud_cover_scene 10 -> 100"]), on_missing)
    assert (result.record.status, result.error, result.forget) == ("partial", None, ["harvest"])
    assert list(result.chosen) == ["planting"]
    assert result.missing == ["harvest: no scene in the window with scene-level cloud cover <= 10 %"]
    assert result.record.seasons["harvest"].to_dict() == {
        "candidates_checked": 2, "relaxed": ["cloud_cover_scene 10 -> 100"],
        "reason": "no scene in the window with scene-level cloud cover <= 10 %"}


def test_fail_records_the_failure_and_still_writes_the_found_season():
    result = outcome(CALENDAR, decisions(None, "h"), "fail")
    assert result.record.status == "failed" and list(result.chosen) == ["harvest"] and result.forget == ["planting"]
    assert result.record.error == "planting: no scene in the window with scene-level cloud cover <= 10 %"
    assert result.error == ("no scene for ftw-33UWP7828|2024 (planting: no scene in the window with scene-level "
                            "cloud cover <= 10 %); use --on-missing skip or best-available, or widen --buffer-days "
                            "/ --cloud-cover-scene")


@pytest.mark.parametrize("on_missing,status", [("skip", "skipped"), ("best-available", "skipped"), ("fail", "failed")])
def test_no_calendar_value_skips_or_fails_the_chip_year(on_missing, status):
    result = outcome(NO_VALUE, {}, on_missing)  # no decisions: the chip-year was never searched
    reason = "no crop calendar value: no crop calendar value within 75 km"
    assert (result.record.status, result.skipped, result.chosen, result.forget) == (
        status, reason, {}, ["planting", "harvest"])
    assert {s: e.to_dict() for s, e in result.record.seasons.items()} == {
        "planting": {"candidates_checked": 0, "reason": reason}, "harvest": {"candidates_checked": 0, "reason": reason}}
    if on_missing == "fail":
        assert result.record.error == reason and result.error == f"no scene for ftw-33UWP7828|2024: {reason}"
    else:
        assert result.record.error is None and result.error is None


def test_no_calendar_record_asks_for_crop_calendar_first():
    with pytest.raises(FtwError, match=re.escape("no crop calendar record for ftw-33UWP7828|2024: materialize")):
        outcome(None, {})


def test_season_files_are_the_item_and_the_image_cut_from_its_scene(tmp_path):
    folder = tmp_path / "ds-chips" / "ftw-33UWP7828_2024"
    assert season_files(Layout(tmp_path, "ds"), CY, "harvest") == [
        folder / "ftw-33UWP7828_2024_harvest_s2.json", folder / "ftw-33UWP7828_2024_harvest_image_s2.tif",
        folder / "ftw-33UWP7828_2024_harvest_image_s2.png"]
