"""synthvec.invert.ptycho."""
