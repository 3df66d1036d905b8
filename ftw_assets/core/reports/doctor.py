"""``ftwd doctor``: what the environment has and what to fix, one line per check."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "FAIL"
MIN_FREE_GB = 5


@dataclass
class Check:
    name: str
    state: str
    detail: str


def run_checks(stac_host: str, collection: str | None, calendar_dir: str | None, output_dir: Path | None) -> list[Check]:
    import pyproj
    import rasterio

    from ftw_assets.core.scenes.calendar import CalendarError, cache_dir, calendar_files
    from ftw_assets.core.scenes.sources import open_source

    checks = [Check("GDAL", OK, rasterio.__gdal_version__), Check("PROJ", OK, pyproj.proj_version_str)]
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        writable = os.access(cache, os.W_OK)
        checks.append(Check("cache folder", OK if writable else FAIL,
                            f"{cache}" + ("" if writable else ": not writable; set FTW_CACHE_DIR to a writable folder")))
    except OSError as exc:
        checks.append(Check("cache folder", FAIL, f"{cache}: {exc}; set FTW_CACHE_DIR to a writable folder"))
    try:
        files = calendar_files(calendar_dir, "summer", download=False)
        checks.append(Check("crop calendar", OK, ", ".join(str(f) for f in files)))
    except CalendarError as exc:
        checks.append(Check("crop calendar", WARN, f"{exc} (it is downloaded on first use when online)"))
    if output_dir is not None:
        home = Path(output_dir) / "dagster_home"
        state = OK if (home / "dagster.yaml").exists() else WARN
        checks.append(Check("Dagster home", state, f"{home}" + ("" if state == OK else
                                                                 ": no instance yet; `ftwd create-dataset` makes it")))
    try:
        source = open_source(stac_host, collection)
        if hasattr(source, "url") and str(getattr(source, "url", "")).startswith(("http://", "https://")):
            import requests

            response = requests.get(source.url, timeout=10)
            response.raise_for_status()
        checks.append(Check("STAC host", OK, f"{source.describe()} answers"))
    except Exception as exc:  # any failure here is what the user must fix
        checks.append(Check("STAC host", FAIL, f"{stac_host}: not reachable ({str(exc).splitlines()[0][:200]}); "
                                                "check the network or use --stac-host local / a stac-geoparquet file"))
    where = Path(output_dir) if output_dir else Path.cwd()
    where = where if where.exists() else Path.cwd()
    free = shutil.disk_usage(where).free / 1e9
    checks.append(Check("disk space", OK if free >= MIN_FREE_GB else WARN,
                        f"{free:.1f} GB free at {where}" + ("" if free >= MIN_FREE_GB else
                                                            f"; keep at least {MIN_FREE_GB} GB for images")))
    return checks
