"""The multi-sensor scene model on every real STAC item in ../shared/data/stac_items (see its
PROVENANCE.md for where each came from and its quirks), plus the items it must refuse."""

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ftw_assets.core.errors import InputError
from ftw_assets.core.scenes.model import SceneError
from ftw_assets.core.sensors import SensorSceneError, detect_sensor, sensor_scene_from_item

STAC_ITEMS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "stac_items"
UTC = timezone.utc
ES_S2 = "https://e84-earth-search-sentinel-data.s3.us-west-2.amazonaws.com/sentinel-2-c1-l2a"
PC_LANDSAT = "https://landsateuwest.blob.core.windows.net/landsat-c2/level-2/standard/oli-tirs"
DEM_TILE = "Copernicus_DSM_COG_10_S90_00_W180_00_DEM"
DEM_BBOX = (-180.0013888888889, -89.99986111111112, -179.0013888888889, -88.99986111111112)


def _item(name: str) -> dict:
    path = STAC_ITEMS / name
    if not path.exists():
        pytest.skip(f"needs the real STAC items at {STAC_ITEMS} (../shared beside the checkout); not present here")
    return json.loads(path.read_text())


# One case per file: the scene's attributes, and per band (asset key, href or href ending, scale, offset).
CASES = {
    "earthsearch-c1-S2A_T20HNJ_20240311T140636_L2A.json": dict(
        sensor="s2", provider="earthsearch", collection="sentinel-2-c1-l2a", epsg=32720,
        datetime=datetime(2024, 3, 11, 14, 11, 54, 463000, UTC), platform="sentinel-2a", cloud_cover=18.431592,
        mgrs_tile="20HNJ", grid_code="MGRS-20HNJ", boa_offset=1000,
        bands={"red": ("red", f"{ES_S2}/20/H/NJ/2024/3/S2A_T20HNJ_20240311T140636_L2A/B04.tif", 0.0001, -0.1),
               "scl": ("scl", "/SCL.tif", 1.0, 0.0), "cloud_probability": ("cloud", "/CLD_20m.tif", 1.0, 0.0)}),
    "earthsearch-l2a-S2A_28QCH_20200714_0_L2A.json": dict(
        sensor="s2", provider="earthsearch-legacy", collection="sentinel-s2-l2a-cogs", epsg=32628,
        datetime=datetime(2020, 7, 14, 11, 55, 52, tzinfo=UTC), cloud_cover=2.36, mgrs_tile="28QCH", boa_offset=0,
        bands={"red": ("B04", "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/2020/"
                              "S2A_28QCH_20200714_0_L2A/B04.tif", 0.0001, 0.0),
               "nir08": ("B8A", "/B8A.tif", 0.0001, 0.0)}),
    "earthsearch-sentinel-2-c1-l2a-S2B_T24MUV_20250731T130245_L2A.json": dict(
        sensor="s2", provider="earthsearch", epsg=32724, datetime=datetime(2025, 7, 31, 13, 3, 27, 58000, UTC),
        platform="sentinel-2b", mgrs_tile="24MUV", boa_offset=1000,
        bands={"nir08": ("nir08", f"{ES_S2}/24/M/UV/2025/7/S2B_T24MUV_20250731T130245_L2A/B8A.tif", 0.0001, -0.1)}),
    "pc-sentinel-2-l2a-S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json": dict(
        sensor="s2", provider="planetary-computer", collection="sentinel-2-l2a", epsg=32647,
        datetime=datetime(2024, 4, 19, 9, 55, 49, 24000, UTC), mgrs_tile="47XML", orbit_state="ascending",
        boa_offset=1000,  # baseline 05.10 and no raster:bands: the offset comes from the baseline
        bands={"red": ("B04", "/IMG_DATA/R10m/T47XML_20240419T095549_B04_10m.tif", 0.0001, -0.1),
               "scl": ("SCL", "/R20m/T47XML_20240419T095549_SCL_20m.tif", 1.0, 0.0)}),
    "planetary-computer-S2B_MSIL2A_20190629T212529_R043_T06VVN.json": dict(
        sensor="s2", provider="planetary-computer", epsg=32606, datetime=datetime(2019, 6, 29, 21, 25, 29, 24000, UTC),
        platform="sentinel-2b", constellation="sentinel-2", mgrs_tile="06VVN", boa_offset=0,
        bands={"red": ("B04", "/R10m/T06VVN_20190629T212529_B04_10m.tif", 0.0001, 0.0)}),
    "pc-sentinel-1-rtc-S1A_IW_GRDH_1SDV_20240419T045904_20240419T045916_053498_067DF2_rtc.json": dict(
        sensor="s1", provider="planetary-computer", collection="sentinel-1-rtc", epsg=32633,
        datetime=datetime(2024, 4, 19, 4, 59, 10, 436706, UTC),
        start_datetime=datetime(2024, 4, 19, 4, 59, 4, 220006, UTC),  # PC's "2024-04-19 04:59:04.220006+00:00"
        end_datetime=datetime(2024, 4, 19, 4, 59, 16, 653405, UTC), platform="sentinel-1a",
        constellation="sentinel-1", orbit_state="descending", relative_orbit=51, polarizations=("VV", "VH"),
        backscatter=("gamma0", "power"), cloud_cover=None,
        bands={"vv": ("vv", "https://sentinel1euwestrtc.blob.core.windows.net/sentinel1-grd-rtc/GRD/2024/4/19/IW/DV/"
                            "S1A_IW_GRDH_1SDV_20240419T045904_20240419T045916_053498_067DF2_DCEC/measurement/"
                            "iw-vv.rtc.tiff", 1.0, 0.0),
               "vh": ("vh", "/measurement/iw-vh.rtc.tiff", 1.0, 0.0)}),
    "pc-sentinel-1-grd-S1A_IW_GRDH_1SDV_20220428T034417_20220428T034442_042968_05213C.json": dict(
        sensor="s1", provider="planetary-computer", collection="sentinel-1-grd", epsg=None,  # no proj:* at all
        datetime=datetime(2022, 4, 28, 3, 44, 30, 207391, UTC),
        start_datetime=datetime(2022, 4, 28, 3, 44, 17, 707575, UTC), orbit_state="descending",
        polarizations=("VV", "VH"), backscatter=("dn", "amplitude"),
        bands={"vv": ("vv", "/measurement/iw-vv.tiff", 1.0, 0.0)}),
    "earthsearch-sentinel-1-grd-S1A_IW_GRDH_1SDV_20240517T093208_20240517T093240_053909_068D6C.json": dict(
        sensor="s1", provider="earthsearch", collection="sentinel-1-grd", epsg=4326,
        datetime=datetime(2024, 5, 17, 9, 32, 24, 676101, UTC), orbit_state="descending", relative_orbit=112,
        polarizations=("VV", "VH"), backscatter=("dn", "amplitude"),
        bands={"vh": ("vh", "s3://sentinel-s1-l1c/GRD/2024/5/17/IW/DV/S1A_IW_GRDH_1SDV_20240517T093208_20240517T093240_"
                            "053909_068D6C_DD7E/measurement/iw-vh.tiff", 1.0, 0.0)}),
    "earthsearch-sentinel-1-grd-S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E.json": dict(
        sensor="s1", provider="earthsearch", epsg=4326, datetime=datetime(2025, 7, 31, 13, 57, 12, 200811, UTC),
        orbit_state="ascending", relative_orbit=56, polarizations=("HH",), backscatter=("dn", "amplitude"),
        band_names=("hh",), bands={"hh": ("hh", "/measurement/iw-hh.tiff", 1.0, 0.0)}),
    "pc-landsat-c2-l2-LC09_L2SP_089090_20240417_02_T1.json": dict(
        sensor="landsat", provider="planetary-computer", collection="landsat-c2-l2",
        epsg=32655,  # ~43 S in a north UTM zone with negative northings: USGS's convention, kept
        datetime=datetime(2024, 4, 17, 23, 46, 20, 477296, UTC), platform="landsat-9", cloud_cover=97.54,
        wrs_path="089", wrs_row="090", grid_code="WRS2-089090",
        bbox=(147.24419221301054, -44.27650501698769, 150.24694131166774, -42.08063498301231),
        bands={"red": ("red", f"{PC_LANDSAT}/2024/089/090/LC09_L2SP_089090_20240417_20240418_02_T1/"
                              "LC09_L2SP_089090_20240417_20240418_02_T1_SR_B4.TIF", 2.75e-05, -0.2),
               "nir08": ("nir08", "_SR_B5.TIF", 2.75e-05, -0.2), "lwir11": ("lwir11", "_ST_B10.TIF", 0.00341802, 149.0),
               "qa_pixel": ("qa_pixel", "_QA_PIXEL.TIF", 1.0, 0.0)}),
    "pc-landsat-c2-l2-LC09_L2SR_084082_20250722_02_T1.json": dict(
        sensor="landsat", provider="planetary-computer", epsg=32657,
        datetime=datetime(2025, 7, 22, 23, 12, 16, 530560, UTC), cloud_cover=41.51, wrs_path="084", wrs_row="082",
        band_names=("coastal", "blue", "green", "red", "nir08", "swir16", "swir22", "qa_pixel"),  # L2SR: no lwir11
        bands={"swir16": ("swir16", "_SR_B6.TIF", 2.75e-05, -0.2)}),
    "earthsearch-landsat-c2-l2-LC08_L2SP_033032_20231008_02_T1.json": dict(
        sensor="landsat", provider="earthsearch", epsg=32613, datetime=datetime(2023, 10, 8, 17, 37, 26, 656958, UTC),
        platform="landsat-8", cloud_cover=0.06, grid_code="WRS2-033032", wrs_path="033", wrs_row="032",
        bands={"red": ("red", "s3://usgs-landsat/collection02/level-2/standard/oli-tirs/2023/033/032/"
                              "LC08_L2SP_033032_20231008_20231017_02_T1/"
                              "LC08_L2SP_033032_20231008_20231017_02_T1_SR_B4.TIF", 2.75e-05, -0.2),
               "lwir11": ("lwir11", "_ST_B10.TIF", 0.00341802, 149.0)}),
    f"pc-cop-dem-glo-30-{DEM_TILE}.json": dict(
        sensor="dem", provider="planetary-computer", collection="cop-dem-glo-30", epsg=4326,
        datetime=datetime(2021, 4, 22, tzinfo=UTC), platform="tandem-x", bbox=DEM_BBOX, grid_code=None,
        bands={"elevation": ("data", f"https://elevationeuwest.blob.core.windows.net/copernicus-dem/COP30_hh/"
                                     f"{DEM_TILE}.tif", 1.0, 0.0)}),
    f"earthsearch-cop-dem-glo-30-{DEM_TILE}.json": dict(
        sensor="dem", provider="earthsearch", epsg=4326, datetime=datetime(2021, 4, 22, tzinfo=UTC),
        bbox=DEM_BBOX, grid_code="CDEM-S90W180",
        bands={"elevation": ("data", f"s3://copernicus-dem-30m/{DEM_TILE}/{DEM_TILE}.tif", 1.0, 0.0)}),
    "stactools-example-esa-worldcover-ESA_WorldCover_10m_2021_v200_N00E006.json": dict(
        sensor="landcover", provider="stac-api",  # a stactools example, not served by PC: relative links
        collection="esa-worldcover", epsg=4326,
        datetime=datetime(2021, 1, 1, tzinfo=UTC),  # datetime null: the start of the interval
        start_datetime=datetime(2021, 1, 1, tzinfo=UTC), end_datetime=datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC),
        bbox=(6.1649167, 0.0, 9.0, 3.0), grid_code="ESAWORLDCOVER-N00E006",
        bands={"landcover": ("map", "/ESA_WorldCover_10m_2021_v200_N00E006_Map.tif", 1.0, 0.0)}),
}
SCENE_FIELDS = ("sensor", "provider", "collection", "epsg", "datetime", "start_datetime", "end_datetime", "platform",
                "constellation", "cloud_cover", "orbit_state", "relative_orbit", "polarizations", "mgrs_tile",
                "grid_code", "wrs_path", "wrs_row", "boa_offset", "bbox")


