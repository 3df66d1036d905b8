"""Synthetic Sentinel-2 L2A pixels for the local archive: fields, seasons, clouds, shadows, swath edges.

Plain numpy on a 10 m grid. A scene is described by :class:`SceneSky` (which clouds, which swath
edge) and a season; :func:`render_scene` returns surface reflectance (x 10000) for every band, the
scene classification (SCL) and the cloud probability, all consistent with each other: a pixel under a
cloud is bright in every band, classed 8/9/10 and has a high probability; a shadow pixel is dark and
classed 3; pixels past the swath edge are 0 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Surface reflectance x 10000 for blue, green, red, nir, rededge1-3, nir08, swir16, swir22.
SPECTRA = {
    "bare": (900, 1200, 1500, 2200, 1700, 2000, 2150, 2300, 3000, 2500),
    "green": (300, 600, 350, 3800, 900, 2700, 3400, 3700, 2000, 1000),
    "senescent": (700, 1000, 1200, 2600, 1500, 2200, 2450, 2600, 2900, 2200),
    "forest": (250, 450, 250, 2800, 600, 2000, 2500, 2700, 1300, 600),
    "track": (1100, 1300, 1500, 2000, 1600, 1800, 1900, 2000, 2700, 2400),
}
CLOUD_SPECTRUM = (5200, 5100, 5000, 5400, 5100, 5300, 5400, 5500, 3600, 2600)
LAND_BANDS = ("blue", "green", "red", "nir", "rededge1", "rededge2", "rededge3", "nir08", "swir16", "swir22")
# Land cover of a parcel -> appearance at planting time and at harvest time.
COVERS = {
    "winter_cereal": ("green", "bare"),
    "summer_crop": ("bare", "senescent"),
    "grassland": ("green", "green"),
    "forest": ("forest", "forest"),
}
COVER_WEIGHTS = (0.35, 0.35, 0.2, 0.1)
SCL_SHADOW, SCL_VEGETATION, SCL_BARE, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 3, 4, 5, 8, 9, 10


@dataclass(frozen=True)
class Grid10m:
    """The 10 m pixel grid of the rendered area (upper-left corner, size in pixels)."""

    x_min: float
    y_max: float
    width: int
    height: int

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x_min + 5.0 + 10.0 * np.arange(self.width)
        ys = self.y_max - 5.0 - 10.0 * np.arange(self.height)
        return xs, ys


@dataclass(frozen=True)
class Cloud:
    x: float
    y: float
    sigma_m: float
    density: float = 1.0


@dataclass(frozen=True)
class SceneSky:
    clouds: tuple[Cloud, ...] = ()
    shadow_shift_m: tuple[float, float] = (-500.0, 300.0)  # morning sun from the south-east
    swath_edge: tuple[float, float, float] | None = None  # a, b, c: nodata where a*x + b*y < c
    season_progress: float = 0.0  # -1 .. 1 around the target date: vegetation grows through the window


@dataclass
class Parcels:
    """Field parcels on farm tracks: each pixel's land cover and a per-parcel brightness factor."""

    cover: np.ndarray  # int8 index into COVERS, -1 for tracks
    factor: np.ndarray  # float32
    names: tuple[str, ...] = field(default_factory=lambda: tuple(COVERS))


def make_parcels(grid: Grid10m, seed: int) -> Parcels:
    """Rows 150-400 m high split into parcels 120-450 m wide, with 20 m tracks between them."""
    rng = np.random.default_rng(seed)
    cover = np.full((grid.height, grid.width), -1, dtype=np.int8)
    factor = np.ones((grid.height, grid.width), dtype=np.float32)
    row = 0
    while row < grid.height:
        h = int(rng.integers(15, 41))
        col = 0
        while col < grid.width:
            w = int(rng.integers(12, 46))
            cover[row:row + h - 2, col:col + w - 2] = rng.choice(len(COVERS), p=COVER_WEIGHTS)
            factor[row:row + h - 2, col:col + w - 2] = rng.uniform(0.88, 1.12)
            col += w
        row += h
    return Parcels(cover, factor)


