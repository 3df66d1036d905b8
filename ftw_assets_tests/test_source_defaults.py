"""No surprising defaults (issue 13): `--stac-host local` is one folder whatever the working directory
and datasets record its path; generating it is announced with what it covers; a window without any
scene says so instead of blaming clouds; download-images asks for a selection first."""

import json

from ftw_assets.core.scenes.sources import local_archive_dir, open_source
from ftw_assets.demo.archive import ArchiveSpec, ensure_archive
from ftw_assets_tests.helpers import EXPECTED, chosen, ftwd

COVERAGE = ("24 scene(s) of MGRS tile 33UWP over lon 15.960..16.240, lat 48.009..48.197, "
            "dated 2021-03-20..2024-11-09")


def test_local_is_one_folder_from_any_working_directory(tmp_path, monkeypatch, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    monkeypatch.setenv("FTW_ARCHIVE_DIR", str(archive_parquet.parent))  # the test archive: nothing is generated
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    made = ftwd("create-dataset", fields, "out", "--name", "ds", "--year", "2024", "--stac-host", "local",
                "--crop-calendar-dir", calendar, "--select-images", cwd=a)
    assert made.returncode == 0, made.stderr
    out = a / "out"
    again = ftwd("select-images", out, "--stac-host", "local", "--crop-calendar-dir", calendar, cwd=b)
    assert again.returncode == 0, again.stderr
    # Both record the archive's path, not the word; from b it is the same file, so nothing is re-selected.
    assert json.loads((out / "dataset.json").read_text())["stac_host"] == str(archive_parquet)
    assert json.loads((out / "selection.json").read_text())["stac_host"] == str(archive_parquet)
    assert "selection options differ" not in again.stdout and "generating" not in made.stdout + again.stdout
    assert not (a / "data").exists() and not (b / "data").exists()
    assert chosen(out) == EXPECTED


def test_the_default_archive_folder_is_the_user_cache(tmp_path, monkeypatch):
    for name in ("FTW_ARCHIVE_DIR", "FTW_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert local_archive_dir() == tmp_path / "home" / ".cache" / "ftw-tools" / "archive"
    monkeypatch.setenv("FTW_CACHE_DIR", str(tmp_path / "cache"))  # the crop calendar's cache moves it too
    assert local_archive_dir() == tmp_path / "cache" / "archive"


def test_generating_an_archive_is_announced_with_its_size_and_area(tmp_path, archive_parquet):
    # What the default archive says it covers, without building, is what its items cover.
    assert ArchiveSpec().describe() == ("MGRS tile 33UWP at lon 15.960..16.240, lat 48.009..48.197: 24 scenes "
                                        "around the planting and harvest dates of 2021, 2024")
    assert open_source(str(archive_parquet)).coverage() == COVERAGE
    said = []
    assert ensure_archive(archive_parquet.parent, announce=said.append) == archive_parquet and said == []  # reused
    small = ArchiveSpec(block_cols=1, block_rows=1, years=(2024,))  # one block, one year: a few seconds
    parquet = ensure_archive(tmp_path / "small", small, announce=said.append)
    assert said == [f"generating the local Sentinel-2 archive in {tmp_path / 'small'} (about 40 MB, covers MGRS "
                    "tile 33UWP at lon 15.962..16.103, lat 48.102..48.197: 12 scenes around the planting and "
                    "harvest dates of 2024); later runs reuse it"]
    size_mb = sum(p.stat().st_size for p in parquet.parent.rglob("*") if p.is_file()) / 2**20
    assert abs(size_mb - 40) < 6  # "about 40 MB" holds
    assert open_source(str(parquet)).coverage().startswith("12 scene(s) of MGRS tile 33UWP over lon 15.962..16.103, "
                                                           "lat 48.102..48.197")


def test_a_window_without_any_scene_says_so(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    # The archive has 2021 and 2024: in 2023 the windows are empty whatever the cloud cover.
    run = ftwd("create-dataset", fields, tmp_path / "out", "--name", "ds", "--year", "2023", "--stac-host",
               archive_parquet, "--select-images", "--crop-calendar-dir", calendar)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "ds-chips" / "selection_report.json").read_text())
    assert report["successful"] == 0 and len(report["skipped"]) == 16
    windows = {"planting": "2023-03-19..2023-04-16", "harvest": "2023-10-15..2023-11-12"}
    assert {(s["season"], s["reason"], s["candidates_checked"]) for s in report["skipped"]} == {
        (season, f"no Sentinel-2 scene in the window {window} for tile 33UWP (the source has none there; "
                 f"it holds {COVERAGE})", 0) for season, window in windows.items()}
    assert "cloud" not in run.stdout


def test_too_cloudy_windows_keep_the_cloud_reason_with_the_count(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    # 2021 harvest, 4 days around Oct 29: an overcast scene of orbit R122 (Oct 26) and one with scattered
    # clouds of orbit R079 (Oct 31), whose footprint stops short of the westernmost chips (7828, 7830).
    run = ftwd("create-dataset", fields, tmp_path / "out", "--name", "ds", "--year", "2021", "--stac-host",
               archive_parquet, "--select-images", "--crop-calendar-dir", calendar, "--buffer-days", "4",
               "--cloud-cover-scene", "1")
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "ds-chips" / "selection_report.json").read_text())
    reasons = {s["chip"]: (s["season"], s["reason"], s["candidates_checked"]) for s in report["skipped"]}
    one = ("harvest", "none of the 1 scene(s) in the window over the chip has scene-level cloud cover <= 1 %", 1)
    two = ("harvest", "none of the 2 scene(s) in the window over the chip has scene-level cloud cover <= 1 %", 2)
    assert reasons == {"ftw-33UWP7828_2021": one, "ftw-33UWP7830_2021": one,
                       **{f"ftw-33UWP{c}_2021": two for c in ("8028", "8030", "8228", "8230", "8428", "8430")}}


def test_download_images_without_a_selection_asks_for_one(tmp_path, archive_parquet, demo_inputs):
    fields, calendar = demo_inputs
    out = tmp_path / "out"
    made = ftwd("create-dataset", fields, out, "--name", "ds", "--year", "2024", "--stac-host", archive_parquet,
                "--crop-calendar-dir", calendar)
    assert made.returncode == 0, made.stderr
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    run = ftwd("download-images", out)
    assert run.returncode == 2
    assert run.stderr == (f"error: {out} has no scene selection yet, so download-images has nothing to work on. "
                          f"Run `ftwd select-images {out}` first (or create-dataset --select-images).\n")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written, nothing touched
