"""The Dagster definitions: the asset graph (``defs/``), its automation and resources, over one dataset folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ftw_assets.automation.schedules import fill_missing_chip_years
from ftw_assets.automation.sensors import reselect_cloudy_chips
from ftw_assets.defs import ASSETS, CHECKS
from ftw_assets.resources import build_resources, output_dir_from_env
from ftw_assets.storage import enable_event_batches

# Run processes that load these definitions (dagster dev, the daemon's runs, the UI's) write each
# step's materializations together, as ftwd's runs do.
enable_event_batches()


def build_defs(output_dir: Path | None = None) -> dg.Definitions:
    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS, sensors=[reselect_cloudy_chips],
                          schedules=[fill_missing_chip_years], resources=build_resources(output_dir or output_dir_from_env()))


defs = build_defs()
