"""training_export: the dataset in the folder layout the FTW training tools read (torchgeo, ftw-tools)."""

from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from ftw_assets.core.export.ftw import default_export_dir, export_ftw
from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.resources import DatasetResource


class ExportConfig(dg.Config):
    out_dir: Optional[str] = Field(
        default=None, description="Export root folder, outside the dataset (default: OUTPUT_DIR-ftw beside it).")
    country: Optional[str] = Field(
        default=None, description="Country folder name; torchgeo and ftw-tools accept only the 25 FTW names "
                                  "(default: the dataset name).")


@dg.asset(deps=[stac_catalog], group_name="export", kinds={"cog", "geoparquet"})
def training_export(context: dg.AssetExecutionContext, config: ExportConfig,
                    dataset: DatasetResource) -> dg.MaterializeResult:
    """Write window_a (planting) / window_b (harvest) images, the three label masks at 256 x 256 and
    chips_{country}.parquet; chip-years missing a season are left out and listed. Only what changed is
    written again."""
    layout = dataset.layout()
    out_dir = Path(config.out_dir) if config.out_dir else default_export_dir(layout.output_dir)
    report = export_ftw(layout, dataset.settings(), out_dir, config.country)
    for line in report.summary():
        context.log.info(line)
    return dg.MaterializeResult(metadata={
        "folder": dg.MetadataValue.path(str(report.country_dir)),
        "samples": dg.MetadataValue.json(report.samples),
        "left_out": dg.MetadataValue.json([f"{x.aoi_id} [{x.split}]: {x.reason}" for x in report.left_out[:50]]),
        "written": report.written, "unchanged": report.unchanged, "removed": report.removed,
    })
