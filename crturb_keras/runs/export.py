"""Export a trained run as portable serving models that load without this package.

Two formats, written side by side into the run directory:

``serving.keras``
    The trained network in stock Keras layers only (as ``model.keras`` is saved: see
    :func:`crturb_keras.models.norm.stock_network`), between the training standardisation
    (``keras.layers.Rescaling``) and, for the classifier, a softmax of the logits divided by the
    run's validation-fitted temperature; for the U-net, the inverse transform back to physical
    target units (``Rescaling`` and ``Activation("exponential")``). It loads with
    ``keras.saving.load_model`` in a process
    that never imported ``crturb_keras``, on every backend. Its input is ``log10`` of the density
    in code units (Keras has no stock logarithm layer, and a ``Lambda`` layer would not load in
    Keras's safe mode), in tiles of the training size ``(n, tile, tile, 1)``.
``saved_model/``
    A TensorFlow SavedModel (TensorFlow backend only) whose ``serve`` signature takes raw
    ``density`` ``(n, H, W, 1)`` in code units. The classifier cuts maps of any size ``>= tile``
    into non-overlapping training-size tiles (a right or bottom strip narrower than a tile is not
    scored) and returns ``probabilities`` ``(n, n_classes)`` (the tiles' mean),
    ``tile_probabilities`` ``(n, rows, cols, n_classes)`` and ``class_names`` ``(n_classes,)``.
    The U-net takes maps whose sides are multiples of the tile, predicts each tile on its own (as
    in training) and returns one ``(n, H, W, 1)`` map per target, named after it; for maps of
    any size, tiles overlapped and averaged, and blank pixels, use
    :func:`crturb_keras.predict_map` (``pipelines.predict``).
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from pathlib import Path

import keras
from keras import layers

from ..errors import ConfigError
from ..io.atomic import atomic_dir, atomic_path
from ..models.norm import stock_network
from .record import RunRecord
from .training import load_run

_LN10 = math.log(10.0)
_SIGNATURE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def build_serving_model(record: RunRecord, model: keras.Model) -> keras.Model:
    """Wrap a stock copy of ``model`` with the normalisation recorded in a run's config.

    The result takes ``log10`` density (or density, for data prepared without the log) and gives
    class probabilities or target maps in physical units; see the module docstring.
    """
    norm = record.normalization
    method, log10 = norm.method, norm.log10
    if method not in ("standardize", "none"):
        raise ConfigError(f"a model trained on {method!r}-normalised images cannot be served from "
                          f"raw maps (that normalisation depends on the whole cube or tile); "
                          f"prepare with --normalize standardize")
    mean, std = (norm.mean, norm.std) if method == "standardize" else (0.0, 1.0)
    inputs = keras.Input(shape=model.input_shape[1:], name="log10_density" if log10 else "density")
    x = layers.Rescaling(1.0 / std, offset=-mean / std, name="standardize")(inputs)
    x = stock_network(model)(x)
    if record.task == "classify":
        x = layers.Rescaling(1.0 / record.temperature, name="temperature", dtype="float32")(x)
        outputs = layers.Softmax(name="probabilities", dtype="float32")(x)
    else:
        stats = [record.target_normalization[t] for t in record.targets]
        factor = _LN10 if stats[0].log10 else 1.0
        x = layers.Rescaling([s.std * factor for s in stats],
                             offset=[s.mean * factor for s in stats], dtype="float32",
                             name="unstandardize")(x)
        outputs = layers.Activation("exponential" if stats[0].log10 else "linear",
                                    dtype="float32", name="targets_physical")(x)
    return keras.Model(inputs, outputs, name=f"{model.name}_serving")


def _write_saved_model(record: RunRecord, serving: keras.Model, path: Path) -> None:
    """Write the ``serve`` signature described in the module docstring (TensorFlow only)."""
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"the SavedModel is written with the TensorFlow backend; run the export "
                          f"with KERAS_BACKEND=tensorflow (this process uses "
                          f"{keras.backend.backend()})")
    import tensorflow as tf

    log10 = record.normalization.log10
    channels = int(serving.input_shape[-1])

    def logged(density):
        x = tf.cast(density, tf.float32)
        return tf.math.log(tf.maximum(x, 1e-30)) / _LN10 if log10 else x

    tile = int(serving.input_shape[1])

    def tiles_of(density):
        """``(n, rows * tile + r, cols * tile + c, C)`` -> tiles ``(n * rows * cols, tile, tile,
        C)`` without overlap, and ``(n, rows, cols)``."""
        x = logged(density)
        shape = tf.shape(x)
        with tf.control_dependencies([tf.debugging.assert_greater_equal(
                tf.reduce_min(shape[1:3]), tile,
                message=f"maps must be at least {tile} px on each side")]):
            grid = (shape[0], shape[1] // tile, shape[2] // tile)
        patches = tf.image.extract_patches(x, [1, tile, tile, 1], [1, tile, tile, 1],
                                           [1, 1, 1, 1], "VALID")
        return tf.reshape(patches, (-1, tile, tile, channels)), grid

    if record.task == "classify":
        names = tf.constant(record.class_names)

        def serve(density):
            tiles, (n, rows, cols) = tiles_of(density)
            probabilities = tf.reshape(serving(tiles), (n, rows, cols, len(names)))
            return {"probabilities": tf.reduce_mean(probabilities, axis=(1, 2)),
                    "tile_probabilities": probabilities, "class_names": names}
    else:
        targets = list(record.targets)
        bad = [t for t in targets if not _SIGNATURE_KEY.fullmatch(t)]
        if bad:
            raise ConfigError(f"target names {bad} cannot name SavedModel outputs (letters, "
                              f"digits and underscores only)")

        def serve(density):
            shape = tf.shape(density)
            with tf.control_dependencies([tf.debugging.assert_equal(
                    shape[1:3] % tile, 0, message=f"map sides must be multiples of {tile} px")]):
                tiles, (n, rows, cols) = tiles_of(tf.identity(density))
            fields = tf.reshape(serving(tiles), (n, rows, cols, tile, tile, len(targets)))
            fields = tf.reshape(tf.transpose(fields, (0, 1, 3, 2, 4, 5)),
                                (n, rows * tile, cols * tile, len(targets)))
            return {name: fields[..., i:i + 1] for i, name in enumerate(targets)}

    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec((None, None, None, channels), tf.float32, name="density")])
    archive.write_out(str(path), verbose=False)


def _complete(run: Path) -> bool:
    """Whether ``run`` holds a whole, portable export: ``saved_model/`` and an intact
    ``serving.keras`` of stock layers (exports of older versions held package layers)."""
    serving = run / "serving.keras"
    if not (run / "saved_model").is_dir() or not zipfile.is_zipfile(serving):
        return False
    try:
        with zipfile.ZipFile(serving) as archive:
            if archive.testzip() is not None:
                return False
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return False
    return '"crturb>' not in json.dumps(config)


def export(run_dir: str | os.PathLike, force: bool = False) -> Path:
    """Write ``serving.keras`` and the SavedModel ``saved_model/`` of a run; return the latter.

    A complete export (both present, ``serving.keras`` an intact archive of stock layers) is kept
    unless ``force``; anything less is written again. Both are written under temporary names and
    renamed when complete (see :mod:`crturb_keras.io.atomic`).
    """
    run = Path(run_dir)
    target = run / "saved_model"
    if _complete(run) and not force:
        return target
    record, model = load_run(run)
    serving = build_serving_model(record, model)
    with atomic_dir(target, replace=True) as tmp:
        _write_saved_model(record, serving, tmp)
        with atomic_path(run / "serving.keras") as serving_tmp:
            serving.save(serving_tmp)
    return target
