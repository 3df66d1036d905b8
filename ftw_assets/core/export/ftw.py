"""Export a dataset in the folder layout of the Fields of The World (FTW) training tools.

torchgeo's ``FieldsOfTheWorld`` (0.7) and ftw-tools' ``FTW`` dataset (1.4.3, used by ``ftw model fit``)
read, under a root folder ``OUT_DIR``::

    OUT_DIR/{country}/chips_{country}.parquet                   aoi_id, split, geometry (GeoParquet, EPSG:4326)
    OUT_DIR/{country}/s2_images/window_a/{aoi_id}.tif           planting image
    OUT_DIR/{country}/s2_images/window_b/{aoi_id}.tif           harvest image
    OUT_DIR/{country}/label_masks/semantic_2class/{aoi_id}.tif  uint8 0 background, 1 field
    OUT_DIR/{country}/label_masks/semantic_3class/{aoi_id}.tif  uint8 0, 1 field interior, 2 boundary
    OUT_DIR/{country}/label_masks/instance/{aoi_id}.tif         uint32 instance ids, 0 none
    OUT_DIR/{country}/{window_a,window_b,masks,distances}_checksums.md5
    OUT_DIR/{country}/{sensor}_images/{window_a,window_b,static}/{aoi_id}.tif   other sensors (with --sensors)
    OUT_DIR/{country}/{sensor}_qa/{window_a,window_b}/{aoi_id}.tif              their quality layer (Landsat)

Both loaders read the image with rasterio's ``read()`` and stack the two windows on the band axis
(torchgeo 0.7.2 and ftw-tools: window b first, then window a), and the mask's band 1 as ``long``.
torchgeo's ``download=False`` checks only that ``label_masks``, ``s2_images`` and the parquet exist.
ftw-tools also needs both semantic masks for a sample. It reads the checksum files only with
``checksum=True``. Their lines are ``md5  path``, with the path relative to ``OUT_DIR``.
``distances_checksums.md5`` is written empty because there are no distance masks.

What the export decides:

- ``aoi_id`` is the chip-year stem ``{chip}_{year}`` (e.g. ``ftw-33UWP7828_2024``), so each id is unique
  across years and is safe as a file name. Windows follow FTW: window a = planting, window b = harvest.
- Images are uint16 with 4 bands R, G, B, NIR, picked by their band names (the dataset may hold
  more bands or another order). Nodata is 0. The DNs are copied unchanged: the dataset already stores
  reflectance x 10000 harmonised to the pre-04.00 processing baseline (the +1000 BOA offset of
  baseline 04.00 and later is removed at download and recorded in the tag ``boa_offset_removed``,
  which is carried over along with the source item and baseline). FTWDataModule divides by 3000.
- Chips are 256 x 256, centred on the masks' grid: a larger grid is cropped, a smaller one padded.
  The padding is 0 in images (nodata) and in the instance mask, and 3 (unknown) in the semantic
  masks, so it is not learnt as background when training ignores class 3 (``ignore_index: 3``, as
  FTW's own configs set). With ``--presence-only`` the dataset's masks already mark background 3.
  To get real pixels instead of padding, create the dataset with ``--chip-size-px 256``.
- A chip-year without its planting or harvest image, or without masks, is left out of the parquet
  and none of its files are written. It is listed with its split and the reason (the loaders skip
  such AOIs too). A missing semantic mask is derived from the instance mask. So is a chip-year
  whose season image is unfit for training (:mod:`~ftw_assets.core.export.fitness`): cloud
  refinement rejected its scene and nothing replaced it, or the image is blank.
- Country: both loaders accept only the 25 FTW country names (``valid_countries``, asserted). The
  default name is the dataset's name (lower case, ``-`` becomes ``_``). torchgeo reads such an
  export through a subclass that extends the list, e.g.
  ``class Mine(FieldsOfTheWorld): valid_countries = (*FieldsOfTheWorld.valid_countries, "demo")``.
  ``ftw model fit`` builds ``FTW`` inside ``FTWDataModule``, so for it pass one of the 25 names, e.g.
  the country the chips lie in. That name only labels the folder: no FTW data is mixed in.
- The files are written, never hard-linked: every output differs from its source (band order,
  256 px, name). Each file is written to a temp file and renamed (per-file atomic). Every output
  lies under ``OUT_DIR/{country}``, which must not overlap the dataset folder. A manifest
  ``ftwd_export.json`` records the size and mtime of each output's sources and of the output. A
  rerun rewrites only the outputs whose sources or content changed, removes the outputs it listed
  that are no longer exported, and touches no other file.
- A dataset made with ``--sensors`` also exports each other sensor's images of an exported chip-year
  (Sentinel-1, Landsat, DEM, land cover), cut or padded to the same 256 px grid with their own bands,
  data type and nodata (NaN for float images), beside the FTW folders the loaders read. With the
  land-cover homogeneity filter (``--min-class-share``, ``--excluded-classes``) a chip-year whose land
  cover fails it is left out, with the reason (:mod:`~ftw_assets.core.sensors.homogeneity`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio

from ftw_assets.core.atomic import atomic_path, inside, sweep_temp_files
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.settings import DatasetSettings
from ftw_assets.core.errors import InputError
from ftw_assets.core.export.fitness import missing_image, unfit_image
from ftw_assets.core.geometry.grid import ChipGrid, grid_footprint, read_chip_table
from ftw_assets.core.raster.cog import read_grid, write_cog
from ftw_assets.core.raster.masks import UNKNOWN, build_masks
from ftw_assets.core.sensors.homogeneity import left_out_reason

EXPORT_VERSION = 1  # part of every output's signature: a change of the export rewrites all files
CHIP_PX = 256
FTW_COUNTRIES = (
    "austria", "belgium", "brazil", "cambodia", "corsica", "croatia", "denmark", "estonia", "finland",
    "france", "germany", "india", "kenya", "latvia", "lithuania", "luxembourg", "netherlands", "portugal",
    "rwanda", "slovakia", "slovenia", "south_africa", "spain", "sweden", "vietnam",
)
FTW_BANDS = ("red", "green", "blue", "nir")
WINDOWS = {"planting": "window_a", "harvest": "window_b"}
MASK_DIRS = {"semantic_2_class": "semantic_2class", "semantic_3_class": "semantic_3class", "instance": "instance"}
MASK_PAD = {"semantic_2_class": UNKNOWN, "semantic_3_class": UNKNOWN, "instance": 0}
MASK_DTYPES = {"semantic_2_class": "uint8", "semantic_3_class": "uint8", "instance": "uint32"}
CHECKSUM_FILES = ("window_a", "window_b", "masks", "distances")
# Another sensor's files in a chip-year folder (after the "{chip}_{year}_" stem): ftw_assets.core.sensors.images.
SENSOR_FILE = re.compile(r"(?:(?P<season>planting|harvest)_)?(?P<kind>image|qa)_(?P<sensor>[a-z0-9]+)\.tif")
MANIFEST = "ftwd_export.json"
SPLITS = ("train", "val", "test")
COUNTRY_RE = re.compile(r"^[a-z0-9_]+$")
CARRIED_TAGS = ("source_item", "source_collection", "datetime", "boa_offset_removed", "harmonization",
                "processing_baseline", "units")


@dataclass(frozen=True)
class LeftOut:
    aoi_id: str
    split: str
    reason: str


@dataclass
class ExportReport:
    """What one export did. ``samples`` and ``left_out`` describe the export and are stable from run to
    run. ``written``, ``unchanged`` and ``removed`` count this run's file operations."""

    out_dir: Path
    country: str
    samples: dict[str, int]
    left_out: list[LeftOut]
    presence_only: bool
    written: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def country_dir(self) -> Path:
        return self.out_dir / self.country

    @property
    def loader_country(self) -> bool:
        """True when unmodified torchgeo and ftw-tools accept the country name."""
        return self.country in FTW_COUNTRIES

    @property
    def left_out_by_split(self) -> dict[str, int]:
        return {s: sum(1 for x in self.left_out if x.split == s) for s in SPLITS}

    def summary(self) -> list[str]:
        by = lambda counts: ", ".join(f"{s} {counts.get(s, 0)}" for s in SPLITS)  # noqa: E731
        lines = [f"FTW export in {self.country_dir}: {sum(self.samples.values())} chip-years ({by(self.samples)})",
                 f"left out (a season missing, cloudy or blank, or no masks): {len(self.left_out)} "
                 f"({by(self.left_out_by_split)})"]
        lines += [f"  {x.aoi_id} [{x.split}]: {x.reason}" for x in self.left_out]
        lines.append(f"files: {self.written} written, {self.unchanged} unchanged, {self.removed} removed")
        if not self.loader_country:
            lines.append(f"note: torchgeo and ftw-tools accept only the 25 FTW country names; {self.country!r} "
                         "loads through a subclass that extends valid_countries, or export with --country NAME "
                         "(one of: " + ", ".join(FTW_COUNTRIES) + ")")
        return lines


