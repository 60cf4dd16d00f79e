"""Generation metrics: KID, statistics features, pixel-PDF distance, classifier features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from crturb_keras.errors import ConfigError
from crturb_keras.metrics import (
    calibration, classifier_agreement, fit_temperature, classifier_features, generation_metrics, kid,
    pdf_distance, softmax, statistics_features)


def white_noise(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, size, size)).astype(np.float32)


def smoothed(images: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Gaussian-blurred periodic tiles, rescaled to unit variance."""
    blurred = np.stack([ndimage.gaussian_filter(image, sigma, mode="wrap") for image in images])
    return blurred / blurred.std()


def test_kid_same_distribution_is_near_zero_and_shift_is_large():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((200, 6)), rng.standard_normal((200, 6))
    same = kid(a, b, subset_size=50, subsets=40)
    assert abs(same["kid"]) < 3 * same["kid_std"] + 0.01
    assert same["subset_size"] == 50 and same["subsets"] == 40
    identical = kid(a, a, subset_size=50, subsets=40)
    assert abs(identical["kid"]) < 3 * identical["kid_std"] + 0.01
    shifted = kid(a, b + 1.0, subset_size=50, subsets=40)
    assert shifted["kid"] > 10 * (abs(same["kid"]) + same["kid_std"])
    assert shifted["kid"] > 0.5


def test_kid_is_unbiased():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((400, 4)), rng.standard_normal((400, 4))
    result = kid(a, b, subset_size=20, subsets=400, seed=3)
    standard_error = result["kid_std"] / np.sqrt(result["subsets"])
    assert abs(result["kid"]) < 4 * standard_error


def test_kid_matches_brute_force_unbiased_mmd():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)) + 0.3
    d, m = x.shape[1], len(x)

    def kernel(u, v):
        return (sum(u[i] * v[i] for i in range(d)) / d + 1) ** 3

    xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    result = kid(x, y, subset_size=m, subsets=1)
    assert result["kid"] == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert result["kid_std"] == 0.0 and result["subset_size"] == m


