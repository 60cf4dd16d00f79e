"""What does the classifier look at? Saliency (tf-keras-vis), occlusion, and sanity checks.

Gradient methods use tf-keras-vis on the **TensorFlow backend only** (they need ``tf.GradientTape``;
on other backends a clear error is raised): vanilla Saliency, SmoothGrad (Smilkov et al. 2017),
GradCAM++ (Chattopadhyay et al. 2018) and ScoreCAM (Wang et al. 2020), always on the logits
(``ReplaceToLinear``) with a ``CategoricalScore`` for the chosen class. Occlusion is model-agnostic
(``keras.ops`` / ``predict`` only): every pixel is covered by at least one patch and the map keeps
the image's orientation.

Sanity checks follow Adebayo et al. 2018 ("Sanity Checks for Saliency Maps"): randomise the
weights layer by layer from the output down (cascading randomisation) and measure the Spearman rank
correlation of the resulting maps with the trained model's; a method whose maps barely change is
showing the input, not the model, and fails.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import keras
import numpy as np
from scipy.stats import spearmanr

from ..errors import ConfigError

METHODS = ("vanilla", "smoothgrad", "gradcam++", "scorecam")


def _require_tensorflow() -> None:
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"saliency maps use tf-keras-vis, which needs the TensorFlow backend "
                          f"(KERAS_BACKEND=tensorflow); this process runs "
                          f"{keras.backend.backend()!r}. Occlusion maps work on every backend.")


def last_conv_activation(model: keras.Model) -> str:
    """Name of the last convolutional block's activation layer (GradCAM's feature map)."""
    names = [layer.name for layer in model.layers
             if isinstance(layer, keras.layers.Activation) and len(layer.output.shape) == 4]
    if not names:
        raise ConfigError(f"model {model.name} has no convolutional activation for GradCAM")
    return names[-1]


def saliency_maps(model: keras.Model, images: np.ndarray, classes: Sequence[int],
                  method: str = "vanilla", smooth_samples: int = 20,
                  smooth_noise: float = 0.1) -> np.ndarray:
    """Saliency maps ``(n, H, W)`` for ``images`` ``(n, H, W, 1)`` and one class per image.

    Parameters
    ----------
    method : {"vanilla", "smoothgrad", "gradcam++", "scorecam"}
    smooth_samples, smooth_noise : SmoothGrad's number of noisy copies and noise level
        (fraction of each image's value range; Smilkov et al. recommend 10-20 %, and on the
        planted-feature test 10 % localises best).
    """
    _require_tensorflow()
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    images = np.asarray(images, dtype=np.float32)
    score = CategoricalScore([int(c) for c in classes])
    if method in ("vanilla", "smoothgrad"):
        tool = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)
        extra = {"smooth_samples": smooth_samples, "smooth_noise": smooth_noise} \
            if method == "smoothgrad" else {}
        maps = tool(score, images, **extra)
    elif method == "gradcam++":
        tool = GradcamPlusPlus(model, model_modifier=ReplaceToLinear(), clone=True)
        maps = tool(score, images, penultimate_layer=last_conv_activation(model))
    else:
        tool = Scorecam(model, model_modifier=ReplaceToLinear(), clone=True)
        maps = tool(score, images, penultimate_layer=last_conv_activation(model), max_N=16)
    return np.asarray(maps, dtype=np.float32).reshape(images.shape[:3])


def occlusion_maps(model: keras.Model, images: np.ndarray, classes: Sequence[int],
                   patch: int = 8, stride: int = 4) -> np.ndarray:
    """Drop in the class probability when a ``patch`` square is replaced by the tile mean.

    Returns ``(n, H, W)``: for each pixel, the mean drop over all patches covering it (patch
    positions include the last row/column, so every pixel is covered); positive = the pixel
    supported the class.
    """
    images = np.asarray(images, dtype=np.float32)
    n, height, width = images.shape[:3]

    def starts(size):
        out = list(range(0, max(size - patch, 0) + 1, stride))
        return out if out[-1] == size - patch else out + [size - patch]

    def probability(batch, cls):
        logits = model.predict(batch, batch_size=256, verbose=0)
        p = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
        return p[np.arange(len(batch)), cls]

    classes = np.asarray(classes, dtype=int)
    base = probability(images, classes)
    total = np.zeros((n, height, width))
    count = np.zeros((height, width))
    for r in starts(height):
        for c in starts(width):
            occluded = images.copy()
            occluded[:, r:r + patch, c:c + patch] = images.mean(axis=(1, 2), keepdims=True)
            drop = base - probability(occluded, classes)
            total[:, r:r + patch, c:c + patch] += drop[:, None, None]
            count[r:r + patch, c:c + patch] += 1
    return (total / count).astype(np.float32)


def mass_fraction(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Fraction of each map's absolute saliency inside its boolean mask, ``(n,)``."""
    weight = np.abs(np.asarray(maps, dtype=np.float64))
    return (weight * masks).sum(axis=(1, 2)) / np.maximum(weight.sum(axis=(1, 2)), 1e-30)


def _randomize(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """Redraw a layer's trainable weights (He-normal kernels, small random biases / scales)."""
    for variable in layer.trainable_variables:
        shape = tuple(variable.shape)
        if len(shape) >= 2:
            value = rng.normal(0.0, np.sqrt(2.0 / int(np.prod(shape[:-1]))), shape)
        else:
            value = rng.normal(1.0 if "gamma" in variable.path else 0.0, 0.1, shape)
        variable.assign(value.astype(variable.dtype))


def cascading_randomization(model: keras.Model, images: np.ndarray, classes: Sequence[int],
                            method: str = "vanilla", seed: int = 0,
                            **kwargs) -> list[dict[str, float | str]]:
    """Spearman correlation of saliency after randomising layers from the top down, cumulatively.

    Returns one entry per weighted layer (output layer first): ``{"layer", "spearman"}``, the
    mean over images of the rank correlation of ``|saliency|`` with the trained model's.
    """
    reference = np.abs(saliency_maps(model, images, classes, method, **kwargs))
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    results = []
    for layer in reversed(clone.layers):
        if not layer.trainable_variables:
            continue
        _randomize(layer, rng)
        maps = np.abs(saliency_maps(clone, images, classes, method, **kwargs))
        with warnings.catch_warnings():  # a fully randomised model may give flat maps
            warnings.simplefilter("ignore")
            rhos = [spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(reference, maps)]
        rhos = [0.0 if np.isnan(r) else r for r in rhos]
        results.append({"layer": layer.name, "spearman": float(np.mean(rhos))})
    return results


def sanity_verdict(results: list[dict], threshold: float = 0.5) -> bool:
    """A method passes when randomisation destroys its maps along the whole cascade: both the
    final (fully randomised) and the mean absolute rank correlation are below ``threshold``.

    The mean matters: a randomisation that only redraws biases and BatchNorm scales leaves the
    maps nearly unchanged until the last layers (1.00, 0.97, 0.97, 0.46, 0.46 on the planted
    test model) and would pass on its final step alone (Adebayo et al. 2018 judge the curve).
    """
    if not results:
        return False
    rhos = [abs(r["spearman"]) for r in results]
    return rhos[-1] < threshold and float(np.mean(rhos)) < threshold
