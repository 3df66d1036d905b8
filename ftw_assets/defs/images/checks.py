"""Checks of every clipped image on disk: a valid COG on its chip's mask grid, no blank band, values in
range, and the nodata share reported."""

from typing import Iterable

import dagster as dg

from ftw_assets.core.raster.checks import check_images
from ftw_assets.resources import DatasetResource
from ftw_assets.defs.images.assets import clipped_images

CHECKS = ("valid_cog_on_mask_grid", "no_blank_band", "values_in_range")


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=clipped_images) for name in CHECKS],
    description="Scan every clipped image of the dataset.",
)
def clipped_image_checks(dataset: DatasetResource) -> Iterable[dg.AssetCheckResult]:
    settings, layout = dataset.settings(), dataset.layout()
    found = check_images(layout, settings.mask_types[0] if settings.mask_types else None)
    for name in CHECKS:
        bad = found["problems"][name]
        yield dg.AssetCheckResult(
            check_name=name, asset_key=clipped_images.key, passed=not bad,
            metadata={"images": found["images"], "failing": dg.MetadataValue.json(bad[:50]),
                      "failing_count": len(bad), "max_nodata_share": found["max_nodata_share"],
                      "mean_nodata_share": found["mean_nodata_share"]},
        )
