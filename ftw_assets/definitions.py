"""The Dagster definitions: every asset of the graph, over one dataset folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
from ftw_assets.defs.masks.assets import masks
from ftw_assets.resources import build_resources, output_dir_from_env
from ftw_assets.defs.scenes.inventory import scene_inventory
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.images.checks import clipped_image_checks
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.automation.sensors import reselect_cloudy_chips
from ftw_assets.automation.schedules import fill_missing_chip_years
from ftw_assets.defs.catalog.qa import qa_report

ALL_ASSETS = [field_boundaries, chip_registry, chip_grid, masks, crop_calendar, selected_scenes, clipped_images,
              cloud_refinement, stac_catalog, scene_inventory, qa_report]
ALL_SENSORS = [reselect_cloudy_chips]
ALL_SCHEDULES = [fill_missing_chip_years]
ALL_CHECKS = [clipped_image_checks]


def build_defs(output_dir: Path | None = None) -> dg.Definitions:
    return dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, sensors=ALL_SENSORS, schedules=ALL_SCHEDULES, resources=build_resources(output_dir or output_dir_from_env()))


defs = build_defs()
