"""The preview of a chip-year's seasons: which cloud figure is which, and the markdown table."""

from ftw_assets.core.dataset.records import RefinementRecord, SeasonRefinement
from ftw_assets.core.reports.preview import SeasonPreview, chip_cloud_cover, percent, preview_table

MEASURED = {"datetime": "2024-04-08T10:06:48Z", "eo:cloud_cover": 0.0, "ftw:cloud_cover_measured": True,
            "ftw:scene_cloud_cover": 1.749325}
SCENE_ONLY = {"datetime": "2024-10-30T10:06:43Z", "eo:cloud_cover": 0.162793, "ftw:cloud_cover_measured": False,
              "ftw:scene_cloud_cover": 0.162793}


def test_the_chip_level_figure_is_only_a_measured_one():
    assert chip_cloud_cover(MEASURED) == 0.0  # 0.0 is a measurement, not "missing"
    assert chip_cloud_cover(SCENE_ONLY) is None  # eo:cloud_cover is the scene's here
    assert chip_cloud_cover({"eo:cloud_cover": 3.0}) is None  # items written before the flag existed
    assert [percent(0.162793), percent(16.4321), percent(0.0), percent(None)] == [
        "0.16 %", "16.43 %", "0 %", "not measured"]


def test_both_seasons_side_by_side_in_one_table():
    planting = SeasonPreview.of_item({"properties": MEASURED}, "S2A_T33UWP_20240408T100648_L2A",
                                     "data:image/png;base64,AAA")
    harvest = SeasonPreview.of_item({"properties": SCENE_ONLY}, "S2B_T33UWP_20241030T100643_L2A",
                                    "data:image/png;base64,BBB")
    assert (planting.date, planting.scene_cloud_cover, planting.chip_cloud_cover) == ("2024-04-08", 1.749325, 0.0)
    # Given harvest first: the columns are still planting, then harvest.
    assert preview_table({"harvest": harvest, "planting": planting}) == (
        "| | planting | harvest |\n"
        "| --- | --- | --- |\n"
        "| image | ![planting](data:image/png;base64,AAA) | ![harvest](data:image/png;base64,BBB) |\n"
        "| scene | S2A_T33UWP_20240408T100648_L2A | S2B_T33UWP_20241030T100643_L2A |\n"
        "| date | 2024-04-08 | 2024-10-30 |\n"
        "| chip-level cloud | 0 % | not measured |\n"
        "| scene-level cloud | 1.75 % | 0.16 % |\n")


def test_a_season_without_an_image_keeps_its_column():
    planting = SeasonPreview("S2A|x", "2024-04-08", 1.0, None)
    table = preview_table({"planting": planting, "harvest": None})
    lines = table.splitlines()
    assert lines[0] == "| | planting | harvest |"
    assert lines[2] == "| image | no thumbnail | no image |"
    assert lines[3] == "| scene | S2A\\|x |  |"  # a pipe in a cell does not split the row
    assert all(line.count(" | ") == 2 for line in lines[2:])


def test_a_refinement_of_the_same_scene_gives_the_chip_level_figure():
    """A re-selection writes the season items again without the measurement; the refinement record
    still holds it, but only counts for the scene it measured."""
    record = RefinementRecord(1.0, {"harvest": SeasonRefinement("S2B_T33UWP_20241030T100643_L2A", 0.25, 0.0,
                                                                "accepted")})
    item = {"properties": {**SCENE_ONLY, "ftw:season": "harvest"}}
    same = SeasonPreview.of_item(item, "S2B_T33UWP_20241030T100643_L2A", refinement=record)
    other = SeasonPreview.of_item(item, "S2A_T33UWP_20241025T101608_L2A", refinement=record)
    assert (same.chip_cloud_cover, other.chip_cloud_cover) == (0.25, None)
    # A measurement in the item wins over the record.
    measured = {"properties": {**MEASURED, "ftw:season": "harvest"}}
    assert SeasonPreview.of_item(measured, "S2B_T33UWP_20241030T100643_L2A", refinement=record).chip_cloud_cover == 0.0
