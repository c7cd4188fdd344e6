"""Forward model: XMCD optics, simulation projector, probe, scan, detector, CXI files.

Public entry points (called by the pipeline):

- :func:`simulate_experiment` - every scan of the experiment as CXI files + scan index.
- :func:`projection_error_report` - projection approximation vs multislice.

Building blocks: :mod:`.optics` (transmission, optical density), :mod:`.project`
(ray integrals), :mod:`.propagate` (angular spectrum, multislice),
:mod:`.probe` (zone plate), :mod:`.scan`, :mod:`.detector`, :mod:`.cxi`.
"""

from .config import (DetectorConfig, ErrorsConfig, OpticsConfig, ProbeConfig, ScanConfig,
                     SimulateConfig)
from .cxi import ScanRecord, read_cxi, write_cxi
from .optics import optical_density, transmission, wavelength_nm
from .probe import focal_length_nm, numerical_aperture, zone_plate_probe
from .project import ray_integrals
from .projection_error import projection_error_report
from .propagate import multislice, propagate
from .simulate import simulate_experiment

__all__ = ["simulate_experiment", "projection_error_report", "SimulateConfig", "OpticsConfig",
           "ProbeConfig", "ScanConfig", "DetectorConfig", "ErrorsConfig", "ScanRecord",
           "read_cxi", "write_cxi", "optical_density", "transmission", "wavelength_nm",
           "focal_length_nm", "numerical_aperture", "zone_plate_probe", "ray_integrals",
           "multislice", "propagate"]
