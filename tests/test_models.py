"""Model builders and the SSIM loss, backend-neutral parts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.models import MapLoss, build_classifier, build_unet, ssim


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


def test_models_save_and_reload(tmp_path):
    model = build_unet((16, 16, 1), ("Ec",), depth=2, base_filters=4)
    model.compile("adam", MapLoss(0.3), metrics=[ssim])
    path = tmp_path / "u.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(2).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert again.loss.alpha == 0.3
