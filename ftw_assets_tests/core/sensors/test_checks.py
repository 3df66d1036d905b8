"""The per-modality checks of sensor images catch what they are for (synthetic chips written with the
project's COG writer), a dataset's sensors reach the stages and the chain only when asked for, and the
thumbnails of each modality."""

import json

import numpy as np
import pytest

from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.dataset.stages import Stages, sensor_stage
from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.raster.cog import write_cog
from ftw_assets.core.sensors.checks import check_image, check_names

GRID = ChipGrid(32633, 584000.0, 5336000.0, 64, 64)
RNG = np.random.default_rng(0)


def _image(tmp_path, sensor, data, nodata=None, bands=None, grid=GRID, season="planting_"):
    folder = tmp_path / "ftw-33UWP8436_2024"
    path = folder / f"ftw-33UWP8436_2024_{season}image_{sensor}.tif"
    write_cog(path, data, grid, nodata=nodata, descriptions=bands)
    write_cog(folder / "ftw-33UWP8436_2024_instance.tif", np.zeros((GRID.height, GRID.width), "uint32"), GRID)
    return path


def _failing(path, sensor):
    _, found = check_image(path, sensor, "instance")
    return {name for name, entries in found.items() if entries}


def test_radar_checks(tmp_path):
    speckled = (10 ** (RNG.normal(-12, 3, (2, 64, 64)) / 10)).astype("float32")
    assert _failing(_image(tmp_path, "s1", speckled, np.nan, ["vv", "vh"]), "s1") == set()
    smooth = np.full((2, 64, 64), 0.05, dtype="float32")  # -13 dB everywhere: no speckle
    assert _failing(_image(tmp_path, "s1", smooth, np.nan, ["vv", "vh"]), "s1") == {"speckle_std"}
    bright = speckled * 1000  # +30 dB: not backscatter in linear power
    assert "backscatter_in_range" in _failing(_image(tmp_path, "s1", bright, np.nan, ["vv", "vh"]), "s1")
    single = _image(tmp_path, "s1", speckled[:1], np.nan, ["vv"])
    assert _failing(single, "s1") == {"polarizations_present"}


def test_optical_dem_and_landcover_checks(tmp_path):
    reflectance = RNG.uniform(0.02, 0.4, (3, 64, 64)).astype("float32")
    assert _failing(_image(tmp_path, "landsat", reflectance, np.nan, ["red", "green", "blue"]), "landsat") == set()
    blank = np.full((3, 64, 64), 0.1, dtype="float32")
    blank_image = _image(tmp_path, "landsat", blank, np.nan, ["red", "green", "blue"])
    assert _failing(blank_image, "landsat") == {"no_blank_band"}
    dn = (reflectance + 0.2) / 2.75e-05  # DN never scaled
    assert _failing(_image(tmp_path, "landsat", dn, np.nan, ["red", "green", "blue"]), "landsat") == {"values_in_range"}
    half = reflectance.copy()
    half[:, :40] = np.nan
    assert _failing(_image(tmp_path, "landsat", half, np.nan, ["red", "green", "blue"]), "landsat") == \
        {"nodata_at_most_limit"}
    heights = RNG.uniform(200, 300, (1, 64, 64)).astype("float32")
    assert _failing(_image(tmp_path, "dem", heights, np.nan, ["elevation"], season=""), "dem") == set()
    assert _failing(_image(tmp_path, "dem", heights * 100, np.nan, ["elevation"], season=""), "dem") == \
        {"plausible_heights"}
    classes = RNG.choice(np.array([10, 30, 40], dtype="uint8"), (1, 64, 64))
    assert _failing(_image(tmp_path, "landcover", classes, 0, ["landcover"], season=""), "landcover") == set()
    classes[0, 0, :5] = 41
    assert _failing(_image(tmp_path, "landcover", classes, 0, ["landcover"], season=""), "landcover") == \
        {"known_classes_only"}
    shifted = ChipGrid(GRID.epsg, GRID.x_min + 10, GRID.y_max, GRID.width, GRID.height)
    off = _image(tmp_path, "dem", heights, np.nan, ["elevation"], grid=shifted, season="")
    assert _failing(off, "dem") == {"valid_cog_on_mask_grid"}
    assert check_names("s1")[:2] == ("valid_cog_on_mask_grid", "nodata_at_most_limit")


def test_sensors_are_opt_in_and_a_plain_dataset_is_unchanged(tmp_path):
    from ftw_assets import pipeline

    plain = DatasetSettings(fields="/f.gpkg")
    assert "sensors" not in json.loads(plain.to_json())  # an existing dataset.json stays as it was
    assert DatasetSettings(fields="/f.gpkg", sensors="s2").sensors is None
    both = DatasetSettings(fields="/f.gpkg", sensors="s2, elevation,s1,s1")
    assert both.sensors == ["s2", "dem", "s1"] and both.extra_sensors() == ("dem", "s1")
    with pytest.raises(InputError, match="include s2"):
        DatasetSettings(fields="/f.gpkg", sensors="dem")
    both.save(tmp_path)
    for name in ("selection.json", "images.json"):
        (tmp_path / name).write_text("{}")
    stages = Stages.of(tmp_path)
    assert stages.sensors == ("dem", "s1") and stages.enabled(sensor_stage("s1"))
    assert not stages.with_(download=False).enabled(sensor_stage("s1")) and not stages.enabled(sensor_stage("landsat"))
    names = [k.to_user_string() for k in pipeline.chain(stages)]
    assert {"elevation_chips", "sentinel1_images"} <= set(names) and "landsat_images" not in names
    assert names.index("sentinel1_images") < names.index("stac_catalog")
    s2_only = [k.to_user_string() for k in pipeline.chain(Stages(True, True, True))]
    assert s2_only == ["chip_grid", "crop_calendar", "masks", "selected_scenes", "clipped_images", "cloud_refinement",
                       "stac_catalog"]
    assert len(pipeline.checks_for(Stages(True, True, True))) == 3
    assert len(pipeline.checks_for(stages)) == 3 + len(check_names("dem")) + len(check_names("s1"))


def test_thumbnails_per_modality():
    from ftw_assets.core.sensors.pictures import class_colours, hillshade, picture
    from ftw_assets.core.sensors.read import SensorChip

    classes = np.array([[40, 10], [0, 80]], dtype="uint8")
    pic = class_colours(classes)
    assert pic.dtype == np.uint8 and pic.shape == (3, 2, 2)
    assert tuple(pic[:, 0, 0]) == (0xF0, 0x96, 0xFF) and tuple(pic[:, 1, 0]) == (0, 0, 0)  # cropland; nodata black
    heights = np.add.outer(np.arange(64.0), np.arange(64.0))
    heights[0, 0] = np.nan
    shade = hillshade(heights, 10.0)
    assert shade.shape == (3, 64, 64) and tuple(shade[:, 0, 0]) == (0, 0, 0) and shade[:, 1:, 1:].min() > 0
    vv, vh = (10 ** (RNG.normal(m, 2, (32, 32)) / 10).astype("float32") for m in (-10, -17))
    radar = SensorChip("s1", ChipGrid(32633, 0.0, 320.0, 32, 32), ("x",), {"vv": vv, "vh": vh},
                       {"vv": np.nan, "vh": np.nan}, {"vv": "bilinear", "vh": "bilinear"})
    composite = picture(radar)
    assert composite.shape == (3, 32, 32) and composite.min() >= 1  # VV, VH, ratio: every pixel valid
