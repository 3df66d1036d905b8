"""clipped_images: the planting and harvest images of each chip-year, on the masks' pixel grid."""

import json

import dagster as dg

from ftw_assets.batch import CHIP_WORKERS, STOP, chip_years, for_each_chip_year
from ftw_assets import reader
from ftw_assets.core.dataset.chip_year import ChipYear
from ftw_assets.core.dataset.records import (ImagesRecord, RefinementRecord, SeasonImage, SelectionRecord, load,
                                             save, update_report)
from ftw_assets.core.raster.clip import ClipRequest, ImageSettings, clip_batch, failure_url, image_stats, write_clip
from ftw_assets.core.errors import FtwError
from ftw_assets.core.geometry.grid import grid_for_chip, read_chip_table
from ftw_assets.core.scenes.selection import SEASONS, SelectionSettings
from ftw_assets.core.stac.items import add_image_assets, image_properties, write_item
from ftw_assets.core.raster.thumbnail import preview_uri, stretch, write_picture
from ftw_assets.core.stac.validation import validate_stac
from ftw_assets.partitions import chip_year_backfill, chip_year_partitions
from ftw_assets.resources import DatasetResource
from ftw_assets.resources import SceneSourceResource
from ftw_assets.defs.scenes.selection import selected_scenes
from ftw_assets.core.reports.downloads import DOWNLOAD_REPORT
from ftw_assets.core.reports.preview import SeasonPreview, preview_table
from ftw_assets.defs.images.config import ImagesConfig

RGB = ("red", "green", "blue")


@dg.asset(partitions_def=chip_year_partitions, backfill_policy=chip_year_backfill, deps=[selected_scenes],
          group_name="images", kinds={"cog"})
def clipped_images(context: dg.AssetExecutionContext, config: ImagesConfig, dataset: DatasetResource,
                   scene_source: SceneSourceResource) -> None:
    """Cut every chip-season of the run from its scene (scene-major: one open per scene and band for all
    chips), write the COG and an RGB thumbnail, and add both to the season's child item.

    Metadata per chip-year: ``{season}_chip_cloud_cover`` (cloud on the chip's own pixels, only when
    measured: the pixel check or an earlier refinement of the scene; else ``cloud_refinement`` measures
    it later), ``preview`` (both seasons side by side: thumbnail, scene, date, chip- and scene-level
    cloud), ``{season}_scene``, ``{season}_scene_cloud_cover`` (the whole tile) and
    ``{season}_nodata_share``."""
    settings, layout = dataset.settings(), dataset.layout()
    images = config.apply(ImageSettings.load(layout.output_dir))
    selection = SelectionSettings.load(layout.output_dir, settings.stac_host, settings.collection)
    source = scene_source.open_for_selection(selection)
    chips = read_chip_table(layout.chips_parquet)
    requests, records = [], {}
    for cy in chip_years(context):
        records[cy] = load(layout, cy, SelectionRecord)
        grid = grid_for_chip(chips.loc[cy.chip], settings.chip_size_px)
        for season, scene in (records[cy].scenes() if records[cy] else {}).items():
            if layout.season_item_json(cy.chip, cy.year, season).exists():
                requests.append(ClipRequest((cy.chip, cy.year, season), grid, scene))
    # After a Ctrl-C (STOP) no read starts; for_each_chip_year then starts no chip-year either.
    clips, stats = clip_batch(requests, images.bands, source.href_for_read, source.policy, images.num_workers,
                              stop=STOP, read=reader.read_windows)
    context.log.info(f"{len(clips)} chip-season image(s) from {stats.scenes} scene(s): {stats.band_opens} band opens, "
                     f"{stats.windows} windows")
    by_chip = {}
    for clip in clips:
        by_chip.setdefault(ChipYear(*clip.request.key[:2]), {})[clip.request.key[2]] = clip

    def work(chip_year: ChipYear) -> dict:
        if records[chip_year] is None:
            raise FtwError(f"no scene selection for {chip_year}: materialize selected_scenes for it first")
        chip, year = chip_year.chip, chip_year.year
        seasons, meta = {}, {}
        refinement = load(layout, chip_year, RefinementRecord)  # an earlier chip-level measurement, if any
        previews: dict[str, SeasonPreview | None] = dict.fromkeys(SEASONS)  # None: no image
        for season in SEASONS:
            clip = by_chip.get(chip_year, {}).get(season)
            if clip is None:
                continue
            if clip.error:
                seasons[season] = SeasonImage.failed(failure_url(clip), clip.error)
                continue
            image = write_clip(clip, layout.chip_file(chip, year, f"{season}_image_s2.tif"))
            thumb, preview = None, None
            if all(b in images.bands for b in RGB):
                rgb = clip.data[[images.bands.index(b) for b in RGB]]
                picture = stretch(rgb)  # one stretch for the thumbnail file and the preview
                thumb = write_picture(layout.chip_file(chip, year, f"{season}_image_s2.png"), picture)
                preview = preview_uri(picture)
            found = image_stats(clip.data, images.bands)
            clip.data = None  # written: the run holds only the pixels still to write
            scene = clip.request.scene
            item_path = layout.season_item_json(chip, year, season)
            item = add_image_assets(json.loads(item_path.read_text()), image.name, thumb.name if thumb else None,
                                    images.bands, image_properties(images.bands, scene.boa_offset, clip.resampling,
                                                                   clip.reprojected, found["nodata_share"]))
            validate_stac(item)
            write_item(item, item_path, base_url=settings.base_url)
            seasons[season] = SeasonImage.written(image.name, scene.id, clip.reprojected, found)
            previews[season] = SeasonPreview.of_item(item, scene.id, preview, refinement)
            meta[f"{season}_scene"] = scene.id
            meta[f"{season}_scene_cloud_cover"] = previews[season].scene_cloud_cover
            meta[f"{season}_nodata_share"] = found["nodata_share"]
        record = ImagesRecord.of(images.bands, seasons)
        save(layout, chip_year, record)
        if record.errors():
            raise FtwError(f"{chip_year}: " + "; ".join(record.errors()))
        # The chip-level cloud first (only where it was measured on the chip: the pixel check, or a
        # refinement of this scene before), then both seasons side by side in one table.
        chip_level = {f"{s}_chip_cloud_cover": p.chip_cloud_cover for s, p in previews.items()
                      if p is not None and p.chip_cloud_cover is not None}
        table = {"preview": dg.MetadataValue.md(preview_table(previews))} if any(previews.values()) else {}
        return {**chip_level, **table, **meta}

    try:
        for_each_chip_year(context, work, workers=CHIP_WORKERS)
    finally:  # the run's chip-years' entries of the report, not every record
        update_report(layout, DOWNLOAD_REPORT, chip_years(context))
