"""The option files (dataset.json, selection.json, images.json, refinement.json): defaults written once
and read by ftwd, files byte-identical to the format datasets already hold, bad values refused."""

import json

import pytest
from click.testing import CliRunner

from ftw_assets.cli import main
from ftw_assets.cli.options import settings_from
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.clip import ImageSettings
from ftw_assets.core.scenes.refinement import RefinementSettings
from ftw_assets.core.scenes.selection import SelectionSettings

SELECTION_OPTIONS = ["buffer_days", "cloud_cover_scene", "pixel_check", "cloud_cover_pixel", "on_missing",
                     "include_alternatives", "crop_calendar_dir", "calendar"]
# command -> the settings fields it has an option for, with the settings default
OPTIONS = {
    "create-dataset": [(DatasetSettings, n) for n in DatasetSettings.model_fields if n not in ("fields", "fields_sha256")]
    + [(ImageSettings, "bands"), (ImageSettings, "num_workers")] + [(SelectionSettings, n) for n in SELECTION_OPTIONS],
    "select-images": [(SelectionSettings, n) for n in ["collection", *SELECTION_OPTIONS]],
    "download-images": [(ImageSettings, "bands"), (ImageSettings, "num_workers")],
    "refine-cloud-cover": [(RefinementSettings, n) for n in RefinementSettings.model_fields],
    "search-scenes": [(DatasetSettings, "stac_host"), (SelectionSettings, "collection")],
}


