"""Forward model: XMCD optics, simulation projector, probe, scan, detector, CXI files."""
