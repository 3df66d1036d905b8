"""The FTW export on the demo dataset built by `ftwd demo`: the layout and file formats the FTW loaders
read, reruns, chips missing a season, and loading by torchgeo, ftw-tools and `ftw model fit`. Those
last tests need the training stack (ftw_assets_tests/train_stack.sh) and are skipped without it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.errors import InputError
from ftw_assets.core.export.ftw import (
    CHIP_PX, FTW_BANDS, MANIFEST, ExportReport, export_ftw, fit_array, fit_grid,
)
from ftw_assets.core.geometry.grid import ChipGrid, read_chip_table
from ftw_assets.core.raster.cog import read_grid, write_cog
from ftw_assets_tests.helpers import FTWD, REPO

COUNTRY = "austria"  # the demo world lies near Vienna; any of the 25 FTW names would load
FIT_CONFIG = REPO / "ftw_assets" / "core" / "export" / "ftw_fit_config.yaml"
SPLIT_COUNTS = {"train": 6, "val": 1, "test": 1}  # the demo's 8 chips (seed 42, 80/10/10)


def _sha256_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _stat_tree(root: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _open(folder: Path) -> tuple[Layout, DatasetSettings]:
    settings = DatasetSettings.load(folder)
    return Layout(folder.resolve(), settings.name), settings


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory, archive_parquet) -> Path:
    """`ftwd demo` into a temp folder (the generated archive is shared with the other tests' cache)."""
    root = tmp_path_factory.mktemp("ftw-export-demo")
    out = root / "demo"
    run = subprocess.run([*FTWD, "demo", str(out), "--fields", str(root / "fields.gpkg"),
                          "--archive", str(archive_parquet.parent)],
                         cwd=root, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.fixture(scope="module")
def exported(demo_dir, tmp_path_factory) -> tuple[ExportReport, ExportReport, dict, dict]:
    """(first export, rerun, dataset sha256 before, export file stats after the first run)."""
    before = _sha256_tree(demo_dir)
    out = tmp_path_factory.mktemp("ftw-export") / "ftw"
    first = export_ftw(*_open(demo_dir), out, COUNTRY)
    stats = _stat_tree(out)
    again = export_ftw(*_open(demo_dir), out, COUNTRY)
    return first, again, before, stats


def test_layout_splits_and_parquet(exported, demo_dir):
    report = exported[0]
    assert report.samples == SPLIT_COUNTS and report.left_out == [] and report.loader_country
    country = report.country_dir
    chips = gpd.read_parquet(country / f"chips_{COUNTRY}.parquet")
    assert list(chips.columns[:2]) == ["aoi_id", "split"] and chips.crs.to_epsg() == 4326
    layout, _ = _open(demo_dir)
    source = read_chip_table(layout.chips_parquet)
    assert dict(zip(chips["aoi_id"], chips["split"])) == {f"{c}_2024": s for c, s in zip(source["chip_id"], source["split"])}
    for aoi in chips["aoi_id"]:
        for rel in ("s2_images/window_a", "s2_images/window_b", "label_masks/semantic_2class",
                    "label_masks/semantic_3class", "label_masks/instance"):
            assert (country / rel / f"{aoi}.tif").is_file(), rel
    # the chip geometry is the exported 256 px footprint: 2.56 km across at 10 m
    utm = chips.to_crs(32633).geometry.iloc[0].bounds
    assert abs((utm[2] - utm[0]) - 2560) < 1 and abs((utm[3] - utm[1]) - 2560) < 1
    # 5 files per chip-year, the parquet, 4 checksum files; the manifest is not counted
    assert report.written == 8 * 5 + 1 + 4


def test_images_are_rgbn_uint16_centred_on_the_mask_grid(exported, demo_dir):
    report = exported[0]
    layout, _ = _open(demo_dir)
    chip, year = "ftw-33UWP7828", 2024
    for season, window in (("planting", "window_a"), ("harvest", "window_b")):
        src_path = layout.chip_file(chip, year, f"{season}_image_s2.tif")
        with rasterio.open(src_path) as src:
            names = list(src.descriptions)
            source = src.read([names.index(b) + 1 for b in FTW_BANDS])
            src_transform = src.transform
        with rasterio.open(report.country_dir / "s2_images" / window / f"{chip}_{year}.tif") as out:
            data = out.read()
            assert (out.count, out.height, out.width, out.dtypes[0]) == (4, CHIP_PX, CHIP_PX, "uint16")
            assert out.descriptions == FTW_BANDS and out.nodata == 0
            assert out.tags()["FTW_WINDOW"] == window and out.tags()["boa_offset_removed"] == "1000"
            # the 200 px chip sits 28 px in; the transform moves by the same 280 m
            assert out.transform.c == src_transform.c - 280 and out.transform.f == src_transform.f + 280
        np.testing.assert_array_equal(data[:, 28:228, 28:228], source)
        assert not data[:, :28].any() and not data[:, 228:].any() and not data[:, :, :28].any()
        assert source.min() > 0  # so the zeros above are padding, not copied nodata


def test_masks_values_dtypes_and_padding(exported, demo_dir):
    report = exported[0]
    layout, _ = _open(demo_dir)
    chip, year = "ftw-33UWP7828", 2024
    expect = {"semantic_2class": ("semantic_2_class", "uint8", {0, 1, 3}),
              "semantic_3class": ("semantic_3_class", "uint8", {0, 1, 2, 3}),
              "instance": ("instance", "uint32", None)}
    for folder, (mask_type, dtype, values) in expect.items():
        with rasterio.open(layout.chip_file(chip, year, f"{mask_type}.tif")) as src:
            source = src.read(1)
        with rasterio.open(report.country_dir / "label_masks" / folder / f"{chip}_{year}.tif") as out:
            data = out.read(1)
            assert (out.count, data.shape, out.dtypes[0]) == (1, (CHIP_PX, CHIP_PX), dtype)
        np.testing.assert_array_equal(data[28:228, 28:228], source)
        ring = np.ones(data.shape, bool)
        ring[28:228, 28:228] = False
        assert set(np.unique(data[ring])) == ({0} if folder == "instance" else {3})
        if values:
            assert set(np.unique(data)) == values
        else:
            assert data.max() == source.max() > 0


def test_checksum_files_match_the_files(exported):
    report = exported[0]
    country = report.country_dir
    lines = (country / "window_a_checksums.md5").read_text().splitlines()
    assert len(lines) == 8
    for name in ("window_a", "window_b", "masks"):
        for line in (country / f"{name}_checksums.md5").read_text().splitlines():
            digest, rel = line.split()
            assert rel.startswith(f"{COUNTRY}/")  # relative to the loader's root, OUT_DIR
            assert hashlib.md5((report.out_dir / rel).read_bytes()).hexdigest() == digest
    assert len((country / "masks_checksums.md5").read_text().splitlines()) == 24
    assert (country / "distances_checksums.md5").read_text() == ""


def test_rerun_writes_nothing_and_the_dataset_is_untouched(exported, demo_dir):
    first, again, before, stats = exported
    assert (again.written, again.removed, again.unchanged) == (0, 0, first.written)
    assert _stat_tree(first.out_dir) == stats  # same inodes, sizes and mtimes: nothing rewritten
    assert _sha256_tree(demo_dir) == before


def test_missing_season_is_left_out_and_changes_are_exported(demo_dir, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(demo_dir, copy, ignore=shutil.ignore_patterns("dagster_home"))
    out = tmp_path / "ftw"
    export_ftw(*_open(copy), out, COUNTRY)
    layout, settings = _open(copy)
    # a val chip loses its harvest image, a train chip's 3-class mask is rewritten (other content)
    layout.chip_file("ftw-33UWP8428", 2024, "harvest_image_s2.tif").unlink()
    mask = layout.chip_file("ftw-33UWP7830", 2024, "semantic_3_class.tif")
    grid = read_grid(mask)
    write_cog(mask, np.zeros((grid.height, grid.width), dtype="uint8"), grid, descriptions=["semantic_3_class"])
    report = export_ftw(layout, settings, out, COUNTRY)
    assert [(x.aoi_id, x.split, x.reason) for x in report.left_out] == [("ftw-33UWP8428_2024", "val", "no harvest image")]
    assert report.left_out_by_split == {"train": 0, "val": 1, "test": 0}
    assert report.samples == {"train": 6, "val": 0, "test": 1}
    assert report.removed == 5  # the left-out chip's five files from the first export
    # the changed mask, the parquet and three checksum files (window_a, window_b, masks)
    assert report.written == 1 + 1 + 3
    assert not list(out.rglob("ftw-33UWP8428_2024.tif"))
    chips = gpd.read_parquet(out / COUNTRY / f"chips_{COUNTRY}.parquet")
    assert "ftw-33UWP8428_2024" not in set(chips["aoi_id"]) and len(chips) == 7
    with rasterio.open(out / COUNTRY / "label_masks" / "semantic_3class" / "ftw-33UWP7830_2024.tif") as src:
        assert set(np.unique(src.read(1))) == {0, 3}
    assert any("ftw-33UWP8428_2024 [val]: no harvest image" in line for line in report.summary())


def test_country_name_and_folders(demo_dir, tmp_path):
    layout, settings = _open(demo_dir)
    report = export_ftw(layout, settings, tmp_path / "own")  # default: the dataset's name
    assert report.country == "demo" and not report.loader_country
    assert (tmp_path / "own" / "demo" / "chips_demo.parquet").is_file()
    assert any("25 FTW country names" in line for line in report.summary())
    assert not list((tmp_path / "own" / "demo").glob(".*.tmp*"))
    with pytest.raises(InputError, match="--country"):
        export_ftw(layout, settings, tmp_path / "x", "my country")
    with pytest.raises(InputError, match="overlap"):
        export_ftw(layout, settings, demo_dir / "export", COUNTRY)
    assert not (demo_dir / "export").exists()


def test_fit_grid_pads_and_crops_around_the_centre():
    grid = ChipGrid(32633, 500000.0, 5300000.0, 200, 200)
    fitted, row0, col0 = fit_grid(grid)
    assert (row0, col0) == (-28, -28) and (fitted.x_min, fitted.y_max) == (499720.0, 5300280.0)
    arr = np.arange(200 * 200, dtype="uint32").reshape(1, 200, 200) + 1
    out = fit_array(arr, row0, col0, 256, 0)
    assert out[0, 28, 28] == 1 and out[0, 227, 227] == 200 * 200 and out[0, 27, 27] == 0 and (out > 0).sum() == 40000
    big = ChipGrid(32633, 500000.0, 5300000.0, 301, 300)  # odd widths crop one more on the right
    fitted, row0, col0 = fit_grid(big)
    assert (row0, col0) == (22, 22) and fitted.x_min == 500220.0 and fitted.y_max == 5299780.0
    arr = np.arange(300 * 301).reshape(1, 300, 301)
    np.testing.assert_array_equal(fit_array(arr, row0, col0, 256, -1), arr[:, 22:278, 22:278])


# --- the FTW tools themselves (installed by ftw_assets_tests/train_stack.sh) ---


def test_torchgeo_fields_of_the_world_loads_the_export(exported):
    pytest.importorskip("torchgeo", reason="torchgeo is not installed: run ftw_assets_tests/train_stack.sh")
    import torch
    from torchgeo.datasets import FieldsOfTheWorld

    root = exported[0].out_dir
    for split, n in SPLIT_COUNTS.items():
        for target, values in (("2-class", {0, 1, 3}), ("3-class", {0, 1, 2, 3})):
            ds = FieldsOfTheWorld(root, split=split, target=target, countries=[COUNTRY], download=False)
            assert len(ds) == n
            sample = ds[0]
            assert sample["image"].shape == (8, CHIP_PX, CHIP_PX) and sample["image"].dtype == torch.float32
            assert sample["mask"].shape == (CHIP_PX, CHIP_PX) and sample["mask"].dtype == torch.int64
            assert set(sample["mask"].unique().tolist()) == values
    ds = FieldsOfTheWorld(root, split="train", target="instance", countries=[COUNTRY], download=False)
    assert ds[0]["mask"].max() > 3


def test_torchgeo_loads_an_own_country_name_through_a_subclass(demo_dir, tmp_path):
    pytest.importorskip("torchgeo", reason="torchgeo is not installed: run ftw_assets_tests/train_stack.sh")
    from torchgeo.datasets import FieldsOfTheWorld

    export_ftw(*_open(demo_dir), tmp_path, "demo")
    with pytest.raises(AssertionError):  # the loader's own check of the 25 names
        FieldsOfTheWorld(tmp_path, countries=["demo"], split="train", download=False)

    class OwnCountries(FieldsOfTheWorld):
        valid_countries = (*FieldsOfTheWorld.valid_countries, "demo")

    assert len(OwnCountries(tmp_path, countries=["demo"], split="train", download=False)) == 6


def test_ftw_tools_dataset_loads_the_export(exported):
    pytest.importorskip("ftw.datasets", reason="ftw-tools is not installed: run ftw_assets_tests/train_stack.sh")
    from ftw.datasets import FTW
    from ftw.utils import validate_checksums

    root = exported[0].out_dir
    for split, n in SPLIT_COUNTS.items():
        ds = FTW(root=str(root), countries=[COUNTRY], split=split, load_boundaries=True)
        assert len(ds) == n
        sample = ds[0]
        assert tuple(sample["image"].shape) == (8, CHIP_PX, CHIP_PX)
        assert set(sample["mask"].unique().tolist()) == {0, 1, 2, 3}
    for name in ("window_a", "window_b", "masks", "distances"):
        assert validate_checksums(str(root / COUNTRY / f"{name}_checksums.md5"), str(root)) is True


def test_ftw_model_fit_runs_one_epoch_on_the_export(exported, tmp_path):
    ftw = Path(sys.executable).parent / "ftw"
    if not ftw.exists():
        pytest.skip("ftw-tools' `ftw` command is not installed: run ftw_assets_tests/train_stack.sh")
    logs = tmp_path / "logs"
    run = subprocess.run([str(ftw), "model", "fit", "-c", str(FIT_CONFIG), "--",
                          f"--data.dict_kwargs.root={exported[0].out_dir}", f"--trainer.default_root_dir={logs}"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "`Trainer.fit` stopped: `max_epochs=1` reached." in run.stdout + run.stderr
    assert "Selecting :  6  samples" in run.stdout  # the train split, then val
    assert list(logs.rglob("last.ckpt"))
