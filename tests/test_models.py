"""Model builders and the SSIM loss, backend-neutral parts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.models import MapLoss, build_classifier, build_unet, ssim
from crturb_keras.models.norm import FusedBatchNorm, silu


def test_classifier_default_matches_published_design():
    model = build_classifier(5, (128, 128, 1))
    assert 28_000 < model.count_params() < 32_000  # "about 30k parameters at 128^2"
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 32, 64]
    assert all(c.strides == (2, 2) and c.kernel_size == (3, 3) for c in convs)
    assert model.get_layer("pool").output.shape[1:3] == (4, 4)
    assert model.output_shape == (None, 5)
    out = model(np.zeros((2, 128, 128, 1), "float32"))
    assert out.shape == (2, 5)


def test_classifier_knobs_and_errors():
    deep = build_classifier(3, (64, 64, 1), depth=2, base_filters=4, block_dropout=0.1)
    assert [l.name for l in deep.layers if "dropout" in l.name] == [
        "block1_dropout", "block2_dropout", "dropout"]
    with pytest.raises(ConfigError, match="divisible"):
        build_classifier(5, (48, 48, 1), depth=4)
    with pytest.raises(ConfigError, match="dropout"):
        build_classifier(5, (64, 64, 1), dropout=1.5)


def test_moments_head_pools_the_tile_moments(tmp_path):
    """The moments head feeds the dense layer the tile means of x, x^2, x^3, x^4 (before its
    BatchNorm: equal to numpy's), and of the last feature maps and their squares; the model
    saves and reloads with stock Keras; an unknown head is refused."""
    model = build_classifier(3, (16, 16, 1), depth=2, base_filters=4, head="moments")
    x = np.random.default_rng(1).normal(0, 1, (5, 16, 16, 1)).astype("float32")
    probe = keras.Model(model.input, model.get_layer("moments").output)
    moments = keras.ops.convert_to_numpy(probe(x))
    assert moments.shape == (5, 4 + 2 * 8)
    expected = np.stack([np.mean(x[..., 0] ** k, axis=(1, 2)) for k in (1, 2, 3, 4)], axis=1)
    np.testing.assert_allclose(moments[:, :4], expected, rtol=1e-4, atol=1e-5)
    assert (moments[:, 4 + 8:] >= 0).all()  # means of squared feature maps
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    with pytest.raises(ConfigError, match="head"):
        build_classifier(3, (16, 16, 1), depth=2, head="attention")


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
def test_unet_shapes(upsample):
    model = build_unet((32, 32, 1), ("Ec", "magnetic_energy_density"), depth=3, base_filters=4,
                       upsample=upsample)
    out = model(np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32"))
    assert out.shape == (2, 32, 32, 2)
    kinds = {type(l).__name__ for l in model.layers}
    assert ("Conv2DTranspose" in kinds) == (upsample == "transpose")
    with pytest.raises(ConfigError, match="divisible"):
        build_unet((20, 20, 1), depth=3)


def test_ssim_and_map_loss():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 24, 24, 1)).astype("float32")
    noisy = a + 0.3 * rng.standard_normal(a.shape).astype("float32")
    other = rng.standard_normal(a.shape).astype("float32")
    same = keras.ops.convert_to_numpy(ssim(a, a))
    np.testing.assert_allclose(same, 1.0, atol=1e-5)
    near = keras.ops.convert_to_numpy(ssim(a, noisy))
    far = keras.ops.convert_to_numpy(ssim(a, other))
    assert np.all(near < 0.999) and np.all(far < near)
    loss = MapLoss(alpha=0.5)
    assert float(loss(a, a)) == pytest.approx(0.0, abs=1e-5)
    mse = float(np.mean((a - noisy) ** 2))
    assert float(loss(a, noisy)) == pytest.approx(mse + 0.5 * (1 - near.mean()), rel=1e-4)
    assert float(MapLoss(alpha=0.0)(a, noisy)) == pytest.approx(mse, rel=1e-5)


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM of Wang et al. (2004) written directly: 7x7 Gaussian window (sigma 1.5) applied in
    2-D with scipy, 'valid' borders, constants from each true image's range."""
    from scipy.signal import correlate

    x = np.arange(7) - 3.0
    window = np.exp(-0.5 * (x[:, None] ** 2 + x[None, :] ** 2) / 1.5 ** 2)
    window /= window.sum()
    out = []
    for t, p in zip(a.astype(np.float64), b.astype(np.float64)):
        span = max(t.max() - t.min(), 1e-6)
        c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2
        values = []
        for ch in range(t.shape[-1]):
            blur = lambda z: correlate(z, window, mode="valid")  # noqa: E731
            x_, y_ = t[..., ch], p[..., ch]
            mx, my = blur(x_), blur(y_)
            vx, vy, cov = blur(x_ * x_) - mx ** 2, blur(y_ * y_) - my ** 2, blur(x_ * y_) - mx * my
            values.append(((2 * mx * my + c1) * (2 * cov + c2))
                          / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
        out.append(np.mean(values))
    return np.array(out)


def test_ssim_matches_the_direct_definition():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 20, 24, 2)).astype("float32")
    b = (0.7 * a + 0.5 * rng.standard_normal(a.shape)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ssim(a, b)), _ssim_reference(a, b),
                               rtol=1e-4, atol=1e-5)


def test_models_save_and_reload(tmp_path):
    model = build_unet((16, 16, 1), ("Ec",), depth=2, base_filters=4)
    model.compile("adam", MapLoss(0.3), metrics=[ssim])
    path = tmp_path / "u.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(2).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert again.loss.alpha == 0.3