def test_every_item_file_has_a_case():
    if not STAC_ITEMS.is_dir():
        pytest.skip(f"needs the real STAC items at {STAC_ITEMS} (../shared beside the checkout); not present here")
    assert sorted(p.name for p in STAC_ITEMS.glob("*.json")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_item(name):
    expected = CASES[name]
    item = _item(name)
    scene = sensor_scene_from_item(item)
    for attr in SCENE_FIELDS:
        if attr in expected:
            assert getattr(scene, attr) == expected[attr], attr
    assert scene.id == item["id"] and scene.datetime.tzinfo == UTC and scene.geometry == item["geometry"]
    if "bbox" not in expected:
        assert scene.bbox == tuple(item["bbox"])
    if "backscatter" in expected:
        assert (scene.backscatter.quantity, scene.backscatter.scale) == expected["backscatter"]
        assert scene.backscatter_in_db is False  # PC RTC is linear power, GRD is DN amplitude
    else:
        assert scene.backscatter is None and scene.backscatter_in_db is None and scene.polarizations == ()
    if "band_names" in expected:
        assert tuple(scene.bands) == expected["band_names"]
    for band, (key, href, scale, offset) in expected["bands"].items():
        got = scene.bands[band]
        assert got.asset_key == key
        assert got.href == href if "://" in href else got.href.endswith(href), got.href
        assert (got.scale, got.offset) == (scale, offset)
    assert scene.record()["scene_id"] == scene.id and scene.footprint.is_valid


def test_band_details_from_raster_bands_or_the_table():
    rtc = sensor_scene_from_item(_item(
        "pc-sentinel-1-rtc-S1A_IW_GRDH_1SDV_20240419T045904_20240419T045916_053498_067DF2_rtc.json"))
    vv = rtc.bands["vv"]
    assert (vv.dtype, vv.nodata, vv.resampling, vv.unit) == ("float32", -32768.0, "bilinear", "gamma0 linear power")
    grd = sensor_scene_from_item(_item(
        "pc-sentinel-1-grd-S1A_IW_GRDH_1SDV_20220428T034417_20220428T034442_042968_05213C.json"))
    # No raster:bands: the table's GRD defaults.
    assert (grd.bands["vh"].dtype, grd.bands["vh"].nodata, grd.bands["vh"].native_resolution) == ("uint16", 0.0, 10.0)
    assert grd.annotations["calibration-vv"].endswith("/annotation/calibration/calibration-iw-vv.xml")
    landsat = sensor_scene_from_item(_item("pc-landsat-c2-l2-LC09_L2SP_089090_20240417_02_T1.json"))
    qa = landsat.bands["qa_pixel"]
    assert (qa.dtype, qa.nodata, qa.resampling, qa.unit) == ("uint16", 1.0, "nearest", "bit index")
    assert (landsat.bands["lwir11"].unit, landsat.bands["red"].native_resolution) == ("kelvin", 30.0)
    dem = sensor_scene_from_item(_item(f"pc-cop-dem-glo-30-{DEM_TILE}.json"))
    assert (dem.bands["elevation"].dtype, dem.bands["elevation"].nodata, dem.bands["elevation"].unit) == (
        "float32", None, "m")  # PC: no raster:bands
    s2 = sensor_scene_from_item(_item("pc-sentinel-2-l2a-S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458.json"))
    assert "cloud_probability" not in s2.bands  # PC serves no cloud probability layer
    assert (s2.bands["scl"].dtype, s2.bands["scl"].resampling, s2.bands["nir08"].native_resolution) == (
        "uint8", "nearest", 20.0)
    assert "05.10" in s2.harmonization


def test_worldcover_classes_from_the_item():
    scene = sensor_scene_from_item(_item("stactools-example-esa-worldcover-ESA_WorldCover_10m_2021_v200_N00E006.json"))
    assert [c.value for c in scene.classes] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]
    assert (scene.classes[3].name, scene.classes[3].color) == ("Cropland", "F096FF")
    assert scene.classes == scene.config.classes  # the item's legend is the table's
    band = scene.bands["landcover"]
    assert (band.dtype, band.nodata, band.resampling, band.native_resolution) == ("uint8", 0.0, "nearest", 10.0)
    assert not scene.config.seasonal


