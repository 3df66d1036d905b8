"""The FTW global crop calendar: planting (start of season) and harvest (end of season) day of year.

Two 0.5 degree COGs per calendar (summer ``sc-*``, winter ``wc-*``), values day of year, nodata 0.
They are taken from ``--crop-calendar-dir`` if given, else from the cache folder
(``$FTW_CACHE_DIR/crop_calendar`` or ``~/.cache/ftw-tools/crop_calendar``), downloaded there on first
use from ``$FTW_CROP_CALENDAR_URL`` (default: source.coop) to a temp file, checked, then renamed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import rasterio

from ftw_assets.core.atomic import atomic_path
from ftw_assets.core.errors import FtwError

CALENDAR_URL = "https://data.source.coop/ftw/ftw-inference-input/global-crop-calendar/"
CALENDAR_FILES = {
    "summer": ("sc-sos-3x3-v2-cog.tiff", "sc-eos-3x3-v2-cog.tiff"),
    "winter": ("wc-sos-3x3-v2-cog.tiff", "wc-eos-3x3-v2-cog.tiff"),
}
MAX_FALLBACK_KM = 75.0  # coasts and small islands: borrow the nearest valid pixel up to this far


class CalendarError(FtwError):
    """The crop calendar files are missing or unusable."""


@dataclass(frozen=True)
class CalendarDays:
    planting_day: int
    harvest_day: int
    source: str  # "pixel" or "nearest"
    distance_km: float = 0.0

    @property
    def harvest_next_year(self) -> bool:
        return self.harvest_day < self.planting_day

    def target(self, season: str, year: int) -> date:
        """The target date of a season for a calendar year (harvest may fall in the next year)."""
        if season == "planting":
            return date(year, 1, 1) + timedelta(days=self.planting_day - 1)
        harvest_year = year + 1 if self.harvest_next_year else year
        return date(harvest_year, 1, 1) + timedelta(days=self.harvest_day - 1)

    def window(self, season: str, year: int, buffer_days: int) -> tuple[datetime, datetime]:
        """Inclusive UTC datetime range of +- ``buffer_days`` around the season's target."""
        t = self.target(season, year)
        start = datetime(t.year, t.month, t.day, tzinfo=timezone.utc) - timedelta(days=buffer_days)
        end = datetime(t.year, t.month, t.day, 23, 59, 59, tzinfo=timezone.utc) + timedelta(days=buffer_days)
        return start, end


class NoCalendarValue(FtwError):
    """No crop calendar value at or near a place (open ocean, deserts, ice)."""


def cache_root() -> Path:
    """The per-user cache folder of downloaded and generated inputs: ``$FTW_CACHE_DIR``, else
    ``~/.cache/ftw-tools`` (the same whatever the working directory)."""
    base = os.environ.get("FTW_CACHE_DIR")
    return Path(base).expanduser().resolve() if base else Path.home() / ".cache" / "ftw-tools"


def cache_dir() -> Path:
    return cache_root() / "crop_calendar"


def calendar_files(directory: str | Path | None = None, kind: str = "summer", download: bool = True) -> tuple[Path, Path]:
    """The (planting, harvest) files, downloading them into the cache when no folder is given."""
    if kind not in CALENDAR_FILES:
        raise CalendarError(f"crop calendar {kind!r} is unknown; use summer or winter")
    folder = Path(directory) if directory else cache_dir()
    paths = tuple(folder / name for name in CALENDAR_FILES[kind])
    for path in paths:
        if not path.exists():
            if directory or not download:
                raise CalendarError(_missing_message(folder, kind, f"{path.name} is not in {folder}"))
            _download(path, kind)
        _check(path)
    return paths  # type: ignore[return-value]


def _missing_message(folder: Path, kind: str, why: str) -> str:
    names = " and ".join(CALENDAR_FILES[kind])
    return (f"the {kind} crop calendar is not available: {why}. Put {names} (from {CALENDAR_URL}) in {folder}, "
            "or pass --crop-calendar-dir to a folder holding them (FTW_CACHE_DIR moves the cache).")


