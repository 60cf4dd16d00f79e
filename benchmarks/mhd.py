"""Speed of the MHD (+ CR) solver: zone-cycles per second per core and per machine, beside Athena++.

    python -m benchmarks.mhd [--resolutions 32,64] [--preset MHD] [--precision float32]
                             [--steps 20] [--min-steps 10] [--repeats 3] [--rounds 3]
                             [--athena-bin PATH] [--out benchmarks/results/mhd.json]

Zone-cycles per second are cells x steps per wall second of driven turbulence (HLLD, VL2 + CT,
Ornstein-Uhlenbeck driving; with ``--preset CR_...`` the coupled MHD + two-moment CR step) from
a random state. Each of our measurements runs in a fresh process: the first chunk (compilation)
is timed separately, then ``--repeats`` chunks of ``--steps`` steps (scaled by ``(32/N)**3``,
at least ``--min-steps``), and the median chunk is kept. On a CPU every round measures, in
this order,

* ``ours_core``: our solver pinned to one core with XLA's thread pool off;
* ``athena_core`` (given ``--athena-bin``): Athena++ pinned to the same core, one thread, the
  same number of cycles, its own ``zone-cycles/cpu_second`` (main loop only, like ours);
* ``ours_machine``: our solver on all cores (one process, as ``pipelines.simulate`` runs);
* ``ours_processes``: one pinned single-threaded process of ours per core at once (one run
  each, as ``pipelines.simulate --workers 0`` runs); the sum;
* ``athena_machine``: one Athena++ process per core at once, each pinned to its core; the sum;

and the medians over ``--rounds`` alternating rounds give the per-core ratio (``ours_core /
athena_core``) and the per-machine ratios (``ours_machine / athena_machine`` and
``ours_processes / athena_machine``, the like-for-like one). Athena++ runs the
inputs of ``benchmarks.athena_reference`` (beta 1, its ``turb_flag = 3`` driving) stopped after
the cycle count, without outputs; for a CR preset the binary must be built with ``-cr``
(``bash benchmarks/athena/build.sh SRC BUILD --cr``) and runs Athena++'s CR module with
``vmax = 10 c_s``, ``P_c = P_g`` and its default opacity: isotropic ``sigma = vmax / (3 kappa)``
from the preset's ``kappa_par`` (ours: field-aligned), streaming (``vs_flag = 1``) for
``CR_Streaming``. On an accelerator there is no per-core figure: the device is measured as a
whole. Peak memory is the process's peak RSS on a CPU and JAX's ``peak_bytes_in_use`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import describe, write_result
from crturb_keras.simulate.mhd.presets import PRESET_CLASSES
from crturb_keras.simulate.pool import ONE_THREAD

#: Athena++'s ``max_opacity`` (its isotropic ``sigma``) for a class whose CRs are locked to the
#: gas; a diffusing class gets ``vmax / (3 kappa_par)`` (:func:`athena_blocks`).
LOCKED_OPACITY = 1e8


def _peak_memory_mib() -> float:
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(resolution: int, steps: int, repeats: int, precision: str, riemann: str,
            preset: str = "MHD", devices: int = 1) -> dict:
    """Compile time, median zone-cycles/s over ``repeats`` chunks, peak memory (this process);
    the grid split over ``devices`` devices."""
    import jax

    from crturb_keras.simulate.mhd import MHDConfig, Solver
    from crturb_keras.simulate.mhd.presets import preset_config
    from crturb_keras.simulate.mhd.problems import random_state

    solver = Solver(preset_config(preset, MHDConfig(resolution=resolution, precision=precision,
                                                    riemann=riemann)), devices=devices)
    carry = solver.start(random_state(resolution))
    started = time.perf_counter()
    carry = solver.advance(carry, 1e9, dedt=0.1, max_steps=1)
    jax.block_until_ready(carry.state.rho)
    compile_seconds = time.perf_counter() - started
    rates = []
    for _ in range(repeats):
        first = int(carry.steps)
        started = time.perf_counter()
        carry = solver.advance(carry, 1e9, dedt=0.1, max_steps=steps)
        done = int(carry.steps) - first
        rates.append(done * resolution ** 3 / (time.perf_counter() - started))
    return {"resolution": resolution, "steps": steps, "repeats": repeats, "devices": devices,
            "compile_seconds": compile_seconds, "zone_cycles_per_second": statistics.median(rates),
            "all_rates": rates, "peak_memory_mib": _peak_memory_mib()}


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _worker(resolution: int, steps: int, repeats: int, precision: str, riemann: str,
            preset: str, core: int | None) -> subprocess.Popen:
    """A fresh process running :func:`measure`: pinned to ``core`` with one XLA thread, or
    (``None``) on every core."""
    env = dict(os.environ)
    pin = []
    if core is not None:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {ONE_THREAD}".strip()
        pin = ["--pin-core", str(core)]
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.mhd", "--worker", *pin, "--resolutions",
         str(resolution), "--steps", str(steps), "--min-steps", str(steps), "--repeats",
         str(repeats), "--precision", precision, "--riemann", riemann, "--preset", preset],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(worker: subprocess.Popen) -> dict:
    out, err = worker.communicate()
    if worker.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({worker.returncode}): {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def ours(resolution: int, steps: int, repeats: int, precision: str, riemann: str, preset: str,
         one_core: bool) -> dict:
    """:func:`measure` in a fresh process: pinned to the first core with one XLA thread
    (``one_core``), or on every core."""
    core = _cores()[0] if one_core else None
    return _result(_worker(resolution, steps, repeats, precision, riemann, preset, core))


def ours_per_core(resolution: int, steps: int, repeats: int, precision: str, riemann: str,
                  preset: str, cores: list[int]) -> dict:
    """One pinned single-threaded :func:`measure` process per core in ``cores`` at once (one
    run each, as Athena++'s per-machine figure and ``pipelines.simulate --workers 0``); the sum
    of their zone-cycles/s."""
    workers = [_worker(resolution, steps, repeats, precision, riemann, preset, core)
               for core in cores]
    results = [_result(w) for w in workers]
    return {"processes": len(cores),
            "zone_cycles_per_second": sum(r["zone_cycles_per_second"] for r in results),
            "per_process": [r["zone_cycles_per_second"] for r in results]}


def athena_blocks(preset: str) -> tuple[str, str]:
    """``(<problem> lines, <cr> lines)`` of Athena++'s speed run for one of our presets."""
    from benchmarks.athena_reference import SOUND_SPEED
    from crturb_keras.simulate.mhd import MHDConfig
    from crturb_keras.simulate.mhd.presets import preset_config

    config = preset_config(preset, MHDConfig())
    if not config.cosmic_rays:
        return "", ""
    vmax = config.vmax * config.sound_speed
    opacity = (LOCKED_OPACITY if config.kappa_par <= 0
               else vmax / (3.0 * config.kappa_par * config.sound_speed))
    return (f"crBeta = {config.cr_pressure_ratio!r}\n",
            f"vmax = {config.vmax * SOUND_SPEED!r}\nvs_flag = {int(config.streaming)}\n"
            f"max_opacity = {opacity!r}\n")


def athena(binary: Path, resolution: int, cycles: int, preset: str, cores: list[int]) -> dict:
    """Athena++ on the speed input, one single-threaded process per core in ``cores`` at once;
    the sum of their ``zone-cycles/cpu_second``."""
    from benchmarks.athena_reference import athinput_text

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "athinput").write_text(athinput_text(resolution, seed=1, cycles=cycles,
                                                     blocks=athena_blocks(preset)))
        runs = []
        for core in cores:
            folder = work / f"core{core}"
            folder.mkdir()
            # Pinned by a small launcher that execs Athena++ (no fork of this JAX process).
            command = [str(binary), "-i", str(work / "athinput"), "-d", str(folder)]
            runs.append(subprocess.Popen(
                [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}}); "
                 f"os.execv({command[0]!r}, {command!r})"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"}))
        rates = []
        for run in runs:
            out, err = run.communicate()
            found = re.search(r"zone-cycles/cpu_second = ([0-9.eE+-]+)", out)
            if run.returncode != 0 or not found:
                raise RuntimeError(f"{binary}: Athena++ failed ({run.returncode}): "
                                   f"{out[-1500:]}{err[-1500:]}")
            rates.append(float(found.group(1)))
    return {"processes": len(cores), "zone_cycles_per_second": sum(rates), "per_process": rates}


