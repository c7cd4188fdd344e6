"""Inversion: what an instrument's data allow (never imports phantom, truth or scoring)."""
