"""Metrics as small pure functions: classification scores, field-to-field errors, generation scores.

VRMSE follows The Well (Ohana et al. 2024): ``sqrt(MSE / Var(target))``, so 1 means "no better than
predicting the mean" and 0 is perfect. Spectral errors compare ring-integrated power spectra of
predicted and true tiles in low / mid / high wavenumber bands (``k <= N/8``, ``N/8 < k <= N/4``,
``k > N/4``, cycles per tile).

Generated maps (unpaired sets of tiles) are judged with physics rather than InceptionV3: the Kernel
Inception Distance (KID, Bińkowski et al. 2018) on the penultimate features of a trained transport
classifier and on a fixed, network-free feature set (one-point moments and band-averaged power
spectrum), the spectral band errors of the mean spectra and the 1-Wasserstein distance between the
pixel-value distributions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import wasserstein_distance
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from .baselines import as_tiles, one_point_statistics, tile_spectra
from .errors import ConfigError, DataFormatError
from .spectra import radial_power_spectrum


def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class accuracy and confusion matrices."""
    indices = list(range(len(names)))
    counts = confusion_matrix(labels, predictions, labels=indices)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predictions, labels=indices, average="macro", zero_division=0)
    rows = counts.sum(axis=1)
    per_class = {name: (float(counts[i, i] / rows[i]) if rows[i] else None)
                 for i, name in enumerate(names)}
    normalised = np.divide(counts, rows[:, None], out=np.zeros(counts.shape), where=rows[:, None] > 0)
    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "per_class_accuracy": per_class,
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalised": normalised.round(4).tolist(),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, K)`` from logits ``(n, K)`` (float64, numerically stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """The temperature ``T`` that minimises the mean negative log-likelihood of
    ``softmax(logits / T)`` (temperature scaling, Guo et al. 2017).

    Fit it on the **validation** split: one scalar leaves the predicted class unchanged and
    only makes the probabilities honest (``T > 1`` softens an over-confident network). Searched
    in ``log T`` on [-4, 4] (bounded, so separable data give a large finite ``T`` range end
    rather than an overflow).

    Raises
    ------
    ConfigError
        For logits that are not ``(n, K)`` with ``n > 0`` matching ``labels``, or not finite.
    """
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels).astype(int)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or len(z) != len(labels) or not len(labels) or not np.isfinite(z).all():
        raise ConfigError(f"fit_temperature needs finite logits (n, K) for n > 0 labels, got "
                          f"{z.shape} for {labels.shape}")
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        top = scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled - top).sum(axis=1)) + top[:, 0]
        return float(np.mean(log_norm - scaled[rows, labels]))

    best = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded",
                           options={"xatol": 1e-6})
    return float(np.exp(best.x))


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error and the reliability curve of top-class probabilities.

    Samples are grouped by their top-class probability into ``bins`` equal-width bins on
    [0, 1]; ECE (Guo et al. 2017) is ``sum_b (n_b / n) |accuracy_b - confidence_b|``, 0 for a
    perfectly calibrated classifier. ``probabilities`` are ``(n, K)`` rows that sum to one.
    Returns ``ece``, the mean log-likelihood ``nll`` and, per non-empty bin, its
    ``confidence``, ``accuracy`` and ``count``.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels) or not len(labels):
        raise ConfigError(f"calibration needs probabilities (n, K) for n > 0 labels, got "
                          f"{probabilities.shape} for {labels.shape}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    curve = {"confidence": [], "accuracy": [], "count": []}
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            curve["confidence"].append(float(confidence[members].mean()))
            curve["accuracy"].append(float(correct[members].mean()))
            curve["count"].append(int(members.sum()))
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    picked = probabilities[np.arange(len(labels)), labels]
    return {"ece": float(ece), "nll": float(-np.log(np.maximum(picked, 1e-300)).mean()),
            "bins": bins, **curve}


def vrmse(true: np.ndarray, pred: np.ndarray) -> float:
    """``sqrt(mean((pred - true)**2) / var(true))`` over all pixels."""
    return float(np.sqrt(np.mean((pred - true) ** 2) / np.var(true)))


def spectral_band_errors(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Mean relative error of the power spectrum per band, ``|P_pred - P_true| / P_true``.

    ``true`` and ``pred`` are tiles ``(n, H, W)``; spectra are averaged over tiles first.
    """
    k, p_true = radial_power_spectrum(true)
    _, p_pred = radial_power_spectrum(pred)
    n = true.shape[-1]
    bands = {"low": k <= n / 8, "mid": (k > n / 8) & (k <= n / 4), "high": k > n / 4}
    relative = np.abs(p_pred - p_true) / np.maximum(p_true, 1e-30)
    return {band: float(relative[mask].mean()) for band, mask in bands.items() if mask.any()}


