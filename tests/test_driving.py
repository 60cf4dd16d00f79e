"""The turbulence driving against Athena++'s ``turb_flag = 3`` rules (``src/fft/turbulence.cpp``):
which wavevectors are driven, equal power per wavevector, a divergence-free pattern for
``f_shear = 1``, the first kick from the initial draw before the update, energy per step."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.simulate.mhd import MHDConfig, Solver
from crturb_keras.simulate.mhd.driving import (
    box_mean,
    draw_modes,
    driving_shell,
    velocity_pattern,
)
from crturb_keras.simulate.mhd.solver import enable_precision


def _spectrum(v: np.ndarray) -> np.ndarray:
    """``|FFT v|**2`` summed over components, ``(N, N, N)`` indexed ``[k3, k2, k1]``."""
    return np.sum(np.abs(np.fft.fftn(v, axes=(1, 2, 3))) ** 2, axis=0)


def _wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.fft.fftfreq(n, 1.0 / n)
    k3, k2, k1 = np.meshgrid(k, k, k, indexing="ij")
    return k1, k2, k3


@pytest.mark.parametrize("k_min,k_max", [(1, 4), (0, 3), (2, 3)])
def test_driven_wavevectors_are_athenas_open_shell(k_min, k_max):
    """The pattern has power exactly on the integer wavevectors with ``nlow < |n| < nhigh``
    (Athena++'s ``(nmag > nlow) && (nmag < nhigh)``): none at ``|n| = nlow`` or ``nhigh``."""
    n = 16
    shell = driving_shell(n, k_min, k_max, 2.0)
    modes = draw_modes(jax.random.key(0), shell, 1.0, jnp.float32)
    power = _spectrum(np.asarray(velocity_pattern(modes, shell, n), np.float64))
    k1, k2, k3 = _wavenumbers(n)
    squared = k1 ** 2 + k2 ** 2 + k3 ** 2
    expected = (squared > k_min ** 2) & (squared < k_max ** 2)
    driven = power > 1e-6 * power.max()
    assert np.array_equal(driven, expected)
    # An independent enumeration of the same rule.
    vectors = {v for v in itertools.product(range(-k_max, k_max + 1), repeat=3)
               if k_min ** 2 < sum(c * c for c in v) < k_max ** 2}
    assert int(driven.sum()) == len(vectors)


def test_every_wavevector_gets_the_same_power():
    """Averaged over draws, wavevectors of the same ``|n|`` carry the same power whether or not
    they lie in the ``k1 = 0`` plane (perpendicular to the mean field). Without the ``sqrt 2`` of
    the rfft layout that plane has half the power (ratio 0.5); tolerance 10 % for 400 draws of
    12 vectors each."""
    n = 16
    shell = driving_shell(n, 1, 4, 2.0)
    k1, k2, k3 = _wavenumbers(n)
    squared = k1 ** 2 + k2 ** 2 + k3 ** 2
    total = np.zeros((n, n, n))
    for i in range(400):
        modes = draw_modes(jax.random.key(i), shell, 1.0, jnp.float32)
        total += _spectrum(np.asarray(velocity_pattern(modes, shell, n), np.float64))
    ring = squared == 2
    plane = total[ring & (k1 == 0)].mean()
    off_plane = total[ring & (k1 != 0)].mean()
    assert plane / off_plane == pytest.approx(1.0, abs=0.1)


def test_solenoidal_pattern_is_divergence_free_to_round_off():
    """``f_shear = 1`` (``solenoidal_weight = 1``): ``k . v_k = 0`` for every driven mode, to
    float64 round-off relative to ``|k| |v_k|``; ``f_shear = 0`` gives ``v_k`` parallel to ``k``."""
    enable_precision("float64")
    n = 16
    shell = driving_shell(n, 1, 4, 2.0)
    k1, k2, k3 = _wavenumbers(n)
    kk = np.stack([k1, k2, k3])
    norm = np.sqrt(np.sum(kk ** 2, axis=0))
    for zeta, check in ((1.0, "divergence"), (0.0, "curl")):
        modes = draw_modes(jax.random.key(3), shell, zeta, jnp.float64)
        v = np.asarray(velocity_pattern(modes, shell, n))
        assert v.dtype == np.float64
        vk = np.fft.fftn(v, axes=(1, 2, 3))
        amplitude = np.sqrt(np.sum(np.abs(vk) ** 2, axis=0))
        driven = amplitude > 1e-8 * amplitude.max()
        parallel = np.abs(np.sum(kk * vk, axis=0))[driven] / (norm * amplitude)[driven]
        if check == "divergence":
            assert parallel.max() < 1e-12
        else:
            assert parallel.min() > 1.0 - 1e-12


def test_first_kick_uses_the_initial_draw_before_the_update():
    """As Athena++'s main loop: step 1 kicks with the initial modes (no OU update yet) and adds
    exactly ``dedt dt``; step 2 kicks with OU-updated modes. From rest, the kick comes before the
    MHD update, so the gas already moves after one step: a kick after the update would leave
    the first update's velocity zero and the density exactly uniform after it."""
    enable_precision("float64")
    solver = Solver(MHDConfig(resolution=16, k_max=3, precision="float64", seed=2))
    start = solver.start()
    one = solver.advance(start, 1.0, dedt=0.1, max_steps=1)
    assert np.array_equal(np.asarray(one.modes), np.asarray(start.modes))
    dt = float(one.time)
    assert float(one.injected) == pytest.approx(0.1 * dt, rel=1e-12)
    assert np.asarray(one.state.rho).std() > 0
    two = solver.advance(one, 1.0, dedt=0.1, max_steps=1)
    assert not np.allclose(np.asarray(two.modes), np.asarray(start.modes))
    assert float(two.injected) == pytest.approx(0.1 * float(two.time), rel=1e-12)


@pytest.mark.parametrize("k_min,k_max,message", [
    (2.0, 2.0, "k_min < k_max"),
    (1.0, 1.4, "no integer wavevector"),
    (1.0, 9.0, "resolution / 2"),
    (-1.0, 3.0, "k_min < k_max"),
])
def test_empty_or_aliased_shells_are_refused(k_min, k_max, message):
    """A shell without integer wavevectors, or one reaching past the Nyquist wavenumber, is a
    configuration error (one line), not a silent undriven run."""
    with pytest.raises(ConfigError, match=message):
        MHDConfig(resolution=16, k_min=k_min, k_max=k_max)


@pytest.mark.parametrize("shape", [(3, 16, 16, 16), (2, 6, 5, 3)])
def test_box_mean_is_the_mean_in_one_order_whatever_the_batch(shape):
    """The driving's box mean equals the mean to round-off (1e-15 relative, float64), also on
    grids that are not powers of two (zero padding must add nothing), and gives the same bits
    for a member alone and inside a vmapped batch -- what keeps ensemble members identical to
    runs alone."""
    enable_precision("float64")
    x = jnp.asarray(np.random.default_rng(4).lognormal(size=shape))
    got = np.asarray(jax.jit(box_mean)(x))
    np.testing.assert_allclose(got, np.asarray(x).mean(axis=(1, 2, 3)), rtol=1e-15, atol=0)
    batched = np.asarray(jax.jit(jax.vmap(box_mean))(x))
    alone = np.array([np.asarray(jax.jit(box_mean)(x[i])) for i in range(shape[0])])
    np.testing.assert_array_equal(batched, alone)
    np.testing.assert_array_equal(got, alone)
