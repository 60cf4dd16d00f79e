"""Physics-motivated surrogate of driven MHD + cosmic-ray turbulence boxes (writes ``.athdf``)."""

from .config import CLASS_PHYSICS, CLASSES, ClassPhysics, SurrogateConfig, resolve_classes
from .run import SimulationResult, output_path, simulate, simulate_class

__all__ = [
    "CLASSES",
    "CLASS_PHYSICS",
    "ClassPhysics",
    "SimulationResult",
    "SurrogateConfig",
    "output_path",
    "resolve_classes",
    "simulate",
    "simulate_class",
]
