"""Side by side with Athena++ at the same inputs: driven isothermal MHD turbulence statistics.

    python -m benchmarks.athena_reference --athena-bin BUILD/bin/athena [--seeds 3] [--resolution 32]
    python -m benchmarks.athena_reference            # ours only (no Athena++ binary given)

One Athena++ input file per driving seed (the inputs of the fidelity comparison: ``L = 1``,
``rho0 = 1``, ``c_s = 0.011``, beta 1 along x1, ``turb_flag = 3``, ``dedt = 1.5e-7``, ``nlow = 1``,
``nhigh = 4``, ``expo = 2``, ``tcorr = 45``, ``f_shear = 1``, CFL 0.3, outputs every 0.2 L/c_s to
4 L/c_s) is run by Athena++ (``benchmarks/athena/build.sh`` builds it with this package's problem
generator) and by this solver through ``--athinput`` from the very same file. Both codes' outputs
from ``t = 2.2`` to ``4.0 L/c_s`` are read with the same reader and reduced to sigma(ln rho), the
density-spectrum slope (least squares of ``log P(k)`` on integer shells ``k = 4..12``, ``P`` the
shell sum of ``|FFT(rho - <rho>)|**2``) and ``M_s`` (volume-weighted rms ``|v| / c_s``); the JSON
has the means over outputs per seed, the means and standard deviations over seeds, and each code's
speed (zone-cycles per second of wall time; Athena++ runs one thread). Runs alternate between the
codes seed by seed. Needs the ``cpu`` extra (JAX) and, for the reference side, an Athena++ binary
built with ``-b --flux hlld --eos isothermal -fft -hdf5`` and the ``crturb_mhd`` problem generator.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._report import describe, write_result

#: The comparison's inputs in Athena++'s units (box [-0.5, 0.5]^3, rho0 = 1).
SOUND_SPEED = 0.011
INPUTS = {"beta": 1.0, "dedt": 1.5e-7, "nlow": 1, "nhigh": 4, "expo": 2.0, "tcorr": 45.0,
          "f_shear": 1.0, "cfl": 0.3}
#: CR settings of the classes in Athena++'s units (``<problem>`` and ``<cr>`` lines): ``P_c = P_g``,
#: ``vmax = 10 c_s``; diffusion ``kappa_par = 0.333 L c_s``; streaming at v_A with negligible
#: diffusion (``sigma_par = 1e8``, ``kappa ~ 4e-10``).
CLASSES = {
    "MHD": ("", ""),
    "CR_Diff": ("crBeta = 1.0\nkappa_par = 3.67e-3\n", "vmax = 0.11\nvs_flag = 0\n"),
    "CR_Streaming": ("crBeta = 1.0\nsigma_par = 1e8\n", "vmax = 0.11\nvs_flag = 1\n"),
}
#: Athena++'s statistics at these inputs, 32^3, means over outputs at t = 2.64, 3.08, 3.52, 3.96
#: L/c_s (the Bustard & Oh CR fork; figures of the fidelity issue). Our side is compared with them
#: for the classes the Athena++ binary given here cannot run (this package's problem generator
#: has no CRs).
PUBLISHED = {"MHD": {"sigma_ln_rho": 0.140, "slope": -3.67, "mach": 0.565},
             "CR_Diff": {"sigma_ln_rho": 0.085, "slope": -4.48, "mach": 0.583},
             "CR_Streaming": {"sigma_ln_rho": 0.120, "slope": -4.34, "mach": 0.584}}
#: Outputs every DT_OUTPUT up to T_END, statistics over those from T_FIRST on (units of L / c_s).
DT_OUTPUT, T_FIRST, T_END = 0.2, 2.2, 4.0


def athinput_text(resolution: int, seed: int, cls: str = "MHD", meshblock: int | None = None,
                  cycles: int | None = None, blocks: tuple[str, str] | None = None) -> str:
    """The comparison's Athena++ input file for one class and driving seed.

    ``cycles``: stop after that many cycles and write no outputs (speed runs); ``blocks``: the
    ``(<problem> lines, <cr> lines)`` to use instead of the class's."""
    problem, cr = blocks if blocks is not None else CLASSES[cls]
    cs, time_unit = SOUND_SPEED, 1.0 / SOUND_SPEED
    block = meshblock or resolution
    mesh = "\n".join(
        f"nx{d} = {resolution}\nx{d}min = -0.5\nx{d}max = 0.5\nix{d}_bc = periodic\n"
        f"ox{d}_bc = periodic" for d in (1, 2, 3))
    output = ("" if cycles is not None else
              f"<output1>\nfile_type = hdf5\nvariable = prim\ndt = {DT_OUTPUT * time_unit!r}\n")
    return f"""<comment>
problem = driven isothermal MHD turbulence, crturb-keras vs Athena++ (benchmarks.athena_reference)

<job>
problem_id = Turb

{output}
<time>
cfl_number = {INPUTS['cfl']}
nlim = {-1 if cycles is None else cycles}
tlim = {T_END * time_unit * (1 + 1e-9) if cycles is None else 1e30!r}
integrator = vl2
xorder = 2
ncycle_out = 1000

<mesh>
{mesh}
refinement = none

<meshblock>
nx1 = {block}
nx2 = {block}
nx3 = {block}

<hydro>
iso_sound_speed = {cs}

<turbulence>
turb_flag = 3
dedt = {INPUTS['dedt']}
nlow = {INPUTS['nlow']}
nhigh = {INPUTS['nhigh']}
expo = {INPUTS['expo']}
tcorr = {INPUTS['tcorr']}
f_shear = {INPUTS['f_shear']}
rseed = {seed}

<problem>
beta = {INPUTS['beta']}
{problem}""" + (f"\n<cr>\n{cr}" if cr else "")


