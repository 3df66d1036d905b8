"""Cut chip images out of scenes, scene-major: every chip of a batch that uses a scene is read from
one open of each of that scene's bands, in raster order, so each COG block is fetched and decoded
once per batch (GDAL's block cache) and each header is read once per scene and band.

On the chip's own pixel grid: a 10 m band of a scene in the chip's UTM zone is copied pixel for
pixel (a window read, no resampling); 20 m bands are resampled to 10 m (bilinear for reflectance,
nearest for ``scl`` and ``cloud_probability``); a scene from another zone is reprojected. Values are
harmonised to DN = reflectance x 10000 with the scene's ``boa_offset``. A clip whose band could
not be read names that band's href (:func:`failure_url`) and GDAL's reason.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field
from rasterio.enums import Resampling

from ftw_assets.core.dataset.files import IMAGES_FILE
from ftw_assets.core.raster.cog import write_cog
from ftw_assets.core.geometry.grid import ChipGrid
from ftw_assets.core.scenes.model import BAND_NAMES, CLASS_BANDS, Scene, SceneError, harmonize
from ftw_assets.core.raster.windows import RetryPolicy, WindowReadError, read_windows, redact
from ftw_assets.core.settings import Settings

DEFAULT_BANDS = ("red", "green", "blue", "nir")


def parse_bands(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    from ftw_assets.core.errors import InputError

    bands = tuple(b.strip() for b in (value.split(",") if isinstance(value, str) else value) if b.strip())
    unknown = [b for b in bands if b not in BAND_NAMES]
    if not bands or unknown:
        raise InputError(f"--bands {','.join(bands) or '(none)'}: unknown {', '.join(unknown) or 'empty list'}; "
                         f"choose from {', '.join(BAND_NAMES)}")
    if len(set(bands)) != len(bands):
        raise InputError(f"--bands {','.join(bands)} names a band twice")
    return bands


@dataclass
class ClipRequest:
    key: tuple  # (chip, year, season)
    grid: ChipGrid
    scene: Scene


@dataclass
class Clip:
    request: ClipRequest
    bands: tuple[str, ...]
    data: np.ndarray | None = None  # (bands, rows, cols) uint16
    error: str | None = None
    resampling: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # band -> why its read failed

    @property
    def reprojected(self) -> bool:
        return self.request.scene.epsg != self.request.grid.epsg

    def tags(self) -> dict[str, str]:
        scene = self.request.scene
        return {
            "source_item": scene.id, "source_collection": scene.collection, "datetime": scene.datetime.isoformat(),
            "boa_offset_removed": str(scene.boa_offset), "harmonization": scene.harmonization,
            "processing_baseline": scene.processing_baseline or "", "resampling": json.dumps(self.resampling),
            "reprojected": str(self.reprojected).lower(), "units": "reflectance x 10000 (scl and cloud: as delivered)",
        }


@dataclass
class ClipStats:
    scenes: int = 0
    band_opens: int = 0
    windows: int = 0


def resampling_for(band: str, scene: Scene, grid: ChipGrid) -> tuple[Resampling, str]:
    native = scene.bands[band].resolution
    same = scene.epsg == grid.epsg and abs(native - grid.res) < 1e-9
    if same:
        return Resampling.nearest, "none (source pixels copied)"
    method = Resampling.nearest if band in CLASS_BANDS else Resampling.bilinear
    what = "reprojected" if scene.epsg != grid.epsg else f"{native:g} m to {grid.res:g} m"
    return method, f"{method.name} ({what})"


STOPPED = "not read: stopped (Ctrl-C)"


def clip_batch(requests: list[ClipRequest], bands: tuple[str, ...], href_for_read=lambda h: h,
               policy: RetryPolicy = RetryPolicy(), workers: int = 4,
               stop: threading.Event | None = None, read=read_windows) -> tuple[list[Clip], ClipStats]:
    """Every request's clip, or its error: the first band (in ``bands`` order) whose read failed. Once
    ``stop`` is set no further read starts; the clips not read get the error :data:`STOPPED`. ``read``:
    :func:`~ftw_assets.core.raster.windows.read_windows` or one with its signature (ftwd's worker
    processes read through one shared reader, ``ftw_assets.reader``)."""
    clips = [Clip(r, bands) for r in requests]
    by_key = {clip.request.key: clip for clip in clips}
    stats = ClipStats()
    tasks: dict[tuple[str, str], list[Clip]] = defaultdict(list)
    for clip in clips:
        missing = [b for b in bands if b not in clip.request.scene.bands]
        if missing:
            clip.error = str(SceneError(f"scene {clip.request.scene.id} has no {', '.join(missing)} band"))
            continue
        for band in bands:
            tasks[(clip.request.scene.id, band)].append(clip)

    def run(task: tuple[tuple[str, str], list[Clip]]) -> None:
        (_, band), group = task
        if stop is not None and stop.is_set():
            for clip in group:
                clip.failed[band] = STOPPED
            return
        scene = group[0].request.scene
        # Raster order (north to south, west to east) keeps neighbouring chips' blocks in the cache.
        group = sorted(group, key=lambda c: (-c.request.grid.y_max, c.request.grid.x_min))
        by_method: dict[Resampling, dict] = defaultdict(dict)
        for clip in group:
            method, label = resampling_for(band, scene, clip.request.grid)
            clip.resampling[band] = label
            by_method[method][clip.request.key] = clip.request.grid
        href = href_for_read(scene.bands[band].href)
        for method, grids in by_method.items():
            try:
                got = read(href, grids, method, policy)
            except WindowReadError as exc:
                for clip in group:
                    if clip.request.key in grids:
                        clip.failed[band] = str(exc)
                continue
            for key, arr in got.items():
                _put(by_key[key], band, arr)
        stats.band_opens += len(by_method)
        stats.windows += len(group)

    stats.scenes = len({scene_id for scene_id, _ in tasks})
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(run, tasks.items()))
    for clip in clips:
        # Threads fill ``resampling`` and ``failed`` in whatever order they finish: take them in band
        # order, so the tags, items and reports written are the same from run to run.
        clip.resampling = {b: clip.resampling[b] for b in bands if b in clip.resampling}
        clip.failed = {b: clip.failed[b] for b in bands if b in clip.failed}
        if clip.failed and not clip.error:
            clip.error = next(iter(clip.failed.values()))
        if clip.error:
            clip.data = None
    return clips, stats


def _put(clip: Clip, band: str, arr: np.ndarray) -> None:
    """One band of ``clip``, with nodata made 0 and reflectance harmonised, into the clip's own array: a run
    holds each chip-season's pixels once (no per-band copies waiting to be stacked)."""
    scene = clip.request.scene
    if clip.data is None:  # each clip is filled band by band, one band per thread: the first allocates
        with _ALLOCATE:
            if clip.data is None:
                clip.data = np.zeros((len(clip.bands), *arr.shape), dtype=np.uint16)
    nodata = int(scene.bands[band].nodata or 0)
    arr = np.where(arr == nodata, 0, arr)  # one nodata value (0) across providers
    if band not in CLASS_BANDS:
        arr = harmonize(arr.astype(np.uint16), scene.boa_offset)
    clip.data[clip.bands.index(band)] = arr


