"""One table (:data:`SENSORS`) of what each sensor's scenes hold on each provider, and how the
pipeline reads, resamples and checks them.

Every sensor is resampled onto the chip grid of the masks (:data:`OUTPUT_RESOLUTION`, 10 m); each
band records its native pixel size so a reader knows how far it is upsampled. Continuous bands
(reflectance, temperature, backscatter, elevation) are resampled bilinearly; classes, masks and
quality bits with nearest, so no class or bit pattern is invented.

Sentinel-2 is described here too: :mod:`ftw_assets.core.scenes.model` reads its asset keys,
nodata and native resolutions from :data:`S2_BANDS` (the per-scene +1000 DN harmonisation stays
there). Scale and offset here are defaults: a scene's own ``raster:bands`` win when present.
"""

from __future__ import annotations

from ftw_assets.core.errors import InputError
from ftw_assets.core.sensors import quality
from ftw_assets.core.sensors.spec import (  # noqa: F401 (OUTPUT_RESOLUTION, Backscatter: re-exported)
    BILINEAR, DN_AMPLITUDE, GAMMA0_POWER, NEAREST, OUTPUT_RESOLUTION, Backscatter, BandSpec, CollectionSpec,
    QualityChecks, QualityLayer, SensorConfig,
)

PLANETARY_COMPUTER, EARTHSEARCH, EARTHSEARCH_LEGACY = "planetary-computer", "earthsearch", "earthsearch-legacy"


def _band(name, keys, res, dtype, nodata, resampling=BILINEAR, scale=1.0, offset=0.0, unit="", required=False):
    return BandSpec(name, tuple(keys), float(res), dtype, nodata, resampling, scale, offset, unit, required)


# Sentinel-2 L2A. Keys cover EarthSearch c1 (common names), the older EarthSearch collections and
# Planetary Computer (band ids). Reflectance = DN x 0.0001 in the pre-04.00 convention.
_S2_REFLECTANCE = (("blue", ("blue", "B02"), 10), ("green", ("green", "B03"), 10), ("red", ("red", "B04"), 10),
                   ("nir", ("nir", "B08"), 10), ("nir08", ("nir08", "B8A"), 20), ("rededge1", ("rededge1", "B05"), 20),
                   ("rededge2", ("rededge2", "B06"), 20), ("rededge3", ("rededge3", "B07"), 20),
                   ("swir16", ("swir16", "B11"), 20), ("swir22", ("swir22", "B12"), 20))
S2_REQUIRED = ("blue", "green", "red", "nir", "scl")
S2_BANDS = tuple(_band(n, k, r, "uint16", 0, scale=0.0001, unit="reflectance", required=n in S2_REQUIRED)
                 for n, k, r in _S2_REFLECTANCE) + (
    _band("scl", ("scl", "SCL"), 20, "uint8", quality.SCL_NODATA, NEAREST, unit="class", required=True),
    _band("cloud_probability", ("cloud", "CLD", "cloud_probability"), 20, "uint8", 0, NEAREST, unit="percent"),
)
S2_ASSET_KEYS = {b.name: b.asset_keys for b in S2_BANDS}
S2_NATIVE_RESOLUTION = {b.name: b.native_resolution for b in S2_BANDS}
S2_NODATA = 0

# Landsat Collection 2 Level-2 (Landsat 8/9 OLI-TIRS common names on both providers; Landsat 4-7 have
# no coastal band and call their thermal band 'lwir'). lwir11 is 100 m TIRS delivered at 30 m, and
# missing from L2SR (surface reflectance only) scenes.
LANDSAT_SR_SCALE, LANDSAT_SR_OFFSET = 2.75e-05, -0.2
LANDSAT_ST_SCALE, LANDSAT_ST_OFFSET = 0.00341802, 149.0
_LANDSAT_REQUIRED = ("blue", "green", "red", "nir08", "qa_pixel")
LANDSAT_BANDS = tuple(
    _band(n, (n,), 30, "uint16", 0, scale=LANDSAT_SR_SCALE, offset=LANDSAT_SR_OFFSET, unit="reflectance",
          required=n in _LANDSAT_REQUIRED)
    for n in ("coastal", "blue", "green", "red", "nir08", "swir16", "swir22")) + (
    _band("lwir11", ("lwir11", "lwir"), 30, "uint16", 0, scale=LANDSAT_ST_SCALE, offset=LANDSAT_ST_OFFSET,
          unit="kelvin"),
    _band("qa_pixel", ("qa_pixel",), 30, "uint16", quality.QA_PIXEL_NODATA, NEAREST, unit="bit index", required=True),
)

# Sentinel-1 IW: PC's RTC is terrain-corrected gamma0 in linear power (float32, nodata -32768);
# GRD (EarthSearch and PC) is uncalibrated DN amplitude (uint16, nodata 0) on 10 m pixel spacing.
POLARIZATIONS = ("vv", "vh", "hh", "hv")
S1_RTC_BANDS = tuple(_band(p, (p,), 10, "float32", -32768.0, unit="gamma0 linear power") for p in POLARIZATIONS)
S1_GRD_BANDS = tuple(_band(p, (p,), 10, "uint16", 0, unit="DN amplitude") for p in POLARIZATIONS)

# Copernicus DEM GLO-30: 1 arcsecond rows; columns widen towards the poles (up to 10 arcseconds north of
# 85 degrees). No nodata is declared: oceans hold 0 m.
DEM_BANDS = (_band("elevation", ("data",), 30, "float32", None, unit="m", required=True),)
LANDCOVER_BANDS = (_band("landcover", ("map",), 10, "uint8", quality.WORLDCOVER_NODATA, NEAREST, unit="class",
                         required=True),)

