"""The selection, download and refinement reports are updated per run from the run's own chip-years
(``update_report``), and each file is byte for byte what a rebuild from every record gives: the
report builder over ``load_all``, written as ``report_text``."""

import json
import multiprocessing
from pathlib import Path

import pytest

from ftw_assets.core.dataset import records
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.layout import Layout
from ftw_assets.core.dataset.records import (ImagesRecord, RefinementRecord, SeasonImage, SeasonRefinement,
                                             SeasonSelection, SelectionRecord, load_all, rebuild_report, report_text,
                                             save, update_report)
from ftw_assets.core.reports.downloads import DOWNLOAD_REPORT
from ftw_assets.core.scenes.refinement import REFINEMENT_REPORT
from ftw_assets.core.scenes.selection import SELECTION_REPORT
from ftw_assets_tests.helpers import create_demo_dataset

SPECS = [SELECTION_REPORT, DOWNLOAD_REPORT, REFINEMENT_REPORT]
STATS = {"nodata_share": 0.0, "bands": {"red": {"min": 1, "max": 2, "std": 0.5}}}
CHIPS = [ChipYear(f"ftw-33UWP{e}{n}", year) for e in (78, 80, 82) for n in (28, 30) for year in (2023, 2024)]


def rebuilt(layout: Layout, spec) -> str:
    """The oracle: the report from scratch, from every record on disk."""
    return report_text(spec.build(load_all(layout, spec.kind)))


def assert_reports_equal_rebuild(layout: Layout, specs=SPECS) -> None:
    for spec in specs:
        assert spec.report_path(layout).read_text(encoding="utf-8") == rebuilt(layout, spec), spec.name


def chosen(scene_id: str, cloud: float = 0.0) -> SeasonSelection:
    return SeasonSelection(2, [], scene={"id": scene_id}, scene_id=scene_id, datetime="2024-04-03T10:06:13+00:00",
                           cloud_cover=cloud, days_from_target=3)


def save_variant(layout: Layout, cy: ChipYear, variant: int) -> None:
    """Records of all three kinds for a chip-year, one of several shapes by ``variant``."""
    selections = [
        SelectionRecord("selected", {"planting": chosen("S2A"), "harvest": chosen("S2B", 0.16)}),
        SelectionRecord("partial", {"planting": SeasonSelection(3, ["cloud_cover_scene 10 -> 100"],
                                                                reason="too cloudy: \"27 %\"\nretry"),
                                    "harvest": chosen("S2B")}),
        SelectionRecord("skipped", {}),
        SelectionRecord("failed", error="search failed: HTTP 500"),
    ]
    images = [
        ImagesRecord.of(["red"], {"planting": SeasonImage.written("p.tif", "S2A", False, STATS),
                                  "harvest": SeasonImage.written("h.tif", "S2B", True, STATS)}),
        ImagesRecord.of(["red"], {"planting": SeasonImage.failed("https://x.test/B04.tif?a=1", "HTTP 500"),
                                  "harvest": SeasonImage.written("h.tif", "S2B", False, STATS)}),
        ImagesRecord.of(["red"], {}),
    ]
    refinements = [
        RefinementRecord(1.0, {"planting": SeasonRefinement("S2A", 0.0, 0.0, "accepted"),
                               "harvest": SeasonRefinement("S2B", 0.1234, 0.0, "accepted")}),
        RefinementRecord(1.0, {"planting": SeasonRefinement("S2A", 26.65, 0.0, "rejected", 1),
                               "harvest": SeasonRefinement("S2B", 0.0, 1.0, "no data", 2)}),
        RefinementRecord(0.0, {"harvest": SeasonRefinement("S2C", 3.0, 0.0, "blank", 1)}),
        RefinementRecord(1.0),
    ]
    save(layout, cy, selections[variant % len(selections)])
    save(layout, cy, images[variant % len(images)])
    save(layout, cy, refinements[variant % len(refinements)])


def test_one_changed_chip_year_is_replaced_without_reading_every_record(tmp_path, monkeypatch):
    layout = Layout(tmp_path, "ds")
    for i, cy in enumerate(CHIPS[:-1]):
        save_variant(layout, cy, i)
    for spec in SPECS:  # the first run: no entries yet, so a rebuild
        update_report(layout, spec, CHIPS[:2])
    assert_reports_equal_rebuild(layout)
    assert list(json.loads(REFINEMENT_REPORT.report_path(layout).read_text())["counts"]) == [
        "accepted", "no data", "rejected", "blank"]

    # A run of two chip-years: the first chip-year with "no data" and "rejected" turns accepted (so they
    # first occur later and the counts' key order changes), partial -> failed, images -> another
    # failure; and one new chip-year.
    changed, new = CHIPS[1], CHIPS[-1]
    save(layout, changed, SelectionRecord("failed", error="no scene"))
    save(layout, changed, ImagesRecord.of(["red"], {"harvest": SeasonImage.failed("https://x.test/B08.tif", "404")}))
    save(layout, changed, RefinementRecord(1.0, {"planting": SeasonRefinement("S2D", 0.5, 0.0, "accepted")}))
    save_variant(layout, new, 1)
    read = []
    monkeypatch.setattr(records, "load_all", lambda *a: pytest.fail("an update read every record"))
    real_load = records.load
    monkeypatch.setattr(records, "load", lambda layout, cy, kind: read.append(cy) or real_load(layout, cy, kind))
    for spec in SPECS:
        update_report(layout, spec, [changed, new])
    monkeypatch.undo()
    assert sorted(read) == sorted([changed, new] * 3)
    assert_reports_equal_rebuild(layout)
    report = json.loads(REFINEMENT_REPORT.report_path(layout).read_text())
    assert report["counts"] == {"accepted": 7, "blank": 3, "no data": 3, "rejected": 3}
    assert list(report["counts"]) == ["accepted", "blank", "no data", "rejected"]

    # A rerun with nothing changed, and a run whose chip-years have no record, leave the files as they are.
    before = [spec.report_path(layout).read_bytes() for spec in SPECS]
    for spec in SPECS:
        update_report(layout, spec, [changed, new])
        update_report(layout, spec, [ChipYear("ftw-33UWP9999", 2024)])
    assert [spec.report_path(layout).read_bytes() for spec in SPECS] == before


