import geopandas as gpd
import mgrs
import pytest
import shapely
from pyproj import Transformer

from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.fields import read_fields
from ftw_assets.core.geometry.grid import (
    assign_splits, build_chips, chip_id, chip_pixel_grid, grid_footprint, parse_chip_id, parse_split_percents,
)

M = mgrs.MGRS()


def _fields_at(lonlats, epsg, size=300.0):
    """Square fields of ``size`` metres centred on the given points, built in ``epsg``."""
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    polys = []
    for lon, lat in lonlats:
        x, y = to_utm.transform(lon, lat)
        polys.append(shapely.box(x - size / 2, y - size / 2, x + size / 2, y + size / 2))
    return gpd.GeoDataFrame({"instance": range(1, len(polys) + 1)}, geometry=polys, crs=epsg).to_crs(4326)


@pytest.mark.parametrize("lat,lon", [(48.0, 16.0), (50.9, 4.2), (-27.3, 27.4), (55.2, 11.9), (20.5, -156.3), (-33.9, 151.1)])
def test_chip_id_matches_mgrs_of_a_point_inside(lat, lon):
    """The 2 km cell holding a point is named by the point's 1 km MGRS reference, floored to even km."""
    ref = M.toMGRS(lat, lon, MGRSPrecision=2)  # e.g. 33UWP7416
    square, e_km, n_km = ref[:5], int(ref[5:7]), int(ref[7:9])
    zone, south = int(ref[:2]), ref[2] < "N"
    epsg = (32700 if south else 32600) + zone
    chips = build_chips(_fields_at([(lon, lat)], epsg, size=20.0), cell_km=2, min_coverage=0)
    assert len(chips) == 1
    row = chips.iloc[0]
    assert row["chip_id"] == f"ftw-{square}{e_km // 2 * 2:02d}{n_km // 2 * 2:02d}"
    assert row["epsg"] == epsg
    # The cell's south-west corner converts back to the same zone, square and offsets at 1 m
    # precision (its latitude band may differ when the cell straddles a band edge: ids take
    # the band of the cell centre, as checked on the Denmark sample).
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    clon, clat = to_ll.transform(row["cell_x"] + 0.5, row["cell_y"] + 0.5)
    corner = M.toMGRS(clat, clon, MGRSPrecision=5)
    assert corner[:2] + corner[3:] == f"{square[:2]}{square[3:]}{e_km // 2 * 2:02d}000{n_km // 2 * 2:02d}000"


def test_known_example_id_and_bounds():
    assert chip_id("34UFF", 616000.0, 5728000.0) == "ftw-34UFF1628"
    parsed = parse_chip_id("ftw-34UFF1628")
    assert (parsed.zone, parsed.band, parsed.square, parsed.e_km, parsed.n_km) == (34, "U", "FF", 16, 28)
    assert parsed.mgrs_tile == "34UFF"
    # MGRS puts 34UFF1628 at the corner the grid computes from UTM maths.
    lat, lon = M.toLatLon("34UFF1600028000")
    x, y = Transformer.from_crs(4326, 32634, always_xy=True).transform(lon, lat)
    assert int(x) % 100_000 == 16_000 and int(y) % 100_000 == 28_000  # MGRS gives the 1 m square centre


def test_pixel_grid_is_the_cell_or_padded_around_its_centre():
    g = chip_pixel_grid(32633, 574000, 5316000, 2000)
    assert (g.width, g.height, g.transform.c, g.transform.f, g.res) == (200, 200, 574000, 5318000, 10)
    p = chip_pixel_grid(32633, 574000, 5316000, 2000, chip_size_px=256)
    assert (p.width, p.height) == (256, 256)
    assert p.bounds == (574000 - 280, 5316000 - 280, 576000 + 280, 5318000 + 280)
    odd = chip_pixel_grid(32633, 574000, 5316000, 2000, chip_size_px=255)
    assert odd.x_min % 10 == 0 and odd.y_max % 10 == 0
    with pytest.raises(InputError, match="smaller than the cell"):
        chip_pixel_grid(32633, 574000, 5316000, 2000, chip_size_px=100)
    fp = grid_footprint(g)
    assert 15.98 < fp.bounds[0] < 16.0 and 47.99 < fp.bounds[1] < 48.0