_S2_PIXELS = (0, 32767)  # DN x 10000 stays below 2^15 (clouds and snow reach ~20000), as raster/checks.py
_LANDSAT_PIXELS = (LANDSAT_SR_OFFSET, round(LANDSAT_SR_OFFSET + 65535 * LANDSAT_SR_SCALE, 6))  # all of uint16

SENSORS: dict[str, SensorConfig] = {s.name: s for s in (
    SensorConfig(
        "s2", "Sentinel-2 L2A", seasonal=True,
        collections=(CollectionSpec(EARTHSEARCH, "sentinel-2-c1-l2a", S2_BANDS),
                     CollectionSpec(PLANETARY_COMPUTER, "sentinel-2-l2a", S2_BANDS),
                     CollectionSpec(EARTHSEARCH_LEGACY, "sentinel-2-l2a", S2_BANDS),
                     CollectionSpec(EARTHSEARCH_LEGACY, "sentinel-s2-l2a-cogs", S2_BANDS),
                     CollectionSpec(EARTHSEARCH_LEGACY, "sentinel-s2-l2a", S2_BANDS)),
        checks=QualityChecks("DN (reflectance x 10000, pre-04.00)", min_std=1.0, value_range=(0, 10000),
                             pixel_range=_S2_PIXELS),
        quality_layer=QualityLayer("scl", "classes", (quality.SCL_NODATA, 1, *quality.SCL_CLOUD_CLASSES),
                                   quality.SCL_NODATA),
        classes=quality.SCL_CLASSES),
    SensorConfig(
        "s1", "Sentinel-1 IW", seasonal=True,
        collections=(CollectionSpec(PLANETARY_COMPUTER, "sentinel-1-rtc", S1_RTC_BANDS, GAMMA0_POWER),
                     CollectionSpec(EARTHSEARCH, "sentinel-1-grd", S1_GRD_BANDS, DN_AMPLITUDE),
                     CollectionSpec(PLANETARY_COMPUTER, "sentinel-1-grd", S1_GRD_BANDS, DN_AMPLITUDE)),
        checks=QualityChecks("dB", min_std=2.0, min_std_inclusive=True, value_range=(-30.0, 10.0),
                             polarization_pairs=(("VV", "VH"), ("HH", "HV")))),
    SensorConfig(
        "landsat", "Landsat Collection 2 Level-2", seasonal=True,
        collections=(CollectionSpec(PLANETARY_COMPUTER, "landsat-c2-l2", LANDSAT_BANDS),
                     CollectionSpec(EARTHSEARCH, "landsat-c2-l2", LANDSAT_BANDS)),
        # std > one DN; the median inside USGS's valid SR range (DN 7273-43636, reflectance 0-1).
        checks=QualityChecks("reflectance", min_std=LANDSAT_SR_SCALE, value_range=(0.0, 1.0),
                             pixel_range=_LANDSAT_PIXELS),
        quality_layer=QualityLayer("qa_pixel", "bitfield", quality.QA_PIXEL_UNUSABLE, quality.QA_PIXEL_NODATA)),
    SensorConfig(
        "dem", "Copernicus DEM GLO-30", seasonal=False,
        collections=(CollectionSpec(PLANETARY_COMPUTER, "cop-dem-glo-30", DEM_BANDS),
                     CollectionSpec(EARTHSEARCH, "cop-dem-glo-30", DEM_BANDS)),
        checks=QualityChecks("m", pixel_range=(-500.0, 9000.0))),  # flat land is fine: no std check
    SensorConfig(
        "landcover", "ESA WorldCover 10 m", seasonal=False,
        collections=(CollectionSpec(PLANETARY_COMPUTER, "esa-worldcover", LANDCOVER_BANDS),),
        checks=QualityChecks("class", allowed_values=tuple(c.value for c in quality.WORLDCOVER_CLASSES)),
        classes=quality.WORLDCOVER_CLASSES),
)}
SENSOR_NAMES = tuple(SENSORS)
# Other spellings accepted by --sensors.
ALIASES = {"sentinel-2": "s2", "sentinel2": "s2", "sentinel-1": "s1", "sentinel1": "s1", "elevation": "dem",
           "copdem": "dem", "worldcover": "landcover", "esa-worldcover": "landcover"}


def sensor_config(name: str) -> SensorConfig:
    """The config of sensor ``name`` (``s2``, ``s1``, ``landsat``, ``dem``, ``landcover`` or an alias)."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return SENSORS[key]
    except KeyError:
        raise InputError(f"{name!r} is not a sensor this tool knows; use one of {', '.join(SENSOR_NAMES)}") from None


def sensor_for_collection(collection: str) -> str | None:
    """The sensor whose table lists STAC collection ``collection``, or None."""
    return next((s.name for s in SENSORS.values() if s.collection(collection) is not None), None)


def sensors_from_option(value: str | None, default: tuple[str, ...] = ("s2",)) -> tuple[str, ...]:
    """The ``--sensors`` option (comma- or space-separated, e.g. ``s2,s1,landsat,dem,landcover``) as
    sensor names in the given order without repeats; ``default`` when the option is not given."""
    if value is None:
        return default
    words = [w.strip().lower() for w in value.replace(",", " ").split()]
    if not words:
        raise InputError(f"--sensors is empty; use one or more of {', '.join(SENSOR_NAMES)} (e.g. --sensors s2,s1)")
    unknown = [w for w in words if ALIASES.get(w, w) not in SENSORS]
    if unknown:
        raise InputError(f"--sensors {value!r}: unknown sensor{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; use one or more of {', '.join(SENSOR_NAMES)}, "
                         f"comma-separated (e.g. --sensors s2,s1,landsat,dem,landcover)")
    return tuple(dict.fromkeys(ALIASES.get(w, w) for w in words))