def _check_binary(binary: Path, preset: str) -> str | None:
    """Why ``binary`` cannot run ``preset`` (None: it can)."""
    if not binary.is_file():
        return f"{binary}: no such Athena++ binary (build one with benchmarks/athena/build.sh)"
    configured = subprocess.run([str(binary), "-c"], capture_output=True, text=True).stdout
    has_cr = bool(re.search(r"Cosmic Ray Transport:\s*ON", configured, re.IGNORECASE))
    if (preset != "MHD") != has_cr:
        need = "with --cr" if preset != "MHD" else "without --cr"
        return (f"{binary}: built {'with' if has_cr else 'without'} the CR module, but --preset "
                f"{preset} needs a build {need} (benchmarks/athena/build.sh SRC BUILD [--cr])")
    return None


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key]["zone_cycles_per_second"] for r in rows)


def compare(resolution: int, steps: int, args: argparse.Namespace) -> dict:
    """Alternating rounds of ours and Athena++ per core and per machine at one resolution."""
    cores = _cores()
    rounds = []
    for index in range(args.rounds):
        row = {"ours_core": ours(resolution, steps, args.repeats, args.precision, args.riemann,
                                 args.preset, one_core=True)}
        if args.athena_bin:
            row["athena_core"] = athena(args.athena_bin, resolution, steps * args.repeats,
                                        args.preset, cores[:1])
        row["ours_machine"] = ours(resolution, steps, args.repeats, args.precision,
                                   args.riemann, args.preset, one_core=False)
        row["ours_processes"] = ours_per_core(resolution, steps, args.repeats, args.precision,
                                              args.riemann, args.preset, cores)
        if args.athena_bin:
            row["athena_machine"] = athena(args.athena_bin, resolution, steps * args.repeats,
                                           args.preset, cores)
        rounds.append(row)
        print(f"  {resolution}^3 round {index + 1}: " + ", ".join(
            f"{k} {v['zone_cycles_per_second']:.3g}" for k, v in row.items()), flush=True)
    result = {"resolution": resolution, "steps": steps, "cores": len(cores), "rounds": rounds,
              **{k: _median(rounds, k) for k in rounds[0]},
              "compile_seconds": statistics.median(r["ours_core"]["compile_seconds"]
                                                   for r in rounds),
              "peak_memory_mib": max(r["ours_machine"]["peak_memory_mib"] for r in rounds)}
    if args.athena_bin:
        result["ratio_per_core"] = result["ours_core"] / result["athena_core"]
        result["ratio_per_machine"] = result["ours_machine"] / result["athena_machine"]
        result["ratio_per_machine_processes"] = (result["ours_processes"]
                                                 / result["athena_machine"])
    return result


