"""DDIM schedule and sampling maths, periodic equivariance, guidance, save/load, the autoencoder."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.models.autoencoder import build_autoencoder
from crturb_keras.models.diffusion import (
    DiffusionModel, build_denoiser, cosine_rates, ddim_step)

SMALL = dict(widths=(8, 16), block_depth=1, embedding_dims=8)


def _model(n_classes=0, circular=True, shape=(16, 16, 1), **kwargs) -> DiffusionModel:
    keras.utils.set_random_seed(0)
    return DiffusionModel(build_denoiser(shape, n_classes=n_classes, circular=circular, **SMALL),
                          **kwargs)


def test_cosine_schedule_ends_and_unit_norm():
    t = np.linspace(0, 1, 101)
    noise, signal = (np.asarray(keras.ops.convert_to_numpy(v)) for v in cosine_rates(t, 0.02, 0.95))
    np.testing.assert_allclose(noise ** 2 + signal ** 2, 1.0, atol=1e-6)
    assert signal[0] == pytest.approx(0.95, abs=1e-6) and signal[-1] == pytest.approx(0.02, abs=1e-6)
    assert np.all(np.diff(signal) < 0) and np.all(np.diff(noise) > 0)
    angle = np.arccos(signal)  # the angle grows linearly in t
    np.testing.assert_allclose(np.diff(angle, 2), 0.0, atol=1e-5)


def test_ddim_step_is_exact_with_the_true_noise():
    rng = np.random.default_rng(0)
    x0, eps = rng.standard_normal((2, 4, 8, 8, 1))
    n, s = math.sin(1.2), math.cos(1.2)
    n2, s2 = math.sin(0.4), math.cos(0.4)
    x_next, x0_hat = ddim_step(s * x0 + n * eps, eps, n, s, n2, s2)
    np.testing.assert_allclose(x0_hat, x0, atol=1e-12)
    np.testing.assert_allclose(x_next, s2 * x0 + n2 * eps, atol=1e-12)


def test_ddim_eta_one_uses_the_ddpm_posterior_variance():
    # sigma**2 must equal the variance of q(x_t' | x_t, x_0) = (1 - a') / (1 - a) * (1 - a / a')
    n, s, n2, s2 = math.sin(1.0), math.cos(1.0), math.sin(0.5), math.cos(0.5)
    a, a_prev = s ** 2, s2 ** 2
    posterior = (1 - a_prev) / (1 - a) * (1 - a / a_prev)
    x = np.zeros((1, 1))
    eps = np.zeros((1, 1))
    z = np.ones((1, 1))
    out, _ = ddim_step(x, eps, n, s, n2, s2, eta=1.0, noise=z)
    assert out[0, 0] ** 2 == pytest.approx(posterior, rel=1e-9)


def test_untrained_denoiser_predicts_zero_noise_so_loss_starts_at_one():
    model = _model()
    model.compile(keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(1).standard_normal((64, 16, 16, 1)).astype("float32")
    loss = model.evaluate(images, batch_size=32, verbose=0)
    assert loss == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_training_lowers_the_noise_prediction_loss():
    model = _model()
    model.compile(keras.optimizers.Adam(3e-3))
    rng = np.random.default_rng(2)
    # smooth images: their noise is easy to tell apart from the signal
    base = np.cumsum(np.cumsum(rng.standard_normal((128, 16, 16, 1)), axis=1), axis=2)
    images = (base / base.std()).astype("float32")
    history = model.fit(images, epochs=6, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


@pytest.mark.parametrize("circular", [True, False])
def test_circular_denoiser_commutes_with_periodic_shifts(circular):
    model = _model(circular=circular)
    # give the zero-initialised output layer weights so the test sees the whole network
    layer = model.network.get_layer("noise")
    layer.set_weights([np.random.default_rng(3).standard_normal(w.shape).astype("float32")
                       for w in layer.get_weights()])
    x = np.random.default_rng(4).standard_normal((2, 16, 16, 1)).astype("float32")
    variance = np.full((2, 1, 1, 1), 0.3, "float32")
    shift = (4, 6)  # multiples of the total stride 2
    direct = np.roll(model.network.predict_on_batch([x, variance]), shift, axis=(1, 2))
    shifted = model.network.predict_on_batch([np.roll(x, shift, axis=(1, 2)), variance])
    if circular:
        np.testing.assert_allclose(shifted, direct, atol=1e-4)
    else:
        assert np.abs(shifted - direct).max() > 1e-3


def test_circular_samples_tile_seamlessly():
    model = _model()
    layer = model.network.get_layer("noise")
    layer.set_weights([0.3 * np.random.default_rng(5).standard_normal(w.shape).astype("float32")
                       for w in layer.get_weights()])
    noise = np.random.default_rng(6).standard_normal((2, 16, 16, 1)).astype("float32")
    a = model.generate(2, steps=4, initial_noise=noise)
    b = model.generate(2, steps=4, initial_noise=np.roll(noise, (8, 2), axis=(1, 2)))
    np.testing.assert_allclose(b, np.roll(a, (8, 2), axis=(1, 2)), atol=1e-3)


def test_sampling_shapes_seeds_and_units():
    model = _model(data_mean=5.0, data_std=0.1)
    a = model.generate(3, steps=3, seed=1)
    assert a.shape == (3, 16, 16, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, model.generate(3, steps=3, seed=1))
    assert not np.array_equal(a, model.generate(3, steps=3, seed=2))
    # the untrained network predicts zero noise, so samples are start noise scaled into data units
    assert abs(float(a.mean()) - 5.0) < 1.0
    stochastic = model.generate(3, steps=3, seed=1, eta=1.0)
    assert stochastic.shape == a.shape and not np.array_equal(stochastic, a)


def test_conditional_labels_and_guidance():
    model = _model(n_classes=3)
    embedding = model.network.get_layer("class_embedding")
    embedding.set_weights([np.random.default_rng(7).standard_normal(w.shape).astype("float32")
                           for w in embedding.get_weights()])
    layer = model.network.get_layer("noise")
    layer.set_weights([0.3 * np.random.default_rng(8).standard_normal(w.shape).astype("float32")
                       for w in layer.get_weights()])
    assert model.conditional and model.n_classes == 3
    by_class = [model.generate(2, steps=3, labels=c, seed=0) for c in range(3)]
    assert not np.allclose(by_class[0], by_class[1], atol=1e-4)
    # guidance 0 is the unconditional (null-label) model: the class no longer matters
    unguided = [model.generate(2, steps=3, labels=c, guidance=0.0, seed=0) for c in range(3)]
    np.testing.assert_allclose(unguided[0], unguided[2], atol=1e-5)
    with pytest.raises(ConfigError, match="labels"):
        model.generate(2, steps=3)
    with pytest.raises(ConfigError, match="0..2"):
        model.generate(2, steps=3, labels=3)
    with pytest.raises(ConfigError, match="unconditional"):
        _model().generate(2, steps=2, labels=0)


@pytest.mark.slow
def test_conditional_training_uses_labels_in_x():
    """Training on ``(images, labels)`` moves the embedding rows of the classes it saw (and of
    the null label, through class dropout) and not the row of a class absent from the data.
    Mutations caught: training that drops the labels (always the null label) leaves rows 0 and
    1 at their initial values; a finite loss, the old check, cannot tell."""
    model = _model(n_classes=3, class_dropout=0.5)
    model.compile(keras.optimizers.Adam(1e-2))
    embedding = model.network.get_layer("class_embedding")
    before = np.array(embedding.get_weights()[0])
    images = np.random.default_rng(9).standard_normal((32, 16, 16, 1)).astype("float32")
    labels = np.arange(32) % 2                       # classes 0 and 1 only; 2 never appears
    history = model.fit((images, labels), epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    moved = np.abs(np.array(embedding.get_weights()[0]) - before).max(axis=1)
    assert moved[0] > 1e-4 and moved[1] > 1e-4 and moved[3] > 1e-4   # classes 0, 1 and null
    assert moved[2] == 0.0


@pytest.mark.slow
def test_diffusion_model_save_load_round_trip(tmp_path):
    model = _model(n_classes=2, data_mean=1.0, data_std=2.0)
    model.compile(keras.optimizers.AdamW(1e-3, use_ema=True, ema_momentum=0.9))
    images = np.random.default_rng(10).standard_normal((32, 16, 16, 1)).astype("float32")
    model.fit((images, np.arange(32) % 2), epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "ddim.keras")
    loaded = keras.saving.load_model(tmp_path / "ddim.keras", compile=False)
    assert isinstance(loaded, DiffusionModel) and loaded.data_std == 2.0
    np.testing.assert_allclose(loaded.generate(2, steps=3, labels=1, guidance=1.5),
                               model.generate(2, steps=3, labels=1, guidance=1.5), atol=1e-5)


def test_bad_denoiser_and_schedule_options():
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_denoiser((18, 18, 1), widths=(8, 16, 16))
    with pytest.raises(ConfigError, match="groups|divisible by 8"):
        build_denoiser((16, 16, 1), widths=(12, 16))
    with pytest.raises(ConfigError, match="min_signal"):
        DiffusionModel(build_denoiser((16, 16, 1), **SMALL), min_signal=0.9, max_signal=0.5)


@pytest.mark.slow
def test_autoencoder_shapes_kl_and_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    vae = build_autoencoder((16, 16, 1), widths=(8, 8), latent_channels=3, kl_weight=1e-2,
                            data_mean=2.0, data_std=3.0)
    images = (2.0 + 3.0 * np.random.default_rng(11).standard_normal((64, 16, 16, 1))).astype("float32")
    latents = vae.encode(images)
    assert latents.shape == (64, 4, 4, 3)
    assert vae.decode(latents).shape == (64, 16, 16, 1)
    vae(images[:4], training=True)
    assert len(vae.losses) == 1 and float(keras.ops.convert_to_numpy(vae.losses[0])) >= 0
    vae.compile(keras.optimizers.Adam(3e-3), loss="mse")
    history = vae.fit(images, images, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    vae.save(tmp_path / "vae.keras")
    loaded = keras.saving.load_model(tmp_path / "vae.keras", compile=False)
    np.testing.assert_allclose(loaded.decode(loaded.encode(images[:4])),
                               vae.decode(vae.encode(images[:4])), atol=1e-5)


def test_circular_autoencoder_commutes_with_even_shifts():
    keras.utils.set_random_seed(1)
    vae = build_autoencoder((16, 16, 1), widths=(8, 8), latent_channels=2)
    x = np.random.default_rng(12).standard_normal((2, 16, 16, 1)).astype("float32")
    shifted = vae.decode(vae.encode(np.roll(x, (4, 8), axis=(1, 2))))
    np.testing.assert_allclose(shifted, np.roll(vae.decode(vae.encode(x)), (4, 8), axis=(1, 2)),
                               atol=1e-4)
