"""One Sentinel-2 L2A scene model over several providers, with the reflectance offset decided per scene.

EarthSearch ``sentinel-2-c1-l2a`` names assets by common name (``red``, ``scl``, ``cloud``), the older
EarthSearch collections use either common names or band ids (``B04``, ``SCL``), Planetary Computer
uses band ids. :func:`scene_from_item` maps all of them onto :class:`Scene` with bands keyed by one
set of names (:data:`BAND_NAMES`).

Harmonisation: from processing baseline 04.00 (January 2022) ESA adds 1000 DN to L2A reflectance
(``BOA_ADD_OFFSET``). Our outputs use the pre-04.00 convention (DN = reflectance x 10000); each scene
records how many DN must be subtracted (``boa_offset``) and why (``harmonization``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from ftw_assets.core.errors import InputError
from ftw_assets.core.sensors.config import S2_ASSET_KEYS, S2_NATIVE_RESOLUTION, S2_NODATA

REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "nir08", "rededge1", "rededge2", "rededge3", "swir16", "swir22")
CLASS_BANDS = ("scl", "cloud_probability")
BAND_NAMES = REFLECTANCE_BANDS + CLASS_BANDS
REQUIRED_BANDS = ("blue", "green", "red", "nir", "scl")
BOA_ADD_OFFSET = 1000  # DN ESA adds from processing baseline 04.00
OFFSET_BASELINE = (4, 0)

# Asset keys per band, in order of preference (EarthSearch c1, the older EarthSearch collections and
# Planetary Computer), and native resolutions: from the one per-sensor table, ftw_assets.core.sensors.config.
ASSET_KEYS: dict[str, tuple[str, ...]] = S2_ASSET_KEYS
NATIVE_RES = S2_NATIVE_RESOLUTION

PROVIDERS = ("earthsearch", "earthsearch-legacy", "planetary-computer", "stac-api", "local")
LEGACY_EARTHSEARCH_COLLECTIONS = ("sentinel-s2-l2a-cogs", "sentinel-s2-l2a")

_TILE_IN_ID = re.compile(r"(?:^|_)T?(\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2})(?:_|$)")
_BASELINE_IN_NAME = re.compile(r"_N(\d{2})(\d{2})_")


class SceneError(InputError):
    """A STAC item cannot be used as a Sentinel-2 L2A scene (missing bands, unknown baseline...)."""


@dataclass(frozen=True)
class Band:
    name: str
    asset_key: str
    href: str
    resolution: float
    nodata: float | None
    scale: float
    offset: float


@dataclass(frozen=True)
class Scene:
    id: str
    collection: str
    provider: str
    datetime: datetime
    mgrs_tile: str
    epsg: int
    footprint: shapely.Geometry
    cloud_cover: float
    nodata_percentage: float | None
    processing_baseline: str | None
    boa_offset: int
    harmonization: str
    bands: dict[str, Band] = field(default_factory=dict)
    item: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def href(self, band: str) -> str:
        try:
            return self.bands[band].href
        except KeyError:
            raise SceneError(f"scene {self.id} has no {band!r} band (it has {', '.join(self.bands)})") from None

    def record(self) -> dict[str, Any]:
        """A flat row (for DuckDB tables, reports and Dagster metadata)."""
        return {
            "scene_id": self.id, "collection": self.collection, "provider": self.provider,
            "datetime": self.datetime.isoformat(), "mgrs_tile": self.mgrs_tile, "epsg": self.epsg,
            "cloud_cover": self.cloud_cover, "nodata_percentage": self.nodata_percentage,
            "processing_baseline": self.processing_baseline, "boa_offset": self.boa_offset,
            "harmonization": self.harmonization, "bands": ",".join(self.bands),
            "footprint_wkt": self.footprint.wkt,
        }


def detect_provider(item: dict[str, Any]) -> str:
    """Which provider's conventions an item follows, from its collection and links."""
    collection = item.get("collection") or ""
    hrefs = " ".join(str(link.get("href", "")) for link in item.get("links", []))
    if collection in LEGACY_EARTHSEARCH_COLLECTIONS:
        return "earthsearch-legacy"
    if "planetarycomputer" in hrefs or "windows.net" in _first_href(item):
        return "planetary-computer"
    if "earth-search" in hrefs or "e84-earth-search" in hrefs or "sentinel-cogs" in _first_href(item):
        return "earthsearch-legacy" if collection == "sentinel-2-l2a" else "earthsearch"
    return "stac-api"


