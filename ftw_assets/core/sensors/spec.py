"""The types of the per-sensor band table (:data:`~.config.SENSORS`): a band, a provider's
collection, radar backscatter, the quality layer and checks, and a sensor.

Kept apart from the table so the table reads as data; see :mod:`.config` for the values.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftw_assets.core.sensors.quality import PixelClass

OUTPUT_RESOLUTION = 10.0  # metres: the masks' chip grid
NEAREST, BILINEAR = "nearest", "bilinear"


@dataclass(frozen=True)
class BandSpec:
    """One band: asset keys tried in order, native pixel size (m), data type and nodata as delivered,
    scale/offset to physical units, the resampling onto the chip grid, and whether a scene needs it."""

    name: str
    asset_keys: tuple[str, ...]
    native_resolution: float
    dtype: str
    nodata: float | None
    resampling: str = BILINEAR
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    required: bool = False


@dataclass(frozen=True)
class Backscatter:
    """What a radar collection's pixel values are: ``quantity`` (``gamma0`` terrain-corrected, or
    ``dn`` uncalibrated digital numbers), ``scale`` (``power`` or ``amplitude`` linear, or ``db``)."""

    quantity: str
    scale: str
    calibrated: bool

    @property
    def in_db(self) -> bool:
        return self.scale == "db"


GAMMA0_POWER = Backscatter("gamma0", "power", calibrated=True)  # PC sentinel-1-rtc
DN_AMPLITUDE = Backscatter("dn", "amplitude", calibrated=False)  # GRD on PC and EarthSearch


@dataclass(frozen=True)
class CollectionSpec:
    """A sensor as one provider serves it: the STAC collection and its bands."""

    provider: str
    collection: str
    bands: tuple[BandSpec, ...]
    backscatter: Backscatter | None = None

    def band(self, name: str) -> BandSpec:
        for band in self.bands:
            if band.name == name:
                return band
        raise KeyError(f"{self.collection} has no band {name!r} (it has {', '.join(self.band_names)})")

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)


@dataclass(frozen=True)
class QualityLayer:
    """The band that says which pixels are usable: SCL classes or QA_PIXEL bits (see :mod:`.quality`)."""

    band: str
    kind: str  # "classes" or "bitfield"
    unusable: tuple  # class values, or one-bit flag names, that make a pixel unusable
    nodata: int


@dataclass(frozen=True)
class QualityChecks:
    """Thresholds a sensor's chip image must pass, in ``unit`` (after scale/offset, radar in dB).

    ``pixel_range``: every valid pixel lies inside it (outside means mis-scaled or corrupt data);
    ``value_range``: a band's median lies inside it (outside: cloud, snow, water or the wrong units);
    ``min_std``: the std dev of the valid pixels exceeds it (``>=`` when ``min_std_inclusive``),
    so a flat, blank band fails; ``allowed_values``: the only valid values of a class band;
    ``polarization_pairs``: the dual-pol pairs a radar scene should have (single-pol is parsed
    but flagged by the pipeline)."""

    unit: str
    max_nodata_percent: float = 50.0
    min_std: float | None = None
    min_std_inclusive: bool = False
    value_range: tuple[float, float] | None = None
    pixel_range: tuple[float, float] | None = None
    allowed_values: tuple[int, ...] | None = None
    polarization_pairs: tuple[tuple[str, str], ...] = ()

    def std_ok(self, std: float) -> bool:
        if self.min_std is None:
            return True
        return std >= self.min_std if self.min_std_inclusive else std > self.min_std


@dataclass(frozen=True)
class SensorConfig:
    """One sensor: its collections per provider, whether it is read per planting/harvest window
    (``seasonal``) or once per chip (static), its quality layer and checks."""

    name: str
    title: str
    seasonal: bool
    collections: tuple[CollectionSpec, ...]
    checks: QualityChecks
    quality_layer: QualityLayer | None = None
    classes: tuple[PixelClass, ...] = ()
    output_resolution: float = OUTPUT_RESOLUTION

    def collection(self, collection: str, provider: str | None = None) -> CollectionSpec | None:
        """The spec of ``collection``, preferring ``provider``'s when two providers share the id."""
        found = [c for c in self.collections if c.collection == collection]
        return next((c for c in found if c.provider == provider), found[0] if found else None)

    def providers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.provider for c in self.collections))