@pytest.mark.parametrize("real, fake, message", [
    (np.zeros(5), np.zeros((5, 2)), "2-D"),
    (np.zeros((5, 2)), np.zeros((5, 3)), "dimensions differ"),
    (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2"),
    (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN"),
])
def test_kid_rejects_bad_features(real, fake, message):
    with pytest.raises(ValueError, match=message):
        kid(real, fake)


def test_statistics_features_moments_and_spectrum():
    noise = white_noise(12)
    smooth = smoothed(noise)
    features = statistics_features(noise[..., None], bins=8)
    assert features.shape == (12, 12)
    flat = noise.reshape(12, -1).astype(np.float64)
    np.testing.assert_allclose(features[:, 0], flat.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(features[:, 1], flat.std(axis=1), rtol=1e-10)
    assert np.all(np.isfinite(features))
    smooth_features = statistics_features(smooth, bins=8)
    # same variance, but the blur moves power from high to low wavenumbers
    assert np.all(smooth_features[:, -1] < features[:, -1] - 1.0)
    assert np.all(smooth_features[:, 4] > features[:, 4])
    assert statistics_features(white_noise(3, size=16), bins=10).shape == (3, 14)


def test_pdf_distance_identical_and_shift():
    maps = white_noise(10)
    assert pdf_distance(maps, maps) == 0.0
    assert pdf_distance(maps, maps + 0.7) == pytest.approx(0.7, rel=1e-5)
    subsampled = pdf_distance(maps, maps + 0.7, max_pixels=2000, seed=1)
    assert subsampled == pytest.approx(0.7, abs=0.1)


def test_classifier_features_are_the_logits_layer_input():
    import keras

    from crturb_keras.models import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier(3, (32, 32, 1), depth=2, base_filters=4, pooled_size=2)
    images = white_noise(7)
    features = classifier_features(model, images, batch_size=4)
    assert features.shape == (7, 2 * 2 * 8)
    kernel, bias = model.get_layer("logits").get_weights()
    logits = model.predict(images[..., None], verbose=0)
    np.testing.assert_allclose(features @ kernel + bias, logits, rtol=1e-4, atol=1e-4)

    inputs = keras.Input((32, 32, 1))
    plain = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="logits"):
        classifier_features(plain, images)


def test_generation_metrics_sees_blur_in_high_band():
    real, other = white_noise(24, seed=0), white_noise(24, seed=1)
    blurred = smoothed(real, sigma=1.0)
    independent = generation_metrics(real, other[..., None])
    blur = generation_metrics(real, blurred)
    assert blur["spectral_error"]["high"] > independent["spectral_error"]["high"] + 0.3
    assert blur["kid_statistics"]["kid"] > independent["kid_statistics"]["kid"]
    assert independent["kid_physics"] is None
    assert independent["n_real"] == 24 and independent["n_fake"] == 24
    assert isinstance(independent["pdf_wasserstein"], float)

    features = np.random.default_rng(5).standard_normal((24, 4))
    with_features = generation_metrics(real, other, features, features + 2.0)
    assert with_features["kid_physics"]["kid"] > 1.0
    with pytest.raises(ValueError, match="both"):
        generation_metrics(real, other, real_features=features)


def test_classifier_agreement():
    scores = np.array([[0.1, 0.9, 0.0], [2.0, -1.0, 0.5], [0.0, 3.0, 1.0], [0.2, 0.3, 0.5]])
    assert classifier_agreement(scores, 1) == 0.5
    assert classifier_agreement(scores, 0) == 0.25
    assert classifier_agreement(scores, 2) == 0.25
    with pytest.raises(ValueError):
        classifier_agreement(scores, 3)


def test_calibration_error_of_known_cases():
    """ECE (10 equal bins of top-class probability): always 0.9 confident but right half the
    time gives |0.5 - 0.9| = 0.4; confidence equal to accuracy in every bin gives 0; the NLL is
    the mean -log p(true class)."""
    labels = np.array([0, 1] * 50)
    overconfident = np.tile([0.9, 0.1], (100, 1))
    scores = calibration(labels, overconfident)
    assert scores["ece"] == pytest.approx(0.4)
    assert scores["count"] == [100] and scores["accuracy"] == [0.5]
    assert scores["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.1)) / 2)
    rng = np.random.default_rng(0)
    confidence = rng.choice([0.55, 0.75, 0.95], 30000)
    truth = rng.integers(0, 2, 30000)
    right = rng.random(30000) < confidence
    top = np.where(right, truth, 1 - truth)
    probabilities = np.zeros((30000, 2))
    probabilities[np.arange(30000), top] = confidence
    probabilities[np.arange(30000), 1 - top] = 1 - confidence
    assert calibration(truth, probabilities)["ece"] < 0.01
    assert softmax(np.array([[0.0, np.log(3.0)]])) == pytest.approx(np.array([[0.25, 0.75]]))
    with pytest.raises(ConfigError, match="calibration needs"):
        calibration(labels, overconfident[:10])


def test_temperature_scaling_recovers_the_temperature_of_the_labels():
    """Labels drawn from softmax(z / 2.5) are fitted with T = 2.5 within 5 % (20k samples);
    the fitted T lowers the NLL below T = 1 and below T = 1.5 x the fit, and bad logits are
    refused."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 4.0, (20_000, 3))
    p = softmax(logits / 2.5)
    labels = (rng.random(len(p))[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    t = fit_temperature(labels, logits)
    assert t == pytest.approx(2.5, rel=0.05)
    nll = {s: calibration(labels, softmax(logits / s))["nll"] for s in (1.0, t, 1.5 * t)}
    assert nll[t] < nll[1.0] and nll[t] < nll[1.5 * t]
    with pytest.raises(ConfigError, match="finite logits"):
        fit_temperature(labels, np.full_like(logits, np.nan))
