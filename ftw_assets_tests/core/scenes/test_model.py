"""The scene model on the three real STAC items in ../shared/data/stac_items (three providers)."""

import json

import numpy as np
import pytest

from ftw_assets.core.scenes.model import SceneError, harmonize, scene_from_item
from ftw_assets_tests.helpers import shared_file


def _item(name):
    return json.loads(shared_file("stac_items", name).read_text())


def test_earthsearch_c1_item():
    scene = scene_from_item(_item("earthsearch-c1-S2A_T20HNJ_20240311T140636_L2A.json"))
    assert (scene.provider, scene.mgrs_tile, scene.epsg) == ("earthsearch", "20HNJ", 32720)
    assert (scene.cloud_cover, scene.nodata_percentage, scene.processing_baseline) == (18.431592, 28.38603, "05.10")
    assert scene.boa_offset == 1000 and "raster:bands" in scene.harmonization
    red, swir, scl, cloud = (scene.bands[b] for b in ("red", "swir16", "scl", "cloud_probability"))
    assert red.href.endswith("/S2A_T20HNJ_20240311T140636_L2A/B04.tif") and red.asset_key == "red"
    assert (red.resolution, red.scale, red.offset, red.nodata) == (10, 0.0001, -0.1, 0)
    assert (swir.resolution, swir.href.rsplit("/", 1)[1]) == (20, "B11.tif")
    assert (scl.asset_key, scl.resolution, scl.scale, scl.offset) == ("scl", 20, 1.0, 0.0)
    assert cloud.asset_key == "cloud" and cloud.href.endswith("CLD_20m.tif")
    assert set(scene.bands) == {"blue", "green", "red", "nir", "nir08", "rededge1", "rededge2", "rededge3",
                                "swir16", "swir22", "scl", "cloud_probability"}


def test_older_earthsearch_item():
    scene = scene_from_item(_item("earthsearch-l2a-S2A_28QCH_20200714_0_L2A.json"))
    assert (scene.provider, scene.collection, scene.mgrs_tile, scene.epsg) == (
        "earthsearch-legacy", "sentinel-s2-l2a-cogs", "28QCH", 32628)
    # No s2:processing_baseline here: read from the product id ..._N0214_...
    assert scene.processing_baseline == "02.14" and scene.boa_offset == 0
    assert scene.nodata_percentage == pytest.approx(93.15)  # 100 - data_coverage
    assert scene.bands["red"].asset_key == "B04" and scene.bands["red"].resolution == 10
    assert scene.bands["nir08"].asset_key == "B8A" and scene.bands["nir08"].resolution == 20
    assert scene.bands["scl"].asset_key == "SCL" and "cloud_probability" not in scene.bands


def test_planetary_computer_item():
    scene = scene_from_item(_item("planetary-computer-S2B_MSIL2A_20190629T212529_R043_T06VVN.json"))
    assert (scene.provider, scene.mgrs_tile, scene.epsg, scene.processing_baseline) == (
        "planetary-computer", "06VVN", 32606, "02.12")
    assert scene.boa_offset == 0 and "< 04.00" in scene.harmonization
    assert scene.bands["red"].href.endswith("T06VVN_20190629T212529_B04_10m.tif")
    assert scene.bands["nir08"].asset_key == "B8A"  # PC labels B8A 'rededge'; the key decides
    assert scene.datetime.isoformat() == "2019-06-29T21:25:29.024000+00:00"


def test_harmonisation_follows_baseline_and_provider():
    item = _item("planetary-computer-S2B_MSIL2A_20190629T212529_R043_T06VVN.json")
    item["properties"]["s2:processing_baseline"] = "04.00"
    assert scene_from_item(item).boa_offset == 1000  # Planetary Computer keeps the offset
    legacy = _item("earthsearch-l2a-S2A_28QCH_20200714_0_L2A.json")
    legacy["properties"]["sentinel:product_id"] = legacy["properties"]["sentinel:product_id"].replace("N0214", "N0400")
    assert scene_from_item(legacy).boa_offset == 0  # the older EarthSearch collection removed it
    c1 = _item("earthsearch-c1-S2A_T20HNJ_20240311T140636_L2A.json")
    for asset in c1["assets"].values():
        for band in asset.get("raster:bands", []):
            band["offset"] = 0
    assert scene_from_item(c1).boa_offset == 0  # a declared offset of 0 wins over the baseline


def test_unusable_items_are_refused_with_reasons():
    item = _item("planetary-computer-S2B_MSIL2A_20190629T212529_R043_T06VVN.json")
    del item["properties"]["s2:processing_baseline"]
    for key in ("s2:product_uri", "s2:granule_id", "s2:datastrip_id", "s2:datatake_id"):
        item["properties"].pop(key, None)
    with pytest.raises(SceneError, match="no usable processing baseline"):
        scene_from_item(item)
    item = _item("earthsearch-c1-S2A_T20HNJ_20240311T140636_L2A.json")
    del item["assets"]["red"], item["assets"]["scl"]
    with pytest.raises(SceneError, match="lacks the red, scl band"):
        scene_from_item(item)


def test_harmonize_subtracts_offset_and_keeps_nodata():
    dn = np.array([0, 1000, 1001, 3500], dtype=np.uint16)
    assert harmonize(dn, 1000).tolist() == [0, 1, 1, 2500]
    assert harmonize(dn, 0).tolist() == dn.tolist()