def test_coverage_percent_and_min_coverage():
    # One 1 km x 1 km field in the middle of a 2 km cell: exactly 25 % of it.
    poly = shapely.box(574500, 5316500, 575500, 5317500)
    fields = gpd.GeoDataFrame({"instance": [1]}, geometry=[poly], crs=32633).to_crs(4326)
    chips = build_chips(fields, 2, 0.01)
    assert list(chips["chip_id"]) == ["ftw-33UWP7416"]
    assert chips.iloc[0]["coverage"] == pytest.approx(25.0, abs=0.01)
    assert build_chips(fields, 2, 30.0).empty
    # With 1 km cells the same field fills four cells completely.
    small = build_chips(fields, 1, 0.01)
    assert sorted(small["chip_id"]) == ["ftw-33TWP7416", "ftw-33TWP7516", "ftw-33UWP7417", "ftw-33UWP7517"]  # 48°N band edge
    assert list(small["coverage"].round(6)) == [25.0, 25.0, 25.0, 25.0]


def test_denmark_sample_spans_two_utm_zones(denmark):
    fields, _ = read_fields(denmark)
    chips = build_chips(fields, 2, 0.01)
    assert chips["chip_id"].is_unique
    assert set(chips["epsg"]) == {32632, 32633}
    for _, row in chips.iterrows():
        # Each chip's centre lies in the zone and 100 km square its id names.
        to_ll = Transformer.from_crs(int(row["epsg"]), 4326, always_xy=True)
        lon, lat = to_ll.transform(row["cell_x"] + 1000, row["cell_y"] + 1000)
        assert M.toMGRS(lat, lon, MGRSPrecision=0) == row["chip_id"][4:9]
    assert chips["field_count"].sum() >= len(fields)


