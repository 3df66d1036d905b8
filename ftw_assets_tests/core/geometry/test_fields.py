import datetime as dt
import json

import geopandas as gpd
import pytest
import shapely

from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.fields import parcel_count, read_fields, resolve_year


def _write(tmp_path, frame, name="f.gpkg"):
    path = tmp_path / name
    frame.to_file(path) if not name.endswith(".parquet") else frame.to_parquet(path)
    return path


def test_flanders_year_from_determination_datetime(flanders):
    fields, report = read_fields(flanders)
    assert report.source_crs == "EPSG:31370" and len(fields) == 100
    assert resolve_year(fields, None, str(flanders)) == 2024
    assert fields.crs.to_epsg() == 4326
    assert 4.1 < fields.total_bounds[0] < 4.2


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.gpkg: file not found"):
        read_fields(tmp_path / "nope.gpkg")


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "notes.geojson"
    path.write_text("this is not json")
    with pytest.raises(InputError, match="notes.geojson: cannot be read as a vector file"):
        read_fields(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="no features"):
        read_fields(path)


def test_points_only(tmp_path):
    frame = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(16, 48)], crs=4326)
    with pytest.raises(InputError, match=r"no polygons found \(geometry types: Point\)"):
        read_fields(_write(tmp_path, frame))


def test_no_crs(tmp_path):
    frame = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_fields(_write(tmp_path, frame, "f.parquet"))


def test_invalid_polygons_repaired_or_dropped(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])  # self-intersecting, fixable
    flat = shapely.Polygon([(0, 0), (100, 0), (200, 0)])  # zero area, not fixable
    ok = shapely.box(500, 500, 600, 600)
    frame = gpd.GeoDataFrame({"id": ["a", "b", "c"]}, geometry=[bowtie, flat, ok], crs=32633)
    fields, report = read_fields(_write(tmp_path, frame, "f.parquet"))
    assert report.repaired_invalid == 1 and report.dropped_unrepairable == 1
    assert list(fields["field_id"]) == ["a", "c"] and list(fields["instance"]) == [1, 2]
    assert fields.to_crs(32633).area.round(3).tolist() == [5000.0, 10000.0]
    only_flat = gpd.GeoDataFrame({"id": ["b"]}, geometry=[flat], crs=32633)
    with pytest.raises(InputError, match="could not be repaired"):
        read_fields(_write(tmp_path, only_flat, "g.parquet"))


def test_missing_ids_named_by_row(tmp_path):
    frame = gpd.GeoDataFrame({"crop": ["x", "y"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)], crs=32633)
    fields, report = read_fields(_write(tmp_path, frame, "f.parquet"))
    assert list(fields["field_id"]) == ["row-0", "row-1"] and report.id_column is None


def test_year_rules(denmark):
    fields, _ = read_fields(denmark)
    with pytest.raises(InputError, match="no --year given"):
        resolve_year(fields, None, "dk")
    assert resolve_year(fields, 2024, "dk") == 2024
    with pytest.raises(InputError, match="before Sentinel-2 L2A"):
        resolve_year(fields, 2012, "dk")
    with pytest.raises(InputError, match="in the future"):
        resolve_year(fields, 2031, "dk", today=dt.date(2026, 11, 21))


def test_dates_in_mixed_iso_formats_each_parse():
    import pandas as pd

    from ftw_assets.core.geometry.fields import parse_dates

    values = pd.Series(["2023-05-01", "2022-06-01T10:00:00Z", "2022-06-01T10:00:00+02:00", "2022-06-01 10:00",
                        "2022-06", "not a date", None])
    years = parse_dates(values).dt.year.tolist()
    assert years[:5] == [2023, 2022, 2022, 2022, 2022]
    assert pd.isna(years[5]) and pd.isna(years[6])


def test_collections_keep_their_polygons_at_any_depth(tmp_path):
    inner = shapely.GeometryCollection([shapely.box(16.0, 48.1, 16.001, 48.101), shapely.Point(16, 48)])
    nested = shapely.GeometryCollection([inner, shapely.MultiPolygon([shapely.box(16.01, 48.1, 16.011, 48.101)])])
    frame = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[nested, shapely.LineString([(16, 48), (16.1, 48)])], crs=4326)
    fields, report = read_fields(_write(tmp_path, frame, "f.parquet"))
    assert list(fields["field_id"]) == ["a"]
    assert fields.geometry.iloc[0].geom_type == "MultiPolygon" and len(fields.geometry.iloc[0].geoms) == 2
    assert (report.collections_kept, report.dropped_not_polygon) == (1, 1)


def test_parcel_count_from_the_metadata_of_each_format(tmp_path):
    from ftw_assets.demo.world import write_demo_fields

    gpkg = write_demo_fields(tmp_path / "fields.gpkg")
    fields = gpd.read_file(gpkg)
    fields.iloc[:50].to_parquet(tmp_path / "fields.parquet")
    fields.iloc[:7].to_file(tmp_path / "fields.geojson")
    assert len(fields) == 213 and parcel_count(gpkg) == 213
    assert parcel_count(tmp_path / "fields.parquet") == 50 and parcel_count(tmp_path / "fields.geojson") == 7
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    assert parcel_count(tmp_path / "broken.parquet") is None and parcel_count(tmp_path / "missing.gpkg") is None
