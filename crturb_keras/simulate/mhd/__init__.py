"""Driven isothermal MHD solver with two-moment cosmic rays (JAX; CPU and GPU): VL2 + PLM +
HLLD/HLLE + constrained transport, Jiang & Oh (2018) CR transport, Ornstein-Uhlenbeck driving,
the five transport classes as presets, Athena++ ``.athdf`` outputs. Importing it imports JAX."""

from .config import MHDConfig
from .hosts import join_hosts
from .presets import CLASS_PRESETS, PRESET_CLASSES, preset_config
from .run import (
    MHDRunResult,
    Progress,
    RunSpec,
    SimulationError,
    evolve_snapshots,
    simulate_ensemble,
    simulate_mhd,
)
from .solver import Solver

__all__ = ["CLASS_PRESETS", "PRESET_CLASSES", "MHDConfig", "MHDRunResult", "Progress", "RunSpec",
           "SimulationError", "Solver", "evolve_snapshots", "join_hosts", "preset_config",
           "simulate_ensemble", "simulate_mhd"]
