"""Run config of clipped_images: set fields override OUTPUT_DIR/images.json for one run."""

from typing import List, Optional

import dagster as dg
from pydantic import Field

from ftw_assets.core.raster.clip import ImageSettings


def _override(name: str):
    """Unset by default; the description is the image option's own."""
    return Field(default=None, description=f"{ImageSettings.describe(name)} Unset: images.json's value.")


class ImagesConfig(dg.Config):
    bands: Optional[List[str]] = _override("bands")
    num_workers: Optional[int] = _override("num_workers")

    def apply(self, base: ImageSettings) -> ImageSettings:
        return ImageSettings(bands=tuple(self.bands or base.bands), num_workers=self.num_workers or base.num_workers)
