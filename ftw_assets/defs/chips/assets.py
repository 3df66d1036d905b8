"""Field boundaries in, chips out: the dataset's fields, the chip registry and each chip's grid."""


import dagster as dg
import geopandas as gpd
from dagster_duckdb import DuckDBResource

from ftw_assets.batch import for_each_chip_year
from ftw_assets.core.atomic import atomic_path
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.errors import InputError
from ftw_assets.core.geometry.fields import read_fields, resolve_year
from ftw_assets.core.dataset.preflight import check_fields_unchanged, plan_chips
from ftw_assets.core.geometry.grid import block_order, grid_for_chip, read_chip_table, write_chip_table
from ftw_assets.partitions import CHIPS, YEARS, chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource


@dg.asset(group_name="chips", kinds={"geoparquet"})
def field_boundaries(context: dg.AssetExecutionContext, dataset: DatasetResource) -> dg.MaterializeResult:
    """The input polygons, checked, repaired, in EPSG:4326, with sequential instance values."""
    settings, layout = dataset.settings(), dataset.layout()
    fields, report = read_fields(settings.fields, settings.layer)
    check_fields_unchanged(settings)
    year = resolve_year(fields, settings.year, settings.fields)
    with atomic_path(layout.fields_parquet, suffix=".parquet") as tmp:
        # The bbox covering column lets each run read only the fields near its chips.
        fields.to_parquet(tmp, index=False, write_covering_bbox=True)
    with atomic_path(layout.instance_ids_csv, suffix=".csv") as tmp:
        fields[["instance", "field_id"]].to_csv(tmp, index=False)
    return dg.MaterializeResult(metadata={**report.as_metadata(), "year": year,
                                          "path": dg.MetadataValue.path(str(layout.fields_parquet))})


@dg.asset(deps=[field_boundaries], group_name="chips", kinds={"duckdb", "geoparquet"})
def chip_registry(context: dg.AssetExecutionContext, dataset: DatasetResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The chip table (grid cells with enough field coverage, with splits), registered as partitions."""
    settings, layout = dataset.settings(), dataset.layout()
    fields = gpd.read_parquet(layout.fields_parquet)
    year = resolve_year(fields, settings.year, settings.fields)
    chips = plan_chips(fields, settings)
    write_chip_table(chips, layout.chips_parquet)
    table = chips.drop(columns="geometry").assign(geometry_wkt=chips.geometry.to_wkt())
    with duckdb.get_connection() as conn:
        conn.register("chip_rows", table)
        conn.execute("CREATE OR REPLACE TABLE chips AS SELECT * FROM chip_rows")
        conn.unregister("chip_rows")

    known = set(context.instance.get_dynamic_partitions(CHIPS))
    new = [c for c in block_order(chips) if c not in known]  # runs take chips in this order
    context.instance.add_dynamic_partitions(CHIPS, new)
    if str(year) not in context.instance.get_dynamic_partitions(YEARS):
        context.instance.add_dynamic_partitions(YEARS, [str(year)])
    return dg.MaterializeResult(metadata={
        "chips": len(chips), "new_chips": len(new), "year": year,
        "splits": dg.MetadataValue.json(chips["split"].value_counts().to_dict()),
        "zones": dg.MetadataValue.json({str(k): int(v) for k, v in chips["epsg"].value_counts().items()}),
        "path": dg.MetadataValue.path(str(layout.chips_parquet)),
    })


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[chip_registry],
          group_name="chips")
def chip_grid(context: dg.AssetExecutionContext, dataset: DatasetResource) -> None:
    """Each chip-year's pixel grid (UTM zone, 10 m, aligned to Sentinel-2), recorded per partition."""
    settings, layout = dataset.settings(), dataset.layout()
    chips = read_chip_table(layout.chips_parquet)

    def work(chip_year: ChipYear) -> dict:
        if chip_year.chip not in chips.index:
            raise InputError(
                f"{chip_year.chip} is a chip partition of this Dagster instance but not a cell of the dataset's chip "
                f"table {layout.chips_parquet} ({len(chips)} chips), so it has no grid: it was added by hand (e.g. in "
                "the UI) or left from an earlier chip table. Delete the partition (UI: an asset's menu, Delete "
                "partitions; or DagsterInstance.delete_dynamic_partition('chips', ID)); if the dataset's fields "
                "changed, materialize chip_registry again.")
        row = chips.loc[chip_year.chip]
        grid = grid_for_chip(row, settings.chip_size_px)
        return {"epsg": grid.epsg, "bounds": dg.MetadataValue.json(list(grid.bounds)), "width": grid.width,
                "height": grid.height, "mgrs_tile": row["mgrs_tile"], "split": row["split"],
                "coverage_pct": round(float(row["coverage"]), 4), "field_count": int(row["field_count"])}

    for_each_chip_year(context, work)
