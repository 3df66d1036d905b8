"""Domain core of ftw_assets: plain functions for chips, masks, rasters and STAC.

Nothing in this package imports Dagster. The assets, the sensors and the ``ftwd``
command line all call these functions, so there is one copy of the logic.
"""
