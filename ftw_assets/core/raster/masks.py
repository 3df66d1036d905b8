"""Label masks for one chip, rasterised on the chip's pixel grid.

- ``instance`` (uint32): each field's instance value, 0 elsewhere;
- ``semantic_2_class`` (uint8): 0 background, 1 field;
- ``semantic_3_class`` (uint8): 0 background, 1 field interior, 2 field boundary.

A boundary pixel is a field pixel with a 4-neighbour of another value (background or another
field), so boundaries are one pixel wide on each field's inside edge. With ``presence_only``
the labels only say where fields are, so background becomes 3 (unknown) in the semantic masks.
"""

from __future__ import annotations

import csv
import io
import threading

import geopandas as gpd
import numpy as np
import shapely
import warnings

from rasterio import features
from rasterio.errors import NotGeoreferencedWarning

from ftw_assets.core.errors import InputError
from pathlib import Path

from ftw_assets.core.atomic import write_text
from ftw_assets.core.raster.cog import write_cog
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint

# rasterio's rasterize warns about the bare in-memory array it burns into, though the transform is given:
# a filter once (catch_warnings around each call is not thread-safe, and masks are made on threads).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio.features")

MASK_TYPES = ("instance", "semantic_2_class", "semantic_3_class")
MASK_DTYPES = {"instance": "uint32", "semantic_2_class": "uint8", "semantic_3_class": "uint8"}
UNKNOWN = 3


def parse_mask_types(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in MASK_TYPES]
    if bad or not items:
        raise InputError(f"--mask-types {value!r}: unknown {bad or 'empty list'}; choose from {', '.join(MASK_TYPES)}.")
    return tuple(dict.fromkeys(items))


def instance_raster(fields: gpd.GeoDataFrame, grid: ChipGrid) -> np.ndarray:
    """Burn ``fields.instance`` (geometries already in the grid's CRS); later rows win overlaps."""
    shape = (grid.height, grid.width)
    if fields.empty:
        return np.zeros(shape, dtype="uint32")
    shapes = ((geom, int(v)) for geom, v in zip(fields.geometry.values, fields["instance"].to_numpy()))
    return features.rasterize(shapes, out_shape=shape, transform=grid.transform, fill=0, dtype="uint32")


def boundary_pixels(instance: np.ndarray) -> np.ndarray:
    """Field pixels with a 4-neighbour of a different value; the chip edge is not a boundary."""
    edge = np.zeros(instance.shape, dtype=bool)
    differs_v = instance[1:, :] != instance[:-1, :]
    differs_h = instance[:, 1:] != instance[:, :-1]
    edge[1:, :] |= differs_v
    edge[:-1, :] |= differs_v
    edge[:, 1:] |= differs_h
    edge[:, :-1] |= differs_h
    return edge & (instance > 0)


def build_masks(instance: np.ndarray, mask_types: tuple[str, ...], presence_only: bool = False) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    field = instance > 0
    background = UNKNOWN if presence_only else 0
    if "instance" in mask_types:
        out["instance"] = instance
    if "semantic_2_class" in mask_types:
        out["semantic_2_class"] = np.where(field, 1, background).astype("uint8")
    if "semantic_3_class" in mask_types:
        sem = np.where(field, 1, background).astype("uint8")
        sem[boundary_pixels(instance)] = 2
        out["semantic_3_class"] = sem
    return out


class FieldsNearChips:
    """The fields near a run's chips (EPSG:4326), indexed once, and projected once per UTM zone the
    chips use (a projection per chip built a pyproj transformer each time: most of the masks' CPU)."""

    def __init__(self, fields: gpd.GeoDataFrame):
        self.fields = fields
        self.tree = shapely.STRtree(fields.geometry.values)
        self._projected: dict[int, gpd.GeoDataFrame] = {}
        self._lock = threading.Lock()  # chips of a run are rasterised on several threads

    def on_grid(self, grid: ChipGrid) -> gpd.GeoDataFrame:
        """The fields that touch ``grid``, in the grid's CRS (coordinates as ``to_crs`` of each gives)."""
        idx = np.sort(self.tree.query(grid_footprint(grid), predicate="intersects"))
        with self._lock:
            projected = self._projected.get(grid.epsg)
            if projected is None:
                projected = self._projected[grid.epsg] = self.fields.to_crs(grid.epsg)
        return projected.iloc[idx]


def write_chip_masks(
    fields_on_chip: gpd.GeoDataFrame,
    grid: ChipGrid,
    paths: dict[str, Path],
    ids_csv: Path,
    presence_only: bool = False,
) -> dict:
    """Rasterise and write the chip's masks (COGs) and its instance-id table; return pixel counts."""
    instance = instance_raster(fields_on_chip, grid)
    masks = build_masks(instance, tuple(paths), presence_only)
    for mask_type, array in masks.items():
        write_cog(paths[mask_type], array, grid, nodata=None, descriptions=[mask_type],
                  tags={"FTW_MASK_TYPE": mask_type, "FTW_PRESENCE_ONLY": str(presence_only).lower()})
    present = set(np.unique(instance)) - {0}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["instance", "field_id"])
    for inst, fid in zip(fields_on_chip["instance"], fields_on_chip["field_id"]):
        if int(inst) in present:
            writer.writerow([int(inst), fid])
    write_text(ids_csv, buf.getvalue())
    boundary = int(boundary_pixels(instance).sum())
    field_px = int((instance > 0).sum())
    return {
        "field_pixels": field_px,
        "boundary_pixels": boundary,
        "background_pixels": int(instance.size - field_px),
        "instances": len(present),
    }
