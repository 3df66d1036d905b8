import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from ftw_assets.core.raster.cog import is_valid_cog, read_grid
from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.fields import read_fields
from ftw_assets.core.geometry.grid import build_chips, chip_pixel_grid, grid_for_chip
from ftw_assets.core.raster.masks import (
    FieldsNearChips, boundary_pixels, build_masks, instance_raster, parse_mask_types, write_chip_masks,
)

GRID = chip_pixel_grid(32633, 574000, 5316000, 2000)  # 200 x 200 px, x 574000..576000


def _fields(*boxes, ids=None):
    return gpd.GeoDataFrame({"instance": np.arange(1, len(boxes) + 1, dtype="uint32"),
                             "field_id": ids or [f"f{i}" for i in range(len(boxes))]},
                            geometry=[shapely.box(*b) for b in boxes], crs=32633)


def test_square_field_counts():
    # 500 m x 500 m on pixel edges: 50 x 50 = 2500 field pixels, a 1 px ring of 4*50-4 = 196 boundary pixels.
    inst = instance_raster(_fields((574100, 5316100, 574600, 5316600)), GRID)
    masks = build_masks(inst, ("instance", "semantic_2_class", "semantic_3_class"))
    assert (inst == 1).sum() == 2500 and (inst == 0).sum() == 40000 - 2500
    assert (masks["semantic_2_class"] == 1).sum() == 2500
    sem3 = masks["semantic_3_class"]
    assert (sem3 == 2).sum() == 196 and (sem3 == 1).sum() == 2304 and (sem3 == 0).sum() == 37500
    # Pixel rows: the field spans columns 10..59 and rows (5318000-5316600)/10=140 .. 189.
    assert sem3[140, 10] == 2 and sem3[141, 11] == 1 and sem3[139, 10] == 0 and sem3[189, 59] == 2


def test_adjacent_fields_keep_their_ids_and_both_edges():
    f = _fields((574000, 5316000, 574300, 5316300), (574300, 5316000, 574600, 5316300))
    inst = instance_raster(f, GRID)
    assert (inst == 1).sum() == 900 and (inst == 2).sum() == 900
    edge = boundary_pixels(inst)
    # Each 30 x 30 field: ring on the 2 sides inside the chip plus the shared side; the chip's own
    # edge (left and bottom) is not a boundary: field 1 has its right column and top row (59 px),
    # field 2 its left, right and top sides (88 px).
    assert edge[inst == 1].sum() == 59 and edge[inst == 2].sum() == 30 + 30 + 30 - 2
    assert edge[199, 0] == False  # noqa: E712 - chip corner, inside field 1, no neighbour differs


def test_overlapping_fields_later_row_wins_and_presence_only():
    f = _fields((574000, 5316000, 574500, 5316500), (574400, 5316400, 574800, 5316800))
    inst = instance_raster(f, GRID)
    assert inst[155, 45] == 2  # pixel inside both: the later field
    masks = build_masks(inst, ("semantic_2_class", "semantic_3_class"), presence_only=True)
    assert set(np.unique(masks["semantic_2_class"])) == {1, 3}
    assert set(np.unique(masks["semantic_3_class"])) == {1, 2, 3}
    assert (masks["semantic_3_class"] == 3).sum() == (inst == 0).sum()


def test_parse_mask_types():
    assert parse_mask_types("semantic_3_class,instance") == ("semantic_3_class", "instance")
    with pytest.raises(InputError, match="unknown"):
        parse_mask_types("semantic_4_class")


def test_write_chip_masks_cogs_and_ids(tmp_path):
    f = _fields((574100, 5316100, 574600, 5316600), (575000, 5317000, 575200, 5317200), ids=["25-0", "25-0"])
    paths = {m: tmp_path / f"{m}.tif" for m in ("instance", "semantic_3_class")}
    counts = write_chip_masks(f, GRID, paths, tmp_path / "ids.csv")
    assert counts == {"field_pixels": 2900, "boundary_pixels": 196 + 76, "background_pixels": 37100, "instances": 2}
    for p in paths.values():
        assert is_valid_cog(p) and read_grid(p) == GRID
    with rasterio.open(paths["instance"]) as src:
        assert src.dtypes[0] == "uint32" and src.descriptions == ("instance",)
        assert sorted(np.unique(src.read(1))) == [0, 1, 2]
    assert (tmp_path / "ids.csv").read_text() == "instance,field_id\n1,25-0\n2,25-0\n"
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("sample", ["flanders", "denmark"])
def test_real_samples_field_pixels_match_field_area(sample, request, tmp_path):
    """Rasterised field pixels agree with the polygons' area in each chip (10 m pixels = 100 m²)."""
    fields, _ = read_fields(request.getfixturevalue(sample))
    near = FieldsNearChips(fields)
    chips = build_chips(fields, 2, 0.01)
    checked = 0
    for _, row in chips.sort_values("coverage", ascending=False).head(6).iterrows():
        grid = grid_for_chip(row, None)
        on = near.on_grid(grid)
        # Projected once per zone for all fields, then taken: the same coordinates as projecting these alone.
        assert on.geometry.geom_equals_exact(fields.loc[on.index].to_crs(grid.epsg).geometry, tolerance=0).all()
        inst = instance_raster(on, grid)
        area = shapely.area(shapely.intersection(shapely.box(*grid.bounds), shapely.union_all(on.geometry.values)))
        assert (inst > 0).sum() * 100 == pytest.approx(area, rel=0.06, abs=300)
        assert set(np.unique(inst)) - {0} <= set(on["instance"])
        checked += 1
    assert checked == 6


def test_denmark_string_and_duplicate_ids_get_distinct_instances(denmark):
    fields, report = read_fields(denmark)
    assert report.duplicate_ids > 0 and fields["instance"].is_unique
    assert fields["instance"].tolist() == list(range(1, len(fields) + 1))
    assert fields.loc[0, "field_id"] == "25-0"