def scene_from_item(item: dict[str, Any], provider: str | None = None) -> Scene:
    """Normalise one STAC item (a dict) into a :class:`Scene`; raise :class:`SceneError` if unusable."""
    item_id = item.get("id") or "<no id>"
    props = item.get("properties") or {}
    provider = provider or detect_provider(item)
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")
    if item.get("geometry") is None:
        raise SceneError(f"STAC item {item_id} has no geometry; it cannot be matched to chips")
    if props.get("eo:cloud_cover") is None:
        raise SceneError(f"STAC item {item_id} has no eo:cloud_cover; it cannot be ranked by cloud")
    baseline = processing_baseline(item)
    boa_offset, why = decide_boa_offset(item, provider, baseline)
    bands = {}
    for name in BAND_NAMES:
        band = _band(item, name, boa_offset)
        if band is not None:
            bands[name] = band
    missing = [b for b in REQUIRED_BANDS if b not in bands]
    if missing:
        raise SceneError(
            f"STAC item {item_id} lacks the {', '.join(missing)} band(s) (asset keys tried: "
            f"{'; '.join('/'.join(ASSET_KEYS[b]) for b in missing)}); use a Sentinel-2 L2A collection"
        )
    return Scene(
        id=item_id, collection=item.get("collection") or "", provider=provider,
        datetime=_datetime(item_id, props), mgrs_tile=mgrs_tile(item), epsg=_epsg(item_id, props),
        footprint=shape(item["geometry"]), cloud_cover=float(props["eo:cloud_cover"]),
        nodata_percentage=_nodata_percentage(props), processing_baseline=baseline,
        boa_offset=boa_offset, harmonization=why, bands=bands, item=item,
    )


def processing_baseline(item: dict[str, Any]) -> str | None:
    """``s2:processing_baseline``, else the ``N0214`` part of the product name, as ``"02.14"``."""
    props = item.get("properties") or {}
    value = props.get("s2:processing_baseline")
    if value:
        return str(value)
    for key in ("s2:product_uri", "sentinel:product_id", "s2:granule_id", "s2:tile_id"):
        match = _BASELINE_IN_NAME.search(str(props.get(key, "")) + "_")
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def decide_boa_offset(item: dict[str, Any], provider: str, baseline: str | None) -> tuple[int, str]:
    """DN to subtract for pre-04.00 reflectance, and the reason, for this provider and baseline."""
    declared = {b.get("offset") for b in _raster_bands_of_reflectance(item)}
    if len(declared) == 1 and None not in declared:
        offset = float(declared.pop())
        if abs(offset + 0.1) < 1e-9:
            return BOA_ADD_OFFSET, "raster:bands declares offset -0.1 (DN carry +1000)"
        if offset == 0:
            return 0, "raster:bands declares offset 0 (DN carry no offset)"
    props = item.get("properties") or {}
    if "earthsearch:boa_offset_applied" in props:
        if props["earthsearch:boa_offset_applied"]:
            return 0, "earthsearch:boa_offset_applied is true (provider removed the +1000)"
    parsed = _parse_baseline(baseline)
    if parsed is None:
        raise SceneError(
            f"STAC item {item.get('id')} has no usable processing baseline ({baseline!r}) and declares no "
            "raster:bands offset, so its reflectance scale is unknown; use a collection that records "
            "s2:processing_baseline"
        )
    new = parsed >= OFFSET_BASELINE
    if provider == "earthsearch-legacy" and "earthsearch:boa_offset_applied" not in props:
        return 0, f"baseline {baseline}; the older EarthSearch collection removed the +1000 offset"
    if new:
        return BOA_ADD_OFFSET, f"baseline {baseline} >= 04.00 and {provider} keeps the +1000 offset"
    return 0, f"baseline {baseline} < 04.00 (no offset)"


def harmonize(dn, boa_offset: int, nodata: int = 0):
    """Pre-04.00 DN from raw DN: subtract the offset, keep nodata, never produce nodata from data."""
    dn = np.asarray(dn)
    if boa_offset == 0:
        return dn
    out = np.clip(dn.astype(np.int32) - boa_offset, 1, None).astype(dn.dtype)
    out[dn == nodata] = nodata
    return out


def mgrs_tile(item: dict[str, Any]) -> str:
    props = item.get("properties") or {}
    grid = props.get("grid:code")
    if isinstance(grid, str) and grid.startswith("MGRS-"):
        return grid[5:]
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"]).lstrip("T")
    if "mgrs:utm_zone" in props:
        return f"{int(props['mgrs:utm_zone']):02d}{props['mgrs:latitude_band']}{props['mgrs:grid_square']}"
    if "sentinel:latitude_band" in props and "proj:epsg" in props:
        zone = int(props["proj:epsg"]) % 100
        return f"{zone:02d}{props['sentinel:latitude_band']}{props['sentinel:grid_square']}"
    match = _TILE_IN_ID.search(item.get("id", ""))
    if match:
        tile = match.group(1)
        return tile.zfill(5)
    raise SceneError(f"STAC item {item.get('id')} names no MGRS tile (grid:code, s2:mgrs_tile or mgrs:*)")


