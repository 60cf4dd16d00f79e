"""Driven isothermal MHD solver (JAX; CPU and GPU): VL2 + PLM + HLLD/HLLE + constrained transport,
Ornstein-Uhlenbeck driving, Athena++ ``.athdf`` outputs. Importing it imports JAX."""

from .config import MHDConfig
from .run import MHDRunResult, Progress, SimulationError, evolve_snapshots, simulate_mhd
from .solver import Solver

__all__ = ["MHDConfig", "MHDRunResult", "Progress", "SimulationError", "Solver",
           "evolve_snapshots", "simulate_mhd"]
