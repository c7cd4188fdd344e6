"""synthvec: simulate 3D soft x-ray vector ptychography end to end and score it against truth."""

__version__ = "0.1.0"
