"""Run config of selected_scenes: anything set here overrides OUTPUT_DIR/selection.json for one run."""

from typing import Optional

import dagster as dg
from pydantic import Field

from ftw_assets.core.scenes.selection import SelectionSettings


def _override(name: str):
    """Unset by default; the description is the selection option's own."""
    return Field(default=None, description=f"{SelectionSettings.describe(name)} Unset: selection.json's value.")


class SelectionConfig(dg.Config):
    buffer_days: Optional[int] = _override("buffer_days")
    cloud_cover_scene: Optional[float] = _override("cloud_cover_scene")
    pixel_check: Optional[bool] = _override("pixel_check")
    cloud_cover_pixel: Optional[float] = _override("cloud_cover_pixel")
    on_missing: Optional[str] = _override("on_missing")
    include_alternatives: Optional[bool] = _override("include_alternatives")

    def apply(self, base: SelectionSettings) -> SelectionSettings:
        changes = {k: v for k, v in self.model_dump().items() if v is not None}
        return SelectionSettings(**{**base.model_dump(), **changes})
