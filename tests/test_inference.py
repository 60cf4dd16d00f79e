"""predict_batches: model.predict's results on arrays, without its per-call input pipeline."""

import keras
import numpy as np
import pytest

from crturb_keras import ConfigError, build_classifier, predict_batches


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(0)
    return build_classifier(3, input_shape=(16, 16, 1), depth=2, pooled_size=2)


def test_matches_predict_with_a_remainder(classifier):
    images = np.random.default_rng(0).standard_normal((37, 16, 16, 1)).astype("float32")
    expected = classifier.predict(images, batch_size=16, verbose=0)
    got = predict_batches(classifier, images, batch_size=16)
    assert got.shape == (37, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_every_call_has_one_shape_and_padding_is_dropped(classifier):
    shapes = []

    class Recording(keras.Model):
        def predict_on_batch(self, x):
            shapes.append(x.shape)
            return classifier.predict_on_batch(x)

    images = np.random.default_rng(1).standard_normal((21, 16, 16, 1)).astype("float32")
    got = predict_batches(Recording(), images, batch_size=8)
    assert shapes == [(8, 16, 16, 1)] * 3
    np.testing.assert_allclose(got[-5:], classifier.predict_on_batch(images[-5:]),
                               rtol=1e-5, atol=1e-6)


def test_structures_small_and_empty_inputs(classifier):
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    model = keras.Model({"a": a, "b": b}, {"sum": a + b, "difference": a - b})
    x = {"a": np.ones((5, 4), "float32"), "b": np.full((5, 4), 2.0, "float32")}
    out = predict_batches(model, x, batch_size=256)
    np.testing.assert_array_equal(out["sum"], np.full((5, 4), 3.0))
    np.testing.assert_array_equal(out["difference"], np.full((5, 4), -1.0))
    empty = predict_batches(classifier, np.zeros((0, 16, 16, 1), "float32"))
    assert empty.shape == (0, 3)


def test_bad_inputs_are_refused(classifier):
    with pytest.raises(ConfigError, match="batch_size"):
        predict_batches(classifier, np.zeros((2, 16, 16, 1), "float32"), batch_size=0)
    with pytest.raises(ConfigError, match=r"\[2, 3\]"):
        predict_batches(keras.Model(), {"a": np.zeros((2, 1)), "b": np.zeros((3, 1))})
