"""Gaussian-field surrogate of the five classes: a fast test fixture, not physics.

Each class is a set of Ornstein-Uhlenbeck Fourier modes shaped by the class's literature-motivated
transfer function (``config.CLASS_PHYSICS``); outputs are written as Athena++ ``.athdf``. The
package's default data come from the MHD solver (``crturb_keras.simulate.mhd``).
"""

from .config import CLASS_PHYSICS, ClassPhysics, SurrogateConfig, resolve_classes
from .run import SimulationResult, output_path, simulate, simulate_class

__all__ = ["CLASS_PHYSICS", "ClassPhysics", "SimulationResult", "SurrogateConfig", "output_path",
           "resolve_classes", "simulate", "simulate_class"]
