"""Which optional stages a dataset is configured for: the one answer to "is this stage on?".

A stage is on when its options file exists in the dataset folder (the command that turns it on
writes it): scene selection (``selection.json``), images (``images.json``, needs selection) and
cloud refinement (``refinement.json``, needs selection). Chips, masks and the catalog always run.
The images of the sensors beyond Sentinel-2 (``dataset.json``'s ``sensors``, from ``--sensors``) are
made with the Sentinel-2 images: each sensor's stage (:func:`sensor_stage`) is on when images are on
and the dataset lists the sensor. :data:`ASSET_STAGES` names the stage of each chip-year asset
(``ftw_assets.pipeline`` checks that it covers the asset graph), so that ``ftwd status`` knows a
dataset's assets without loading the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ftw_assets.core.dataset.files import (IMAGES_FILE, REFINEMENT_FILE, SELECTION_FILE, SETTINGS_FILE,
                                           read_settings_json)

SELECT, DOWNLOAD, REFINE = "select", "download", "refine"
ALWAYS = "always"
SENSOR_PREFIX = "sensor:"


def sensor_stage(sensor: str) -> str:
    """The stage of a sensor's images (``sensor:s1``)."""
    return SENSOR_PREFIX + sensor


# The chip-year asset of each sensor beyond Sentinel-2.
SENSOR_ASSET_NAMES = {"s1": "sentinel1_images", "landsat": "landsat_images", "dem": "elevation_chips",
                      "landcover": "landcover_chips"}
# Each chip-year asset, by name, and the stage that turns it on.
ASSET_STAGES = {"chip_grid": ALWAYS, "masks": ALWAYS, "crop_calendar": SELECT, "selected_scenes": SELECT,
                "clipped_images": DOWNLOAD, "cloud_refinement": REFINE, "stac_catalog": ALWAYS,
                **{name: sensor_stage(sensor) for sensor, name in SENSOR_ASSET_NAMES.items()}}


@dataclass(frozen=True)
class Stages:
    select: bool = False
    download: bool = False
    refine: bool = False
    sensors: tuple[str, ...] = ()  # beyond Sentinel-2

    @classmethod
    def of(cls, output_dir: Path) -> "Stages":
        output_dir = Path(output_dir)
        select = (output_dir / SELECTION_FILE).exists()
        return cls(select=select, download=select and (output_dir / IMAGES_FILE).exists(),
                   refine=select and (output_dir / REFINEMENT_FILE).exists(), sensors=_extra_sensors(output_dir))

    def with_(self, **on: bool) -> "Stages":
        return replace(self, **on)

    def enabled(self, stage: str) -> bool:
        if stage.startswith(SENSOR_PREFIX):
            return self.download and stage[len(SENSOR_PREFIX):] in self.sensors
        return stage == ALWAYS or bool(getattr(self, stage))

    def asset_names(self) -> list[str]:
        """The chip-year assets these stages run (names, in :data:`ASSET_STAGES`' order)."""
        return [name for name, stage in ASSET_STAGES.items() if self.enabled(stage)]


def _extra_sensors(output_dir: Path) -> tuple[str, ...]:
    """The sensors beyond Sentinel-2 that the dataset's ``dataset.json`` lists (checked when it was saved)."""
    from ftw_assets.core.errors import InputError

    path = output_dir / SETTINGS_FILE
    if not path.exists():
        return ()
    sensors = read_settings_json(path).get("sensors") or []
    if not isinstance(sensors, list) or not all(isinstance(s, str) for s in sensors):
        raise InputError(f"{path}: sensors is {sensors!r}, not a list of sensor names as ftwd writes it (e.g. "
                         '["s2", "s1"]): put back the one it wrote, or run create-dataset --sensors again.')
    return tuple(s for s in sensors if s != "s2")


def require_selection(output_dir: Path, command: str) -> None:
    """``command`` works on selected scenes: refuse, before anything is written, where none were selected."""
    from ftw_assets.core.errors import InputError

    if not Stages.of(output_dir).select:
        raise InputError(f"{output_dir} has no scene selection yet, so {command} has nothing to work on. "
                         f"Run `ftwd select-images {output_dir}` first (or create-dataset --select-images).")
