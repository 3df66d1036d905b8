import json

import pystac
import pytest

from ftw_assets.core.geometry.grid import chip_pixel_grid
from ftw_assets.core.stac.items import FTW_EXTENSION, chip_item, item_dict
from ftw_assets.core.stac.validation import validate_stac

GRID = chip_pixel_grid(32633, 578000, 5328000, 2000)
PROPS = {"ftw:split": "train", "ftw:coverage": 42.5, "ftw:field_count": 3, "ftw:cell_km": 2,
         "ftw:mgrs_tile": "33UWP", "ftw:year": 2024, "ftw:presence_only": False}


def _item(**props):
    item = chip_item("ftw-33UWP7828", 2024, GRID, {**PROPS, **props},
                     {"instance": "ftw-33UWP7828_2024_instance.tif"}, "ftw-33UWP7828_2024_instance_ids.csv")
    item.collection_id = "demo-chips"
    return item_dict(item)


def test_parent_item_validates_offline_against_core_ftw_and_projection():
    d = _item()
    used = validate_stac(d)
    assert FTW_EXTENSION in used and any("projection/v2.0.0" in u for u in used)
    assert d["id"] == "ftw-33UWP7828_2024" and d["properties"]["proj:code"] == "EPSG:32633"
    assert d["properties"]["proj:transform"] == [10.0, 0.0, 578000.0, 0.0, -10.0, 5330000.0]
    assert d["assets"]["instance"]["roles"] == ["labels"] and d["assets"]["instance"]["href"].startswith("./")
    assert d["properties"]["start_datetime"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("bad", [{"ftw:split": "holdout"}, {"ftw:coverage": 140.0}, {"ftw:cell_km": 3}])
def test_ftw_extension_rejects_out_of_range_values(bad):
    with pytest.raises(pystac.STACValidationError):
        validate_stac(_item(**bad))


def test_unknown_extension_is_an_offline_error_not_a_download():
    d = _item()
    d["stac_extensions"].append("https://stac-extensions.github.io/eo/v2.0.0/schema.json")
    with pytest.raises(Exception, match="not available offline"):
        validate_stac(json.loads(json.dumps(d)))


def test_image_properties_for_the_season_item():
    from ftw_assets.core.stac.items import image_properties

    props = image_properties(("red", "nir"), 1000, {"red": "none", "nir": "none"}, False, 0.0125)
    assert props == {"ftw:bands": ["red", "nir"], "ftw:boa_offset_removed": 1000,
                     "ftw:resampling": {"red": "none", "nir": "none"}, "ftw:reprojected": False,
                     "ftw:nodata_share": 0.0125}
