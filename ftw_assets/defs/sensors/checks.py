"""The quality checks of each sensor's images on disk, one Dagster check per modality check
(thresholds from :data:`~ftw_assets.core.sensors.config.SENSORS`; see :mod:`ftw_assets.core.sensors.checks`)."""

from typing import Iterable

import dagster as dg

from ftw_assets.core.sensors.checks import check_names, check_sensor_images
from ftw_assets.defs.sensors.assets import SENSOR_ASSETS
from ftw_assets.resources import DatasetResource


def sensor_checks(sensor: str) -> dg.AssetChecksDefinition:
    asset = SENSOR_ASSETS[sensor]

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(name, asset=asset) for name in check_names(sensor)],
        name=f"{asset.key.path[-1]}_checks", description=f"Scan every {sensor} image of the dataset.",
    )
    def _checks(dataset: DatasetResource) -> Iterable[dg.AssetCheckResult]:
        settings, layout = dataset.settings(), dataset.layout()
        found = check_sensor_images(layout, sensor, settings.mask_types[0] if settings.mask_types else None)
        for name in check_names(sensor):
            bad = found["problems"][name]
            yield dg.AssetCheckResult(
                check_name=name, asset_key=asset.key, passed=not bad,
                metadata={"images": found["images"], "failing": dg.MetadataValue.json(bad[:50]),
                          "failing_count": len(bad), "max_nodata_share": found["max_nodata_share"]})

    return _checks


SENSOR_CHECKS = {sensor: sensor_checks(sensor) for sensor in SENSOR_ASSETS}
