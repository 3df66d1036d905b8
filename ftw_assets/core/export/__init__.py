"""Exports of a dataset into the folder layouts that other tools read (no Dagster)."""

from ftw_assets.core.export.ftw import ExportReport, LeftOut, export_ftw

__all__ = ["ExportReport", "LeftOut", "export_ftw"]