def test_runs_in_any_order_keep_the_entries_in_chip_year_order(tmp_path):
    layout = Layout(tmp_path, "ds")
    chips = [ChipYear("ftw-33UWP8028", 2023), ChipYear("ftw-33UWP7828", 2024), ChipYear("ftw-33UWP7828", 2023)]
    for i, cy in enumerate(chips):
        save_variant(layout, cy, i + 1)
        for spec in SPECS:
            update_report(layout, spec, [cy])
    for spec in SPECS:
        state = json.loads(spec.state_path(layout).read_text())
        assert [e[:2] for e in state["entries"]] == [["ftw-33UWP7828", 2023], ["ftw-33UWP7828", 2024],
                                                     ["ftw-33UWP8028", 2023]]
    assert_reports_equal_rebuild(layout)


def _break(layout, spec, how):
    state, report = spec.state_path(layout), spec.report_path(layout)
    if how == "no entries":
        state.unlink()
    elif how == "corrupt entries":
        state.write_text(state.read_text()[:40])
    elif how in ("an unknown key", "a list item not rendered"):
        data = json.loads(state.read_text())
        list_key = next(k for k, v in spec.empty.items() if isinstance(v, list))
        data["entries"][0][2] = {"unknown": 1} if how == "an unknown key" else {list_key: [{"chip": "x"}]}
        state.write_text(json.dumps(data))
    elif how == "no report":
        report.unlink()
    elif how == "corrupt report":
        report.write_text("{")
    elif how == "report written by another writer":  # e.g. an older ftwd, which keeps no entries
        report.write_text(report_text(spec.build(load_all(layout, spec.kind))))


@pytest.mark.parametrize("how", ["no entries", "corrupt entries", "an unknown key", "a list item not rendered",
                                 "no report", "corrupt report", "report written by another writer"])
def test_untrusted_entries_or_report_fall_back_to_the_rebuild(tmp_path, how):
    layout = Layout(tmp_path, "ds")
    for i, cy in enumerate(CHIPS):
        save_variant(layout, cy, i)
    for spec in SPECS:
        rebuild_report(layout, spec)
    # Records change without an update (a writer that keeps no entries, or a crash between the two),
    # then the report or the entries are not what the last update left.
    for i, cy in enumerate(CHIPS):
        save_variant(layout, cy, i + 1)
    for spec in SPECS:
        _break(layout, spec, how)
        update_report(layout, spec, [])
    assert_reports_equal_rebuild(layout)


def _run(root: str, worker: int, rounds: int, barrier) -> None:
    """One of three concurrent "runs": each round it saves records of its chip-years (some also
    another run's) and, at the same moment as the others, updates the reports for them; once all
    have, the first checks the reports against the rebuild."""
    layout = Layout(Path(root), "ds")
    mine = CHIPS[worker * 3: worker * 3 + 6]
    for r in range(rounds):
        for i, cy in enumerate(mine):
            save_variant(layout, cy, r + i + worker)
        barrier.wait(timeout=60)
        for spec in SPECS:
            update_report(layout, spec, mine)
        barrier.wait(timeout=60)
        if worker == 0:
            assert_reports_equal_rebuild(layout)
        barrier.wait(timeout=60)


def test_concurrent_runs_lose_no_update(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    runs = [context.Process(target=_run, args=(str(tmp_path), w, 10, barrier)) for w in range(3)]
    for p in runs:
        p.start()
    try:
        for p in runs:
            p.join(timeout=120)
            assert p.exitcode == 0
    finally:
        for p in runs:
            if p.is_alive():  # another run failed: the rest wait at the barrier
                p.kill()
    assert_reports_equal_rebuild(Layout(tmp_path, "ds"))


@pytest.mark.parametrize("options", [("--chips-per-run", "2"), ("--chips-per-run", "3", "--cloud-cover-scene", "0")],
                         ids=["rejected-and-reselected", "seasons-skipped"])
def test_dataset_built_in_several_runs_has_the_rebuilt_reports(tmp_path, demo_inputs, archive_parquet, options):
    """The demo with images in several runs. Default: cloud refinement rejects a scene and the chip-year
    is selected again in a later run, changing its entries; --cloud-cover-scene 0: some seasons skipped."""
    out = tmp_path / "out"
    create_demo_dataset(out, demo_inputs, archive_parquet, "--download-images", *options)
    layout = Layout(out.resolve(), "ds")
    assert_reports_equal_rebuild(layout)
    for spec in SPECS:
        state = json.loads(spec.state_path(layout).read_text())
        assert len(state["entries"]) == len(load_all(layout, spec.kind)) == 8
    selection = json.loads(layout.selection_report.read_text())
    refinement = json.loads(layout.refinement_report.read_text())
    if "--cloud-cover-scene" in options:
        assert selection["successful"] == 4 and len(selection["skipped"]) == 4
    else:
        assert selection["successful"] == 8
        assert [r["rejections"] for r in refinement["rows"] if r["chip"] == "ftw-33UWP7830_2024"] == [0, 1]
