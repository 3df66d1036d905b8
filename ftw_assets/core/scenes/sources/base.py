"""What every scene source offers: a search returning normalised scenes, and hrefs ready to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable
from urllib.parse import urljoin, urlsplit

import shapely

from ftw_assets.core.scenes.model import Scene, SceneError, scene_from_item
from ftw_assets.core.raster.windows import RetryPolicy


@dataclass(frozen=True)
class SceneQuery:
    """A search: a WGS84 bbox or geometry, an inclusive datetime range, an optional cloud ceiling."""

    start: datetime
    end: datetime
    bbox: tuple[float, float, float, float] | None = None
    intersects: shapely.Geometry | None = None
    max_cloud_cover: float | None = None
    page_size: int = 100

    def area(self) -> shapely.Geometry:
        if self.intersects is not None:
            return self.intersects
        if self.bbox is None:
            raise ValueError("a scene query needs a bbox or an intersects geometry")
        return shapely.box(*self.bbox)

    def datetime_interval(self) -> str:
        return f"{_iso(self.start)}/{_iso(self.end)}"


@dataclass
class SearchResult:
    scenes: list[Scene] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (item id, reason)
    requests: int = 0
    retries: int = 0


class SceneSource:
    """Base class: subclasses implement :meth:`_items` (raw item dicts for a query)."""

    provider = "stac-api"
    remote_schemes: tuple[str, ...] = ("http", "https", "s3")

    def __init__(self, host: str, collection: str, policy: RetryPolicy = RetryPolicy()):
        self.host, self.collection, self.policy = host, collection, policy
        self.requests = 0
        self.retries = 0

    def describe(self) -> str:
        return f"{self.host} ({self.collection})" if self.collection else self.host

    def coverage(self) -> str | None:
        """Which area and dates the source holds scenes for, when it can say (a file can; an API
        covering the world says nothing)."""
        return None

    def search(self, query: SceneQuery) -> SearchResult:
        before_requests, before_retries = self.requests, self.retries
        result = SearchResult()
        for item in self._items(query):
            try:
                scene = scene_from_item(self._resolve(item), self.provider)
                self._check_hrefs(scene)
            except SceneError as exc:
                result.rejected.append((str(item.get("id")), str(exc)))
                continue
            result.scenes.append(scene)
        result.scenes.sort(key=lambda s: (s.datetime, s.id))
        result.requests, result.retries = self.requests - before_requests, self.retries - before_retries
        return result

    def item_href(self, scene: Scene) -> str:
        """Where the scene's source item can be found (for ``via`` links)."""
        for link in (scene.item or {}).get("links", []):
            if link.get("rel") in ("self", "canonical") and link.get("href"):
                return str(link["href"])
        return f"{self.host}#{scene.id}"

    def href_for_read(self, href: str) -> str:
        """The href to open; Planetary Computer's source signs it here, so saved hrefs carry no token."""
        return href

    def _items(self, query: SceneQuery) -> Iterable[dict[str, Any]]:
        raise NotImplementedError

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        return item

    def _check_hrefs(self, scene: Scene) -> None:
        for band in scene.bands.values():
            scheme = urlsplit(band.href).scheme
            if scheme not in self.remote_schemes:
                raise SceneError(
                    f"STAC item {scene.id} from {self.host} points its {band.name} band at {band.href!r}; "
                    f"assets from a remote API are read only over {'/'.join(self.remote_schemes)}"
                )


def resolve_relative(item: dict[str, Any], base: str) -> dict[str, Any]:
    """Asset hrefs relative to ``base`` (a folder path or URL ending in '/') made absolute."""
    for asset in (item.get("assets") or {}).values():
        href = asset.get("href", "")
        if href and not urlsplit(href).scheme and not href.startswith("/"):
            asset["href"] = urljoin(base, href) if "://" in base else str(_join_path(base, href))
    return item


def _join_path(base: str, href: str):
    from pathlib import Path

    return (Path(base) / href).resolve()


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


Signer = Callable[[str], str]