@pytest.mark.parametrize("name", sorted(CASES))
def test_sensor_from_properties_when_collection_is_absent(name):
    item = _item(name)
    del item["collection"]
    assert detect_sensor(item) == CASES[name]["sensor"]
    scene = sensor_scene_from_item(item)
    with_collection = sensor_scene_from_item(_item(name))
    assert (scene.sensor, tuple(scene.bands)) == (with_collection.sensor, tuple(with_collection.bands))
    if CASES[name].get("backscatter"):  # RTC (float32) or GRD (DN) told apart without the collection
        assert (scene.backscatter.quantity, scene.backscatter.scale) == CASES[name]["backscatter"]


def test_unknown_collection_is_refused_with_a_reason():
    item = _item("pc-landsat-c2-l2-LC09_L2SP_089090_20240417_02_T1.json")
    item["collection"] = "naip"
    with pytest.raises(SensorSceneError, match="collection 'naip' is not a known sensor") as err:
        sensor_scene_from_item(item)
    assert isinstance(err.value, SceneError) and isinstance(err.value, InputError)  # callers skip it as any scene
    assert "landsat-c2-l2" in str(err.value)  # the known collections are named
    assert sensor_scene_from_item(item, sensor="landsat").collection == "naip"  # unless the caller names the sensor