@dataclass
class _Sample:
    chip_year: ChipYear
    split: str
    grid: ChipGrid  # the masks' grid
    masks: dict[str, Path]  # mask type -> source file (present ones)
    images: dict[str, tuple[Path, list[int], dict]]  # season -> (file, R,G,B,NIR band indexes, tags)
    sensor_files: dict[str, Path] = field(default_factory=dict)  # "{sensor}_images/{window}" -> source file
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # relative output -> (kind, key)

    @property
    def aoi_id(self) -> str:
        return self.chip_year.stem


def default_export_dir(output_dir: Path) -> Path:
    """Beside the dataset, never inside it: ``OUTPUT_DIR-ftw``."""
    output_dir = Path(output_dir).resolve()
    return output_dir.with_name(f"{output_dir.name}-ftw")


def country_name(value: str) -> str:
    name = value.strip().lower().replace("-", "_")
    if not COUNTRY_RE.match(name):
        raise InputError(f"--country {value!r}: use letters, digits and '_' only (it names the export folder "
                         f"and chips_{{country}}.parquet).")
    return name


def export_ftw(layout: Layout, settings: DatasetSettings, out_dir: str | Path,
               country: str | None = None) -> ExportReport:
    """Write the FTW layout of the dataset under ``out_dir/country``; see the module docstring."""
    country = country_name(country or settings.name)
    out_dir = Path(out_dir).resolve()
    country_dir = out_dir / country
    dataset_dir = Path(layout.output_dir).resolve()
    for a, b in ((dataset_dir, country_dir), (country_dir, dataset_dir)):
        if a == b or a in b.parents:
            raise InputError(f"{out_dir}: the export folder {country_dir} and the dataset folder {dataset_dir} "
                             "overlap; choose an OUT_DIR outside the dataset (the export never writes into it).")
    if not layout.chips_parquet.exists():
        raise InputError(f"{layout.chips_parquet} not found: build the dataset first (`ftwd create-dataset`).")
    country_dir.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(country_dir)

    samples, left_out = _classify(layout, settings)
    old = _read_manifest(country_dir)
    old_files = old.get("files", {})
    report = ExportReport(out_dir, country, {s: sum(1 for x in samples if x.split == s) for s in SPLITS},
                          left_out, bool(settings.presence_only))

    files: dict[str, dict] = {}
    for sample in samples:
        for rel, (kind, key) in _outputs(sample, country).items():
            sources = ([sample.images[key][0]] if kind == "image" else [sample.sensor_files[key]] if kind == "sensor"
                       else mask_sources(sample.masks, key))
            signature = [EXPORT_VERSION, kind, key, bool(settings.presence_only),
                         [[str(p.relative_to(dataset_dir)), *_stat(p)] for p in sources]]
            target = inside(country_dir, out_dir / rel)
            prev = old_files.get(rel)
            if prev and prev["sources"] == signature and target.exists() and _stat(target) == prev["stat"]:
                files[rel] = prev
                report.unchanged += 1
                continue
            if kind == "image":
                _write_image(sample, key, target)
            elif kind == "sensor":
                _write_sensor_image(sample, key, target)
            else:
                _write_mask(sample, key, target, bool(settings.presence_only))
            files[rel] = {"sources": signature, "stat": _stat(target), "md5": _md5(target)}
            report.written += 1

    for rel in sorted(set(old_files) - set(files)):  # exported last time, not now: only files we wrote
        target = inside(country_dir, out_dir / rel)
        if target.exists():
            target.unlink()
            report.removed += 1

    _write_if_changed(country_dir / f"chips_{country}.parquet", _chips_parquet(samples), report)
    for name in CHECKSUM_FILES:
        _write_if_changed(country_dir / f"{name}_checksums.md5", _checksums(files, name).encode(), report)
    manifest = {"export_version": EXPORT_VERSION, "country": country, "dataset": str(dataset_dir),
                "presence_only": report.presence_only, "chip_px": CHIP_PX, "samples": report.samples,
                "left_out": [asdict(x) for x in left_out], "files": files}
    _write_if_changed(country_dir / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
                      report, count=False)
    return report


