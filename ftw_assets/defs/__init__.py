"""The asset graph, one folder per asset group (the groups the Dagster UI shows).

chips -> masks -> scenes (calendar, selection; the inventory) -> images -> refinement -> catalog (+ QA report)
-> export (the FTW training layout); sensors (Sentinel-1, Landsat, DEM, land cover images beside the
Sentinel-2 ones, for datasets made with --sensors) -> catalog
"""

from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.defs.catalog.qa import qa_report
from ftw_assets.defs.chips.assets import chip_grid, chip_registry, field_boundaries
from ftw_assets.defs.export.assets import training_export
from ftw_assets.defs.images.assets import clipped_images
from ftw_assets.defs.images.checks import clipped_image_checks
from ftw_assets.defs.masks.assets import masks
from ftw_assets.defs.refinement.assets import cloud_refinement
from ftw_assets.defs.scenes.calendar import crop_calendar
from ftw_assets.defs.scenes.inventory import scene_inventory
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.defs.sensors.assets import SENSOR_ASSETS
from ftw_assets.defs.sensors.checks import SENSOR_CHECKS

ASSETS = [field_boundaries, chip_registry, chip_grid, masks, crop_calendar, selected_scenes, clipped_images,
          cloud_refinement, *SENSOR_ASSETS.values(), stac_catalog, scene_inventory, qa_report, training_export]
CHECKS = [clipped_image_checks, *SENSOR_CHECKS.values()]