def map_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float | dict]:
    """MSE, SSIM, VRMSE, Pearson r and spectral band errors of one target ``(n, H, W)``."""
    import keras

    from .models.unet import ssim

    similarity = keras.ops.convert_to_numpy(ssim(true[..., None], pred[..., None]))
    return {
        "mse": float(np.mean((pred - true) ** 2)),
        "ssim": float(np.mean(similarity)),
        "vrmse": vrmse(true, pred),
        "pearson_r": float(np.corrcoef(true.ravel(), pred.ravel())[0, 1]),
        "spectral_error": spectral_band_errors(true, pred),
    }


def classifier_agreement(logits_or_probabilities: np.ndarray, class_index: int) -> float:
    """Fraction of samples whose most likely class is ``class_index``.

    Parameters
    ----------
    logits_or_probabilities : ndarray of shape (n, n_classes)
        Classifier outputs for generated samples (logits or probabilities: only the argmax counts).
    class_index : int
        Class the samples were generated to resemble.
    """
    scores = np.asarray(logits_or_probabilities)
    if scores.ndim != 2 or len(scores) == 0:
        raise ConfigError(f"need scores of shape (n, n_classes) with n >= 1, got {scores.shape}")
    if not 0 <= class_index < scores.shape[1]:
        raise ConfigError(f"class_index {class_index} outside 0 .. {scores.shape[1] - 1}")
    return float(np.mean(np.argmax(scores, axis=1) == class_index))


def _check_features(features: np.ndarray, name: str) -> np.ndarray:
    """``features`` as a finite float64 array ``(n, d)`` with ``n >= 2``, else ``ValueError``."""
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2:
        raise ConfigError(f"{name} must be 2-D (n, d), got shape {data.shape}")
    if len(data) < 2:
        raise ConfigError(f"{name} needs at least 2 samples, got {len(data)}")
    if not np.all(np.isfinite(data)):
        raise DataFormatError(f"{name} contains NaN or infinite values")
    return data


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID kernel ``(x . y / d + 1) ** 3`` between rows of ``x (m, d)`` and ``y (l, d)``."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size samples ``(m, d)`` (diagonals of k(x, x), k(y, y) left out)."""
    m = len(x)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid(real_features: np.ndarray, fake_features: np.ndarray, subset_size: int = 100,
        subsets: int = 50, seed: int = 0) -> dict:
    """Kernel Inception Distance (Bińkowski et al. 2018) between two feature sets.

    The unbiased MMD² with the cubic polynomial kernel ``k(x, y) = (x . y / d + 1)**3`` is averaged
    over random subsets (drawn without replacement within each subset) of both sets. Being
    unbiased, it can be slightly negative when the two distributions agree.

    Parameters
    ----------
    real_features, fake_features : ndarray of shape (n_real, d), (n_fake, d)
        Features of reference and generated samples (same ``d``, finite, at least 2 rows each).
    subset_size : int
        Subset size ``m``; clipped to ``min(subset_size, n_real, n_fake)``.
    subsets : int
        Number of subsets averaged.
    seed : int
        Seed of ``np.random.default_rng`` drawing the subsets.

    Returns
    -------
    dict
        ``kid`` (mean MMD², squared feature units), ``kid_std`` (standard deviation over subsets),
        ``subset_size`` (``m``) and ``subsets``.
    """
    real = _check_features(real_features, "real_features")
    fake = _check_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"feature dimensions differ: real {real.shape[1]}, fake {fake.shape[1]}")
    if subset_size < 2 or subsets < 1:
        raise ConfigError(f"need subset_size >= 2 and subsets >= 1, got {subset_size}, {subsets}")
    m = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    estimates = np.array([
        _unbiased_mmd2(real[rng.choice(len(real), m, replace=False)],
                       fake[rng.choice(len(fake), m, replace=False)])
        for _ in range(subsets)])
    return {"kid": float(estimates.mean()), "kid_std": float(estimates.std()),
            "subset_size": int(m), "subsets": int(subsets)}


