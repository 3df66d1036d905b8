"""Run config of selected_scenes: anything set here overrides OUTPUT_DIR/selection.json for one run."""

from typing import Optional

import dagster as dg

from ftw_assets.core.scenes.selection import SelectionSettings


class SelectionConfig(dg.Config):
    buffer_days: Optional[int] = None
    cloud_cover_scene: Optional[float] = None
    pixel_check: Optional[bool] = None
    cloud_cover_pixel: Optional[float] = None
    on_missing: Optional[str] = None
    include_alternatives: Optional[bool] = None

    def apply(self, base: SelectionSettings) -> SelectionSettings:
        changes = {k: v for k, v in self.model_dump().items() if v is not None}
        return SelectionSettings(**{**base.__dict__, **changes}).check()