def statistics(rho: np.ndarray, vel: np.ndarray, sound_speed: float) -> dict[str, float]:
    """sigma(ln rho), the shell-summed density spectrum's slope over ``k = 4..12`` and the
    volume-weighted sonic Mach number of one snapshot ``rho (N, N, N)``, ``vel (3, N, N, N)``."""
    rho = np.asarray(rho, np.float64)
    n = rho.shape[0]
    power = np.abs(np.fft.fftn(rho - rho.mean())) ** 2
    k = np.fft.fftfreq(n, 1.0 / n)
    k3, k2, k1 = np.meshgrid(k, k, k, indexing="ij")
    shells = np.rint(np.sqrt(k1 ** 2 + k2 ** 2 + k3 ** 2)).astype(int)
    spectrum = np.bincount(shells.ravel(), power.ravel())
    fit = np.arange(4, min(12, n // 2 - 1) + 1)
    slope = np.polyfit(np.log(fit), np.log(spectrum[fit]), 1)[0]
    speed2 = np.sum(np.asarray(vel, np.float64) ** 2, axis=0)
    return {"sigma_ln_rho": float(np.std(np.log(rho))), "slope": float(slope),
            "mach": float(np.sqrt(speed2.mean()) / sound_speed)}


def reduce_outputs(folder: Path) -> dict:
    """Mean statistics over the ``Turb.out1.*.athdf`` of ``folder`` from ``T_FIRST`` on."""
    from crturb_keras.io.athena import read_athdf

    rows = []
    for path in sorted(folder.glob("Turb.out1.*.athdf")):
        snap = read_athdf(path, ["rho", "vel1", "vel2", "vel3"])
        t = snap.time * SOUND_SPEED
        if t >= T_FIRST - 1e-6:
            vel = np.stack([snap.fields[f"vel{c}"] for c in (1, 2, 3)])
            rows.append({"t": round(t, 4), **statistics(snap.fields["rho"], vel, SOUND_SPEED)})
    if not rows:
        raise RuntimeError(f"{folder}: no outputs at t >= {T_FIRST} L/c_s")
    return {"outputs": len(rows), "rows": rows,
            **{k: float(np.mean([r[k] for r in rows])) for k in ("sigma_ln_rho", "slope", "mach")}}


def run_athena(binary: Path, athinput: Path, folder: Path) -> dict:
    """Run Athena++ on ``athinput`` in ``folder``; wall time and its zone-cycles/s."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run([str(binary), "-i", str(athinput), "-d", str(folder)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"Athena++ failed ({done.returncode}): {done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    cycles = re.search(r"cycles = (\d+)", done.stdout)
    zc = re.search(r"zone-cycles/cpu_second = ([0-9.eE+-]+)", done.stdout)
    return {"wall_seconds": wall, "cycles": int(cycles.group(1)) if cycles else None,
            "zone_cycles_per_cpu_second": float(zc.group(1)) if zc else None}


def run_ours(athinput: Path, folder: Path, precision: str) -> dict:
    """Run this solver on the same ``athinput`` (``--athinput``) into ``folder``."""
    from crturb_keras.simulate.mhd.athinput import simulate_athinput

    started = time.perf_counter()
    _, result = simulate_athinput(athinput, folder, precision=precision)
    return {"wall_seconds": time.perf_counter() - started, "cycles": result.steps,
            "zone_cycles_per_second": result.zone_cycles_per_second}


def summarise(per_seed: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each statistic."""
    keys = ("sigma_ln_rho", "slope", "mach")
    return {k: {"mean": float(np.mean([s[k] for s in per_seed])),
                "std": float(np.std([s[k] for s in per_seed]))} for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--athena-bin", type=Path, default=None,
                        help="Athena++ binary (benchmarks/athena/build.sh); without it only our "
                             "solver runs, compared with the published Athena++ figures")
    parser.add_argument("--classes", default="MHD",
                        help=f"comma-separated, of {', '.join(CLASSES)} (default: %(default)s); "
                             f"Athena++ runs the MHD class, the CR classes are compared with "
                             f"the published figures")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the runs, kept (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/athena_reference.json"))
    args = parser.parse_args(argv)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        print(f"--classes: unknown {unknown}; choose from {', '.join(CLASSES)}", file=sys.stderr)
        return 2
    if args.athena_bin is not None and not args.athena_bin.is_file():
        print(f"{args.athena_bin}: no such Athena++ binary (build one with "
              f"benchmarks/athena/build.sh)", file=sys.stderr)
        return 2
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for cls in classes:
            codes = ["ours"] + (["athena"] if args.athena_bin and cls == "MHD" else [])
            runs: dict[str, list] = {code: [] for code in codes}
            for seed in range(args.seeds):
                athinput = work / f"athinput.{cls}.seed{seed}"
                athinput.write_text(athinput_text(args.resolution, seed, cls))
                for code in codes:
                    folder = work / f"{code}.{cls}.seed{seed}"
                    timing = (run_athena(args.athena_bin, athinput, folder) if code == "athena"
                              else run_ours(athinput, folder, args.precision))
                    stats = reduce_outputs(folder)
                    runs[code].append({"seed": seed, **timing, **stats})
                    print(f"{cls} {code} seed {seed}: sigma(ln rho) {stats['sigma_ln_rho']:.3f}, "
                          f"slope {stats['slope']:.2f}, M_s {stats['mach']:.3f} "
                          f"({timing['wall_seconds']:.0f} s)", flush=True)
            results[cls] = {code: {"seeds": r, "summary": summarise(r)} for code, r in runs.items()}
            results[cls]["published_athena"] = PUBLISHED[cls]
    lines = []
    for cls, entry in results.items():
        ours = entry["ours"]["summary"]
        reference = entry["athena"]["summary"] if "athena" in entry else None
        ref = ({k: v["mean"] for k, v in reference.items()} if reference else PUBLISHED[cls])
        entry["ratio_to_reference"] = {
            "sigma_ln_rho": ours["sigma_ln_rho"]["mean"] / ref["sigma_ln_rho"],
            "mach": ours["mach"]["mean"] / ref["mach"],
            "slope_difference": ours["slope"]["mean"] - ref["slope"],
            "reference": "athena (this run)" if reference else "published athena"}
        r = entry["ratio_to_reference"]
        lines.append(f"{cls}: sigma(ln rho) {ours['sigma_ln_rho']['mean']:.3f} +- "
                     f"{ours['sigma_ln_rho']['std']:.3f} ({r['sigma_ln_rho']:.2f}x), slope "
                     f"{ours['slope']['mean']:.2f} ({r['slope_difference']:+.2f}), M_s "
                     f"{ours['mach']['mean']:.3f} ({r['mach']:.2f}x) vs {r['reference']}")
    write_result(args.out, {"benchmark": "athena_reference", "resolution": args.resolution,
                            "precision": args.precision, "seeds": args.seeds,
                            "inputs": {**INPUTS, "iso_sound_speed": SOUND_SPEED},
                            "window": [T_FIRST, T_END], "classes": results})
    print(f"athena_reference {args.resolution}^3, {args.seeds} seeds ({describe()}): "
          + "; ".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
