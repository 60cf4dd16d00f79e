"""Full-size verification of the MHD solver (the test suite runs the small versions).

    python -m benchmarks.mhd_verification [--resolutions 16,32,64] [--waves fast,alfven,slow,sound]
                                          [--riemann hlld] [--out benchmarks/results/mhd_verification.json]

Linear waves along (1,1,1) (amplitude 1e-6, float64): error after one period and the
convergence order between successive resolutions; the circularly polarised Alfven wave
(amplitude 0.1 along (1,1,0)): transverse-field amplitude kept after one period; the field loop
advected by half the box: magnetic energy kept and shape correlation; div B after each run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from benchmarks._report import write_result
from crturb_keras.simulate.mhd import MHDConfig, Solver
from crturb_keras.simulate.mhd.diagnostics import cell_field
from crturb_keras.simulate.mhd.problems import (
    circular_alfven_wave,
    field_loop,
    linear_wave,
    state_error,
)
from crturb_keras.simulate.mhd.scheme import divergence


def _solver(n: int, riemann: str) -> Solver:
    return Solver(MHDConfig(resolution=n, precision="float64", riemann=riemann, k_max=3),
                  driven=False)


def _relative_div_b(state, n: int) -> float:
    b = np.asarray(state.b)
    return float(np.abs(np.asarray(divergence(state.b, 1.0 / n))).max() / n / np.abs(b).max())


def linear_waves(resolutions: list[int], waves: list[str], riemann: str) -> dict:
    """Error and convergence order per wave."""
    results = {}
    for wave in waves:
        errors, div_b = [], []
        for n in resolutions:
            initial, period = linear_wave(n, wave)
            carry = _solver(n, riemann).advance(_solver(n, riemann).start(initial), period)
            errors.append(state_error(carry.state, initial))
            div_b.append(_relative_div_b(carry.state, n))
        orders = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
        results[wave] = {"errors": errors, "orders": orders, "div_b": div_b}
        print(f"{wave}: errors {', '.join(f'{e:.3g}' for e in errors)}; orders "
              f"{', '.join(f'{o:.2f}' for o in orders)}", flush=True)
    return results


def circular_wave(resolutions: list[int], riemann: str) -> dict:
    """Fraction of the transverse field kept after one period."""
    kept = []
    direction = np.array([1.0, 1.0, 0.0]) / math.sqrt(2.0)
    for n in resolutions:
        initial, period = circular_alfven_wave(n)
        carry = _solver(n, riemann).advance(_solver(n, riemann).start(initial), period)

        def transverse(b):
            bcc = cell_field(np.asarray(b))
            parallel = np.einsum("c...,c->...", bcc, direction)
            return math.sqrt(float(np.mean(np.sum(bcc ** 2, axis=0) - parallel ** 2)))

        kept.append(transverse(carry.state.b) / transverse(initial.b))
    print(f"circularly polarised Alfven wave: amplitude kept {', '.join(f'{k:.3f}' for k in kept)}",
          flush=True)
    return {"amplitude_kept": kept}


def loop(resolutions: list[int], riemann: str) -> dict:
    """Magnetic energy kept and |B| correlation of the field loop after half a box crossing."""
    energy, correlation, div_b = [], [], []
    for n in resolutions:
        initial = field_loop(n)
        carry = _solver(n, riemann).advance(_solver(n, riemann).start(initial), 0.5)
        b = cell_field(np.asarray(carry.state.b))
        expected = np.roll(cell_field(initial.b), (n // 2, n // 2), axis=(2, 3))
        m, t = np.sqrt(np.sum(b ** 2, axis=0)), np.sqrt(np.sum(expected ** 2, axis=0))
        energy.append(float(np.sum(b ** 2) / np.sum(expected ** 2)))
        correlation.append(float(np.sum(m * t) / np.sqrt(np.sum(m ** 2) * np.sum(t ** 2))))
        div_b.append(_relative_div_b(carry.state, n))
    print(f"field loop: energy kept {', '.join(f'{e:.3f}' for e in energy)}; correlation "
          f"{', '.join(f'{c:.3f}' for c in correlation)}", flush=True)
    return {"energy_kept": energy, "correlation": correlation, "div_b": div_b}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mhd_verification",
                                     description=__doc__)
    parser.add_argument("--resolutions", default="16,32,64")
    parser.add_argument("--waves", default="fast,alfven,slow,sound")
    parser.add_argument("--riemann", default="hlld")
    parser.add_argument("--out", default="benchmarks/results/mhd_verification.json")
    args = parser.parse_args(argv)
    resolutions = [int(v) for v in args.resolutions.split(",")]
    started = time.perf_counter()
    result = {
        "riemann": args.riemann, "resolutions": resolutions,
        "linear_waves": linear_waves(resolutions, args.waves.split(","), args.riemann),
        "circular_alfven_wave": circular_wave(resolutions, args.riemann),
        "field_loop": loop(resolutions, args.riemann),
    }
    result["seconds"] = time.perf_counter() - started
    write_result(args.out, result)
    orders = {w: r["orders"][-1] for w, r in result["linear_waves"].items() if r["orders"]}
    print("mhd verification: last orders " + ", ".join(f"{w} {o:.2f}" for w, o in orders.items())
          + f"; CPAW kept {result['circular_alfven_wave']['amplitude_kept'][-1]:.3f}; loop energy "
          f"kept {result['field_loop']['energy_kept'][-1]:.3f} at {resolutions[-1]}^3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