def _download(path: Path, kind: str) -> None:
    import requests

    url = os.environ.get("FTW_CROP_CALENDAR_URL", CALENDAR_URL).rstrip("/") + "/" + path.name
    try:
        with requests.get(url, timeout=60, stream=True) as response:
            response.raise_for_status()
            with atomic_path(path, suffix=".tiff") as tmp:
                with open(tmp, "wb") as f:
                    for chunk in response.iter_content(1 << 20):
                        f.write(chunk)
                _check(tmp)
    except (requests.RequestException, OSError) as exc:
        raise CalendarError(_missing_message(path.parent, kind, f"downloading {url} failed ({exc})")) from exc


def _check(path: Path) -> None:
    try:
        with rasterio.open(path) as src:
            ok = src.crs is not None and src.crs.to_epsg() == 4326 and abs(src.res[0] - 0.5) < 1e-6 and src.count >= 1
    except rasterio.errors.RasterioIOError as exc:
        raise CalendarError(f"{path} is not a readable crop calendar GeoTIFF ({exc}); delete it to download it again") from exc
    if not ok:
        raise CalendarError(f"{path} is not a 0.5 degree EPSG:4326 crop calendar; delete it to download it again")


class CropCalendar:
    """Both rasters in memory (720 x 286 pixels each) for lookups by longitude and latitude."""

    def __init__(self, planting_path: str | Path, harvest_path: str | Path, max_fallback_km: float = MAX_FALLBACK_KM):
        with rasterio.open(planting_path) as sos, rasterio.open(harvest_path) as eos:
            self.transform = sos.transform
            self.sos = sos.read(1)
            self.eos = eos.read(1)
            nodata = sos.nodata if sos.nodata is not None else 0
        self.valid = (self.sos != nodata) & (self.eos != nodata) & (self.sos > 0) & (self.eos > 0)
        self.max_fallback_km = max_fallback_km

    @classmethod
    def open(cls, directory: str | Path | None = None, kind: str = "summer") -> "CropCalendar":
        return cls(*calendar_files(directory, kind))

    def lookup(self, lon: float, lat: float) -> CalendarDays:
        col, row = ~self.transform @ (lon, lat)
        row, col = int(math.floor(row)), int(math.floor(col))
        h, w = self.sos.shape
        if 0 <= row < h and 0 <= col < w and self.valid[row, col]:
            return CalendarDays(int(round(float(self.sos[row, col]))), int(round(float(self.eos[row, col]))), "pixel")
        # Nearest valid pixel centre within the bound (distance on the sphere, small-angle form).
        reach = int(math.ceil(self.max_fallback_km / 55.0)) + 1
        best = None
        for r in range(max(row - reach, 0), min(row + reach + 1, h)):
            for c in range(col - reach, col + reach + 1):
                cc = c % w  # the grid wraps at the antimeridian
                if not self.valid[r, cc]:
                    continue
                plon, plat = self.transform @ (c + 0.5, r + 0.5)
                km = _km(lon, lat, plon, plat)
                if km <= self.max_fallback_km and (best is None or km < best[0]):
                    best = (km, r, cc)
        if best is None:
            raise NoCalendarValue(
                f"no crop calendar value within {self.max_fallback_km:g} km of {lat:.3f}, {lon:.3f} "
                "(open water, desert or ice): no planting or harvest date to search around"
            )
        km, r, c = best
        return CalendarDays(int(round(float(self.sos[r, c]))), int(round(float(self.eos[r, c]))), "nearest", round(km, 1))


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dlon = (lon2 - lon1 + 180) % 360 - 180
    x = math.radians(dlon) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6371.0 * math.hypot(x, y)


def season_windows(days: CalendarDays, year: int, buffer_days: int) -> dict[str, tuple[datetime, datetime]]:
    return {season: days.window(season, year, buffer_days) for season in ("planting", "harvest")}
