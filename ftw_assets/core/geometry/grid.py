"""The FTW chip grid: square cells of the MGRS grid, named ``ftw-{GZD}{square}{EE}{NN}``.

A cell of ``cell_km`` kilometres has its south-west corner at UTM coordinates that are
multiples of ``cell_km * 1000`` in its zone; ``EE``/``NN`` are that corner's kilometre
offsets inside the 100 km MGRS square (``ftw-34UFF1628``: zone 34U, square FF, 16 km east,
28 km north). Everything is computed locally from UTM maths (pyproj) and the ``mgrs``
package; no grid is downloaded.

:class:`ChipGrid` is the chip's pixel grid (10 m pixels in the cell's UTM zone, aligned to
the Sentinel-2 10 m grid). Masks and clipped images are both written on it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import threading
from dataclasses import dataclass

import geopandas as gpd
import mgrs
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio import features

from ftw_assets.core.errors import InputError

CELL_SIZES_KM = (1, 2, 4, 5, 10)
PIXEL_M = 10
SPLIT_TYPES = ("random-uniform", "block3x3", "predefined")
SPLIT_NAMES = ("train", "val", "test")
CHIP_ID_RE = re.compile(r"^ftw-(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})(\d{2})(\d{2})$")

_MGRS = mgrs.MGRS()


@dataclass(frozen=True)
class ChipGrid:
    """A north-up pixel grid in a UTM zone; the one grid a chip's masks and images share."""

    epsg: int
    x_min: float
    y_max: float
    width: int
    height: int
    res: float = PIXEL_M

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.x_min, 0.0, -self.res, self.y_max)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x_min, self.y_max - self.height * self.res, self.x_min + self.width * self.res, self.y_max)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"