def _line(r: dict) -> str:
    text = (f"{r['resolution']}^3: per core {r['ours_core']:.3g}, per machine "
            f"{r['ours_machine']:.3g} in one process, {r['ours_processes']:.3g} in one per core "
            f"({r['cores']} cores)")
    if "ratio_per_core" in r:
        text += (f"; Athena++ {r['athena_core']:.3g} / {r['athena_machine']:.3g}: "
                 f"{r['ratio_per_core']:.2f}x per core, {r['ratio_per_machine']:.2f}x / "
                 f"{r['ratio_per_machine_processes']:.2f}x per machine")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mhd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="32,64")
    parser.add_argument("--steps", type=int, default=20,
                        help="steps per timed chunk at 32^3, scaled by (32/N)^3 (same work per chunk)")
    parser.add_argument("--min-steps", type=int, default=10,
                        help="at least this many steps per chunk (a call's first step also "
                             "touches its fresh temporary memory: ~0.07 s at 64^3 float64, as "
                             "much as half a step; a run's chunks take 25 or more)")
    parser.add_argument("--repeats", type=int, default=3, help="timed chunks per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of every measurement on a CPU (medians)")
    parser.add_argument("--precision", default="float32", choices=("float32", "float64"))
    parser.add_argument("--riemann", default="hlld", choices=("hlld", "hlle"))
    parser.add_argument("--preset", default="MHD", choices=PRESET_CLASSES,
                        help="class preset (CR classes run the coupled MHD + cosmic-ray step)")
    parser.add_argument("--athena-bin", type=Path, default=None,
                        help="Athena++ binary (benchmarks/athena/build.sh; with --cr for a CR "
                             "preset): measured in the same rounds, per core and per machine")
    parser.add_argument("--devices", default="1",
                        help="on an accelerator: comma-separated device counts to split the grid "
                             "over (scaling; e.g. 1,2,4), each measured (default: %(default)s)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pin-core", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/mhd.json")
    args = parser.parse_args(argv)
    resolutions = [int(v) for v in args.resolutions.split(",")]
    if args.worker:
        if args.pin_core is not None:
            os.sched_setaffinity(0, {args.pin_core})  # before JAX starts its threads
        n = resolutions[0]
        print(json.dumps(measure(n, args.steps, args.repeats, args.precision, args.riemann,
                                 args.preset)))
        return 0
    if args.athena_bin is not None:
        problem = _check_binary(args.athena_bin, args.preset)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    import jax

    device = jax.devices()[0]
    results = []
    for n in resolutions:
        steps = max(args.min_steps, round(args.steps * (32 / n) ** 3))
        if device.platform == "cpu":
            results.append(compare(n, steps, args))
            print(_line(results[-1]), flush=True)
        else:
            for count in (int(v) for v in args.devices.split(",")):
                results.append(measure(n, steps, args.repeats, args.precision, args.riemann,
                                       args.preset, count))
                r = results[-1]
                print(f"{n}^3 on {count} device(s): {r['zone_cycles_per_second']:.3g} "
                      f"zone-cycles/s, compile {r['compile_seconds']:.1f} s, peak "
                      f"{r['peak_memory_mib']:.0f} MiB", flush=True)
    summary = {"device": f"{device.platform}: {device.device_kind}", "devices": len(jax.devices()),
               "processor": describe(), "jax": jax.__version__, "precision": args.precision,
               "riemann": args.riemann, "preset": args.preset,
               "athena_bin": str(args.athena_bin) if args.athena_bin else None,
               "results": results}
    write_result(args.out, summary)
    if device.platform == "cpu":
        line = "; ".join(_line(r) for r in results)
    else:
        line = ", ".join(f"{r['resolution']}^3 x{r['devices']} {r['zone_cycles_per_second']:.3g}"
                         for r in results)
    print(f"mhd ({args.preset}, {args.precision}): {line} zone-cycles/s on {summary['device']} "
          f"({summary['processor']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
