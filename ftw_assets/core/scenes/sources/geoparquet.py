"""A stac-geoparquet file searched in-process with DuckDB: no server, no network for a local file.

The bbox struct column narrows the rows in SQL; shapely then keeps the items whose footprint really
intersects the query area (what a STAC API does), so both give the same scenes.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Iterable

import duckdb
import shapely
import stac_geoparquet.arrow as sga

from ftw_assets.core.errors import InputError
from ftw_assets.core.raster.windows import RetryPolicy
from ftw_assets.core.scenes.sources.base import SceneQuery, SceneSource, resolve_relative

MAX_TILES_NAMED = 5  # a big archive's coverage names its first tiles only


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
        self.intervals = {"start_datetime", "end_datetime"} <= _check_schema(self.local_path, path)
        super().__init__(path, collection or "", policy)
        self.base = path.rsplit("/", 1)[0] + "/" if "://" in path else str(Path(path).resolve().parent)

    def _items(self, query: SceneQuery) -> Iterable[dict[str, Any]]:
        area = query.area()
        xmin, ymin, xmax, ymax = area.bounds
        sql = [
            "SELECT * FROM read_parquet(?) WHERE bbox.xmax >= ? AND bbox.xmin <= ? AND bbox.ymax >= ? AND bbox.ymin <= ?",
            # Items with only an interval (datetime null: ESA WorldCover) match when it overlaps the query's.
            "AND coalesce(datetime, end_datetime) >= ? AND coalesce(datetime, start_datetime) <= ?" if self.intervals
            else "AND datetime >= ? AND datetime <= ?",
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

    def coverage(self) -> str | None:
        """The extent of the file's items: count, lon/lat bbox, MGRS tiles (``grid:code``, when the
        items have it) and first and last dates; computed once."""
        if not hasattr(self, "_coverage"):
            self._coverage = self._read_coverage()
        return self._coverage

    def _read_coverage(self) -> str | None:
        where, params = ("WHERE collection = ?", [self.collection]) if self.collection else ("", [])
        con = duckdb.connect()
        try:
            n, w, s, e, north, first, last = con.sql(
                "SELECT count(*), min(bbox.xmin), min(bbox.ymin), max(bbox.xmax), max(bbox.ymax), min(datetime), "
                f"max(datetime) FROM read_parquet(?) {where}", params=[str(self.local_path), *params]).fetchall()[0]
            try:
                tiles = [t for (t,) in con.sql(
                    f'SELECT DISTINCT "grid:code" FROM read_parquet(?) {where} ORDER BY 1 LIMIT {MAX_TILES_NAMED + 1}',
                    params=[str(self.local_path), *params]).fetchall() if t]
            except duckdb.Error:  # items without grid:code
                tiles = []
        except duckdb.Error:
            return None
        finally:
            con.close()
        if not n:
            return "no scenes"
        names = ", ".join(t.removeprefix("MGRS-") for t in tiles[:MAX_TILES_NAMED])
        tile_text = f" of MGRS tile{'s' if len(tiles) > 1 else ''} {names}{', ...' if len(tiles) > MAX_TILES_NAMED else ''}"
        w, s, e, north = (math.floor(w * 1000) / 1000, math.floor(s * 1000) / 1000,  # rounded outwards
                          math.ceil(e * 1000) / 1000, math.ceil(north * 1000) / 1000)
        return (f"{n} scene(s){tile_text if tiles else ''} over lon {w:.3f}..{e:.3f}, lat {s:.3f}..{north:.3f}, "
                f"dated {first:%Y-%m-%d}..{last:%Y-%m-%d}")


REQUIRED_COLUMNS = ("id", "datetime", "bbox", "assets")  # what the search reads


def _check_schema(local_path: Path, shown: str) -> set[str]:
    """Refuse a file that is not stac-geoparquet before any search (its footer only is read); return
    its column names."""
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(local_path).names)
    except Exception as err:  # pyarrow's errors for a damaged or foreign file vary
        reason = f"it cannot be read as Parquet: {err}"
    else:
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if not missing:
            return names
        reason = f"it has no {', '.join(missing)} column(s)"
    raise InputError(f"--stac-host {shown} is not a stac-geoparquet file ({reason}). Point --stac-host at one (as "
                     "`rustac translate` or stac-geoparquet write them, or `ftwd make-archive`), or at a STAC API.")


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