def _twin_norms(momentum=0.9):
    """A Keras BatchNormalization and a FusedBatchNorm with the same (non-trivial) weights."""
    rng = np.random.default_rng(3)
    keras_bn = keras.layers.BatchNormalization(momentum=momentum)
    fused = FusedBatchNorm(momentum=momentum)
    for layer in (keras_bn, fused):
        layer.build((None, 12, 10, 6))
    keras_bn.set_weights([rng.uniform(0.5, 1.5, 6), rng.normal(0, 1, 6), rng.normal(0, 1, 6),
                          rng.uniform(0.5, 2.0, 6)])
    fused.set_weights(keras_bn.get_weights())
    return keras_bn, fused


def test_fused_batch_norm_matches_keras_in_training_and_inference():
    keras_bn, fused = _twin_norms()
    rng = np.random.default_rng(4)
    for step in range(3):
        x = (3 * rng.standard_normal((8, 12, 10, 6)) + step).astype("float32")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, training=True)),
                                   keras.ops.convert_to_numpy(keras_bn(x, training=True)),
                                   atol=1e-5)
        for got, want in zip(fused.get_weights(), keras_bn.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, training=False)),
                                   keras.ops.convert_to_numpy(keras_bn(x, training=False)),
                                   atol=1e-5)
    assert FusedBatchNorm.from_config(fused.get_config()).momentum == 0.9


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow gradient tape")
def test_fused_batch_norm_and_silu_gradients_match_keras():
    import tensorflow as tf

    keras_bn, fused = _twin_norms()
    x = tf.constant(np.random.default_rng(5).normal(1, 2, (8, 12, 10, 6)).astype("float32"))
    grads = []
    for layer, act in ((keras_bn, keras.activations.silu), (fused, silu)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(act(layer(x, training=True)) ** 2)
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for got, want in zip(*reversed(grads)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4,
                                   atol=1e-5 * np.abs(want.numpy()).max())


def test_silu_matches_keras_and_round_trips():
    x = np.linspace(-8, 8, 101, dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(silu(x)),
                               keras.ops.convert_to_numpy(keras.activations.silu(x)), atol=1e-6)
    layer = keras.layers.Activation(silu)
    assert keras.layers.Activation.from_config(layer.get_config()).activation is silu


def _keras_original(layer):
    """A copy of ``layer``, with Keras's BatchNormalization and SiLU in place of ours."""
    if isinstance(layer, FusedBatchNorm):
        return keras.layers.BatchNormalization.from_config(layer.get_config())
    if isinstance(layer, keras.layers.Activation):
        return keras.layers.Activation("silu", name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def test_fused_classifier_trains_like_keras_batch_norm(tmp_path):
    """A few fit steps: same losses, weights and moving statistics as with the Keras layers."""
    rng = np.random.default_rng(6)
    x = rng.normal(2, 3, (64, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 3, 64)
    model = build_classifier(3, (32, 32, 1), depth=2, base_filters=4, dropout=0.0,
                             pooled_size=2)
    reference = keras.models.clone_model(model, clone_function=_keras_original)
    assert not any(isinstance(layer, FusedBatchNorm) for layer in reference.layers)
    reference.set_weights(model.get_weights())
    losses = []
    for net in (model, reference):
        net.compile(keras.optimizers.SGD(0.05),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        losses.append(net.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                              verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert not np.allclose(model.get_layer("block1_bn").get_weights()[3], 1.0)  # moving variance
    path = tmp_path / "fused.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again.get_layer("block2_bn"), FusedBatchNorm)
    assert again.get_layer("block2_silu").activation is silu
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def _variance_classes(rng, n):
    labels = rng.integers(0, 2, n)
    scale = np.where(labels, 2.0, 0.5)[:, None, None, None]
    return (rng.normal(0, 1, (n, 16, 16, 1)) * scale + 3.0).astype("float32"), labels


@pytest.mark.slow
def test_classifier_is_usable_in_inference_after_a_few_dozen_steps():
    """Two classes told apart by their pixel variance (offset 3, far from BatchNorm's initial
    moving mean 0): after 40 steps the classifier must classify held-out images in inference
    mode. Mutation caught: Keras's default BatchNorm momentum 0.99 (instead of PyTorch's 0.1,
    i.e. 0.9 here) leaves the moving statistics near their initial values, and inference
    accuracy stays at chance (0.51)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images, labels = _variance_classes(rng, 320)
    model = build_classifier(2, (16, 16, 1), depth=2)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    test, test_labels = _variance_classes(rng, 200)
    predicted = np.argmax(model.predict(test, verbose=0), axis=1)
    assert (predicted == test_labels).mean() > 0.9


@pytest.mark.slow
def test_importing_the_package_turns_on_tensorflows_onednn_kernels_unless_told_not_to():
    """TensorFlow enables oneDNN by default only on CPUs with AVX512_VNNI/BF16 or AMX; on
    AVX2-only CPUs its Eigen fallback trained at half the speed. ``import crturb_keras`` (before
    TensorFlow) must turn oneDNN on, and leave a user's ``TF_ENABLE_ONEDNN_OPTS=0`` alone."""
    import os
    import subprocess
    import sys

    code = ("import os, crturb_keras, tensorflow\n"
            "from tensorflow.python.util import _pywrap_util_port as port\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], port.IsMklEnabled())\n")
    for setting, expected in ((None, "1 True"), ("0", "0 False")):
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == expected
