"""Ground truth: the fcc Ni-in-silica superlattice and its seeded magnetization texture."""