def _classify(layout: Layout, settings: DatasetSettings) -> tuple[list[_Sample], list[LeftOut]]:
    """Every chip-year folder of the catalog, exported or left out with a reason."""
    chips = read_chip_table(layout.chips_parquet)
    split_of = dict(zip(chips["chip_id"], chips["split"]))
    found: dict[str, list[ChipYear]] = {}
    for folder in sorted(p for p in layout.catalog_dir.iterdir() if p.is_dir()):
        try:
            cy = ChipYear.from_stem(folder.name)
        except ValueError:
            continue
        if cy.chip in split_of:
            found.setdefault(cy.chip, []).append(cy)
    samples, left_out = [], []
    for chip in sorted(split_of):
        split = str(split_of[chip])
        if chip not in found:
            aoi = f"{chip}_{settings.year}" if settings.year is not None else chip
            left_out.append(LeftOut(aoi, split, "no chip folder (masks not built)"))
        for cy in found.get(chip, []):
            filtered = left_out_reason(layout, cy, settings.min_class_share, settings.excluded_classes)
            if filtered:  # the land-cover homogeneity filter (--min-class-share, --excluded-classes)
                left_out.append(LeftOut(cy.stem, split, filtered))
                continue
            sample, reason = _sample(layout, cy, split)
            if sample is None:
                left_out.append(LeftOut(cy.stem, split, reason))
            else:
                samples.append(sample)
    return samples, left_out