def grid_footprint(grid: ChipGrid) -> shapely.Polygon:
    """The grid's outline in EPSG:4326 (corners only: a few km of UTM edge stays straight to < 1 mm)."""
    x0, y0, x1, y1 = grid.bounds
    xs, ys = _to_wgs84(grid.epsg).transform([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
    return shapely.Polygon(list(zip(np.round(xs, 8), np.round(ys, 8))))


_transformers = threading.local()  # pyproj transformers are not shared between threads


def _to_wgs84(epsg: int) -> Transformer:
    """A transformer from ``epsg`` to lon/lat, made once per thread (making one costs about a millisecond)."""
    cache = _transformers.__dict__.setdefault("to_wgs84", {})
    if epsg not in cache:
        cache[epsg] = Transformer.from_crs(epsg, 4326, always_xy=True)
    return cache[epsg]


def utm_epsg(zone: int, south: bool) -> int:
    return (32700 if south else 32600) + zone


def chip_pixel_grid(epsg: int, cell_x: float, cell_y: float, cell_m: float, chip_size_px: int | None = None) -> ChipGrid:
    """The chip's pixel grid: the cell itself, or ``chip_size_px`` square around the cell centre.

    Origins stay on multiples of 10 m so pixels coincide with Sentinel-2 10 m pixels.
    """
    n = int(round(cell_m / PIXEL_M))
    if not chip_size_px or chip_size_px == n:
        return ChipGrid(epsg, float(cell_x), float(cell_y + cell_m), n, n)
    if chip_size_px < n:
        raise InputError(
            f"--chip-size-px {chip_size_px} is smaller than the cell ({n} px for {cell_m / 1000:g} km cells). "
            f"Use at least {n}, or a smaller --cell-km."
        )
    half = chip_size_px * PIXEL_M / 2
    x_min = math.floor((cell_x + cell_m / 2 - half) / PIXEL_M) * PIXEL_M
    y_min = math.floor((cell_y + cell_m / 2 - half) / PIXEL_M) * PIXEL_M
    return ChipGrid(epsg, float(x_min), float(y_min + chip_size_px * PIXEL_M), chip_size_px, chip_size_px)


def chip_id(square: str, cell_x: float, cell_y: float) -> str:
    """``ftw-`` + MGRS grid zone and 100 km square + the cell corner's km offsets in the square."""
    e_km = int(round(cell_x)) % 100_000 // 1000
    n_km = int(round(cell_y)) % 100_000 // 1000
    return f"ftw-{square}{e_km:02d}{n_km:02d}"


@dataclass(frozen=True)
class ParsedChipId:
    zone: int
    band: str
    square: str
    e_km: int
    n_km: int

    @property
    def mgrs_tile(self) -> str:
        """The Sentinel-2 tile name (``34UFF``) the cell lies in."""
        return f"{self.zone:02d}{self.band}{self.square}"


def parse_chip_id(value: str) -> ParsedChipId:
    m = CHIP_ID_RE.match(value)
    if not m:
        raise InputError(f"{value!r} is not an FTW chip id (expected e.g. ftw-34UFF1628).")
    return ParsedChipId(int(m[1]), m[2], m[3], int(m[4]), int(m[5]))


# A 2048 px chip is 20 km: its instance mask alone is 16 MB, its images 4 bands x 2 seasons x 8 MB.
MAX_CHIP_SIZE_PX = 2048


def check_chip_size(chip_size_px: int, cell_km: int) -> int:
    """``--chip-size-px`` must hold the whole cell and stay within :data:`MAX_CHIP_SIZE_PX`."""
    cell_px = cell_km * 1000 // PIXEL_M
    if not cell_px <= chip_size_px <= MAX_CHIP_SIZE_PX:
        raise InputError(
            f"--chip-size-px {chip_size_px}: a chip holds its whole {cell_km} km cell ({cell_px} px) plus padding, "
            f"so give a size from {cell_px} to {MAX_CHIP_SIZE_PX} px (the most this tool writes per chip), or leave "
            "the option out for chips of exactly the cell."
        )
    return chip_size_px


def check_cell_km(cell_km: int) -> int:
    if cell_km not in CELL_SIZES_KM:
        raise InputError(f"--cell-km {cell_km} is not supported; use one of {', '.join(map(str, CELL_SIZES_KM))}.")
    return cell_km


def build_chips(fields: gpd.GeoDataFrame, cell_km: int = 2, min_coverage: float = 0.01) -> gpd.GeoDataFrame:
    """The grid cells covered by ``fields`` (EPSG:4326) to at least ``min_coverage`` percent.

    Coverage is the area of the union of fields inside the cell, in metres in the cell's own
    UTM zone. Fields near a zone edge are measured in every zone they reach; each cell belongs
    to the zone of its centre, so no cell appears twice. Returns one row per chip: ``chip_id``,
    ``mgrs_tile``, ``epsg``, ``cell_x``/``cell_y`` (south-west corner), ``cell_m``, ``coverage``
    (percent), ``field_count`` (fields owning at least one of the cell's pixels in the masks), ``majority_split`` (when fields carry ``split``) and the cell
    polygon in EPSG:4326.
    """
    check_cell_km(cell_km)
    size = cell_km * 1000
    bounds = fields.geometry.bounds.to_numpy()
    if (bounds[:, 1] < -80).any() or (bounds[:, 3] > 84).any():
        raise InputError("some fields lie beyond 84°N or 80°S, outside the UTM/MGRS grid; remove them.")
    groups = _zone_groups(bounds)
    rows: list[pd.DataFrame] = []
    for (zone, south), idx in sorted(groups.items()):
        rows.append(_cells_in_zone(fields.iloc[idx], zone, south, size))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if table.empty:
        return gpd.GeoDataFrame(columns=["chip_id", "geometry"], geometry="geometry", crs=4326)
    table = table[(table["coverage"] > 0) & (table["coverage"] >= min_coverage)]
    table = table.sort_values("chip_id", kind="stable").drop_duplicates("chip_id").reset_index(drop=True)
    return gpd.GeoDataFrame(table, geometry="geometry", crs=4326)


def _zone_groups(bounds: np.ndarray) -> dict[tuple[int, bool], list[int]]:
    """Which (UTM zone, southern hemisphere) each field must be measured in."""
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, (x0, y0, x1, y1) in enumerate(bounds):
        south = (y0 + y1) / 2 < 0
        zones = set(range(_std_zone(x0), _std_zone(x1) + 1))
        # Norway/Svalbard zone exceptions: ask MGRS for the centre as well.
        zones.add(int(_MGRS.toMGRS((y0 + y1) / 2, (x0 + x1) / 2, MGRSPrecision=0)[:2]))
        for z in zones:
            for neighbour in (z - 1, z, z + 1) if 56 <= (y0 + y1) / 2 <= 84 else (z,):
                groups.setdefault((((neighbour - 1) % 60) + 1, south), []).append(i)
    return {k: sorted(set(v)) for k, v in groups.items()}


def _std_zone(lon: float) -> int:
    return min(int((lon + 180) // 6) + 1, 60)


def _cells_in_zone(fields: gpd.GeoDataFrame, zone: int, south: bool, size: int) -> pd.DataFrame:
    epsg = utm_epsg(zone, south)
    geoms = fields.geometry.to_crs(epsg).values
    b = shapely.bounds(geoms)
    ix0, iy0 = np.floor(b[:, 0] / size).astype(int), np.floor(b[:, 1] / size).astype(int)
    ix1, iy1 = np.floor(b[:, 2] / size).astype(int), np.floor(b[:, 3] / size).astype(int)
    cand = {(x, y) for a, c, bb, d in zip(ix0, ix1, iy0, iy1) for x in range(a, c + 1) for y in range(bb, d + 1)}
    if not cand:
        return pd.DataFrame()
    ij = np.array(sorted(cand))
    cells = shapely.box(ij[:, 0] * size, ij[:, 1] * size, (ij[:, 0] + 1) * size, (ij[:, 1] + 1) * size)
    cell_idx, field_idx = shapely.STRtree(geoms).query(cells, predicate="intersects")
    pieces = shapely.intersection(cells[cell_idx], geoms[field_idx])
    pair_area = shapely.area(pieces)

    covered = np.zeros(len(cells))
    count = np.zeros(len(cells), dtype=int)
    majority: list[str | None] = [None] * len(cells)
    splits = fields["split"].to_numpy() if "split" in fields.columns else None
    order = np.argsort(cell_idx, kind="stable")
    for c, members in _groupby(cell_idx[order], order):
        members = members[pair_area[members] > 0]
        members = members[np.argsort(field_idx[members], kind="stable")]  # file order, as the masks burn them
        union_area = shapely.area(shapely.union_all(pieces[members]))
        overlap = pair_area[members].sum() > union_area + 1e-6
        holding = _hold_pixels(geoms[field_idx[members]], pieces[members], ij[c], size, overlap)
        if not holding.all():
            members = members[holding]
            union_area = shapely.area(shapely.union_all(pieces[members])) if len(members) else 0.0
        if not len(members):
            continue
        count[c] = len(members)
        covered[c] = union_area
        if splits is not None:
            majority[c] = _majority(splits[field_idx[members]], pair_area[members])

    centres = gpd.GeoSeries(shapely.centroid(cells), crs=epsg).to_crs(4326)
    tiles = [_MGRS.toMGRS(p.y, p.x, MGRSPrecision=0) for p in centres]
    keep = np.array(
        [int(t[:2]) == zone and (t[2] < "N") == south and count[k] > 0 for k, t in enumerate(tiles)], dtype=bool
    )
    xs, ys = ij[:, 0] * size, ij[:, 1] * size
    table = pd.DataFrame(
        {
            "chip_id": [chip_id(t, x, y) for t, x, y in zip(tiles, xs, ys)],
            "mgrs_tile": tiles,
            "epsg": epsg,
            "cell_x": xs.astype(float),
            "cell_y": ys.astype(float),
            "cell_m": size,
            "coverage": covered / (size * size) * 100.0,
            "field_count": count,
            "majority_split": majority,
            "geometry": gpd.GeoSeries(cells, crs=epsg).to_crs(4326).values,
        }
    )
    return table[keep]


def _hold_pixels(geoms: np.ndarray, pieces: np.ndarray, cell: np.ndarray, size: int, overlap: bool) -> np.ndarray:
    """Which of ``geoms`` (in burn order; ``pieces``: their parts inside the cell) own at least one of the
    cell's 10 m pixels, by the masks' rule (pixel centre inside, later fields win overlaps): a field
    that only touches the cell's edge, or a sliver left by coordinate round trips, is not one of its
    fields. Fast path: where no fields overlap, a piece strictly containing the centre of the pixel
    under a point on its surface owns that pixel; the cell is rasterised only when that is not so."""
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    if not overlap:
        xy = shapely.get_coordinates(shapely.point_on_surface(pieces))
        centres = np.floor(xy / PIXEL_M) * PIXEL_M + PIXEL_M / 2
        if shapely.contains_xy(pieces, centres[:, 0], centres[:, 1]).all():
            return np.ones(len(geoms), dtype=bool)
    n = size // PIXEL_M
    transform = Affine(PIXEL_M, 0.0, float(cell[0] * size), 0.0, -PIXEL_M, float((cell[1] + 1) * size))
    burnt = features.rasterize(zip(geoms, range(1, len(geoms) + 1)), out_shape=(n, n), transform=transform,
                               fill=0, dtype="uint32")
    return np.isin(np.arange(1, len(geoms) + 1), burnt)


def _groupby(sorted_keys: np.ndarray, positions: np.ndarray):
    if not len(sorted_keys):
        return
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    for s, e in zip(starts, ends):
        yield int(sorted_keys[s]), positions[s:e]


def _majority(labels: np.ndarray, weights: np.ndarray) -> str | None:
    """Most frequent label among the chip's fields; ties go to the larger covered area."""
    seen: dict[str, list[float]] = {}
    for label, w in zip(labels, weights):
        if label is None or label is pd.NA or (isinstance(label, float) and math.isnan(label)):
            continue
        entry = seen.setdefault(str(label), [0, 0.0])
        entry[0] += 1
        entry[1] += float(w)
    if not seen:
        return None
    return max(sorted(seen), key=lambda k: (seen[k][0], seen[k][1]))


def parse_split_percents(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 100) > 1e-6:
        raise InputError(f"--split-percents {text!r} must be three non-negative numbers for train,val,test summing to 100, e.g. 80,10,10.")
    return values  # type: ignore[return-value]


def assign_splits(chips: pd.DataFrame, split_type: str, percents: tuple[float, float, float] = (80, 10, 10), seed: int = 42) -> list[str]:
    """Train/val/test per chip, deterministic for a seed.

    ``random-uniform`` and ``block3x3`` draw a number from a hash of the seed and the chip (or its
    3x3 block), so a chip keeps its split when the dataset grows. ``predefined`` takes the
    majority of the chip's fields' ``split`` values.
    """
    if split_type not in SPLIT_TYPES:
        raise InputError(f"--split-type {split_type!r} is unknown; use one of {', '.join(SPLIT_TYPES)}.")
    if split_type == "predefined":
        if "majority_split" not in chips or chips["majority_split"].isna().all():
            raise InputError("--split-type predefined takes each chip's split from a 'split' column of the field file "
                             "(train, val or test per field), and the file has none or it is empty. Add that column, "
                             "or use --split-type random-uniform or block3x3.")
        bad = sorted(set(chips["majority_split"].dropna()) - set(SPLIT_NAMES))
        if bad:
            raise InputError(f"--split-type predefined: the field file's split column has values {bad}; each must be "
                             "train, val or test. Fix the column, or use --split-type random-uniform or block3x3.")
        return [s if isinstance(s, str) else "train" for s in chips["majority_split"]]
    if split_type == "random-uniform":
        keys = list(chips["chip_id"])
    else:
        block = (chips["cell_m"] * 3).astype(int)
        keys = [
            f"{e}:{int(x) // b}:{int(y) // b}"
            for e, x, y, b in zip(chips["epsg"], chips["cell_x"], chips["cell_y"], block)
        ]
    edges = np.cumsum(percents) / 100.0
    out = []
    for key in keys:
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        out.append(SPLIT_NAMES[min(int(np.searchsorted(edges, u, side="right")), 2)])
    return out


def write_chip_table(chips: gpd.GeoDataFrame, path) -> None:
    from ftw_assets.core.atomic import atomic_path

    with atomic_path(path, suffix=".parquet") as tmp:
        chips.to_parquet(tmp, index=False)


S2_BLOCK_M = 10240  # a 1024 px block of a Sentinel-2 10 m COG


def block_order(chips: pd.DataFrame) -> list[str]:
    """Chip ids in the order their imagery is best fetched: by MGRS tile, then by the Sentinel-2 COG
    block holding the cell centre (row-major, blocks counted from the tile's north-west corner, which
    lies within 40 m of the 100 km square's), then north to south and west to east inside the block.

    Chips are registered, and so batched into runs, in this order: a run's chips share few blocks
    with other runs, so each block is fetched about once for the whole dataset."""
    centre_x = chips["cell_x"] + chips["cell_m"] / 2
    centre_y = chips["cell_y"] + chips["cell_m"] / 2
    west = np.floor(centre_x / 100_000) * 100_000
    north = np.floor(centre_y / 100_000) * 100_000 + 100_000
    key = pd.DataFrame({
        "tile": chips["mgrs_tile"].values, "epsg": chips["epsg"].values,
        "block_row": ((north - centre_y) // S2_BLOCK_M).values, "block_col": ((centre_x - west) // S2_BLOCK_M).values,
        "y": -centre_y.values, "x": centre_x.values, "chip_id": chips["chip_id"].values,
    })
    return key.sort_values(["tile", "epsg", "block_row", "block_col", "y", "x", "chip_id"])["chip_id"].tolist()


def read_chip_table(path) -> gpd.GeoDataFrame:
    """The chip table written by the chip registry, indexed by chip id. Every asset of every run reads it:
    the table read last is kept while its file is unchanged (same inode, size and mtime), so callers
    share one frame and must not modify it."""
    stat = os.stat(path)
    return _chip_table(os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _chip_table(path: str, inode: int, size: int, mtime_ns: int) -> gpd.GeoDataFrame:
    return gpd.read_parquet(path).set_index("chip_id", drop=False)


def grid_for_chip(row, chip_size_px: int | None) -> ChipGrid:
    return chip_pixel_grid(int(row["epsg"]), float(row["cell_x"]), float(row["cell_y"]), float(row["cell_m"]), chip_size_px)


FIELD_MARGIN_M = 200.0  # beyond the padded chip, so fields crossing its edge are read whole
METRES_PER_DEGREE = 111_000.0


def fields_bbox(chips: gpd.GeoDataFrame, chip_ids, chip_size_px: int | None) -> tuple[float, float, float, float]:
    """The lon/lat box of fields to read for ``chip_ids`` (all chips when none of them is in the table):
    their cells' bounds widened by the ``--chip-size-px`` padding beyond the largest cell plus
    :data:`FIELD_MARGIN_M`, in degrees at the box's highest latitude (so never too little)."""
    wanted = sorted({c for c in chip_ids if c in chips.index})
    x0, y0, x1, y1 = chips.loc[wanted].total_bounds if wanted else chips.total_bounds
    pad_m = max(0.0, ((chip_size_px or 0) * PIXEL_M - float(chips["cell_m"].max())) / 2) + FIELD_MARGIN_M
    pad = pad_m / METRES_PER_DEGREE / max(math.cos(math.radians(max(abs(y0), abs(y1)))), 0.1)
    return (float(x0 - pad), float(y0 - pad), float(x1 + pad), float(y1 + pad))
