"""Full-size verification of the cosmic-ray transport: the numbers behind tests/test_cosmic_rays.py.

    python -m benchmarks.cr_verification [--out benchmarks/results/cr_verification.json]

Diffusion of a pulse along B (variance growth over ``2 kappa t``) at 64 and 128 cells; relaxed
streaming flux over ``4/3 E_c v_A`` and the streaming loss rate over ``v_A |grad P_c|``; standing
sound waves (k = 2 pi, P_c / P_g = 1) for a range of diffusivities against the linear dispersion
relation; all in float64.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks._report import write_result
from crturb_keras.simulate.mhd.cr_problems import (
    cosmic_rays,
    cr_params,
    frequency_and_damping,
    linear_sound_wave,
    locked_sound_speed,
    standing_sound_wave,
    static_gas,
    transport_until,
)
from crturb_keras.simulate.mhd.solver import enable_precision


def diffusion(n: int, kappa: float = 0.01, vmax: float = 20.0, width: float = 0.05) -> float:
    x = (np.arange(n) + 0.5) / n
    pulse = 1.0 + np.exp(-(x - 0.5) ** 2 / (2 * width ** 2))
    t_end = 0.5 * width ** 2 / kappa
    cr = transport_until(static_gas((2, 2, n)), cosmic_rays(
        np.broadcast_to(pulse, (2, 2, n)).copy()), cr_params(vmax, kappa_par=kappa), t_end)

    def variance(p):
        return np.sum((p - 1) * (x - 0.5) ** 2) / np.sum(p - 1)

    return float((variance(np.asarray(cr.ec)[0, 0]) - variance(pulse)) / (2 * kappa * t_end))


def streaming(n: int = 64, vmax: float = 20.0) -> dict:
    x = (np.arange(n) + 0.5) / n
    gas = static_gas((2, 2, n))
    params = cr_params(vmax, streaming=1.0)
    cr = transport_until(gas, cosmic_rays(np.broadcast_to(2 + np.sin(2 * np.pi * x),
                                                          (2, 2, n)).copy()), params, 0.02)
    ec = np.asarray(cr.ec)[0, 0]
    flux = np.asarray(cr.flux)[0, 0, 0] * vmax
    gradient = np.gradient(ec)
    steep = np.abs(gradient) > 0.5 * np.abs(gradient).max()
    ratio = np.abs(flux[steep]) / (4 / 3 * ec[steep])
    later = np.asarray(transport_until(gas, cr, params, 0.01).ec)[0, 0]

    def variation(p):
        return np.abs(np.diff(np.append(p, p[0]))).sum() / 3.0

    rate = (later.sum() - ec.sum()) / n / 0.01
    return {"flux_over_streaming_flux": [float(ratio.min()), float(ratio.max())],
            "loss_rate_over_v_a_grad_pc": float(-rate / (0.5 * (variation(ec) + variation(later))))}


def sound_waves(kappas=(0.0, 0.002, 0.02, 0.05, 0.1, 0.2, 0.5, 2.0, 20.0), vmax: float = 20.0):
    rows = []
    for kappa in kappas:
        omega, gamma = frequency_and_damping(*standing_sound_wave(kappa, vmax=vmax))
        theory = (locked_sound_speed(vmax) * 2 * np.pi, 0.0) if kappa == 0 \
            else linear_sound_wave(kappa)
        rows.append({"kappa": kappa, "phase_speed": omega / (2 * np.pi), "damping": gamma,
                     "theory_phase_speed": theory[0] / (2 * np.pi), "theory_damping": theory[1]})
        print(f"kappa {kappa:6g}: phase speed {omega / (2 * np.pi):.4f} (theory "
              f"{theory[0] / (2 * np.pi):.4f}), damping {gamma:.4f} (theory {theory[1]:.4f})",
              flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cr_verification",
                                     description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/cr_verification.json")
    args = parser.parse_args(argv)
    enable_precision("float64")
    results = {"diffusion_variance_over_2_kappa_t": {n: diffusion(n) for n in (64, 128)}}
    print(f"diffusion: {results['diffusion_variance_over_2_kappa_t']}", flush=True)
    results["streaming"] = streaming()
    print(f"streaming: {results['streaming']}", flush=True)
    results["sound_waves"] = sound_waves()
    write_result(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