def _sample(layout: Layout, cy: ChipYear, split: str) -> tuple[_Sample | None, str]:
    masks = {m: layout.chip_file(cy.chip, cy.year, f"{m}.tif") for m in MASK_DIRS}
    masks = {m: p for m, p in masks.items() if p.exists()}
    derivable = "instance" in masks or {"semantic_2_class", "semantic_3_class"} <= set(masks)
    if not derivable:
        return None, "no masks (needs instance, or both semantic masks)"
    missing = [s for s in WINDOWS if not layout.chip_file(cy.chip, cy.year, f"{s}_image_s2.tif").exists()]
    if missing:
        return None, "; ".join(missing_image(layout, cy, season) for season in missing)
    grid = read_grid(next(iter(masks.values())))
    images = {}
    for season in WINDOWS:
        path = layout.chip_file(cy.chip, cy.year, f"{season}_image_s2.tif")
        with rasterio.open(path) as src:
            names = list(src.descriptions)
            tags = src.tags()
        absent = [b for b in FTW_BANDS if b not in names]
        if absent:
            return None, f"{season} image has no {', '.join(absent)} band"
        if read_grid(path) != grid:
            return None, f"{season} image is not on the masks' grid"
        unfit = unfit_image(layout, cy, season, path, {b: names.index(b) + 1 for b in FTW_BANDS}, tags)
        if unfit:
            return None, unfit
        images[season] = (path, [names.index(b) + 1 for b in FTW_BANDS], tags)
    return _Sample(cy, split, grid, masks, images, sensor_files=_sensor_files(layout, cy)), ""