def test_splits_are_deterministic_and_follow_percents():
    import pandas as pd

    chips = pd.DataFrame({"chip_id": [f"ftw-33UWP{i:02d}{j:02d}" for i in range(0, 100, 2) for j in range(0, 40, 2)],
                          "epsg": 32633, "cell_m": 2000})
    chips["cell_x"] = [500000.0 + int(c[9:11]) * 1000 for c in chips["chip_id"]]
    chips["cell_y"] = [5300000.0 + int(c[11:13]) * 1000 for c in chips["chip_id"]]
    a = assign_splits(chips, "random-uniform", (80, 10, 10), seed=1)
    assert a == assign_splits(chips, "random-uniform", (80, 10, 10), seed=1)
    assert a != assign_splits(chips, "random-uniform", (80, 10, 10), seed=2)
    share = pd.Series(a).value_counts(normalize=True)
    assert 0.74 < share["train"] < 0.86 and 0.05 < share["val"] < 0.15
    blocks = assign_splits(chips, "block3x3", (60, 20, 20), seed=1)
    chips["split"] = blocks
    chips["block"] = [(int(x) // 6000, int(y) // 6000) for x, y in zip(chips["cell_x"], chips["cell_y"])]
    assert (chips.groupby("block")["split"].nunique() == 1).all()
    with pytest.raises(InputError, match="summing to 100"):
        parse_split_percents("80,10")


def test_predefined_split_takes_the_majority_of_fields():
    polys = [shapely.box(574100, 5316100, 574300, 5316300), shapely.box(574400, 5316100, 574600, 5316300),
             shapely.box(574700, 5316100, 575900, 5317900)]
    fields = gpd.GeoDataFrame({"instance": [1, 2, 3], "split": ["val", "val", "test"]}, geometry=polys, crs=32633)
    chips = build_chips(fields.to_crs(4326), 2, 0.01)
    assert assign_splits(chips, "predefined") == ["val"]
    with pytest.raises(InputError, match="takes each chip's split from a 'split' column"):
        assign_splits(build_chips(fields.drop(columns="split").to_crs(4326), 2, 0.01), "predefined")


def test_block_order_groups_chips_by_sentinel2_block():
    import pandas as pd

    from ftw_assets.core.geometry.grid import block_order

    chips = pd.DataFrame({
        "chip_id": ["ftw-33UWP7828", "ftw-33UWP7830", "ftw-33UWP8028", "ftw-33UWP8030", "ftw-33UWP8228",
                    "ftw-33UWP8230", "ftw-33UWP8428", "ftw-33UWP8430"],
        "mgrs_tile": "33UWP", "epsg": 32633, "cell_m": 2000,
        "cell_x": [578000, 578000, 580000, 580000, 582000, 582000, 584000, 584000],
        "cell_y": [5328000, 5330000] * 4,
    })
    # Block columns of 10.24 km from 500 km E: 8030's centre (581 km) is in column 7, 8230's (583 km) in 8.
    assert block_order(chips) == ["ftw-33UWP7830", "ftw-33UWP8030", "ftw-33UWP7828", "ftw-33UWP8028",
                                  "ftw-33UWP8230", "ftw-33UWP8430", "ftw-33UWP8228", "ftw-33UWP8428"]


def test_fields_bbox_widens_the_run_chips_by_the_padding_in_degrees():
    import math

    from ftw_assets.core.geometry.grid import fields_bbox

    chips = gpd.GeoDataFrame({"chip_id": ["a", "b", "c"], "cell_m": [2000, 2000, 2000]},
                             geometry=[shapely.box(16.0, 60.0, 16.04, 60.02), shapely.box(16.04, 60.0, 16.08, 60.02),
                                       shapely.box(20.0, 59.0, 20.04, 59.02)], crs=4326).set_index("chip_id", drop=False)
    cos = math.cos(math.radians(60.02))  # the highest latitude of the box: the widest degree padding
    # No --chip-size-px: only the 200 m margin.
    x0, y0, x1, y1 = fields_bbox(chips, ["b", "a", "not-a-chip"], None)
    pad = 200 / 111_000 / cos
    assert (x0, y0, x1, y1) == pytest.approx((16.0 - pad, 60.0 - pad, 16.08 + pad, 60.02 + pad), abs=1e-12)
    assert pad == pytest.approx(0.0036, abs=1e-4)
    # 256 px = 2560 m on a 2000 m cell: 280 m on each side beyond the cell, plus the margin.
    pad = (280 + 200) / 111_000 / cos
    assert fields_bbox(chips, ["a"], 256) == pytest.approx((16.0 - pad, 60.0 - pad, 16.04 + pad, 60.02 + pad), abs=1e-12)
    # A smaller chip than the cell pads nothing extra; a run with none of the chips reads around all of them.
    assert fields_bbox(chips, ["a"], 100) == fields_bbox(chips, ["a"], None)
    x0, y0, x1, y1 = fields_bbox(chips, [], None)
    assert (x0 < 16.0 and x1 > 20.04 and y0 < 59.0 and y1 > 60.02)


def test_a_field_hidden_under_a_later_one_is_not_counted():
    # Both in cell ftw-33UWP7828 (578-580 km E, 5328-5330 km N); the later, larger field covers the first
    # in the masks (later fields win), so the cell holds one field's pixels: its count is 1.
    hidden, cover = shapely.box(578100, 5328100, 578300, 5328300), shapely.box(578050, 5328050, 578500, 5328500)
    sliver = shapely.box(579000, 5329000, 579004, 5329900)  # 4 m wide, between pixel centres: no pixel
    fields = gpd.GeoDataFrame({"instance": [1, 2, 3]}, geometry=[hidden, cover, sliver], crs=32633).to_crs(4326)
    chips = build_chips(fields, 2, 0.0)
    assert chips["field_count"].tolist() == [1]
    assert abs(chips["coverage"].iloc[0] - 450 * 450 / 4e6 * 100) < 1e-3
