"""One scene model over every sensor of :data:`~.config.SENSORS`: :func:`sensor_scene_from_item`
turns a raw STAC item (a dict) of Sentinel-2, Sentinel-1, Landsat, Copernicus DEM or ESA WorldCover,
from Planetary Computer or EarthSearch, into a :class:`SensorScene`, or raises
:class:`SensorSceneError` with a plain reason so a caller can skip the item and say why.

Sentinel-2 items go through :func:`ftw_assets.core.scenes.model.scene_from_item` (its harmonisation
of the +1000 DN offset included); the other sensors take each band's data type, nodata, scale and
offset from the item's ``raster:bands`` and, where an item has none, from the band table.

Provider quirks handled: Planetary Computer's ``start_datetime`` as ``"2024-04-19 04:59:04.220006+00:00"``;
``datetime: null`` with a start/end interval (WorldCover); no ``proj:*`` at all (PC Sentinel-1 GRD: epsg
None); Landsat scenes south of the equator in a *north* UTM zone with negative northings (USGS's
convention: the epsg is kept as given, and so is the item's WGS84 bbox); bboxes a little past -180
(DEM edge tiles, kept as given).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from shapely.geometry import shape

from ftw_assets.core.scenes.model import PROVIDERS, SceneError, _datetime, _epsg, detect_provider, scene_from_item
from ftw_assets.core.sensors import config
from ftw_assets.core.sensors.quality import PixelClass
from ftw_assets.core.sensors.scene import SensorBand, SensorScene, SensorSceneError
from ftw_assets.core.sensors.spec import CollectionSpec, SensorConfig

_FRACTION = re.compile(r"(\.\d{6})\d+")  # nanoseconds: Python 3.10 reads at most 6 digits


def detect_sensor(item: dict[str, Any]) -> str:
    """The sensor of an item: from its ``collection`` when it has one, else from its properties."""
    item_id = item.get("id") or "<no id>"
    collection = item.get("collection")
    if collection:
        sensor = config.sensor_for_collection(collection)
        if sensor is None:
            known = sorted({c.collection for s in config.SENSORS.values() for c in s.collections})
            raise SensorSceneError(f"STAC item {item_id}: collection {collection!r} is not a known sensor "
                                   f"(known collections: {', '.join(known)})")
        return sensor
    sensor = _sensor_from_properties(item)
    if sensor is None:
        raise SensorSceneError(f"STAC item {item_id} has no collection, and neither its platform nor its "
                               f"properties name a known sensor ({', '.join(config.SENSOR_NAMES)})")
    return sensor


def sensor_scene_from_item(item: dict[str, Any], sensor: str | None = None, provider: str | None = None) -> SensorScene:
    """Normalise one STAC item into a :class:`SensorScene`; raise :class:`SensorSceneError` if unusable.
    ``sensor`` (optional) insists on a sensor; it must agree with a known collection."""
    if not isinstance(item, dict) or not isinstance(item.get("properties") or {}, dict):
        raise SensorSceneError(f"a STAC item must be a JSON object with properties, not {type(item).__name__}")
    item_id = item.get("id") or "<no id>"
    collection = item.get("collection") or ""
    if sensor is not None:
        wanted = config.sensor_config(sensor).name
        known = config.sensor_for_collection(collection) if collection else None
        if known is not None and known != wanted:
            raise SensorSceneError(f"STAC item {item_id} is a {known} scene (collection {collection}), not {wanted}")
        sensor = wanted
    else:
        sensor = detect_sensor(item)
    provider = provider or detect_provider(item)
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")
    if not item.get("geometry"):
        raise SensorSceneError(f"STAC item {item_id} has no geometry; it cannot be matched to chips")
    cfg = config.SENSORS[sensor]
    spec = cfg.collection(collection, provider) or _fallback_spec(cfg, item, provider)
    return _s2_scene(item, spec, provider) if sensor == "s2" else _scene(item, cfg, spec, provider)


def _s2_scene(item: dict[str, Any], spec: CollectionSpec, provider: str) -> SensorScene:
    try:
        scene = scene_from_item(item, provider)
    except SceneError as exc:
        raise SensorSceneError(str(exc)) from exc
    assets = item.get("assets") or {}
    bands = {}
    for name, b in scene.bands.items():
        band_spec = spec.band(name)
        dtype = _raster_band(assets[b.asset_key]).get("data_type") or band_spec.dtype
        bands[name] = SensorBand(name, b.asset_key, b.href, dtype, b.nodata, b.scale, b.offset, band_spec.resampling,
                                 b.resolution, band_spec.unit)
    props = item["properties"]
    return SensorScene(
        **_common(item, "s2", spec, provider), bands=bands, epsg=scene.epsg, cloud_cover=scene.cloud_cover,
        orbit_state=_lower(props.get("sat:orbit_state")), relative_orbit=_int(props.get("sat:relative_orbit")),
        grid_code=props.get("grid:code") or f"MGRS-{scene.mgrs_tile}", mgrs_tile=scene.mgrs_tile,
        boa_offset=scene.boa_offset, harmonization=scene.harmonization,
    )


def _scene(item: dict[str, Any], cfg: SensorConfig, spec: CollectionSpec, provider: str) -> SensorScene:
    item_id, props = item.get("id") or "<no id>", item.get("properties") or {}
    bands = _bands(item, spec)
    if cfg.name == "s1":
        if not bands:
            raise SensorSceneError(f"STAC item {item_id} has no VV/VH or HH/HV asset (asset keys tried: "
                                   f"{', '.join(config.POLARIZATIONS)}); it holds no backscatter to read")
    else:
        missing = [b for b in spec.bands if b.required and b.name not in bands]
        if missing:
            raise SensorSceneError(
                f"STAC item {item_id} lacks the {', '.join(b.name for b in missing)} band(s) (asset keys tried: "
                f"{'; '.join('/'.join(b.asset_keys) for b in missing)}); it cannot be used as a {cfg.title} scene")
    extra: dict[str, Any] = {}
    if cfg.name == "s1":
        declared = [str(p).upper() for p in props.get("sar:polarizations") or ()]
        pols = [p for p in declared if p.lower() in bands] or [name.upper() for name in bands]
        annotations = {key[len("schema-"):]: str(asset["href"]) for key, asset in (item.get("assets") or {}).items()
                       if key.startswith(("schema-calibration-", "schema-noise-")) and asset.get("href")}
        extra = dict(orbit_state=_lower(props.get("sat:orbit_state")),
                     relative_orbit=_int(props.get("sat:relative_orbit")),
                     polarizations=tuple(pols), backscatter=spec.backscatter,
                     annotations=annotations)
    if cfg.name == "landsat":
        path, row = props.get("landsat:wrs_path"), props.get("landsat:wrs_row")
        extra = dict(cloud_cover=_float(props.get("eo:cloud_cover")), wrs_path=path, wrs_row=row)
        if path and row and not props.get("grid:code"):
            extra["grid_code"] = f"WRS{props.get('landsat:wrs_type', '2')}-{path}{row}"
    if cfg.name == "landcover":
        extra["classes"] = _classes(item, spec) or cfg.classes
    extra.setdefault("grid_code", props.get("grid:code"))
    return SensorScene(**_common(item, cfg.name, spec, provider), bands=bands, epsg=_epsg_or_none(item), **extra)


def _common(item: dict[str, Any], sensor: str, spec: CollectionSpec, provider: str) -> dict[str, Any]:
    item_id, props = item.get("id") or "<no id>", item.get("properties") or {}
    start, end = (_utc(item_id, props.get(k)) for k in ("start_datetime", "end_datetime"))
    when = _utc(item_id, props.get("datetime")) or start
    if when is None:
        raise SensorSceneError(f"STAC item {item_id} has no datetime and no start_datetime")
    bbox = item.get("bbox") or ()
    corners = {4: (0, 1, 2, 3), 6: (0, 1, 3, 4)}.get(len(bbox))  # a 3D bbox is (w, s, zmin, e, n, zmax)
    bbox = tuple(float(bbox[i]) for i in corners) if corners else tuple(shape(item["geometry"]).bounds)
    constellation = props.get("constellation")
    return dict(id=item_id, sensor=sensor, provider=provider, collection=item.get("collection") or spec.collection,
                datetime=when, start_datetime=start, end_datetime=end, bbox=bbox, geometry=item["geometry"],
                platform=_lower(props.get("platform")),
                constellation=_lower(constellation).replace(" ", "-") if constellation else None, item=item)


def _bands(item: dict[str, Any], spec: CollectionSpec) -> dict[str, SensorBand]:
    assets = item.get("assets") or {}
    bands = {}
    for b in spec.bands:
        key = next((k for k in b.asset_keys if k in assets and assets[k].get("href")), None)
        if key is None:
            continue
        rb = _raster_band(assets[key])
        nodata = rb["nodata"] if "nodata" in rb else b.nodata
        bands[b.name] = SensorBand(
            b.name, key, str(assets[key]["href"]), str(rb.get("data_type") or b.dtype),
            None if nodata is None else float(nodata), float(rb.get("scale", b.scale)),
            float(rb.get("offset", b.offset)), b.resampling,
            float(rb.get("spatial_resolution") or b.native_resolution), str(rb.get("unit") or b.unit))
    return bands


def _classes(item: dict[str, Any], spec: CollectionSpec) -> tuple[PixelClass, ...]:
    asset = (item.get("assets") or {}).get(spec.bands[0].asset_keys[0]) or {}
    listed = asset.get("classification:classes") or _raster_band(asset).get("classification:classes") or []
    return tuple(PixelClass(int(c["value"]), str(c.get("description") or c.get("name") or c["value"]),
                            c.get("color-hint") or c.get("color_hint")) for c in listed if "value" in c)


def _sensor_from_properties(item: dict[str, Any]) -> str | None:
    props = item.get("properties") or {}
    keys = set(props)
    words = " ".join(str(props.get(k, "")) for k in ("platform", "constellation", "mission")).lower()
    if any(k.startswith("esa_worldcover:") for k in keys):  # before platform: it lists sentinel-1a/2a
        return "landcover"
    if any(k.startswith("landsat:") for k in keys) or "landsat" in words:
        return "landsat"
    if any(k.startswith("sar:") for k in keys) or re.search(r"sentinel[- ]?1", words):
        return "s1"
    if any(k.startswith("s2:") for k in keys) or re.search(r"sentinel[- ]?2", words):
        return "s2"
    if "tandem-x" in words or str(item.get("id", "")).startswith("Copernicus_DSM"):
        return "dem"
    return None


def _fallback_spec(cfg: SensorConfig, item: dict[str, Any], provider: str) -> CollectionSpec:
    """The spec for an item whose collection the table does not list (or that has none)."""
    candidates = list(cfg.collections)
    if cfg.name == "s1":  # float32 pol assets (or an _rtc id) are RTC gamma0, anything else GRD DN
        assets = item.get("assets") or {}
        dtypes = {_raster_band(assets[p]).get("data_type") for p in config.POLARIZATIONS if p in assets}
        rtc = "float32" in dtypes or str(item.get("id", "")).endswith("_rtc")
        candidates = [c for c in candidates if (c.backscatter is config.GAMMA0_POWER) == rtc] or candidates
    return next((c for c in candidates if c.provider == provider), candidates[0])


def _raster_band(asset: dict[str, Any]) -> dict[str, Any]:
    bands = asset.get("raster:bands") or [{}]
    return bands[0] if isinstance(bands[0], dict) else {}


def _epsg_or_none(item: dict[str, Any]) -> int | None:
    """``proj:epsg``/``proj:code`` of the item, else of its first data asset that has one, else None."""
    item_id = item.get("id") or "<no id>"
    for props in (item.get("properties") or {}, *(item.get("assets") or {}).values()):
        try:
            return _epsg(item_id, props)
        except SceneError:
            continue
    return None


def _utc(item_id: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    text = _FRACTION.sub(r"\1", str(value).strip())
    try:
        return _datetime(item_id, {"datetime": text}).astimezone(timezone.utc)
    except ValueError:
        raise SensorSceneError(f"STAC item {item_id}: {value!r} is not an ISO 8601 date and time") from None


def _lower(value: Any) -> str | None:
    return None if value is None else str(value).strip().lower()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
