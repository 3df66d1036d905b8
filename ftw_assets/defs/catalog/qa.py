"""qa_report: one self-contained HTML page over the whole dataset, linked from the collection."""

import dagster as dg

from ftw_assets.core.atomic import write_text
from ftw_assets.core.reports.qa import build_qa_html
from ftw_assets.core.stac.collection import QA_FILE, rebuild_collection
from ftw_assets.defs.catalog.assets import stac_catalog
from ftw_assets.resources import DatasetResource


@dg.asset(deps=[stac_catalog], group_name="catalog", kinds={"html"})
def qa_report(context: dg.AssetExecutionContext, dataset: DatasetResource) -> dg.MaterializeResult:
    """Counts by status, season and split, cloud and date-gap histograms, a thumbnail gallery beside
    the 3-class masks, and the skipped and failed chips with their reasons."""
    settings, layout = dataset.settings(), dataset.layout()
    path = layout.catalog_dir / QA_FILE
    write_text(path, build_qa_html(layout, f"{settings.name}-chips"))
    rebuild_collection(layout, settings.fields)  # now lists the report
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(path)),
                                          "bytes": path.stat().st_size})
