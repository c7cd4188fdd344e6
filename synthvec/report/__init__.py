"""Figures and HTML/Markdown reports."""
