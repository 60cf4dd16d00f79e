"""Interpretation: planted-feature saliency, sanity checks, occlusion, spectra, experiments."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from crturb_keras.data import PrepareConfig
from crturb_keras.interpret import (
    blur_experiment, cascading_randomization, class_spectra, depth_experiment, mass_fraction,
    occlusion_maps, ratio_to, saliency_maps)
from crturb_keras.interpret.saliency import sanity_verdict
from crturb_keras.runs.evaluation import evaluate
from crturb_keras.models import build_classifier
from crturb_keras.runs.training import TrainConfig, load_run, train
from pipelines import interpret as interpret_cli

from helpers import run_on_backend, surrogate_dataset


def planted(n: int, seed: int, classes: int, plant, size: int = 32):
    """Unit-noise images ``(n, size, size, 1)`` whose labels cycle over ``classes``;
    ``plant(image, label, rng)`` adds its feature to every image of a non-zero class in place and
    returns the feature's mask. Returns x, y, masks."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, size, size, 1)).astype("float32")
    y = (np.arange(n) % classes).astype("int32")
    masks = np.zeros((n, size, size), bool)
    for i in np.nonzero(y)[0]:
        masks[i] = plant(x[i, ..., 0], int(y[i]), rng)
    return x, y, masks


def _blob(image, label, rng, sign=4.0):
    """A 4x4 blob of ``sign`` (negative for class 2); mask with a 2-px margin."""
    size = image.shape[0]
    r, c = rng.integers(2, size - 6, 2)
    image[r:r + 4, c:c + 4] += sign if label == 1 else -sign
    mask = np.zeros(image.shape, bool)
    mask[max(r - 2, 0):r + 6, max(c - 2, 0):c + 6] = True
    return mask


def planted_blobs(n: int, size: int = 32, seed: int = 0):
    """Noise images; class 1 carries a bright 4x4 blob at a random place. Returns x, y, masks."""
    return planted(n, seed, 2, _blob, size)


@pytest.fixture(scope="module")
def planted_model():
    keras.utils.set_random_seed(0)
    x, y, _ = planted_blobs(600)
    model = build_classifier(2, (32, 32, 1), depth=2, base_filters=8, dropout=0.1,
                             pooled_size=1)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("method, concentration, peaks_inside",
                         [("vanilla", 3.0, 0.9), ("smoothgrad", 3.0, 0.9),
                          ("gradcam++", 5.0, 0.8), ("scorecam", 5.0, 0.8)])
def test_saliency_concentrates_on_the_planted_feature(planted_model, method, concentration,
                                                      peaks_inside):
    """Saliency mass on the blob (with a 2-px margin) over its area share: measured 3.75
    (vanilla), 3.61 (SmoothGrad), 7.8 (GradCAM++ and ScoreCAM, whose coarse maps also put
    85-90 % of their peaks in the blob) for this model; the untrained network gives 1.6 for
    vanilla and SmoothGrad (the bright blob alone attracts some)."""
    x, y, masks = planted_blobs(40, seed=1)
    logits = planted_model.predict(x, verbose=0)
    assert (logits.argmax(axis=1) == y).mean() > 0.9
    with_blob = y == 1
    maps = saliency_maps(planted_model, x[with_blob], y[with_blob], method)
    assert maps.shape == (with_blob.sum(), 32, 32)
    fraction = mass_fraction(maps, masks[with_blob])
    area = masks[with_blob].mean(axis=(1, 2))
    assert np.median(fraction / area) > concentration, (fraction, area)
    peaks = [np.unravel_index(np.argmax(np.abs(m)), m.shape) for m in maps]
    assert np.mean([mask[p] for mask, p in zip(masks[with_blob], peaks)]) >= peaks_inside


def thin_lines(n: int, size: int = 32, seed: int = 0):
    """Noise images; class 1 carries a 1-px wide, 10-px long bright line (+3) at a random place.
    Returns x, y and masks (the line with a 1-px margin)."""
    def line(image, label, rng):
        r, c = rng.integers(2, size - 12, 2)
        image[r, c:c + 10] += 3.0
        mask = np.zeros(image.shape, bool)
        mask[r - 1:r + 2, c - 1:c + 11] = True
        return mask

    return planted(n, seed, 2, line, size)


@pytest.mark.slow
def test_smoothgrad_keeps_thin_features(monkeypatch):
    """On a 1-px line SmoothGrad must localise about as well as vanilla saliency (mass share over
    area share: measured 4.7 vanilla, 4.5 SmoothGrad; threshold 3.5 for both). Mutation caught:
    noise scaled to the value range with absolute gradients averaged (tf-keras-vis's SmoothGrad
    at 10 %), measured 2.6."""
    keras.utils.set_random_seed(0)
    x, y, _ = thin_lines(800)
    model = build_classifier(2, (32, 32, 1), depth=2, base_filters=8, dropout=0.1,
                             pooled_size=1)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    x, y, masks = thin_lines(40, seed=1)
    assert (model.predict(x, verbose=0).argmax(axis=1) == y).mean() > 0.9
    x, masks = x[y == 1], masks[y == 1]
    for method in ("vanilla", "smoothgrad"):
        maps = saliency_maps(model, x, [1] * len(x), method)
        assert np.median(mass_fraction(maps, masks) / masks.mean(axis=(1, 2))) > 3.5, method
    again = saliency_maps(model, x, [1] * len(x), "smoothgrad")
    assert np.array_equal(again, maps)  # seeded noise


