"""The bad-input catalogue of ``ftwd create-dataset``: each case asserts the exit code and the message (or
what was kept and reported), that nothing outside the output folder changed, that a refused input wrote
nothing, and that the corrected command then succeeds in the same output folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from shapely import affinity

from ftw_assets.demo.world import make_demo_fields, write_demo_calendar
from ftw_assets_tests.helpers import ftwd

DEMO = make_demo_fields().head(12)  # 12 parcels near 48.1 N, 16.05 E (UTM 33N), 3 chips


@dataclass
class Given:
    """One case: the fields file and options given, what must come out, and the corrected command."""

    fields: Path
    args: list = field(default_factory=list)
    code: int = 0
    phrases: tuple = ()
    out: Path | None = None  # default: inputs/../out
    year: bool = True  # add --year 2024
    fix: Callable[[], list] | None = None  # corrects the input; returns the corrected command's options
    before: Callable[[Callable], None] | None = None  # run first, given run(options) into the same folder
    writes: bool = False  # a failure that may leave (valid) files: the disk filled up mid-run
    check: Callable[[Path, str], None] | None = None  # more assertions on the output folder and the text


def write(frame, path, driver="GPKG", **kwargs):
    frame.to_file(path, driver=driver, **kwargs) if driver else frame.to_parquet(path)
    return path


def demo(d: Path, name="fields.gpkg") -> Path:
    return write(DEMO, d / name)


def moved(lon, lat, frame=DEMO):
    """The demo parcels moved to another place (kept as metres in the local UTM zone)."""
    zone = int((lon + 180) // 6) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    utm = frame.to_crs(4326).to_crs(epsg)
    x0, y0 = utm.total_bounds[:2]
    cx, cy = gpd.GeoSeries.from_xy([lon], [lat], crs=4326).to_crs(epsg).iloc[0].coords[0]
    return gpd.GeoDataFrame(utm.drop(columns="geometry"), geometry=utm.geometry.translate(cx - x0, cy - y0),
                            crs=epsg)


def replaced_by_demo(path: Path) -> Callable[[], list]:
    """The usual correction: the same file name, now holding the demo fields."""
    def fix():
        path.unlink(missing_ok=True)
        write(DEMO, path, driver=None if path.suffix == ".parquet" else "GPKG")
        return []
    return fix


def instances_in_masks(out: Path) -> set[int]:
    found = set()
    for tif in out.glob("ds-chips/*/*_instance.tif"):
        with rasterio.open(tif) as src:
            found |= set(np.unique(src.read(1)).tolist()) - {0}
    return found


# --- 1. The input files ---

def case_missing(d):
    return Given(d / "nowhere.gpkg", code=2, phrases=("nowhere.gpkg", "file not found"),
                 fix=replaced_by_demo(d / "nowhere.gpkg"))


def case_not_vector(d):
    (d / "fields.gpkg").write_text("this is not a GeoPackage\n")
    return Given(d / "fields.gpkg", code=2, phrases=("cannot be read as a vector file", "Supported:"),
                 fix=replaced_by_demo(d / "fields.gpkg"))


def case_empty(d):
    return Given(write(DEMO.iloc[:0], d / "empty.gpkg"), code=2, phrases=("the file has no features",),
                 fix=replaced_by_demo(d / "empty.gpkg"))


def case_points(d):
    return Given(write(DEMO.assign(geometry=DEMO.centroid), d / "points.gpkg"), code=2,
                 phrases=("no polygons found", "Point"), fix=replaced_by_demo(d / "points.gpkg"))


def case_lines(d):
    return Given(write(DEMO.assign(geometry=DEMO.boundary), d / "lines.gpkg"), code=2,
                 phrases=("no polygons found", "LineString"), fix=replaced_by_demo(d / "lines.gpkg"))


def case_fixable_bowtie(d):
    bowtie = shapely.Polygon([(578100, 5328100), (578400, 5328400), (578400, 5328100), (578100, 5328400)])
    frame = gpd.GeoDataFrame({"id": ["bowtie"]}, geometry=[bowtie], crs=32633)
    return Given(write(frame, d / "bowtie.gpkg"), phrases=("1 fields", "note: 1 invalid polygon(s) repaired"))


def case_unfixable(d):
    flat = shapely.Polygon([(578100, 5328100), (578200, 5328100), (578300, 5328100)])
    frame = gpd.GeoDataFrame({"id": ["flat"]}, geometry=[flat], crs=32633)
    return Given(write(frame, d / "flat.gpkg"), code=2, phrases=("every polygon is invalid and could not be repaired",),
                 fix=replaced_by_demo(d / "flat.gpkg"))


def case_no_crs(d):
    return Given(write(DEMO.set_crs(None, allow_override=True), d / "nocrs.gpkg"), code=2,
                 phrases=("no coordinate reference system", "ogr2ogr -a_srs"), fix=replaced_by_demo(d / "nocrs.gpkg"))


def case_etrs89(d):  # geographic, not WGS84: reprojected like any other CRS
    return Given(write(DEMO.to_crs(4258), d / "etrs89.gpkg"), phrases=("(CRS EPSG:4258)",))


def case_geometry_collections(d):  # 4 of 12 fields wrapped in collections (with a stray point): all kept
    geoms = [shapely.GeometryCollection([g, g.centroid]) if i % 3 == 0 else g for i, g in enumerate(DEMO.geometry)]

    def check(out, text):
        assert instances_in_masks(out) == set(range(1, 13))
    return Given(write(DEMO.set_geometry(geoms), d / "gc.gpkg"),
                 phrases=("12 fields", "4 GeometryCollection feature(s): their polygons kept"), check=check)


def case_only_collections(d):
    geoms = [shapely.GeometryCollection([g]) for g in DEMO.geometry]
    def check(out, text):
        assert instances_in_masks(out) == set(range(1, 13))
    return Given(write(DEMO.set_geometry(geoms), d / "gc.gpkg"), phrases=("12 fields",), check=check)


def case_null_geometries(d):
    frame = DEMO.copy()
    frame.loc[frame.index[:3], "geometry"] = None
    return Given(write(frame, d / "nulls.gpkg"),
                 phrases=("9 fields", "note: 3 feature(s) with no geometry (null, empty or NaN coordinates) skipped"))


def case_nan_geometries(d):
    geoms = list(DEMO.geometry)
    geoms[0] = shapely.Polygon([(578100, 5328100), (np.nan, np.nan), (578300, 5328300), (578100, 5328100)])
    return Given(write(DEMO.set_geometry(geoms), d / "nan.parquet", driver=None),
                 phrases=("11 fields", "note: 1 feature(s) with no geometry (null, empty or NaN coordinates)"))


def case_mixed_iso_dates(d):  # pandas once read all rows with the first row's format: "year 2023"
    dates = ["2023-05-01"] + ["2022-06-01T10:00:00Z", "2022-06-01", "2022-06-01T10:00:00+02:00"] * 3 + ["2022-06-01 10:00"] * 2
    return Given(write(DEMO.assign(determination_datetime=dates), d / "dates.gpkg"), year=False,
                 phrases=("year 2022",), check=lambda out, text: _year_in_settings(out, None))


def case_invalid_dates(d):
    path = write(DEMO.assign(determination_datetime="someday"), d / "dates.gpkg")
    return Given(path, year=False, code=2, phrases=("no determination_datetime value is a date", "'someday'",
                                                    "Pass --year YYYY"), fix=lambda: ["--year", "2024"])


def _year_in_settings(out, year):
    assert json.loads((out / "dataset.json").read_text())["year"] == year


def case_edge_touching_field(d):
    """A field whose east edge lies on a cell edge (after a round trip through EPSG:4326) is not one of
    the next cell's fields; every chip's field count is the number of fields in its mask."""
    inside = shapely.box(579000, 5328500, 580000, 5329500)  # ends exactly at the 580 km cell edge
    east = shapely.box(580500, 5328500, 581500, 5329500)
    frame = gpd.GeoDataFrame({"id": ["west", "east"]}, geometry=[inside, east], crs=32633).to_crs(4326)

    def check(out, text):
        chips = gpd.read_parquet(out / "ds-chips" / "chips.parquet").set_index("chip_id")
        assert chips["field_count"].to_dict() == {"ftw-33UWP7828": 1, "ftw-33UWP8028": 1}
        for chip in chips.index:
            with rasterio.open(out / "ds-chips" / f"{chip}_2024" / f"{chip}_2024_instance.tif") as src:
                assert len(set(np.unique(src.read(1))) - {0}) == chips.loc[chip, "field_count"]
    return Given(write(frame, d / "edge.gpkg"), phrases=("2 fields", "2 chips"), check=check)


def case_two_layers(d):
    path = write(DEMO, d / "two.gpkg", layer="parcels")
    write(DEMO.head(4), path, layer="parcels_2023", mode="a")
    return Given(path, phrases=("12 fields", "read layer 'parcels'", "'parcels_2023'", "--layer"))


def case_layer_chosen(d):
    path = write(DEMO, d / "two.gpkg", layer="parcels")
    write(DEMO.head(4), path, layer="parcels_2023", mode="a")
    return Given(path, args=["--layer", "parcels_2023"], phrases=("4 fields", "read layer 'parcels_2023'"))


def case_layer_unknown(d):
    path = write(DEMO, d / "two.gpkg", layer="parcels")
    write(DEMO.head(4), path, layer="parcels_2023", mode="a")
    return Given(path, args=["--layer", "fields"], code=2,
                 phrases=("--layer 'fields'", "no such layer", "'parcels', 'parcels_2023'"),
                 fix=lambda: ["--layer", "parcels"])


def case_duplicate_ids(d):
    return Given(write(DEMO.assign(id="same"), d / "dups.gpkg"), phrases=("12 fields",))


def case_hostile_ids(d):
    ids = ["../../etc/passwd", "a/b", "with space", "ünïcødé-田", "..", "/abs"] * 2

    def check(out, text):
        for path in out.rglob("*"):
            assert "passwd" not in path.name and " " not in path.name
        ids = (out / "ds-chips" / "instance_ids.csv").read_text()
        assert "../../etc/passwd" in ids and "ünïcødé-田" in ids  # kept as data, never as a path
    return Given(write(DEMO.assign(id=ids), d / "ids.gpkg"), phrases=("12 fields",), check=check)


# --- 2. Where the fields are, and how big ---

def case_country(d):
    country = affinity.scale(shapely.box(578000, 5328000, 878000, 5528000), 1, 1)
    frame = gpd.GeoDataFrame({"id": ["AT"]}, geometry=[country], crs=32633)
    return Given(write(frame, d / "country.gpkg"), code=2, phrases=("field AT covers", "km²", "regions or countries"),
                 fix=replaced_by_demo(d / "country.gpkg"))


def case_multipart_continents(d):  # once drove chip_registry past 5 GB
    austria, argentina = shapely.box(16.0, 48.1, 16.01, 48.11), shapely.box(-60.0, -34.0, -59.99, -33.99)
    frame = gpd.GeoDataFrame({"id": ["far-apart"]}, geometry=[shapely.MultiPolygon([austria, argentina])], crs=4326)
    return Given(write(frame, d / "multi.gpkg"), code=2,
                 phrases=("field far-apart spans", "a field spans at most 100 km", "-explodecollections"),
                 fix=replaced_by_demo(d / "multi.gpkg"))


def case_utm_boundary(d):  # at 12 E: parcels on both sides of the zone 32/33 edge
    def check(out, text):
        assert set(gpd.read_parquet(out / "ds-chips" / "chips.parquet")["epsg"]) == {32632, 32633}
    return Given(write(moved(11.99, 48.1, make_demo_fields()), d / "zones.gpkg"), phrases=("fields from",), check=check)


def case_antimeridian(d):
    crossing = shapely.Polygon([(179.99, -17.0), (-179.99, -17.0), (-179.99, -16.99), (179.99, -16.99)])
    frame = gpd.GeoDataFrame({"id": ["fiji-1"]}, geometry=[crossing], crs=4326)
    return Given(write(frame, d / "fiji.gpkg"), code=2, phrases=("fiji-1 cross the antimeridian", "-wrapdateline"),
                 fix=replaced_by_demo(d / "fiji.gpkg"))


def _polar(d, lat, name):
    frame = gpd.GeoDataFrame({"id": [f"{name}-1"]}, geometry=[shapely.box(20.0, lat, 20.01, lat + 0.005)], crs=4326)
    return Given(write(frame, d / f"{name}.gpkg"), code=2,
                 phrases=(f"{name}-1", "beyond 84°N or 80°S", "outside the UTM/MGRS grid"),
                 fix=replaced_by_demo(d / f"{name}.gpkg"))


def case_beyond_84n(d):
    return _polar(d, 84.5, "svalbard")


def case_beyond_80s(d):
    return _polar(d, -80.5, "antarctica")


def case_ocean(d):  # no crop calendar value there: the chips are skipped with the reason
    calendar = write_demo_calendar(d / "calendar")

    def check(out, text):
        report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
        assert report["skipped"] and all("no crop calendar value" in s["reason"] for s in report["skipped"])
    return Given(write(moved(-30.0, 0.5), d / "ocean.gpkg"), args=["--select-images", "--crop-calendar-dir", calendar],
                 phrases=("Selection: 0 of", "skipped"), check=check)


# --- 3. The options ---

def _option(flag, bad, good, *phrases):
    def case(d):
        return Given(demo(d), args=[flag, bad], code=2, phrases=phrases, fix=lambda: [flag, good] if good else [])
    case.__name__ = f"case_{flag.strip('-').replace('-', '_')}_{bad.replace('-', 'minus').replace(',', '_')}"
    return case


OPTION_CASES = [
    _option("--chip-size-px", "10", "256", "--chip-size-px 10", "from 200 to 2048 px"),
    _option("--chip-size-px", "-5", "256", "--chip-size-px -5", "from 200 to 2048 px"),
    _option("--chip-size-px", "0", "", "--chip-size-px 0", "leave the option out"),
    _option("--chip-size-px", "100000", "256", "--chip-size-px 100000", "from 200 to 2048 px"),
    _option("--chips-per-run", "0", "2", "'--chips-per-run'", "0 is not in the range x>=1"),
    _option("--min-coverage", "99.99", "5", "no 2 km cell has at least 99.99 % field coverage",
            "the best-covered cell", "Lower --min-coverage"),
    _option("--min-coverage", "150", "5", "--min-coverage 150", "between 0 and 100"),
    _option("--split-type", "predefined", "block3x3", "--split-type predefined", "'split' column",
            "--split-type random-uniform or block3x3"),
    _option("--split-percents", "90,10,10", "70,20,10", "--split-percents '90,10,10'", "summing to 100"),
    _option("--cell-km", "3", "4", "'--cell-km'", "'3' is not one of"),
    _option("--name", "my data", "mydata", "--name 'my data'", "letters, digits"),
    _option("--year", "2014", "2024", "year 2014 is before Sentinel-2 L2A"),
    _option("--year", "2031", "2024", "year 2031 is in the future"),
]


def case_split_values(d):  # predefined with values it cannot use
    path = write(DEMO.assign(split=["training", "val", "test"] * 4), d / "split.gpkg")

    def fix():
        write(DEMO.assign(split=["train", "val", "test"] * 4), path)
        return ["--split-type", "predefined"]
    return Given(path, args=["--split-type", "predefined"], code=2, phrases=("values ['training']",
                                                                            "train, val or test"), fix=fix)


def case_corrupt_stac_geoparquet(d):
    (d / "scenes.parquet").write_bytes(b"PAR1 not really parquet")
    return Given(demo(d), args=["--stac-host", d / "scenes.parquet"], code=2,
                 phrases=("scenes.parquet", "not a stac-geoparquet file"), fix=lambda: [])


# --- 4. A dataset folder made before ---

def case_fields_changed_in_place(d):  # once: "Nothing to do", chips and masks of the old file kept
    path = demo(d)

    original = path.read_bytes()

    def before(run):
        assert run([]).returncode == 0
        write(DEMO.head(6), path)  # edited in place

    def fix():
        path.write_bytes(original)  # restored
        return []
    return Given(path, code=2, before=before, fix=fix,
                 phrases=("fields.gpkg changed since this dataset was made from it", "recorded in dataset.json",
                          "new OUTPUT_DIR, or restore the old file"))


def case_other_options_on_a_dataset(d):
    def before(run):
        assert run([]).returncode == 0
    return Given(demo(d), args=["--min-coverage", "5"], code=2, before=before, fix=lambda: [],
                 phrases=("already holds a dataset made with different min_coverage", "Rerun with the same options"))


# --- 5. The machine: where the output goes ---

MOUNTS: list[Path] = []


def mount_tmpfs(path: Path, *options: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"needs a tmpfs mount (root with CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    MOUNTS.append(path)
    return path


def remount(path: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(path)], check=True)


def case_output_under_a_file(d):
    (d / "notes.txt").write_text("a file, not a folder\n")

    def fix():
        (d / "notes.txt").unlink()
        return []
    return Given(demo(d), out=d / "notes.txt" / "out", code=3, fix=fix,
                 phrases=("notes.txt/out cannot be made", "notes.txt is a file, not a folder"))


def case_output_is_a_file(d):
    (d / "out.txt").write_text("a file\n")
    def fix():
        (d / "out.txt").unlink()
        return []
    return Given(demo(d), out=d / "out.txt", code=2, phrases=("out.txt", "is a file"), fix=fix)


def case_read_only_output(d):
    disk = mount_tmpfs(d / "ro", "size=16m", "ro")

    def fix():
        remount(disk, "rw")
        return []
    return Given(demo(d), out=disk / "out", code=3, fix=fix,
                 phrases=("ro/out cannot be written", "is on a read-only file system"))


def case_disk_full(d):  # fills up in the middle of the run: one message, the files written stay whole
    disk = mount_tmpfs(d / "small", "size=600k")

    def check_partial(out):
        assert json.loads((out / "dataset.json").read_text())["name"] == "ds"
        assert not [p for p in out.rglob("*") if ".tmp" in p.name], "half-written files left"

    def fix():
        check_partial(disk / "out")
        remount(disk, "size=64m")
        return []
    return Given(demo(d), out=disk / "out", code=3, writes=True, fix=fix,
                 phrases=("small/out is full", "MB free on", "rerun the same command to resume"))


CASES = [case_missing, case_not_vector, case_empty, case_points, case_lines, case_fixable_bowtie, case_unfixable,
         case_no_crs, case_etrs89, case_geometry_collections, case_only_collections, case_null_geometries,
         case_nan_geometries, case_mixed_iso_dates, case_invalid_dates, case_edge_touching_field, case_two_layers,
         case_layer_chosen, case_layer_unknown, case_duplicate_ids, case_hostile_ids,
         case_country, case_multipart_continents, case_utm_boundary, case_antimeridian, case_beyond_84n,
         case_beyond_80s, case_ocean, *OPTION_CASES, case_split_values, case_corrupt_stac_geoparquet,
         case_fields_changed_in_place, case_other_options_on_a_dataset,
         case_output_under_a_file, case_output_is_a_file, case_read_only_output, case_disk_full]


def snapshot(root: Path, skip: Path | None = None) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and (skip is None or skip not in p.parents)}


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input(case, tmp_path, archive_parquet):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    try:
        _check_case(case(inputs), tmp_path, archive_parquet)
    finally:
        while MOUNTS:
            subprocess.run(["umount", "-l", str(MOUNTS.pop())], capture_output=True)


def _check_case(given: Given, tmp_path: Path, archive_parquet: Path) -> None:
    out = given.out or tmp_path / "out"

    def run(options):
        year = ["--year", "2024"] if given.year and "--year" not in options else []
        return ftwd("create-dataset", given.fields, out, "--name", "ds", *year, "--stac-host", archive_parquet,
                    *options)

    if given.before:
        given.before(run)
    outside, inside = snapshot(tmp_path, out), snapshot(out) if out.is_dir() else None
    done = run(given.args)
    text = done.stdout + done.stderr
    assert done.returncode == given.code, text
    for phrase in given.phrases:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert "Traceback" not in text and "JsonMetadataValue" not in text, text
    assert snapshot(tmp_path, out) == outside, "something outside the output folder changed"
    if given.code == 0:
        for path in out.rglob("*"):  # every file written is inside the output folder
            assert out.resolve() in path.resolve().parents
    elif not given.writes:  # refused: nothing written, the folder as it was
        assert (snapshot(out) if out.is_dir() else None) == inside, "a refused input wrote to the output folder"
    if given.check:
        given.check(out, text)
    if given.code != 0 and given.fix is not None:  # the corrected command works in the same folder
        again = run(given.fix())
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(list(out.glob("*-chips/collection.json"))) == 1


def test_a_read_only_dataset_is_read_and_not_written(tmp_path):
    """``ftwd status`` reads a dataset on a read-only disk; a command that would write says why it cannot
    (exit 3) and changes nothing."""
    demo(tmp_path)
    out = tmp_path / "out"
    assert ftwd("create-dataset", tmp_path / "fields.gpkg", out, "--name", "ds", "--year", "2024").returncode == 0
    view = tmp_path / "view"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(out), str(view)], capture_output=True).returncode:
        pytest.skip("needs a bind mount (root with CAP_SYS_ADMIN)")
    MOUNTS.append(view)
    try:
        remount(view, "bind", "ro")
        before = snapshot(out)
        status = ftwd("status", view)
        assert status.returncode == 0, status.stderr
        rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:] if line.strip()}
        assert rows["masks"][:4] == ["3", "0", "0", "0"]
        assert "selected_scenes" not in rows  # a masks-only dataset: status lists the assets it is made of
        write = ftwd("add-year", view, "2023")
        assert write.returncode == 3, write.stdout + write.stderr
        assert "view cannot be written" in write.stderr and "is on a read-only file system" in write.stderr
        assert "Traceback" not in write.stdout + write.stderr
        assert snapshot(out) == before
    finally:
        while MOUNTS:
            subprocess.run(["umount", "-l", str(MOUNTS.pop())], capture_output=True)


@pytest.mark.parametrize("text, says, commands", [
    ('{"name": "ds", ', "dataset.json is not valid JSON (Expecting property name", ("status", "select-images")),
    ('["ds"]', "dataset.json holds a JSON list, not the object of settings ftwd writes", ("status", "select-images")),
    ('{"name": "ds", "sensors": 5}', "dataset.json: sensors is 5, not a list of sensor names", ("status",)),
])
def test_an_unreadable_dataset_json_is_refused_before_the_instance_is_made(tmp_path, text, says, commands):
    """A ``dataset.json`` cut short or edited by hand: ``status`` (which reads it without the settings
    model) and ``select-images`` (which loads the settings) say what is wrong with it, exit 2, and
    write nothing (no Dagster instance)."""
    (tmp_path / "dataset.json").write_text(text)
    for command in commands:
        run = ftwd(command, tmp_path)
        assert run.returncode == 2, run.stdout + run.stderr
        assert says in run.stderr and "put back the one it wrote" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and "bug" not in run.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.json"]
