"""qa_report: one self-contained HTML page over the whole dataset, linked from the collection."""

import dagster as dg
import pystac

from ftw_assets.defs.catalog.assets import _collection_assets, stac_catalog
from ftw_assets.core.atomic import write_text
from ftw_assets.core.reports.qa import build_qa_html
from ftw_assets.core.stac.items import rebuild_catalog
from ftw_assets.resources import DatasetResource

QA_FILE = "qa_report.html"


@dg.asset(deps=[stac_catalog], group_name="catalog", kinds={"html"})
def qa_report(context: dg.AssetExecutionContext, dataset: DatasetResource) -> dg.MaterializeResult:
    """Counts by status, season and split, cloud and date-gap histograms, a thumbnail gallery beside
    the 3-class masks, and the skipped and failed chips with their reasons."""
    settings, layout = dataset.settings(), dataset.layout()
    path = layout.catalog_dir / QA_FILE
    write_text(path, build_qa_html(layout, f"{settings.name}-chips"))
    qa = pystac.Asset(f"./{QA_FILE}", media_type="text/html", roles=["overview"], title="QA report")
    rebuild_catalog(layout, description=f"FTW training chips built by ftw_assets from {settings.fields}",
                    extra_assets={**_collection_assets(), "qa_report": qa})
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(path)),
                                          "bytes": path.stat().st_size})
