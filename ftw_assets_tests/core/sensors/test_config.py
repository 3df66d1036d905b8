"""The per-sensor band table, the quality/class definitions and the ``--sensors`` option."""

import json
from pathlib import Path

import numpy as np
import pytest

from ftw_assets.core.errors import InputError
from ftw_assets.core.scenes import model
from ftw_assets.core.sensors import config, quality
from ftw_assets.core.sensors import (
    SENSORS, sensor_config, sensor_for_collection, sensors_from_option,
)

STAC_ITEMS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "stac_items"
CLASS_UNITS = {"class", "bit index"}


def test_one_table_of_five_sensors():
    assert tuple(SENSORS) == ("s2", "s1", "landsat", "dem", "landcover")
    assert {s.name: s.seasonal for s in SENSORS.values()} == {
        "s2": True, "s1": True, "landsat": True, "dem": False, "landcover": False}
    assert {s.output_resolution for s in SENSORS.values()} == {10.0}  # the masks' chip grid
    for sensor in SENSORS.values():
        pairs = [(c.provider, c.collection) for c in sensor.collections]
        assert len(pairs) == len(set(pairs)), sensor.name
        for spec in sensor.collections:
            for band in spec.bands:
                # classes, masks and quality bits: nearest; continuous values: bilinear
                expected = "nearest" if band.unit in CLASS_UNITS or band.name == "cloud_probability" else "bilinear"
                assert band.resampling == expected, (sensor.name, band.name)


def test_collections_per_provider():
    def collections(name):
        return {(c.provider, c.collection) for c in SENSORS[name].collections}

    assert ("planetary-computer", "sentinel-1-rtc") in collections("s1")
    assert ("earthsearch", "sentinel-1-grd") in collections("s1")
    assert collections("landsat") == {("planetary-computer", "landsat-c2-l2"), ("earthsearch", "landsat-c2-l2")}
    assert collections("dem") == {("planetary-computer", "cop-dem-glo-30"), ("earthsearch", "cop-dem-glo-30")}
    assert collections("landcover") == {("planetary-computer", "esa-worldcover")}
    expected = {"sentinel-2-c1-l2a": "s2", "sentinel-2-l2a": "s2", "sentinel-1-rtc": "s1", "sentinel-1-grd": "s1",
                "landsat-c2-l2": "landsat", "cop-dem-glo-30": "dem", "esa-worldcover": "landcover"}
    assert {c: sensor_for_collection(c) for c in expected} == expected
    assert sensor_for_collection("naip") is None
    # Two providers share "sentinel-2-l2a": the provider picks the spec.
    assert SENSORS["s2"].collection("sentinel-2-l2a", "earthsearch-legacy").provider == "earthsearch-legacy"
    assert SENSORS["s2"].collection("sentinel-2-l2a", "planetary-computer").provider == "planetary-computer"


def test_sentinel2_scene_model_reads_this_table():
    s2 = SENSORS["s2"]
    assert model.ASSET_KEYS is config.S2_ASSET_KEYS
    assert model.ASSET_KEYS["red"] == ("red", "B04") and model.ASSET_KEYS["cloud_probability"][0] == "cloud"
    for spec in s2.collections:
        assert spec.band_names == model.BAND_NAMES
    assert tuple(b.name for b in config.S2_BANDS if b.required) == model.REQUIRED_BANDS
    assert {n for n, r in config.S2_NATIVE_RESOLUTION.items() if r == 10} == {"blue", "green", "red", "nir"}
    assert config.S2_NODATA == 0 and s2.quality_layer.band == "scl"


def test_band_defaults():
    landsat = SENSORS["landsat"].collections[0]
    red, lwir, qa = landsat.band("red"), landsat.band("lwir11"), landsat.band("qa_pixel")
    assert (red.scale, red.offset, red.native_resolution, red.dtype, red.nodata) == (2.75e-05, -0.2, 30, "uint16", 0)
    assert (lwir.scale, lwir.offset, lwir.unit, lwir.required) == (0.00341802, 149.0, "kelvin", False)
    assert (qa.resampling, qa.nodata, qa.required) == ("nearest", 1, True)
    rtc, grd = SENSORS["s1"].collection("sentinel-1-rtc"), SENSORS["s1"].collection("sentinel-1-grd", "earthsearch")
    assert (rtc.band("vv").dtype, rtc.band("vv").nodata, rtc.backscatter.scale) == ("float32", -32768.0, "power")
    assert (grd.band("vh").dtype, grd.band("vh").nodata, grd.backscatter.quantity) == ("uint16", 0, "dn")
    assert not rtc.backscatter.in_db and rtc.backscatter.calibrated and not grd.backscatter.calibrated
    dem = SENSORS["dem"].collections[0].band("elevation")
    assert (dem.asset_keys, dem.dtype, dem.nodata, dem.native_resolution, dem.resampling) == (
        ("data",), "float32", None, 30, "bilinear")
    lc = SENSORS["landcover"].collections[0].band("landcover")
    assert (lc.asset_keys, lc.dtype, lc.nodata, lc.native_resolution, lc.resampling) == (
        ("map",), "uint8", 0, 10, "nearest")
    with pytest.raises(KeyError, match="has no band 'nir'"):
        landsat.band("nir")


