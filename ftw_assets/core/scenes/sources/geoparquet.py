"""A stac-geoparquet file searched in-process with DuckDB: no server, no network for a local file.

The bbox struct column narrows the rows in SQL; shapely then keeps the items whose footprint really
intersects the query area (what a STAC API does), so both give the same scenes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterable

import duckdb
import shapely
import stac_geoparquet.arrow as sga

from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.sources.base import SceneQuery, SceneSource, resolve_relative


class GeoparquetSource(SceneSource):
    provider = "local"
    remote_schemes = ("", "file", "http", "https", "s3")  # a local archive may use local paths

    def __init__(self, path: str | Path, collection: str | None = None, policy: RetryPolicy = RetryPolicy()):
        path = str(path)
        self.url = path
        self.local_path = _fetch(path, policy) if path.startswith(("http://", "https://")) else Path(path)
        if not self.local_path.exists():
            raise InputError(f"the stac-geoparquet file {path} does not exist; build it with `ftwd make-archive` "
                             "or point --stac-host at an existing file")
        super().__init__(path, collection or "", policy)
        self.base = path.rsplit("/", 1)[0] + "/" if "://" in path else str(Path(path).resolve().parent)

    def _items(self, query: SceneQuery) -> Iterable[dict[str, Any]]:
        area = query.area()
        xmin, ymin, xmax, ymax = area.bounds
        sql = [
            "SELECT * FROM read_parquet(?) WHERE bbox.xmax >= ? AND bbox.xmin <= ? AND bbox.ymax >= ? AND bbox.ymin <= ?",
            "AND datetime >= ? AND datetime <= ?",
        ]
        params: list[Any] = [str(self.local_path), xmin, xmax, ymin, ymax, query.start, query.end]
        if self.collection:
            sql.append("AND collection = ?")
            params.append(self.collection)
        if query.max_cloud_cover is not None:
            sql.append('AND "eo:cloud_cover" <= ?')
            params.append(query.max_cloud_cover)
        sql.append("ORDER BY datetime, id")
        con = duckdb.connect()
        try:
            table = con.sql(" ".join(sql), params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise InputError(f"cannot search {self.url} as stac-geoparquet: {exc}") from exc
        finally:
            con.close()
            self.requests += 1
        if table.num_rows == 0:
            return []
        shapely.prepare(area)
        return [item for item in sga.stac_table_to_items(table)
                if area.intersects(shapely.geometry.shape(item["geometry"]))]

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        return resolve_relative(item, self.base)


def _fetch(url: str, policy: RetryPolicy) -> Path:
    """A remote stac-geoparquet file, downloaded once into a temp folder (DuckDB's httpfs may be absent)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.mount("http", HTTPAdapter(max_retries=Retry(total=policy.attempts - 1, backoff_factor=policy.backoff_s,
                                                         status_forcelist=(429, 500, 502, 503, 504))))
    try:
        response = session.get(url, timeout=policy.timeout_s)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise InputError(f"cannot download the stac-geoparquet file {url}: {exc}") from exc
    target = Path(tempfile.mkdtemp(prefix="ftw-geoparquet-")) / "items.parquet"
    target.write_bytes(response.content)
    return target