def signed_blobs(n: int, size: int = 32, seed: int = 0):
    """Noise images of three classes: 0 plain, 1 with a bright 4x4 blob (+4), 2 with a dark one
    (-4), each at a random place. Returns x, y."""
    return planted(n, seed, 3, _blob, size)[:2]


@pytest.fixture(scope="module")
def signed_model():
    keras.utils.set_random_seed(0)
    x, y = signed_blobs(900)
    model = build_classifier(3, (32, 32, 1), depth=2, base_filters=8, dropout=0.1,
                             pooled_size=1)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("method, ratio", [("vanilla", 1.3), ("smoothgrad", 1.3),
                                           ("gradcam++", 3.0), ("scorecam", 2.0)])
def test_saliency_follows_the_requested_class(signed_model, method, ratio):
    """Each image holds a bright blob (class 1's feature) on the left and a dark one (class 2's)
    on the right; the map for a class must put more mass on that class's blob than on the other
    (median ratio of the two mass fractions above ``ratio``; measured 2.9/1.7 vanilla, 2.7/1.6
    SmoothGrad before its noise was scaled to the standard deviation, 8.5/8.1 GradCAM++, 7.6/4.2 ScoreCAM for classes 1/2), and the blob must hold
    over twice its area share. Mutation caught: explaining class 0 (or any fixed class) whatever
    class is asked for, which makes one of the two ratios <= 1."""
    x, y = signed_blobs(60, seed=5)
    assert (signed_model.predict(x, verbose=0).argmax(axis=1) == y).mean() > 0.9
    rng = np.random.default_rng(7)
    n = 12
    images = rng.normal(0, 1, (n, 32, 32, 1)).astype("float32")
    masks = {1: np.zeros((n, 32, 32), bool), 2: np.zeros((n, 32, 32), bool)}
    for i in range(n):
        for cls, sign, columns in ((1, 4.0, (2, 10)), (2, -4.0, (18, 26))):
            r, c = rng.integers(2, 26), rng.integers(*columns)
            images[i, r:r + 4, c:c + 4] += sign
            masks[cls][i, r - 2:r + 6, c - 2:c + 6] = True
    for cls, other in ((1, 2), (2, 1)):
        maps = saliency_maps(signed_model, images, [cls] * n, method)
        own = mass_fraction(maps, masks[cls])
        assert np.median(own / np.maximum(mass_fraction(maps, masks[other]), 1e-9)) > ratio
        assert np.median(own / masks[cls].mean(axis=(1, 2))) > 2.0


@pytest.mark.slow
def test_occlusion_finds_the_blob_in_the_right_place(planted_model):
    x, y, masks = planted_blobs(10, seed=2)
    chosen = y == 1
    maps = occlusion_maps(planted_model, x[chosen], y[chosen], patch=6, stride=3)
    assert maps.shape == (chosen.sum(), 32, 32)
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in maps]
    assert np.mean([mask[p] for mask, p in zip(masks[chosen], peaks)]) >= 0.8
    fraction = mass_fraction(np.clip(maps, 0, None), masks[chosen])
    assert np.median(fraction) > 3 * masks[chosen].mean()


def test_cascading_randomisation_runs_from_the_logits_down(planted_model):
    x, y, _ = planted_blobs(6, seed=3)
    steps = cascading_randomization(planted_model, x, y, "vanilla")
    layers = [s["layer"] for s in steps]
    assert layers[0] == "logits" and len(layers) == 5  # dense, 2x (BatchNorm, conv)
    assert steps[-1]["spearman"] < steps[0]["spearman"] or steps[0]["spearman"] < 0.9
    assert sanity_verdict(steps)


