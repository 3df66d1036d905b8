"""The bad-input catalogue: each case asserts the exact outcome (a clear error naming the file or value
and what to do, or a recorded skip) and that nothing outside the output folder changed."""

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import affinity

from ftw_assets.demo.world import make_demo_fields, write_demo_calendar
from ftw_assets_tests.helpers import ftwd

DEMO = make_demo_fields().head(12)  # 12 parcels near 48.1 N, 16.05 E (UTM 33N)


def write(frame, path, driver="GPKG"):
    frame.to_file(path, driver=driver) if driver else frame.to_parquet(path)
    return path


def moved(lon, lat, frame=DEMO):
    """The demo parcels moved to another place (kept as metres in the local UTM zone)."""
    zone = int((lon + 180) // 6) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    utm = frame.to_crs(4326).to_crs(epsg)
    x0, y0 = utm.total_bounds[:2]
    cx, cy = gpd.GeoSeries.from_xy([lon], [lat], crs=4326).to_crs(epsg).iloc[0].coords[0]
    return gpd.GeoDataFrame(utm.drop(columns="geometry"), geometry=utm.geometry.translate(cx - x0, cy - y0),
                            crs=epsg)


def case_missing(d):
    return d / "nowhere.gpkg", [], 2, ["nowhere.gpkg", "file not found"]


def case_not_vector(d):
    (d / "fields.gpkg").write_text("this is not a GeoPackage\n")
    return d / "fields.gpkg", [], 2, ["cannot be read as a vector file", "Supported:"]


def case_empty(d):
    return write(DEMO.iloc[:0], d / "empty.gpkg"), [], 2, ["the file has no features"]


def case_points(d):
    return write(DEMO.assign(geometry=DEMO.centroid), d / "points.gpkg"), [], 2, ["no polygons found", "Point"]


def case_lines(d):
    return write(DEMO.assign(geometry=DEMO.boundary), d / "lines.gpkg"), [], 2, ["no polygons found", "LineString"]


def case_fixable_bowtie(d):
    bowtie = shapely.Polygon([(578100, 5328100), (578400, 5328400), (578400, 5328100), (578100, 5328400)])
    frame = gpd.GeoDataFrame({"id": ["bowtie"]}, geometry=[bowtie], crs=32633)
    return write(frame, d / "bowtie.gpkg"), [], 0, ["1 fields"]


def case_unfixable(d):
    flat = shapely.Polygon([(578100, 5328100), (578200, 5328100), (578300, 5328100)])
    frame = gpd.GeoDataFrame({"id": ["flat"]}, geometry=[flat], crs=32633)
    return write(frame, d / "flat.gpkg"), [], 2, ["every polygon is invalid and could not be repaired"]


def case_no_crs(d):
    return write(DEMO.set_crs(None, allow_override=True), d / "nocrs.gpkg"), [], 2, ["no coordinate reference system",
                                                                                     "ogr2ogr -a_srs"]


def case_etrs89(d):  # geographic, not WGS84: reprojected like any other CRS
    return write(DEMO.to_crs(4258), d / "etrs89.gpkg"), [], 0, ["(CRS EPSG:4258)"]


def case_country(d):
    country = affinity.scale(shapely.box(578000, 5328000, 878000, 5528000), 1, 1)
    frame = gpd.GeoDataFrame({"id": ["AT"]}, geometry=[country], crs=32633)
    return write(frame, d / "country.gpkg"), [], 2, ["field AT covers", "km²", "regions or countries"]


def case_utm_boundary(d):  # at 12 E: parcels on both sides of the zone 32/33 edge
    return write(moved(11.99, 48.1, make_demo_fields()), d / "zones.gpkg"), [], 0, ["fields from"]


def case_antimeridian(d):
    crossing = shapely.Polygon([(179.99, -17.0), (-179.99, -17.0), (-179.99, -16.99), (179.99, -16.99)])
    frame = gpd.GeoDataFrame({"id": ["fiji-1"]}, geometry=[crossing], crs=4326)
    return write(frame, d / "fiji.gpkg"), [], 2, ["fiji-1 cross the antimeridian", "-wrapdateline"]


def case_ocean(d):  # no crop calendar value there: the chips are skipped with the reason
    calendar = write_demo_calendar(d / "calendar")
    return (write(moved(-30.0, 0.5), d / "ocean.gpkg"), ["--select-images", "--crop-calendar-dir", calendar],
            0, ["Selection: 0 of", "skipped"])


def case_year_too_early(d):
    return write(DEMO, d / "early.gpkg"), ["--year", "2014"], 2, ["year 2014 is before Sentinel-2 L2A"]


def case_year_future(d):
    return write(DEMO, d / "future.gpkg"), ["--year", "2031"], 2, ["year 2031 is in the future"]


def case_duplicate_ids(d):
    return write(DEMO.assign(id="same"), d / "dups.gpkg"), [], 0, ["12 fields"]


def case_hostile_ids(d):
    ids = ["../../etc/passwd", "a/b", "with space", "ünïcødé-田", "..", "/abs"] * 2
    return write(DEMO.assign(id=ids), d / "ids.gpkg"), [], 0, ["12 fields"]


CASES = [case_missing, case_not_vector, case_empty, case_points, case_lines, case_fixable_bowtie, case_unfixable,
         case_no_crs, case_etrs89, case_country, case_utm_boundary, case_antimeridian, case_ocean, case_year_too_early,
         case_year_future, case_duplicate_ids, case_hostile_ids]


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and skip not in p.parents}


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_bad_input(case, tmp_path, archive_parquet):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    fields, extra, code, phrases = case(inputs)
    out = tmp_path / "out"
    before = snapshot(tmp_path, out)
    args = ["create-dataset", fields, out, "--name", "ds", *(["--year", "2024"] if "--year" not in extra else []),
            "--stac-host", archive_parquet, *extra]
    run = ftwd(*args)
    text = run.stdout + run.stderr
    assert run.returncode == code, text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert snapshot(tmp_path, out) == before, "something outside the output folder changed"
    if code == 2:
        assert not out.exists(), "a refused input must not create the output folder"
    else:  # every file written is inside the output folder and named from the grid
        for path in out.rglob("*"):
            assert out.resolve() in path.resolve().parents
            assert "passwd" not in path.name and " " not in path.name
    if case is case_utm_boundary:
        chips = gpd.read_parquet(out / "ds-chips" / "chips.parquet")
        assert set(chips["epsg"]) == {32632, 32633}
    if case is case_ocean:
        report = json.loads((out / "ds-chips" / "selection_report.json").read_text())
        assert report["skipped"] and all("no crop calendar value" in s["reason"] for s in report["skipped"])
    if case is case_hostile_ids:
        ids = (out / "ds-chips" / "instance_ids.csv").read_text()
        assert "../../etc/passwd" in ids and "ünïcødé-田" in ids  # kept as data, never as a path