def _parse_baseline(baseline: str | None) -> tuple[int, int] | None:
    if not baseline:
        return None
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d{2})\s*", str(baseline))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _first_href(item: dict[str, Any]) -> str:
    for asset in (item.get("assets") or {}).values():
        return str(asset.get("href", ""))
    return ""


def _raster_bands_of_reflectance(item: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name in REFLECTANCE_BANDS:
        asset = _asset(item, name)
        if asset is not None:
            out.extend(asset[1].get("raster:bands") or [])
    return out


def _asset(item: dict[str, Any], band: str) -> tuple[str, dict[str, Any]] | None:
    assets = item.get("assets") or {}
    for key in ASSET_KEYS[band]:
        if key in assets:
            return key, assets[key]
    return None


def _band(item: dict[str, Any], name: str, boa_offset: int) -> Band | None:
    found = _asset(item, name)
    if found is None:
        return None
    key, asset = found
    rb = (asset.get("raster:bands") or [{}])[0]
    transform = asset.get("proj:transform")
    resolution = rb.get("spatial_resolution") or asset.get("gsd") or (abs(transform[0]) if transform else None)
    resolution = float(resolution or NATIVE_RES.get(name, 20))
    if name in REFLECTANCE_BANDS:
        scale = float(rb.get("scale", 0.0001))
        offset = float(rb.get("offset", -0.1 if boa_offset else 0.0))
    else:
        scale, offset = float(rb.get("scale", 1.0)), float(rb.get("offset", 0.0))
    nodata = rb.get("nodata", S2_NODATA)
    return Band(name, key, str(asset["href"]), resolution, None if nodata is None else float(nodata), scale, offset)


def _datetime(item_id: str, props: dict[str, Any]) -> datetime:
    value = props.get("datetime") or props.get("start_datetime")
    if not value:
        raise SceneError(f"STAC item {item_id} has no datetime")
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _epsg(item_id: str, props: dict[str, Any]) -> int:
    if props.get("proj:epsg"):
        return int(props["proj:epsg"])
    code = str(props.get("proj:code") or "")
    if code.upper().startswith("EPSG:"):
        return int(code.split(":", 1)[1])
    raise SceneError(f"STAC item {item_id} has no proj:epsg or proj:code; its pixel grid is unknown")


def _nodata_percentage(props: dict[str, Any]) -> float | None:
    if props.get("s2:nodata_pixel_percentage") is not None:
        return float(props["s2:nodata_pixel_percentage"])
    if props.get("data_coverage") is not None:  # the older EarthSearch collection
        return round(100.0 - float(props["data_coverage"]), 6)
    return None


def scene_to_dict(scene: Scene) -> dict[str, Any]:
    """A scene as JSON (no source item, footprint as WKT) for per chip-year records."""
    return {
        "id": scene.id, "collection": scene.collection, "provider": scene.provider,
        "datetime": scene.datetime.isoformat(), "mgrs_tile": scene.mgrs_tile, "epsg": scene.epsg,
        "footprint_wkt": scene.footprint.wkt, "cloud_cover": scene.cloud_cover,
        "nodata_percentage": scene.nodata_percentage, "processing_baseline": scene.processing_baseline,
        "boa_offset": scene.boa_offset, "harmonization": scene.harmonization,
        "bands": {name: {"asset_key": b.asset_key, "href": b.href, "resolution": b.resolution, "nodata": b.nodata,
                         "scale": b.scale, "offset": b.offset} for name, b in scene.bands.items()},
    }


def scene_from_dict(d: dict[str, Any]) -> Scene:
    return Scene(
        id=d["id"], collection=d["collection"], provider=d["provider"],
        datetime=datetime.fromisoformat(d["datetime"]), mgrs_tile=d["mgrs_tile"], epsg=int(d["epsg"]),
        footprint=shapely.from_wkt(d["footprint_wkt"]), cloud_cover=float(d["cloud_cover"]),
        nodata_percentage=d["nodata_percentage"], processing_baseline=d["processing_baseline"],
        boa_offset=int(d["boa_offset"]), harmonization=d["harmonization"],
        bands={name: Band(name, **b) for name, b in d["bands"].items()},
    )
