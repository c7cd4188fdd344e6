"""synthvec.invert.tomo."""
