"""The five transport classes as solver settings (the package's class names).

All classes share the driven box of :class:`MHDConfig` (mean field along x1, beta 10 by default,
driven to ``M_s ~ 0.5``); the CR classes start from ``P_c / P_g = 1`` (Bustard & Oh 2023;
Bustard & Wu 2024) and differ only in how CRs move:

* ``MHD`` -- no cosmic rays.
* ``CR_Advect`` -- CRs locked to the gas (no diffusion, no streaming): an extra
  ``gamma_c = 4/3`` pressure that raises the effective sound speed.
* ``CR_Diff_Fiducial`` -- field-aligned diffusion ``kappa_par = 0.1 L c_s``. Compressive motions
  of wavenumber ``k`` are damped fastest when ``k**2 kappa ~ omega = k c_eff`` (Bustard & Oh 2023,
  their damping rate peaks there); at the driving scale ``k = 2 (2 pi / L)`` and
  ``c_eff ~ 1.5 c_s`` this gives ``kappa ~ 0.1 L c_s``: damping time comparable to the cascade time.
* ``CR_Diff100`` -- 100 times faster diffusion, ``kappa_par = 10 L c_s``: CRs decoupled at all
  resolved scales (``k**2 kappa >> omega``), so they barely damp the gas and stay nearly uniform;
  the fast side is chosen because the slow side (``0.001 L c_s``) would put the damping peak
  below the grid scale, i.e. make the class indistinguishable from ``CR_Advect`` numerically.
  With ``vmax = 10 c_s`` the CR mean free path ``3 kappa / vmax`` (3 L) exceeds the box: in the
  two-moment model the CRs then free-stream rather than diffuse, which leaves them decoupled all
  the same (drag rate ``4 P_c / (3 kappa rho) ~ 0.1 c_s / L``, ten times slower than the cascade).
* ``CR_Streaming`` -- streaming at the local Alfven speed down the CR pressure gradient with
  negligible diffusion (``kappa_par = 0``: the streaming term alone limits the flux), losing
  ``v_A |grad P_c|`` to the gas (Bustard & Oh 2023: streaming drains large-scale kinetic energy
  while the spectral slope is kept).
"""

from __future__ import annotations

import dataclasses

from ...errors import ConfigError
from .config import MHDConfig

#: Settings of each class on top of the shared configuration.
CLASS_PRESETS: dict[str, dict] = {
    "MHD": {"cr_pressure_ratio": 0.0, "kappa_par": 0.0, "streaming": False},
    "CR_Advect": {"cr_pressure_ratio": 1.0, "kappa_par": 0.0, "streaming": False},
    "CR_Diff_Fiducial": {"cr_pressure_ratio": 1.0, "kappa_par": 0.1, "streaming": False},
    "CR_Diff100": {"cr_pressure_ratio": 1.0, "kappa_par": 10.0, "streaming": False},
    "CR_Streaming": {"cr_pressure_ratio": 1.0, "kappa_par": 0.0, "streaming": True},
}
#: Class names in their canonical order.
PRESET_CLASSES: tuple[str, ...] = tuple(CLASS_PRESETS)


def preset_config(name: str, base: MHDConfig | None = None, **overrides) -> MHDConfig:
    """The configuration of class ``name``: ``base`` (default :class:`MHDConfig`) with the class's
    CR settings, then ``overrides`` (which win)."""
    if name not in CLASS_PRESETS:
        raise ConfigError(f"unknown class {name!r}; choose from {', '.join(PRESET_CLASSES)}")
    base = base or MHDConfig()
    return dataclasses.replace(base, **{**CLASS_PRESETS[name], **overrides})


def resolve_preset_classes(names: str) -> list[str]:
    """``"all"`` or comma-separated class names -> validated names in canonical order."""
    wanted = (list(PRESET_CLASSES) if names.strip() == "all"
              else [n.strip() for n in names.split(",") if n.strip()])
    unknown = [n for n in wanted if n not in CLASS_PRESETS]
    if unknown or not wanted:
        raise ConfigError(f"unknown class(es) {', '.join(unknown) or '(none given)'}; choose from "
                          f"{', '.join(PRESET_CLASSES)} or 'all'")
    return [n for n in PRESET_CLASSES if n in wanted]
