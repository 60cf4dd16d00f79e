"""The five cosmic-ray transport classes of Bustard & Wu (2024), in their canonical order.

The order is the label index order of the data both simulators make and of every prepared
dataset whose classes are among them (other names follow, sorted). Each simulator says what a
class means: ``mhd.presets`` (the CR flags of the solver) and ``surrogate.config`` (the
Gaussian-field fixture).
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("MHD", "CR_Advect", "CR_Diff_Fiducial", "CR_Diff100", "CR_Streaming")