def _as_option(value):
    return ",".join(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_every_option_default_and_help_is_the_settings_field(command):
    params = {p.name: p for p in main.commands[command].params}
    for cls, name in OPTIONS[command]:
        param = params[name]
        default = cls.default(name)
        expected = str(default) if name == "cell_km" else _as_option(default)  # a click.Choice of strings
        assert param.default == expected, (command, name)
        assert cls.describe(name)[1:] in param.help, (command, name)  # create-dataset prefixes some


def test_the_options_as_parsed_make_the_default_settings(tmp_path):
    """Nothing given on the command line: ftwd builds exactly the settings classes' defaults."""
    ctx = main.commands["create-dataset"].make_context("create-dataset", [str(tmp_path / "f.gpkg"), str(tmp_path)])
    fields = str(tmp_path / "f.gpkg")
    assert settings_from(DatasetSettings, ctx.params, fields=fields) == DatasetSettings(fields=fields)
    assert settings_from(ImageSettings, ctx.params) == ImageSettings()
    assert settings_from(SelectionSettings, ctx.params) == SelectionSettings()
    ctx = main.commands["refine-cloud-cover"].make_context("refine-cloud-cover", [str(tmp_path)])
    assert settings_from(RefinementSettings, ctx.params) == RefinementSettings()


# The files as datasets made before the settings base hold them (json indent 2, sorted keys, newline).
DATASET_JSON = """{
  "cell_km": 2,
  "chip_size_px": 256,
  "collection": null,
  "fields": "/data/fields.gpkg",
  "mask_types": [
    "instance",
    "semantic_3_class"
  ],
  "min_coverage": 0.5,
  "name": "be",
  "presence_only": true,
  "seed": 7,
  "split_percents": "70,20,10",
  "split_type": "block3x3",
  "stac_host": "earthsearch",
  "year": 2024
}
"""
IMAGES_JSON = '{\n  "bands": [\n    "red",\n    "nir",\n    "scl"\n  ],\n  "num_workers": 8\n}\n'
SELECTION = {"buffer_days": 20, "calendar": "winter", "cloud_cover_pixel": 5.0, "cloud_cover_scene": 30.0,
             "cloud_probability_threshold": 50, "collection": "sentinel-2-l2a", "crop_calendar_dir": "/cal",
             "include_alternatives": True, "on_missing": "best-available", "pixel_check": True,
             "stac_host": "planetary-computer"}
REFINEMENT = {"cloud_cover_pixel": 2.5, "cloud_probability_threshold": 40, "max_attempts": 5}


@pytest.mark.parametrize("cls,text", [
    (DatasetSettings, DATASET_JSON),
    (ImageSettings, IMAGES_JSON),
    (SelectionSettings, json.dumps(SELECTION, indent=2, sort_keys=True) + "\n"),
    (RefinementSettings, json.dumps(REFINEMENT, indent=2, sort_keys=True) + "\n"),
])
def test_a_stored_file_round_trips_byte_identically(cls, text, tmp_path):
    (tmp_path / cls.FILE).write_text(text)
    loaded = cls.load(tmp_path)
    (tmp_path / cls.FILE).unlink()
    loaded.save(tmp_path)
    assert (tmp_path / cls.FILE).read_text() == text
    assert cls.load(tmp_path) == loaded
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temp file left


def test_made_settings_write_the_same_file(tmp_path):
    DatasetSettings(fields="/data/fields.gpkg", name="be", year=2024, min_coverage=0.5, split_type="block3x3",
                    split_percents="70,20,10", mask_types=["instance", "semantic_3_class", "instance"],
                    presence_only=True, chip_size_px=256, cell_km=2, seed=7).save(tmp_path)
    assert (tmp_path / "dataset.json").read_text() == DATASET_JSON  # mask types: de-duplicated, in order
    ImageSettings(bands=["red", "nir", "scl"], num_workers=8).save(tmp_path)
    assert (tmp_path / "images.json").read_text() == IMAGES_JSON
    assert ImageSettings.load(tmp_path).bands == ("red", "nir", "scl")  # a tuple, as compared by download-images


def test_missing_files_give_defaults_or_say_what_to_do(tmp_path):
    assert SelectionSettings.load(tmp_path, "local", "c") == SelectionSettings(stac_host="local", collection="c")
    assert ImageSettings.load(tmp_path).bands == ("red", "green", "blue", "nir")
    assert RefinementSettings.load(tmp_path).max_attempts == 3
    with pytest.raises(InputError, match="not found: this folder holds no dataset yet.*ftwd create-dataset"):
        DatasetSettings.load(tmp_path)


def test_keys_a_file_has_but_this_version_does_not_know_are_ignored(tmp_path):
    (tmp_path / "refinement.json").write_text(json.dumps({**REFINEMENT, "update_items": True}))
    assert RefinementSettings.load(tmp_path) == RefinementSettings(**REFINEMENT)


@pytest.mark.parametrize("make,message", [
    (lambda: DatasetSettings(fields="f", name="a b"), "--name 'a b': use letters, digits, '-' and '_' only"),
    (lambda: DatasetSettings(fields="f", cell_km=3), "--cell-km 3 is not supported; use one of 1, 2, 4, 5, 10."),
    (lambda: DatasetSettings(fields="f", split_percents="50,50"), "--split-percents '50,50' must be three"),
    (lambda: DatasetSettings(fields="f", mask_types=["roads"]), "--mask-types ['roads']: unknown ['roads']"),
    (lambda: DatasetSettings(fields="f", min_coverage=101.0), "--min-coverage 101.0 must be a percentage"),
    (lambda: SelectionSettings(buffer_days=91), "--buffer-days 91 must be between 0 and 90 days"),
    (lambda: SelectionSettings(cloud_cover_pixel=-1.0), "--cloud-cover-pixel -1.0 must be a percentage from 0 to 100"),
    (lambda: SelectionSettings(on_missing="retry"), "--on-missing 'retry': use one of skip, fail, best-available"),
    (lambda: SelectionSettings(buffer_days="two weeks"), "--buffer-days 'two weeks': input should be a valid integer"),
    (lambda: ImageSettings(bands=("red", "bogus")), "--bands red,bogus: unknown bogus; choose from"),
    (lambda: ImageSettings(num_workers=0), "--num-workers 0 must be between 1 and 64"),
    (lambda: RefinementSettings(max_attempts=21), "--max-attempts 21 must be between 0 and 20"),
])
def test_bad_values_are_input_errors_that_say_what_to_do(make, message):
    with pytest.raises(InputError) as err:
        make()
    assert message in str(err.value)


def test_a_bad_stored_value_fails_on_load(tmp_path):
    (tmp_path / "selection.json").write_text(json.dumps({**SELECTION, "calendar": "spring"}))
    with pytest.raises(InputError, match="--calendar 'spring': use summer or winter"):
        SelectionSettings.load(tmp_path)


def test_differs_from_names_the_changed_fields():
    a = DatasetSettings(fields="f", seed=1)
    assert a.differs_from(DatasetSettings(fields="f", seed=1)) == []
    assert a.differs_from(DatasetSettings(fields="f", seed=2, cell_km=4)) == ["cell_km", "seed"]


def test_a_bad_option_stops_the_command_before_anything_is_written(tmp_path):
    DatasetSettings(fields="f", name="ds").save(tmp_path)
    run = CliRunner().invoke(main, ["refine-cloud-cover", str(tmp_path), "--max-attempts", "30"])
    assert run.exit_code == 2 and "error: --max-attempts 30 must be between 0 and 20" in run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.json"]


@pytest.mark.parametrize("command,dropped", [("download-images", "--resume"), ("refine-cloud-cover", "--update-items"),
                                             ("create-dataset", "--resume")])
def test_options_that_did_nothing_are_gone(command, dropped, tmp_path):
    run = CliRunner().invoke(main, [command, str(tmp_path), dropped])
    assert run.exit_code == 2 and f"No such option '{dropped}'" in run.output


def test_resources_and_run_configs_describe_every_field():
    from ftw_assets.defs.images.config import ImagesConfig
    from ftw_assets.defs.scenes.config import SelectionConfig
    from ftw_assets.resources import DatasetResource, SceneSourceResource

    for cls in (DatasetResource, SceneSourceResource, SelectionConfig, ImagesConfig):
        schema = cls.to_config_schema().as_field().config_type
        assert all(f.description for f in schema.fields.values()), cls.__name__
    config = SelectionConfig.to_config_schema().as_field().config_type
    assert config.fields["buffer_days"].description.startswith(SelectionSettings.describe("buffer_days"))
