"""Metrics as small pure functions: classification scores and field-to-field errors.

VRMSE follows The Well (Ohana et al. 2024): ``sqrt(MSE / Var(target))``, so 1 means "no better than
predicting the mean" and 0 is perfect. Spectral errors compare ring-integrated power spectra of
predicted and true tiles in low / mid / high wavenumber bands (``k <= N/8``, ``N/8 < k <= N/4``,
``k > N/4``, cycles per tile).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

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
