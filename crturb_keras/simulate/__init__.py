"""Turbulence boxes of the five cosmic-ray transport classes, written as Athena++ ``.athdf``.

* ``mhd/`` -- the driven isothermal MHD + two-moment cosmic-ray solver (JAX): the default data;
  import it explicitly (it imports JAX).
* ``surrogate/`` -- the Gaussian-field surrogate, a fast fixture for tests (re-exported here).
* ``classes`` -- the class names in their canonical order; ``stats`` -- measured statistics of
  boxes from either simulator (or any Athena++ run).
"""

from .classes import CLASSES
from .surrogate import (
    CLASS_PHYSICS,
    ClassPhysics,
    SimulationResult,
    SurrogateConfig,
    output_path,
    resolve_classes,
    simulate,
    simulate_class,
)

__all__ = ["CLASSES", "CLASS_PHYSICS", "ClassPhysics", "SimulationResult", "SurrogateConfig",
           "output_path", "resolve_classes", "simulate", "simulate_class"]
