"""masks through ``dg.materialize`` for one chip-year partition: the three masks on the chip's grid,
their values checked against the demo parcels they are rasterised from."""

import numpy as np
import pandas as pd
import rasterio
import shapely

from ftw_assets.defs.masks.assets import masks
from ftw_assets.demo.world import make_demo_fields
from ftw_assets_tests.helpers import DEMO_CHIPS, materialize, materializations

CHIP = "ftw-33UWP7830"
CELL = shapely.box(578000, 5330000, 580000, 5332000)  # the chip's 2 km cell in the demo's UTM zone


def read(layout, mask_type):
    with rasterio.open(layout.chip_file(CHIP, 2024, f"{mask_type}.tif")) as src:
        assert (src.crs.to_epsg(), src.width, src.height) == (32633, 200, 200)
        assert tuple(src.bounds) == CELL.bounds and src.tags()["FTW_MASK_TYPE"] == mask_type
        return src.read(1)


def test_masks_of_one_chip_year_match_its_fields(demo_chips):
    layout, instance = demo_chips
    assert materialize(layout, [masks], instance, chip=CHIP).success
    assert set(map(str, instance.get_materialized_partitions(masks.key))) == {f"{CHIP}|2024"}
    assert not [c for c in DEMO_CHIPS if c != CHIP and layout.chip_dir(c, 2024).exists()]  # only this chip-year

    demo = make_demo_fields()
    on_chip = demo[demo.geometry.intersection(CELL).area > 0]
    instance_ids = pd.read_csv(layout.instance_ids_csv)  # the dataset's instance value of every field
    field_of = dict(zip(instance_ids["instance"], instance_ids["field_id"]))
    value_of = {f: v for v, f in field_of.items()}

    labels = read(layout, "instance")
    present = set(np.unique(labels).tolist()) - {0}
    # Every parcel reaching into the cell has pixels of its own value, and nothing else does.
    assert {field_of[v] for v in present} == set(on_chip["id"]) and len(present) == 40
    chip_ids = pd.read_csv(layout.chip_file(CHIP, 2024, "instance_ids.csv"))
    assert sorted(chip_ids["instance"]) == sorted(present)
    assert all(field_of[v] == f for v, f in zip(chip_ids["instance"], chip_ids["field_id"]))

    # Axis-aligned parcels wholly inside the cell that no tilted neighbour overlaps sit on the 10 m pixel
    # grid (the demo lays them out on multiples of 10 m): their pixel count is their area exactly.
    tree = shapely.STRtree(demo.geometry.values)
    exact = [(fid, geom) for i, (fid, geom) in enumerate(zip(demo["id"], demo.geometry))
             if CELL.contains(geom) and geom.equals(shapely.box(*geom.bounds))
             and set(tree.query(geom, predicate="intersects").tolist()) == {i}]
    assert len(exact) == 13
    for fid, geom in exact:
        assert int((labels == value_of[fid]).sum()) == round(geom.area / 100), fid
    # All parcels together: within 0.1 % of their area (tilted edges fall on pixels either way).
    field_px = int((labels > 0).sum())
    area_px = shapely.union_all(on_chip.geometry.intersection(CELL).values).area / 100
    assert abs(field_px - area_px) < 0.001 * area_px

    two, three = read(layout, "semantic_2_class"), read(layout, "semantic_3_class")
    assert np.array_equal(two, (labels > 0).astype("uint8"))
    assert set(np.unique(three).tolist()) == {0, 1, 2} and np.array_equal(three > 0, labels > 0)
    # A boundary pixel (2) has a 4-neighbour of another value; an interior pixel (1) has none.
    padded = np.pad(labels, 1, mode="edge")
    neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    differs = np.any([n != labels for n in neighbours], axis=0)
    assert np.array_equal(three == 2, differs & (labels > 0))

    meta = materializations(instance, masks)[f"{CHIP}|2024"]
    assert (meta["instances"], meta["field_pixels"], meta["background_pixels"], meta["boundary_pixels"]) == (
        40, field_px, 200 * 200 - field_px, int((three == 2).sum()))