def _sensor_files(layout: Layout, cy: ChipYear) -> dict[str, Path]:
    """The other sensors' images (and quality layers) of the chip-year on disk, by output folder."""
    out = {}
    for path in sorted(layout.chip_dir(cy.chip, cy.year).glob(f"{cy.stem}_*.tif")):
        match = SENSOR_FILE.fullmatch(path.name[len(cy.stem) + 1:])
        if match and match["sensor"] != "s2":
            window = WINDOWS.get(match["season"] or "", "static")
            out[f"{match['sensor']}_{'images' if match['kind'] == 'image' else 'qa'}/{window}"] = path
    return out


def _outputs(sample: _Sample, country: str) -> dict[str, tuple[str, str]]:
    out = {f"{country}/s2_images/{w}/{sample.aoi_id}.tif": ("image", s) for s, w in WINDOWS.items()}
    out.update({f"{country}/label_masks/{d}/{sample.aoi_id}.tif": ("mask", m) for m, d in MASK_DIRS.items()})
    out.update({f"{country}/{folder}/{sample.aoi_id}.tif": ("sensor", folder) for folder in sample.sensor_files})
    return out


def fit_grid(grid: ChipGrid, size: int = CHIP_PX) -> tuple[ChipGrid, int, int]:
    """The ``size`` x ``size`` grid centred on ``grid`` (pixel-aligned), and the row and column of its
    top-left pixel on ``grid`` (negative where it pads)."""
    row0, col0 = (grid.height - size) // 2, (grid.width - size) // 2
    fitted = ChipGrid(grid.epsg, grid.x_min + col0 * grid.res, grid.y_max - row0 * grid.res, size, size, grid.res)
    return fitted, row0, col0


def fit_array(arr: np.ndarray, row0: int, col0: int, size: int, fill) -> np.ndarray:
    """(bands, rows, cols) cut or padded with ``fill`` to ``size`` x ``size`` from (row0, col0)."""
    out = np.full((arr.shape[0], size, size), fill, dtype=arr.dtype)
    r_src, c_src = max(row0, 0), max(col0, 0)
    r_dst, c_dst = max(-row0, 0), max(-col0, 0)
    rows = min(arr.shape[1] - r_src, size - r_dst)
    cols = min(arr.shape[2] - c_src, size - c_dst)
    out[:, r_dst:r_dst + rows, c_dst:c_dst + cols] = arr[:, r_src:r_src + rows, c_src:c_src + cols]
    return out


def _write_image(sample: _Sample, season: str, target: Path) -> None:
    path, bands, tags = sample.images[season]
    with rasterio.open(path) as src:
        data = src.read(bands).astype(np.uint16)
    fitted, row0, col0 = fit_grid(sample.grid)
    carried = {k: tags[k] for k in CARRIED_TAGS if k in tags}
    carried.update(FTW_WINDOW=WINDOWS[season], FTW_SEASON=season, FTW_AOI_ID=sample.aoi_id)
    write_cog(target, fit_array(data, row0, col0, CHIP_PX, 0), fitted, nodata=0, descriptions=list(FTW_BANDS),
              tags=carried)


