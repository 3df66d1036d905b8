"""scene_inventory: what the configured source offers over the dataset's Sentinel-2 tiles, per year."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ftw_assets.defs.chips.assets import chip_registry
from ftw_assets.core.geometry.grid import read_chip_table
from ftw_assets.core.scenes.inventory import inventory_queries, summarize
from ftw_assets.partitions import YEARS
from ftw_assets.resources import DatasetResource
from ftw_assets.resources import STAC_POOL, SceneSourceResource


@dg.asset(deps=[chip_registry], group_name="scenes", kinds={"stac", "duckdb"}, pool=STAC_POOL)
def scene_inventory(
    context: dg.AssetExecutionContext, dataset: DatasetResource, scene_source: SceneSourceResource,
    duckdb: DuckDBResource,
) -> dg.MaterializeResult:
    """One search per MGRS tile and year over the chips of that tile; the normalised scenes (cloud
    cover, nodata, processing baseline and the reflectance offset decided for each) go to the DuckDB
    table ``scene_inventory``."""
    settings, layout = dataset.settings(), dataset.layout()
    chips = read_chip_table(layout.chips_parquet)
    years = [int(y) for y in context.instance.get_dynamic_partitions(YEARS)]
    source = scene_source.open(settings)
    rows, rejected = [], []
    for tile, year, query in inventory_queries(chips, years):
        result = source.search(query)
        rows += [{"tile": tile, "year": year, **scene.record()} for scene in result.scenes]
        rejected += [{"tile": tile, "year": year, "scene_id": i, "reason": r} for i, r in result.rejected]
    frame = pd.DataFrame(rows, columns=["tile", "year", "scene_id", "datetime", "cloud_cover", "nodata_percentage",
                                        "processing_baseline", "boa_offset", "harmonization", "collection", "provider",
                                        "mgrs_tile", "epsg", "bands", "footprint_wkt"])
    with duckdb.get_connection() as conn:
        conn.execute("CREATE OR REPLACE TABLE scene_inventory AS SELECT * FROM frame")
    summary = summarize(frame)
    return dg.MaterializeResult(metadata={
        "source": source.describe(),
        "scenes": len(frame),
        "searches": len(summary),
        "requests": source.requests,
        "retries": source.retries,
        "rejected items": dg.MetadataValue.json(rejected[:50]),
        "per tile and year": dg.MetadataValue.md(summary.to_markdown(index=False) if len(summary) else "no scenes"),
    })
