"""What the quality and class layers of the sensors mean: Sentinel-2 SCL classes, Landsat QA_PIXEL
bit flags, ESA WorldCover classes, and radar backscatter in dB.

Kept apart from the band table (:mod:`.config`) because these are definitions from the product
specifications, used both by the table and by whoever masks or checks pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelClass:
    """One value of a class layer (SCL, WorldCover ``map``): its number, name and display colour."""

    value: int
    name: str
    color: str | None = None  # RGB hex, no '#': the product's official colour


@dataclass(frozen=True)
class BitFlag:
    """One field of a bit-packed quality layer: ``length`` bits from bit ``bit`` (0 = least significant)."""

    name: str
    bit: int
    description: str
    length: int = 1

    def values(self, qa) -> np.ndarray:
        """This field's value in every pixel of ``qa`` (0/1 for a one-bit flag, 0-3 for a confidence)."""
        return (np.asarray(qa).astype(np.uint32) >> self.bit) & ((1 << self.length) - 1)


# --- Sentinel-2 L2A scene classification (SCL), ESA's L2A product definition ---
SCL_CLASSES = (
    PixelClass(0, "no_data"), PixelClass(1, "saturated_or_defective"), PixelClass(2, "dark_area_pixels"),
    PixelClass(3, "cloud_shadows"), PixelClass(4, "vegetation"), PixelClass(5, "not_vegetated"),
    PixelClass(6, "water"), PixelClass(7, "unclassified"), PixelClass(8, "cloud_medium_probability"),
    PixelClass(9, "cloud_high_probability"), PixelClass(10, "thin_cirrus"), PixelClass(11, "snow_or_ice"),
)
SCL_NODATA = 0
# The classes counted as cloud: ftw_assets.core.scenes.cloudstats.SCL_CLOUD_CLASSES (a test holds them equal).
SCL_CLOUD_CLASSES = (3, 8, 9, 10)

# --- Landsat Collection 2 Level-2 QA_PIXEL (USGS LSDS-1619 / LSDS-1328; as in the items' classification:bitfields) ---
QA_PIXEL_FLAGS = (
    BitFlag("fill", 0, "fill (no image data)"),
    BitFlag("dilated_cloud", 1, "cloud dilation"),
    BitFlag("cirrus", 2, "high confidence cirrus (OLI only)"),
    BitFlag("cloud", 3, "high confidence cloud"),
    BitFlag("cloud_shadow", 4, "high confidence cloud shadow"),
    BitFlag("snow", 5, "high confidence snow/ice"),
    BitFlag("clear", 6, "neither cloud nor dilated cloud"),
    BitFlag("water", 7, "water"),
    BitFlag("cloud_confidence", 8, "cloud confidence: 0 none, 1 low, 2 medium, 3 high", 2),
    BitFlag("cloud_shadow_confidence", 10, "cloud shadow confidence: 0 none, 1 low, 3 high", 2),
    BitFlag("snow_confidence", 12, "snow/ice confidence: 0 none, 1 low, 3 high", 2),
    BitFlag("cirrus_confidence", 14, "cirrus confidence: 0 none, 1 low, 3 high", 2),
)
QA_PIXEL = {flag.name: flag for flag in QA_PIXEL_FLAGS}
QA_PIXEL_NODATA = 1  # only the fill bit set: what USGS writes outside the scene
# The one-bit flags that make a pixel unusable, the Landsat counterpart of SCL_CLOUD_CLASSES plus fill.
QA_PIXEL_UNUSABLE = ("fill", "dilated_cloud", "cirrus", "cloud", "cloud_shadow")


def qa_pixel_mask(qa, flags: tuple[str, ...] = QA_PIXEL_UNUSABLE) -> np.ndarray:
    """True where any of the one-bit ``flags`` of a QA_PIXEL array is set (by default: unusable pixels)."""
    bits = 0
    for name in flags:
        flag = QA_PIXEL[name]
        if flag.length != 1:
            raise ValueError(f"QA_PIXEL field {name!r} is a {flag.length}-bit confidence, not a flag")
        bits |= 1 << flag.bit
    return (np.asarray(qa).astype(np.uint32) & bits) != 0


# --- ESA WorldCover 10 m (v100 2020 and v200 2021 share the legend; colours from the product user manual) ---
WORLDCOVER_CLASSES = (
    PixelClass(10, "Tree cover", "006400"), PixelClass(20, "Shrubland", "FFBB22"),
    PixelClass(30, "Grassland", "FFFF4C"), PixelClass(40, "Cropland", "F096FF"),
    PixelClass(50, "Built-up", "FA0000"), PixelClass(60, "Bare / sparse vegetation", "B4B4B4"),
    PixelClass(70, "Snow and ice", "F0F0F0"), PixelClass(80, "Permanent water bodies", "0064C8"),
    PixelClass(90, "Herbaceous wetland", "0096A0"), PixelClass(95, "Mangroves", "00CF75"),
    PixelClass(100, "Moss and lichen", "FAE6A0"),
)
WORLDCOVER_NODATA = 0
WORLDCOVER_CROPLAND = 40


def to_db(values, quantity: str = "power") -> np.ndarray:
    """Backscatter in dB from linear values: ``10 log10`` of power (gamma0/sigma0), ``20 log10`` of
    amplitude. Zero and negative values (nodata, no return) become NaN rather than -inf.

    Uncalibrated GRD DN amplitude converts to "DN in dB", not sigma0: calibrate it first (the
    ``schema-calibration-*`` annotation of the scene) before the -30..10 dB checks mean anything."""
    if quantity not in ("power", "amplitude"):
        raise ValueError(f"quantity {quantity!r}: use 'power' or 'amplitude'")
    linear = np.asarray(values, dtype=np.float64)
    out = np.full(linear.shape, np.nan)
    positive = linear > 0
    out[positive] = (10.0 if quantity == "power" else 20.0) * np.log10(linear[positive])
    return out