def _write_sensor_image(sample: _Sample, folder: str, target: Path) -> None:
    """Another sensor's image fitted to the export grid, its bands, data type, nodata and tags kept."""
    with rasterio.open(sample.sensor_files[folder]) as src:
        data, nodata, names, tags = src.read(), src.nodata, list(src.descriptions), src.tags()
    fitted, row0, col0 = fit_grid(sample.grid)
    fill = nodata if nodata is not None else 0
    write_cog(target, fit_array(data, row0, col0, CHIP_PX, fill), fitted, nodata=nodata, descriptions=names,
              tags={**tags, "FTW_AOI_ID": sample.aoi_id})


def mask_array(masks: dict[str, Path], mask_type: str, presence_only: bool) -> np.ndarray:
    """The mask as the dataset stores it, or derived from the instance (or 3-class) mask."""
    if mask_type in masks:
        with rasterio.open(masks[mask_type]) as src:
            return src.read(1).astype(MASK_DTYPES[mask_type])
    if "instance" in masks and mask_type != "instance":
        with rasterio.open(masks["instance"]) as src:
            return build_masks(src.read(1).astype("uint32"), (mask_type,), presence_only)[mask_type]
    if mask_type == "semantic_2_class":  # from the 3-class mask: boundary pixels are field pixels
        sem3 = mask_array(masks, "semantic_3_class", presence_only)
        return np.where(sem3 == 2, 1, sem3).astype("uint8")
    raise InputError(f"cannot derive the {mask_type} mask from {', '.join(masks) or 'no masks'}")


def mask_sources(masks: dict[str, Path], mask_type: str) -> list[Path]:
    """The dataset files :func:`mask_array` reads for ``mask_type``."""
    if mask_type in masks:
        return [masks[mask_type]]
    if "instance" in masks:
        return [masks["instance"]]
    return [masks["semantic_3_class"]]


def _write_mask(sample: _Sample, mask_type: str, target: Path, presence_only: bool) -> None:
    data = mask_array(sample.masks, mask_type, presence_only)
    fitted, row0, col0 = fit_grid(sample.grid)
    out = fit_array(data[np.newaxis], row0, col0, CHIP_PX, MASK_PAD[mask_type])
    write_cog(target, out, fitted, nodata=None, descriptions=[mask_type],
              tags={"FTW_MASK_TYPE": mask_type, "FTW_PRESENCE_ONLY": str(presence_only).lower(),
                    "FTW_AOI_ID": sample.aoi_id, "FTW_PAD_VALUE": str(MASK_PAD[mask_type])})


def _chips_parquet(samples: list[_Sample]) -> bytes:
    rows = sorted(samples, key=lambda s: s.aoi_id)
    frame = gpd.GeoDataFrame(
        {"aoi_id": [s.aoi_id for s in rows], "split": [s.split for s in rows],
         "chip_id": [s.chip_year.chip for s in rows], "year": [s.chip_year.year for s in rows]},
        geometry=[grid_footprint(fit_grid(s.grid)[0]) for s in rows], crs="EPSG:4326")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _checksums(files: dict[str, dict], name: str) -> str:
    part = {"window_a": "/s2_images/window_a/", "window_b": "/s2_images/window_b/", "masks": "/label_masks/",
            "distances": "/label_masks/distances/"}[name]
    return "".join(f"{info['md5']}  {rel}\n" for rel, info in sorted(files.items()) if part in rel)


def _write_if_changed(target: Path, content: bytes, report: ExportReport, count: bool = True) -> None:
    if target.exists() and target.read_bytes() == content:
        report.unchanged += count
        return
    with atomic_path(target, suffix=target.suffix) as tmp:
        tmp.write_bytes(content)
    report.written += count


def _read_manifest(country_dir: Path) -> dict:
    path = country_dir / MANIFEST
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:  # a damaged manifest: rewrite everything rather than trust it
        return {}


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
