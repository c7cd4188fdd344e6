"""Topology analysis of any magnetization field (truth or reconstruction)."""