def test_polarizations_are_those_with_a_band():
    item = _item("earthsearch-sentinel-1-grd-S1A_IW_GRDH_1SDV_20240517T093208_20240517T093240_053909_068D6C.json")
    del item["assets"]["vh"]  # sar:polarizations still says VV, VH
    scene = sensor_scene_from_item(item)
    assert (scene.polarizations, tuple(scene.bands)) == (("VV",), ("vv",))


def test_radar_item_without_polarisation_assets_is_refused():
    item = _item("earthsearch-sentinel-1-grd-S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E.json")
    del item["assets"]["hh"]
    with pytest.raises(SensorSceneError, match="no VV/VH or HH/HV asset"):
        sensor_scene_from_item(item)


@pytest.mark.parametrize("change, reason", [
    (lambda i: i["assets"].pop("qa_pixel"), r"lacks the qa_pixel band\(s\) \(asset keys tried: qa_pixel\)"),
    (lambda i: i.update(geometry=None), "has no geometry"),
    (lambda i: i["properties"].update(datetime="April 2024"), "'April 2024' is not an ISO 8601 date"),
    (lambda i: i["properties"].pop("datetime"), "has no datetime and no start_datetime"),
    (lambda i: (i.pop("collection"), i["properties"].clear()), "neither its platform nor its properties"),
])
def test_unusable_items_are_refused_with_reasons(change, reason):
    item = _item("pc-landsat-c2-l2-LC09_L2SP_089090_20240417_02_T1.json")
    change(item)
    with pytest.raises(SensorSceneError, match=reason):
        sensor_scene_from_item(item)


def test_sentinel2_refusals_keep_the_scene_model_reason():
    item = _item("earthsearch-c1-S2A_T20HNJ_20240311T140636_L2A.json")
    del item["assets"]["red"]
    with pytest.raises(SensorSceneError, match="lacks the red band"):
        sensor_scene_from_item(item)


def test_a_sensor_that_contradicts_the_collection_is_refused():
    item = _item(f"pc-cop-dem-glo-30-{DEM_TILE}.json")
    with pytest.raises(SensorSceneError, match="is a dem scene \\(collection cop-dem-glo-30\\), not s1"):
        sensor_scene_from_item(item, sensor="s1")
    assert sensor_scene_from_item(item, sensor="elevation").sensor == "dem"


def test_datetimes_are_utc():
    item = _item("pc-sentinel-1-rtc-S1A_IW_GRDH_1SDV_20240419T045904_20240419T045916_053498_067DF2_rtc.json")
    item = copy.deepcopy(item)
    item["properties"].update(datetime=None, start_datetime="2024-04-19 06:59:04.220006123+02:00")
    scene = sensor_scene_from_item(item)
    assert scene.datetime == datetime(2024, 4, 19, 4, 59, 4, 220006, UTC) and scene.datetime.tzinfo == UTC
