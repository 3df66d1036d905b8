"""qa_report: one self-contained HTML page over the whole dataset, linked from the collection."""

from typing import Optional

import dagster as dg
from pydantic import Field

from ftw_assets.core.atomic import write_text
from ftw_assets.core.reports.qa import build_qa_html, failure_rate_of
from ftw_assets.core.reports.qa_settings import QaSettings
from ftw_assets.core.stac.collection import QA_FILE, update_collection
from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.resources import DatasetResource


class QaReportConfig(dg.Config):
    """Set fields override OUTPUT_DIR/qa.json for one run."""

    max_failure_share: Optional[float] = Field(
        default=None, description=f"{QaSettings.describe('max_failure_share')} Unset: qa.json's value.")


@dg.asset(deps=[stac_catalog], group_name="catalog", kinds={"html"})
def qa_report(context: dg.AssetExecutionContext, config: QaReportConfig,
              dataset: DatasetResource) -> dg.MaterializeResult:
    """Counts by status, season and split, cloud and date-gap histograms, a thumbnail gallery beside
    the 3-class masks (scene id, date and chip- and scene-level cloud under each image), the skipped
    and failed chips with their reasons, and an alert at the top when more than ``max_failure_share``
    of the chip-years failed or were skipped."""
    settings, layout = dataset.settings(), dataset.layout()
    qa = QaSettings.load(layout.output_dir)
    if config.max_failure_share is not None:
        qa = QaSettings(max_failure_share=config.max_failure_share)
    path = layout.catalog_dir / QA_FILE
    write_text(path, build_qa_html(layout, f"{settings.name}-chips", qa.max_failure_share))
    update_collection(layout, settings.fields, (), base_url=settings.base_url)  # now lists the report
    rate = failure_rate_of(layout)
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size,
        "failed_or_skipped_share": round(rate.share, 4), "alert": rate.above(qa.max_failure_share)})