def _band_overlaps(k: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Length of overlap ``(len(k), len(edges) - 1)`` of ring ``[k - 1/2, k + 1/2)`` with each band."""
    lower = np.maximum(k[:, None] - 0.5, edges[None, :-1])
    upper = np.minimum(k[:, None] + 0.5, edges[None, 1:])
    return np.clip(upper - lower, 0.0, None)


def statistics_features(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """Network-free features of tiles: one-point moments and a coarse log power spectrum.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 1)
        Square periodic tiles (e.g. standardised log density), ``H >= 4``.
    bins : int
        Number of logarithmic wavenumber bands between ``k = 1`` and ``k = H/2`` (cycles per tile).

    Returns
    -------
    ndarray of shape (n, 4 + bins)
        Mean, standard deviation, skewness and excess kurtosis of the pixel values, then
        ``log10`` of the ring power per unit wavenumber averaged over each band (ring ``k`` covers
        ``k - 1/2 <= |k| < k + 1/2``, so no band is empty however narrow); powers are in squared
        pixel units and floored at 1e-30.
    """
    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    k, power = tile_spectra(images)
    if len(k) < 2:
        raise ConfigError(f"tiles must be at least 4x4 for a spectrum, got {np.shape(images)}")
    edges = np.geomspace(1.0, k[-1], bins + 1)
    band_power = power @ _band_overlaps(k, edges) / np.diff(edges)
    return np.column_stack([one_point_statistics(images), np.log10(np.maximum(band_power, 1e-30))])


def pdf_distance(real: np.ndarray, fake: np.ndarray, max_pixels: int = 200_000,
                 seed: int = 0) -> float:
    """1-Wasserstein distance between the pixel-value distributions of two sets of maps.

    Parameters
    ----------
    real, fake : ndarray of any shape, e.g. (n, H, W) or (n, H, W, 1)
        Reference and generated maps; all pixels of a set are pooled.
    max_pixels : int
        Each set is subsampled (without replacement) to at most this many pixels.
    seed : int
        Seed of ``np.random.default_rng`` drawing the subsamples.

    Returns
    -------
    float
        Distance in the units of the pixel values (a constant shift ``c`` gives ``|c|``).
    """
    rng = np.random.default_rng(seed)
    pixels = []
    for values in (np.ravel(real), np.ravel(fake)):
        if values.size > max_pixels:
            values = rng.choice(values, max_pixels, replace=False)
        pixels.append(values.astype(np.float64))
    return float(wasserstein_distance(*pixels))


def classifier_features(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate features of a trained classifier: the input of its ``"logits"`` Dense layer.

    Parameters
    ----------
    model : keras.Model
        Functional classifier whose last layer is a Dense named ``"logits"`` (see
        ``models.build_classifier``).
    images : ndarray of shape (n, H, W) or (n, H, W, C)
        Tiles in the model's input units; a channel axis is added to ``(n, H, W)``.
    batch_size : int
        Prediction batch size.

    Returns
    -------
    ndarray of shape (n, d)
        Features in inference mode (dropout off), ``d`` the ``"logits"`` layer's input size.
    """
    import keras

    from .models.inference import predict_batches

    if "logits" not in [layer.name for layer in model.layers]:
        raise ConfigError(f"model {model.name!r} has no layer named 'logits'; classifier_features "
                         f"needs a classifier built like models.build_classifier")
    data = np.asarray(images, dtype=np.float32)
    if data.ndim == 3:
        data = data[..., None]
    extractor = keras.Model(model.inputs, model.get_layer("logits").input)
    return predict_batches(extractor, data, batch_size)


def _standardise(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(features - mean) / std`` with the column statistics of ``reference`` (std 0 -> 1)."""
    std = reference.std(axis=0)
    return (features - reference.mean(axis=0)) / np.where(std > 0, std, 1.0)


def generation_metrics(real: np.ndarray, fake: np.ndarray, real_features: np.ndarray | None = None,
                       fake_features: np.ndarray | None = None, seed: int = 0) -> dict:
    """Scores of generated maps against real ones (unpaired), as a JSON-serialisable dict.

    Parameters
    ----------
    real, fake : ndarray of shape (n_real, H, W) or (n_real, H, W, 1), and likewise for ``fake``
        Reference and generated tiles in the same units (e.g. standardised log density).
    real_features, fake_features : ndarray of shape (n_real, d) and (n_fake, d), optional
        Classifier features (``classifier_features``) of the two sets; give both or neither.
    seed : int
        Seed of the KID subsets and the pixel subsampling.

    Returns
    -------
    dict
        ``kid_physics`` (``kid`` on the classifier features, ``None`` without them),
        ``kid_statistics`` (``kid`` on ``statistics_features`` standardised with the real set's
        column mean and std), ``spectral_error`` (``spectral_band_errors`` of the mean spectra:
        ``low`` / ``mid`` / ``high``), ``pdf_wasserstein`` (``pdf_distance``), ``n_real``, ``n_fake``.
    """
    if (real_features is None) != (fake_features is None):
        raise ConfigError("give both real_features and fake_features, or neither")
    real_tiles, fake_tiles = as_tiles(real), as_tiles(fake)
    real_stats = statistics_features(real_tiles)
    fake_stats = statistics_features(fake_tiles)
    return {
        "kid_physics": (None if real_features is None
                        else kid(real_features, fake_features, seed=seed)),
        "kid_statistics": kid(_standardise(real_stats, real_stats),
                              _standardise(fake_stats, real_stats), seed=seed),
        "spectral_error": spectral_band_errors(real_tiles, fake_tiles),
        "pdf_wasserstein": pdf_distance(real_tiles, fake_tiles, seed=seed),
        "n_real": len(real_tiles),
        "n_fake": len(fake_tiles),
    }