def test_a_too_weak_randomisation_fails_the_sanity_check(planted_model, monkeypatch):
    """Redrawing only biases and BatchNorm parameters (every kernel kept) leaves the vanilla
    maps largely intact along the cascade; the verdict must be False for it and True for the
    real randomisation (issue 18: a final-step-only verdict said True for such a curve)."""
    import crturb_keras.interpret.saliency as saliency

    x, y, _ = planted_blobs(6, seed=3)
    assert sanity_verdict(cascading_randomization(planted_model, x, y, "vanilla"))
    real = saliency._randomize

    def biases_only(layer, rng):
        kernels = [v for v in layer.trainable_variables if len(v.shape) >= 2]
        saved = [np.array(v) for v in kernels]
        real(layer, rng)
        for variable, value in zip(kernels, saved):
            variable.assign(value)

    monkeypatch.setattr(saliency, "_randomize", biases_only)
    weak = cascading_randomization(planted_model, x, y, "vanilla")
    assert not sanity_verdict(weak), weak   # measured 1.00, 0.99, 0.99, 0.64, 0.64
    # The curve the issue measured for this mutation on the earlier model ends below 0.5: a
    # final-step-only verdict passed it; the verdict must judge the whole cascade.
    curve = [{"layer": str(i), "spearman": r} for i, r in enumerate((1.0, 0.97, 0.97, 0.46, 0.46))]
    assert not sanity_verdict(curve)
    assert sanity_verdict([{"layer": str(i), "spearman": r}
                           for i, r in enumerate((0.19, 0.18, 0.17, 0.16, 0.16))])


@pytest.mark.slow
def test_saliency_refuses_other_backends():
    message = run_on_backend("jax", """
        import json, numpy as np
        from crturb_keras.errors import ConfigError
        from crturb_keras.interpret import saliency_maps
        from crturb_keras.models import build_classifier
        model = build_classifier(2, (16, 16, 1), depth=2, pooled_size=1)
        try:
            saliency_maps(model, np.zeros((1, 16, 16, 1), "float32"), [0])
        except ConfigError as err:
            print(json.dumps("refused: " + str(err)))
    """)
    assert message.startswith("refused: saliency maps use tf-keras-vis") and "'jax'" in message


def test_class_spectra():
    rng = np.random.default_rng(4)
    images = rng.normal(size=(6, 16, 16))
    images[3:] = np.cumsum(np.cumsum(images[3:], axis=1), axis=2)  # red spectrum for class 1
    spectra = class_spectra(images, np.array([0, 0, 0, 1, 1, 1]), ["MHD", "B"])
    assert spectra["MHD"]["k"].shape == (8,) and spectra["B"]["n"] == 3
    ratio = ratio_to(spectra)
    np.testing.assert_allclose(ratio["MHD"], 1.0)
    assert ratio["B"][0] / ratio["B"][-1] > 10  # large scales dominate the integrated field


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("interp")
    surrogate_dataset(root, PrepareConfig(tile=16, buffer="3"))
    return train(TrainConfig(data=str(root / "prep"), out=str(root / "run"), epochs=4,
                             depth=2, base_filters=4), verbose=0)


def test_blur_experiment(run):
    _, model = load_run(run)
    from crturb_keras.interpret.experiments import held_out_tiles

    images, labels, names = held_out_tiles(run)
    result = blur_experiment(model, images, labels, names, sigmas=(0, 2))
    assert result["sigmas"] == [0.0, 2.0] and set(result["mean_probability"]) == set(names)
    for truth in names:
        for probabilities, fractions in zip(result["mean_probability"][truth],
                                            result["fraction"][truth]):
            assert sum(probabilities) == pytest.approx(1, abs=1e-3)
            assert sum(fractions) == pytest.approx(1, abs=1e-3)
    per_class = evaluate(run)["kinds"]["slice"]["per_class_accuracy"]
    for i, truth in enumerate(names):  # sigma = 0 is the plain evaluation
        assert result["fraction"][truth][0][i] == pytest.approx(per_class[truth], abs=1e-3)


def test_depth_one_projections_are_the_slices(run):
    result = depth_experiment(run, depths=(1, 2, 64))
    assert result["depths"] == [1, 2] and result["skipped"] == [64]
    slices = evaluate(run)["kinds"]["slice"]
    assert result["accuracy"]["1"] == pytest.approx(slices["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_interpret_cli_writes_the_report(run, capsys):
    assert interpret_cli.cli([str(run), "--methods", "vanilla,occlusion", "--experiments",
                              "blur,depth,flatten", "--per-class", "2"]) == 0
    report = (run / "interpret" / "report.md").read_text()
    for figure in ("saliency_vanilla.png", "saliency_occlusion.png", "sanity.png", "spectra.png",
                   "blur.png", "flatten.png"):
        assert f"]({figure})" in report and (run / "interpret" / figure).stat().st_size > 1000
    assert "| CR_Streaming |" in report and "flattened" in report
    results = json.loads((run / "interpret" / "results.json").read_text())
    assert set(results["flatten"]["flattened"]["per_class"]) == set(results["blur"]["classes"])
    assert "passes" in results["sanity"]["vanilla"]
    shown = capsys.readouterr()
    assert "report:" in shown.out
    # a bar names each of the 7 stages (2 methods, 1 sanity check, spectra, 3 experiments)
    assert "interpret: 100%" in shown.err and "7/7" in shown.err and "flatten" in shown.err
    assert interpret_cli.cli([str(run), "--methods", "vanilla", "--experiments", "blur",
                              "--no-sanity", "--per-class", "2", "-q"]) == 0
    assert "interpret:" not in capsys.readouterr().err
