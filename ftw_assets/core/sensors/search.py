"""Finding a sensor's scenes: the source of a sensor for a dataset's ``--stac-host`` (the same host,
the sensor's collection) and a search that parses items with the multi-sensor scene model.

- a stac-geoparquet archive (``local``, or a path): the sensor's collection is the file
  ``{collection}.parquet`` beside the Sentinel-2 one (as ``ftwd make-archive --sensors`` writes it);
- ``earthsearch`` / ``planetary-computer``: the provider's collection from :data:`~.config.SENSORS`;
- any other STAC API URL: the first of the sensor's collections the API serves.

A sensor the source has no collection for is an :class:`~ftw_assets.core.errors.InputError`, raised
when the source is opened (before a dataset writes anything). No Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.model import SceneError
from ftw_assets.core.scenes.sources import (NAMED_HOSTS, GeoparquetSource, SceneQuery, SceneSource, StacApiSource,
                                            open_source)
from ftw_assets.core.scenes.sources import EARTHSEARCH_URL, PLANETARY_COMPUTER_URL, _planetary_computer_signer
from ftw_assets.core.sensors.config import EARTHSEARCH, PLANETARY_COMPUTER, sensor_config
from ftw_assets.core.sensors.items import sensor_scene_from_item
from ftw_assets.core.sensors.scene import SensorScene

KNOWN_PROVIDERS = (EARTHSEARCH, PLANETARY_COMPUTER)


@dataclass
class SensorSearch:
    """The scenes of one search (sorted by date, id) and the items skipped, each with its reason."""

    scenes: list[SensorScene] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def open_sensor_source(stac_host: str, sensor: str, policy: RetryPolicy = RetryPolicy(),
                       s2_collection: str | None = None) -> SceneSource:
    """The source of ``sensor``'s scenes on ``stac_host`` (a dataset's stored ``--stac-host``);
    Sentinel-2 is :func:`~ftw_assets.core.scenes.sources.open_source` itself."""
    cfg = sensor_config(sensor)
    if cfg.name == "s2":
        return open_source(stac_host, s2_collection, policy)
    host = (stac_host or "earthsearch").strip()
    names = ", ".join(dict.fromkeys(c.collection for c in cfg.collections))
    if host in NAMED_HOSTS:
        spec = next((c for c in cfg.collections if c.provider == host), None)
        if spec is None:
            raise InputError(f"--sensors {cfg.name}: {host} has no {cfg.title} collection (this tool knows it as "
                             f"{names} on {', '.join(cfg.providers())}); drop {cfg.name} or use another --stac-host")
        if host == EARTHSEARCH:
            return StacApiSource(EARTHSEARCH_URL, spec.collection, EARTHSEARCH, policy)
        return StacApiSource(PLANETARY_COMPUTER_URL, spec.collection, PLANETARY_COMPUTER, policy,
                             sign=_planetary_computer_signer())
    if host.startswith(("http://", "https://")) and not host.split("?")[0].endswith(".parquet"):
        return StacApiSource(host.rstrip("/"), _api_collection(host, cfg, policy), "stac-api", policy)
    folder = Path(str(open_source(host, None, policy).host)).parent
    for collection in dict.fromkeys(c.collection for c in cfg.collections):
        if (folder / f"{collection}.parquet").exists():
            return GeoparquetSource(folder / f"{collection}.parquet", collection, policy)
    raise InputError(f"--sensors {cfg.name}: the archive in {folder} has no {cfg.title} scenes (no "
                     f"{' or '.join(f'{c}.parquet' for c in names.split(', '))}); make them with `ftwd make-archive "
                     f"--sensors {cfg.name}` or drop {cfg.name} from --sensors")


def search_sensor(source: SceneSource, sensor: str, query: SceneQuery) -> SensorSearch:
    """One search of ``source`` for ``sensor``'s scenes; items that are not usable scenes are skipped with
    the reason (an unknown collection, no geometry, no band of the sensor...)."""
    cfg = sensor_config(sensor)
    provider = source.provider if source.provider in KNOWN_PROVIDERS else None
    result = SensorSearch()
    for item in source._items(query):
        try:
            scene = sensor_scene_from_item(source._resolve(item), cfg.name, provider)
        except SceneError as exc:
            result.rejected.append((str(item.get("id")), str(exc)))
            continue
        result.scenes.append(scene)
    result.scenes.sort(key=lambda s: (s.datetime, s.id))
    return result


def _api_collection(url: str, cfg, policy: RetryPolicy) -> str:
    """The first of ``cfg``'s collections that the STAC API at ``url`` serves."""
    import requests

    tried = list(dict.fromkeys(c.collection for c in cfg.collections))
    for collection in tried:
        try:
            response = requests.get(f"{url.rstrip('/')}/collections/{collection}", timeout=policy.timeout_s)
        except requests.RequestException as exc:
            raise InputError(f"--sensors {cfg.name}: cannot ask {url} for its collections: {exc}") from exc
        if response.status_code == 200:
            return collection
    raise InputError(f"--sensors {cfg.name}: the STAC API {url} has none of the {cfg.title} collections this tool "
                     f"reads ({', '.join(tried)}); drop {cfg.name} from --sensors or use another --stac-host")