_ALLOCATE = threading.Lock()


def write_clip(clip: Clip, path: Path, blocksize: int = 256) -> Path:
    """The clip as a DEFLATE COG (written to a temp file, renamed), bands named, source in the tags."""
    return write_cog(path, clip.data, clip.request.grid, nodata=0, descriptions=list(clip.bands), tags=clip.tags(),
                     blocksize=blocksize)


def failure_url(clip: Clip) -> str:
    """The href of the band whose read failed (without a query string); for a scene that lacks a band,
    its first band's href, or its id."""
    scene_bands = clip.request.scene.bands
    band = next(iter(clip.failed), None) or next((b for b in clip.bands if b in scene_bands), None)
    return redact(scene_bands[band].href) if band else clip.request.scene.id


class ImageSettings(Settings):
    """The ``download-images`` options; kept in OUTPUT_DIR/images.json so every launcher agrees."""

    FILE = IMAGES_FILE

    bands: tuple[str, ...] = Field(DEFAULT_BANDS, description=f"Comma-separated bands: {' '.join(BAND_NAMES)} "
                                                              "(20 m bands are resampled to 10 m).")
    num_workers: int = Field(4, description="Threads reading scene bands at the same time.")

    def validate_values(self) -> None:
        from ftw_assets.core.errors import InputError

        self.bands = parse_bands(self.bands)
        if not 1 <= int(self.num_workers) <= 64:
            raise InputError(f"--num-workers {self.num_workers} must be between 1 and 64")


def image_stats(data: np.ndarray, bands: tuple[str, ...]) -> dict:
    """Per band: min and max of valid pixels and standard deviation; nodata share of the chip."""
    valid = np.any(data != 0, axis=0)
    out = {"nodata_share": round(1.0 - float(valid.mean()), 6), "bands": {}}
    for i, band in enumerate(bands):
        px = data[i][valid]
        out["bands"][band] = {"min": int(px.min()) if px.size else 0, "max": int(px.max()) if px.size else 0,
                              "std": round(float(px.std()), 3) if px.size else 0.0}
    return out
