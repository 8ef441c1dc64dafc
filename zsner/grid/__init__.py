"""Experiment grids on Ray (`zsner grid`): seeds x pairs x modes x settings as independent runs, one Ray task each."""
