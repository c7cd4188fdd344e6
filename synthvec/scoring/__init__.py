"""Scoring a reconstruction against ground truth (calls analysis)."""
