"""What the commands print: the run summary, the reports of the catalog folder, the status table."""

from __future__ import annotations

import json
from pathlib import Path

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ftw_assets.core.dataset.layout import Layout


def print_summary(summary, layout: Layout) -> None:
    """Runs done and failed (with their errors), and where the catalog and the Dagster history are.
    After Ctrl-C: that it was interrupted and what is left, read from the Dagster history (a run
    stopped midway counts only the chip-years it recorded); the catalog's items are counted on disk."""
    ran = summary.partitions_run
    failed = summary.failed
    click.echo("")
    if summary.interrupted:
        left = f"; {summary.remaining} chip-year(s) still need work" if summary.remaining else ""
        click.secho(f"Interrupted after {len(summary.runs)} run(s){left}. Run the same command again to finish.",
                    fg="yellow")
    elif not summary.runs:
        click.echo("Nothing to do: every asset of every chip-year is already materialized.")
    else:
        click.echo(f"{len(summary.runs)} run(s), {ran} chip-years processed, {len(failed)} run(s) failed.")
    items = len(list(layout.catalog_dir.glob("*/*.json"))) if layout.catalog_dir.exists() else 0
    click.echo(f"Catalog: {layout.collection_json} ({items} items; index {layout.items_parquet.name})")
    from ftw_assets.deploy import deployment_home

    click.echo(f"Dagster history: DAGSTER_HOME={deployment_home() or layout.dagster_home}")
    for run in failed:
        click.secho(f"failed: {'+'.join(run.assets)} {run.first} .. {run.last}", fg="red", err=True)
        for e in run.errors:
            click.secho(f"  {e}", fg="red", err=True)


def load_report(path: Path, copy_to: Path | None = None) -> dict | None:
    """A report JSON of the catalog folder, also copied to ``copy_to`` (``--output-report``)."""
    if not path.exists():
        return None
    text = path.read_text()
    if copy_to:
        from ftw_assets.core.atomic import write_text

        write_text(copy_to, text)
    return json.loads(text)


def print_selection_report(layout: Layout) -> None:
    report = load_report(layout.selection_report)
    if report is None:
        return
    click.echo(f"Selection: {report['successful']} of {report['total_processed']} chip-years with both seasons; "
               f"{len(report['skipped'])} season(s) skipped, {len(report['failed'])} chip-year(s) failed "
               f"(report: {layout.selection_report})")
    for s in report["skipped"][:20]:
        click.echo(f"  skipped {s['chip']} {s['season']}: {s['reason']} ({s['candidates_checked']} checked)")
    for f in report["failed"][:20]:
        click.secho(f"  failed {f['chip']}: {f['error']}", fg="red", err=True)


def print_download_report(layout: Layout, copy_to: Path | None = None) -> None:
    report = load_report(layout.download_report, copy_to)
    if report is None:
        return
    click.echo(f"Images: {report['successful']} of {report['total_processed']} chip-season images written, "
               f"{len(report['failed'])} failed (report: {layout.download_report})")
    for f in report["failed"][:20]:
        click.secho(f"  failed {f['chip']} {f['season']}: {f['url']}: {f['error']}", fg="red", err=True)


def print_sensor_report(layout: Layout) -> None:
    """One line per other sensor (--sensors): chip-season images written and missing, the first reasons."""
    from ftw_assets.core.sensors.config import SENSORS
    from ftw_assets.core.sensors.report import sensor_records

    for sensor, records in sensor_records(layout).items():
        entries = [(cy, season, e) for cy, rec in sorted(records.items())
                   for season, e in sorted(rec["seasons"].items())]
        missing = [(cy, season, e) for cy, season, e in entries if e.get("status") != "written"]
        click.echo(f"{SENSORS[sensor].title}: {len(entries) - len(missing)} of {len(entries)} images "
                   f"written, {len(missing)} without a scene")
        for cy, season, e in missing[:10]:
            click.echo(f"  {cy.stem} {season}: {e.get('reason', '')}")


def print_refinement_report(layout: Layout, copy_to: Path | None = None, reselected_only: bool = False) -> None:
    """Counts by outcome and one line per chip-season (``reselected_only``: those with a rejected scene)."""
    report = load_report(layout.refinement_report, copy_to)
    if report is None:
        return
    click.echo(f"Cloud refinement: {report['chip_seasons']} chip-season(s) {report['counts']} "
               f"(report: {layout.refinement_report})")
    for row in (r for r in report["rows"] if r["rejections"] or not reselected_only):
        click.echo(f"  {row['chip']} {row['season']:8} {row['scene_id']}  cloud {row['cloud_cover']:6.2f} %  "
                   f"threshold {row['threshold']:g} %  {row['outcome']}  ({row['rejections']} rejected so far)")


def print_status(table: dict, errors: list[str]) -> None:
    """Partition counts per asset, then the last errors."""
    click.echo(f"{'asset':18}{'materialized':>14}{'failed':>8}{'in progress':>13}{'missing':>9}{'total':>7}")
    for asset, c in table.items():
        click.echo(f"{asset:18}{c['materialized']:>14}{c['failed']:>8}{c['in_progress']:>13}{c['missing']:>9}{c['total']:>7}")
    if errors:
        click.echo("last errors:")
        for line in errors:
            click.echo(f"  {line}")