def test_quality_checks():
    s2, s1, ls, dem, lc = (SENSORS[n].checks for n in ("s2", "s1", "landsat", "dem", "landcover"))
    assert (s2.value_range, s2.max_nodata_percent) == ((0, 10000), 50.0)
    assert not s2.std_ok(1.0) and s2.std_ok(1.01)  # optical: std dev > 1
    assert s1.unit == "dB" and s1.value_range == (-30.0, 10.0) and s1.std_ok(2.0) and not s1.std_ok(1.99)
    assert s1.polarization_pairs == (("VV", "VH"), ("HH", "HV"))
    assert ls.value_range == (0.0, 1.0) and ls.pixel_range == (-0.2, 1.602213)  # all of uint16, scaled
    assert dem.pixel_range == (-500.0, 9000.0) and dem.std_ok(0.0)  # flat land passes
    assert lc.allowed_values == (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
    assert SENSORS["s1"].quality_layer is None and SENSORS["dem"].quality_layer is None
    assert SENSORS["landcover"].quality_layer is None
    assert SENSORS["landsat"].quality_layer.unusable == ("fill", "dilated_cloud", "cirrus", "cloud", "cloud_shadow")


def test_scl_cloud_classes_match_cloudstats():
    from ftw_assets.core.scenes.cloudstats import SCL_CLOUD_CLASSES

    assert quality.SCL_CLOUD_CLASSES == SCL_CLOUD_CLASSES
    assert [c.value for c in quality.SCL_CLASSES] == list(range(12))


def test_qa_pixel_bits():
    bits = {f.name: f.bit for f in quality.QA_PIXEL_FLAGS if f.length == 1}
    assert bits == {"fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "cloud_shadow": 4, "snow": 5,
                    "clear": 6, "water": 7}
    # Typical Landsat 8/9 QA_PIXEL values: fill, clear land, clear water, high-confidence cloud,
    # cloud shadow, dilated cloud.
    qa = np.array([1, 21824, 21952, 22280, 23888, 21826], dtype=np.uint16)
    assert quality.qa_pixel_mask(qa).tolist() == [True, False, False, True, True, True]
    assert quality.qa_pixel_mask(qa, ("water",)).tolist() == [False, False, True, False, False, False]
    assert quality.QA_PIXEL["cloud_confidence"].values(qa).tolist() == [0, 1, 1, 3, 1, 1]
    with pytest.raises(ValueError, match="confidence"):
        quality.qa_pixel_mask(qa, ("cloud_confidence",))


def test_qa_pixel_bits_match_a_real_landsat_item():
    path = STAC_ITEMS / "pc-landsat-c2-l2-LC09_L2SP_089090_20240417_02_T1.json"
    if not path.exists():
        pytest.skip(f"needs the real STAC items at {STAC_ITEMS} (../shared beside the checkout)")
    fields = json.loads(path.read_text())["assets"]["qa_pixel"]["classification:bitfields"]
    assert [(f["name"], f["offset"], f["length"]) for f in fields] == [
        (f.name, f.bit, f.length) for f in quality.QA_PIXEL_FLAGS]


def test_worldcover_classes():
    assert [(c.value, c.name, c.color) for c in quality.WORLDCOVER_CLASSES][:4] == [
        (10, "Tree cover", "006400"), (20, "Shrubland", "FFBB22"), (30, "Grassland", "FFFF4C"),
        (40, "Cropland", "F096FF")]
    assert quality.WORLDCOVER_CLASSES[-1] == quality.PixelClass(100, "Moss and lichen", "FAE6A0")
    assert SENSORS["landcover"].classes == quality.WORLDCOVER_CLASSES


def test_to_db():
    power = quality.to_db([1.0, 0.01, 0.0, -32768.0])
    assert power[:2].tolist() == [0.0, -20.0] and np.isnan(power[2:]).all()
    assert quality.to_db([10.0], "amplitude").tolist() == [20.0]
    with pytest.raises(ValueError):
        quality.to_db([1.0], "db")


@pytest.mark.parametrize("value, expected", [
    ("s2,s1,landsat,dem,landcover", ("s2", "s1", "landsat", "dem", "landcover")),
    (" S1 , s2,s1 ", ("s1", "s2")),
    ("s2 worldcover elevation", ("s2", "landcover", "dem")),
    ("sentinel-1", ("s1",)),
    (None, ("s2",)),
])
def test_sensors_option(value, expected):
    assert sensors_from_option(value) == expected


@pytest.mark.parametrize("value, named", [
    ("s2,s3,modis", "unknown sensors 's3', 'modis'"),
    ("landsat8", "unknown sensor 'landsat8'"),
    ("", "--sensors is empty"),
    (" , ", "--sensors is empty"),
])
def test_sensors_option_refuses_unknown_values(value, named):
    with pytest.raises(InputError) as err:
        sensors_from_option(value)
    assert named in str(err.value)
    assert "s2, s1, landsat, dem, landcover" in str(err.value)  # the valid ones
    assert err.value.exit_code == 2


def test_sensor_config_lookup():
    assert sensor_config("Sentinel-2").name == "s2" and sensor_config(" DEM ").name == "dem"
    with pytest.raises(InputError, match="'sar' is not a sensor this tool knows; use one of s2, s1, landsat"):
        sensor_config("sar")
