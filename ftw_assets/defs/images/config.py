"""Run config of clipped_images: set fields override OUTPUT_DIR/images.json for one run."""

from typing import List, Optional

import dagster as dg

from ftw_assets.core.raster.clip import ImageSettings


class ImagesConfig(dg.Config):
    bands: Optional[List[str]] = None
    num_workers: Optional[int] = None

    def apply(self, base: ImageSettings) -> ImageSettings:
        return ImageSettings(tuple(self.bands or base.bands), self.num_workers or base.num_workers).check()
