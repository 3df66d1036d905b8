"""The Dagster definitions: every asset of the graph, over one dataset folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .catalog.assets import stac_catalog
from .chips.assets import chip_grid, chip_registry, field_boundaries
from .masks.assets import masks
from .resources import build_resources, output_dir_from_env
from .scenes.assets import scene_inventory
from .calendar.assets import crop_calendar
from .selection.assets import selected_scenes
from .images.assets import clipped_images
from .images.checks import clipped_image_checks
from .refinement.assets import cloud_refinement
from .refinement.sensors import reselect_cloudy_chips
from .operations.schedules import fill_missing_chip_years
from .operations.assets import qa_report

ALL_ASSETS = [field_boundaries, chip_registry, chip_grid, masks, crop_calendar, selected_scenes, clipped_images,
              cloud_refinement, stac_catalog, scene_inventory, qa_report]
ALL_SENSORS = [reselect_cloudy_chips]
ALL_SCHEDULES = [fill_missing_chip_years]
ALL_CHECKS = [clipped_image_checks]


def build_defs(output_dir: Path | None = None) -> dg.Definitions:
    return dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, sensors=ALL_SENSORS, schedules=ALL_SCHEDULES, resources=build_resources(output_dir or output_dir_from_env()))


defs = build_defs()
