"""The QA page: scene id, date and both cloud figures under each gallery image, and the alert when too
many chip-years failed or were skipped."""

import json
import re

import numpy as np

from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import (ImagesRecord, RefinementRecord, SeasonImage, SeasonRefinement,
                                             SeasonSelection, SelectionRecord, load_all, save)
from ftw_assets.core.raster.thumbnail import write_thumbnail
from ftw_assets.core.reports.qa import build_qa_html, failure_rate

STATS = {"nodata_share": 0.0, "bands": {}}
CHIPS = [ChipYear(f"ftw-33UWP{x}28", 2024) for x in (78, 80, 82, 84, 86, 88, 90, 92, 94, 96)]
SCENES = {"planting": ("S2A_T33UWP_20240408T100648_L2A", "2024-04-08T10:06:48Z", 0.0, True, 1.749325),
          "harvest": ("S2B_T33UWP_20241030T100643_L2A", "2024-10-30T10:06:43Z", 0.0, False, 0.0)}


def selected(layout, chip_year, status="selected"):
    seasons = {s: SeasonSelection(1, scene={}, scene_id=SCENES[s][0], datetime=SCENES[s][1]) for s in SCENES}
    if status == "partial":
        seasons["harvest"] = SeasonSelection(3, reason="too cloudy")
    save(layout, chip_year, SelectionRecord(status, seasons if status != "failed" else {},
                                            error="search failed" if status == "failed" else None))


def with_images(layout, chip_year):
    """Both seasons' thumbnails and items, as clipped_images leaves them."""
    rgb = np.arange(3 * 20 * 20, dtype=np.uint16).reshape(3, 20, 20) + 1
    for season, (scene_id, when, cloud, measured, scene_cloud) in SCENES.items():
        write_thumbnail(layout.chip_file(chip_year.chip, chip_year.year, f"{season}_image_s2.png"), rgb)
        item = {"properties": {"ftw:season": season, "datetime": when, "eo:cloud_cover": cloud,
                               "ftw:cloud_cover_measured": measured, "ftw:scene_cloud_cover": scene_cloud,
                               "ftw:days_from_target": 2}}
        layout.season_item_json(chip_year.chip, chip_year.year, season).write_text(json.dumps(item))
    save(layout, chip_year, ImagesRecord.of(["red", "green", "blue"], {
        s: SeasonImage.written(f"{s}.tif", SCENES[s][0], False, STATS) for s in SCENES}))


def _records(layout):
    return load_all(layout, SelectionRecord), load_all(layout, ImagesRecord)


def test_each_gallery_image_names_its_scene_date_and_cloud(tmp_path):
    layout = Layout(tmp_path, "ds")
    selected(layout, CHIPS[0])
    with_images(layout, CHIPS[0])
    page = build_qa_html(layout, "ds")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == [
        "planting<br>S2A_T33UWP_20240408T100648_L2A<br>2024-04-08<br>chip-level cloud: 0 %<br>"
        "scene-level cloud: 1.75 %",
        "harvest<br>S2B_T33UWP_20241030T100643_L2A<br>2024-10-30<br>chip-level cloud: not measured<br>"
        "scene-level cloud: 0 %"]
    assert page.count("<img src=\"data:image/png;base64,") == 2
    assert "chip-level for the 1 measured on the chip's pixels, scene-level for the other 1" in " ".join(page.split())
    assert 'class="alert"' not in page
    # A refinement of the harvest scene (its item written again since) gives its chip-level figure.
    save(layout, CHIPS[0], RefinementRecord(1.0, {"harvest": SeasonRefinement(SCENES["harvest"][0], 0.5, 0.0,
                                                                              "accepted")}))
    assert "chip-level cloud: 0.5 %<br>scene-level cloud: 0 %" in build_qa_html(layout, "ds")


def test_the_alert_shows_above_the_failure_share(tmp_path):
    layout = Layout(tmp_path, "ds")
    for chip_year in CHIPS[:8]:
        selected(layout, chip_year)
    selected(layout, CHIPS[8], "partial")  # a season without a scene: skipped
    selected(layout, CHIPS[9], "failed")
    # An image that failed fails its chip-year too, counted once with its partial selection.
    failed_image = SeasonImage.failed("https://x.test/B04.tif", "500")
    save(layout, CHIPS[8], ImagesRecord.of(["red"], {"planting": failed_image}))
    rate = failure_rate(*_records(layout))
    assert (rate.failed, rate.skipped, rate.total, rate.share) == (2, 0, 10, 0.2)

    page = build_qa_html(layout, "ds", max_failure_share=0.1)
    banner = re.search(r'<div class="alert" role="alert">(.*?)</div>', page)
    assert banner and page.index('class="alert"') < page.index("<h1>")  # at the top
    assert "2 of 10 chip-years (20.0 %) failed or were skipped (2 failed, 0 skipped)" in banner.group(1)
    assert "more than the alert share of 10 %" in banner.group(1)
    assert "<li>chip-years failed or skipped: 2 of 10 (2 failed, 0 skipped)</li>" in page
    # At or below the share: no alert.
    assert 'class="alert"' not in build_qa_html(layout, "ds", max_failure_share=0.2)
    assert 'class="alert"' not in build_qa_html(layout, "ds", max_failure_share=0.5)
    # The default share is 0.1.
    assert 'class="alert"' in build_qa_html(layout, "ds")


def test_skipped_chip_years_count_towards_the_alert(tmp_path):
    layout = Layout(tmp_path, "ds")
    for chip_year in CHIPS[:3]:
        selected(layout, chip_year)
    selected(layout, CHIPS[3], "partial")
    save(layout, CHIPS[4], SelectionRecord("skipped", {s: SeasonSelection(0, reason="no crop calendar value")
                                                      for s in SCENES}))
    rate = failure_rate(*_records(layout))
    assert (rate.failed, rate.skipped, rate.total) == (0, 2, 5)
    page = build_qa_html(layout, "ds", max_failure_share=0.25)
    assert "2 of 5 chip-years (40.0 %) failed or were skipped (0 failed, 2 skipped)" in page