def cloud_density(grid: Grid10m, clouds: tuple[Cloud, ...], shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    xs, ys = grid.centres()
    out = np.zeros((grid.height, grid.width), dtype=np.float32)
    for c in clouds:
        dx = (xs - c.x - shift[0]) / c.sigma_m
        dy = (ys - c.y - shift[1]) / c.sigma_m
        near_x, near_y = np.abs(dx) < 4, np.abs(dy) < 4  # a blob beyond 4 sigma adds nothing visible
        if not near_x.any() or not near_y.any():
            continue
        cols, rows = np.flatnonzero(near_x), np.flatnonzero(near_y)
        blob = c.density * np.exp(-0.5 * (dy[rows, None] ** 2 + dx[None, cols] ** 2))
        out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] += blob.astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def render_scene(grid: Grid10m, parcels: Parcels, sky: SceneSky, season: str, seed: int) -> dict[str, np.ndarray]:
    """Reflectance (float32, x 10000) per land band, ``scl`` and ``cloud`` (uint8), ``valid`` (bool)."""
    rng = np.random.default_rng(seed)
    stage = 0 if season == "planting" else 1
    looks = [SPECTRA[COVERS[name][stage]] for name in parcels.names]
    # Vegetation grows through the window around the target date: green parcels get greener.
    grow = 1.0 + 0.04 * sky.season_progress
    density = cloud_density(grid, sky.clouds)
    shadow = cloud_density(grid, sky.clouds, sky.shadow_shift_m)
    is_cloud = density > 0.2
    is_shadow = (shadow > 0.3) & ~is_cloud
    valid = np.ones((grid.height, grid.width), dtype=bool)
    if sky.swath_edge is not None:
        a, b, c = sky.swath_edge
        xs, ys = grid.centres()
        valid = (a * xs[None, :] + b * ys[:, None]) >= c
    out: dict[str, np.ndarray] = {}
    for i, band in enumerate(LAND_BANDS):
        table = np.array([look[i] for look in looks] + [SPECTRA["track"][i]], dtype=np.float32)
        surface = table[parcels.cover.astype(np.int16)]  # -1 picks the last entry: track
        if band in ("nir", "rededge2", "rededge3", "nir08"):
            surface = surface * np.where(parcels.cover >= 0, grow, 1.0).astype(np.float32)
        surface = surface * parcels.factor * rng.normal(1.0, 0.03, surface.shape).astype(np.float32)
        surface = np.where(is_shadow, surface * 0.35, surface)
        surface = surface * (1 - density) + CLOUD_SPECTRUM[i] * density
        out[band] = np.where(valid, np.clip(surface, 1, 20000), 0).astype(np.float32)
    ndvi = (out["nir"] - out["red"]) / np.maximum(out["nir"] + out["red"], 1)
    scl = np.where(ndvi > 0.4, SCL_VEGETATION, SCL_BARE).astype(np.uint8)
    scl[is_shadow] = SCL_SHADOW
    scl[(density > 0.2) & (density <= 0.35)] = SCL_CIRRUS
    scl[(density > 0.35) & (density <= 0.6)] = SCL_CLOUD_MEDIUM
    scl[density > 0.6] = SCL_CLOUD_HIGH
    scl[~valid] = 0
    cloud = np.where(valid, np.rint(density * 100), 0).astype(np.uint8)
    out["scl"], out["cloud"], out["valid"] = scl, cloud, valid
    return out


def block_mean(arr: np.ndarray) -> np.ndarray:
    """10 m -> 20 m by averaging 2 x 2 pixels (how L2A's 20 m bands relate to the 10 m ones)."""
    h, w = arr.shape[0] // 2 * 2, arr.shape[1] // 2 * 2
    return arr[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def subsample(arr: np.ndarray) -> np.ndarray:
    """10 m -> 20 m for class layers: the upper-left pixel of each 2 x 2 group."""
    return arr[::2, ::2]
