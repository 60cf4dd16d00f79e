"""Training runs, test-split evaluation, export to SavedModel, and prediction on FITS maps."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest
from astropy.io import fits

from crturb_keras.data import make_dataset
from crturb_keras.data import PrepareConfig, load_split
from crturb_keras.errors import ConfigError, DataFormatError
from crturb_keras.metrics import fit_temperature, softmax
from crturb_keras.runs.evaluation import evaluate
from crturb_keras.runs.export import export
from crturb_keras.runs.predict import predict_map
from crturb_keras.runs.record import read_record
from crturb_keras.runs.resume import ResumeCheckpoint
from crturb_keras.runs.training import TrainConfig, _class_weights, load_run, train
from pipelines import evaluate as evaluate_cli
from pipelines import export as export_cli
from pipelines import predict as predict_cli
from pipelines import train as train_cli

from helpers import run_on_backend, surrogate_dataset

TINY = dict(epochs=4, batch_size=32, depth=2, base_filters=4, patience=2, lr_patience=1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    surrogate_dataset(root, PrepareConfig(tile=16, kinds=("slice", "projection"), depth=2,
                                          targets=("Ec", "magnetic_energy_density")))
    return root


@pytest.fixture(scope="module")
def classifier_run(prepared):
    return train(TrainConfig(data=str(prepared / "prep"), out=str(prepared / "cls"), **TINY),
                 verbose=0)


@pytest.fixture(scope="module")
def unet_run(prepared):
    return train(TrainConfig(data=str(prepared / "prep"), out=str(prepared / "unet"), task="map",
                             **TINY), verbose=0)


def test_run_directory_contents(classifier_run, prepared):
    names = {p.name for p in classifier_run.iterdir()}
    assert {"config.json", "history.csv", "model.keras", "figures"} <= names
    assert (classifier_run / "figures" / "learning_curves.png").stat().st_size > 1000
    record = json.loads((classifier_run / "config.json").read_text())
    assert record["config"]["depth"] == 2 and record["data"]["tile"] == 16
    assert record["data"]["normalization"]["input"]["method"] == "standardize"
    assert record["versions"]["backend"] == "tensorflow"
    assert not [p for p in prepared.iterdir() if p.name.startswith(".")]  # no temp dirs left
    with pytest.raises(ConfigError, match="never overwritten"):
        train(TrainConfig(data=str(prepared / "prep"), out=str(classifier_run), **TINY), verbose=0)


def test_best_validation_weights_are_kept(classifier_run, prepared):
    record, model = load_run(classifier_run)
    with open(classifier_run / "history.csv") as handle:
        losses = [float(r["val_loss"]) for r in csv.DictReader(handle)]
    assert record.training["best_val_loss"] == pytest.approx(min(losses))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    val = make_dataset(prepared / "prep", "val", "classify", batch_size=32)
    assert model.evaluate(val, verbose=0) == pytest.approx(min(losses), rel=1e-3)


def test_early_stopping_fires(prepared):
    run = train(TrainConfig(data=str(prepared / "prep"), out=str(prepared / "early"),
                            **{**TINY, "epochs": 60, "patience": 1, "learning_rate": 0.05}),
                verbose=0)
    record = json.loads((run / "config.json").read_text())["training"]
    assert record["epochs_run"] < 60
    assert record["epochs_run"] == record["best_epoch"] + 1  # stopped one epoch after the best


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_epoch(prepared, monkeypatch):
    """A run killed after its fourth epoch's history row (before that epoch's checkpoint) is
    continued by the same command: from the third epoch's weights and optimizer state, early
    stopping's best weights those of its best epoch, with one history row per epoch. Mutations caught: weights or optimizer state not restored, history not
    cut back to the saved epochs, other settings accepted."""
    config = TrainConfig(data=str(prepared / "prep"), out=str(prepared / "resumed"),
                         **{**TINY, "epochs": 6, "patience": 6, "learning_rate": 0.05})
    saved = {}
    log_epoch = keras.callbacks.CSVLogger.on_epoch_end

    def killed(self, epoch, logs=None):
        log_epoch(self, epoch, logs)
        saved[epoch] = self.model.get_weights()
        if epoch == 0:
            self.model.save_weights(prepared / "epoch0.weights.h5")
        saved["steps"] = saved.get("steps", {}) | {epoch: int(self.model.optimizer.iterations)}
        if epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0)
    monkeypatch.undo()
    folder = prepared / ".resumed.resume"
    assert not (prepared / "resumed").exists() and folder.is_dir()
    # make the first epoch the best one, so the last and the best weights differ
    (prepared / "epoch0.weights.h5").replace(folder / "best.weights.h5")
    state = json.loads((folder / "state.json").read_text())
    state["early_stopping"]["best_epoch"] = 0
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(ConfigError, match="unfinished run with other settings"):
        train(TrainConfig(**{**config.to_dict(), "learning_rate": 0.002}), verbose=0)

    begin = ResumeCheckpoint.on_train_begin

    def check_start(self, logs=None):
        begin(self, logs)
        saved["restored"] = self.model.get_weights()
        saved["restored_steps"] = int(self.model.optimizer.iterations)
        saved["best"] = (self.early_stopping.best_epoch, self.early_stopping.best_weights)

    monkeypatch.setattr(ResumeCheckpoint, "on_train_begin", check_start)
    run = train(config, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(saved[2], saved["restored"]))
    assert saved["restored_steps"] == saved["steps"][2] > saved["steps"][1] > 0
    best_epoch, best_weights = saved["best"]
    assert best_epoch == 0
    assert all(np.array_equal(a, b) for a, b in zip(saved[0], best_weights))
    record = json.loads((run / "config.json").read_text())["training"]
    assert record["resumed_after_epoch"] == 3
    with open(run / "history.csv") as handle:
        epochs = [int(r["epoch"]) for r in csv.DictReader(handle)]
    assert epochs == list(range(record["epochs_run"])) and record["epochs_run"] >= 4
    assert not folder.exists()


def test_class_weights_only_when_imbalanced():
    classes = {"A": 0, "B": 1}
    weights = _class_weights({"A": 300, "B": 100}, classes, "auto")
    assert weights == {0: pytest.approx(400 / 600), 1: pytest.approx(2.0)}
    assert _class_weights({"A": 300, "B": 299}, classes, "auto") is None
    assert _class_weights({"A": 9, "B": 1}, classes, "none") is None


def test_classifier_evaluation_on_test_split(classifier_run, prepared):
    """Scores are those of the run's model on the test split: the confusion matrix is rebuilt
    here from the model's own predictions (rows true, columns predicted, manifest class order),
    and accuracy and per-class accuracy follow from it (issue 18: range checks alone accepted
    any number in [0, 1])."""
    metrics = evaluate(classifier_run)
    assert metrics["split"] == "test" and set(metrics["kinds"]) == {"slice", "projection"}
    manifest = json.loads((prepared / "prep" / "manifest.json").read_text())
    _, model = load_run(classifier_run)
    names = list(manifest["classes"])
    for kind, scores in metrics["kinds"].items():
        test = load_split(prepared / "prep", "test", kind)
        predicted = model.predict(test["images"], verbose=0).argmax(axis=1)
        confusion = np.zeros((len(names), len(names)), int)
        np.add.at(confusion, (test["labels"], predicted), 1)
        assert scores["confusion_matrix"] == confusion.tolist()
        assert scores["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
        rows = confusion.sum(axis=1)
        expected = {n: confusion[i, i] / rows[i] for i, n in enumerate(names) if rows[i]}
        assert {n: scores["per_class_accuracy"][n] for n in expected} == pytest.approx(expected)
        n = sum(manifest["counts"]["test"][kind].values())
        assert scores["n"] == n == int(np.sum(scores["confusion_matrix"]))
        assert 0 <= scores["accuracy"] <= 1 and set(scores["per_class_accuracy"]) == set(
            manifest["classes"])
        assert scores["baselines"]["majority_class"]["accuracy"] == pytest.approx(0.2, abs=0.05)
        assert 0 <= scores["baselines"]["logistic_image_statistics"]["accuracy"] <= 1
        assert (classifier_run / "figures" / f"confusion_{kind}.png").exists()
    # temperature scaling: fitted on the validation logits, applied to the stored test
    # probabilities; the predicted class is unchanged by it
    record = read_record(classifier_run)
    val = load_split(prepared / "prep", "val", record.kind)
    assert record.temperature == pytest.approx(
        fit_temperature(val["labels"], model.predict(val["images"], verbose=0)), rel=1e-3)
    stored = np.load(classifier_run / "test_probabilities.npz")
    test = load_split(prepared / "prep", "test", "slice")
    np.testing.assert_allclose(stored["slice_probabilities"], softmax(
        model.predict(test["images"], verbose=0) / record.temperature), atol=1e-5)
    scores = metrics["kinds"]["slice"]
    assert scores["calibration"]["temperature"] == record.temperature
    assert scores["calibration_unscaled"]["nll"] != scores["calibration"]["nll"]
    stamp = (classifier_run / "metrics.json").stat().st_mtime_ns
    assert evaluate(classifier_run) == metrics
    assert (classifier_run / "metrics.json").stat().st_mtime_ns == stamp


def test_unet_evaluation(unet_run):
    metrics = evaluate(unet_run)
    assert metrics["classes_used"] == ["CR_Advect", "CR_Diff100", "CR_Diff_Fiducial",
                                       "CR_Streaming"]
    for name in ("Ec", "magnetic_energy_density"):
        scores = metrics["targets"][name]
        assert scores["vrmse"] > 0 and -1 <= scores["ssim"] <= 1
        assert set(scores["spectral_error"]) == {"low", "mid", "high"}
        assert scores["baselines"]["mean"]["vrmse"] == pytest.approx(1.0, abs=0.2)
        assert (unet_run / "figures" / f"map_{name}.png").exists()


@pytest.mark.slow
def test_run_models_and_exports_load_without_this_package(prepared, classifier_run, unet_run,
                                                          tmp_path):
    """Each run's ``model.keras`` and ``serving.keras`` load with ``keras.saving.load_model``
    (safe mode) in fresh TensorFlow and JAX processes that never import this package (one of
    each for both runs: process start-up dominates); ``model.keras`` gives the run's outputs;
    the SavedModel serves raw density maps larger than a tile with named outputs, each tile as
    ``serving.keras`` scores it; both apply the training transforms to the trained network
    (found: ``serving.keras`` needed the package's own layers, and the SavedModel took only the
    tile size and answered ``output_0``)."""
    rng = np.random.default_rng(3)
    cases = {"cls": np.exp(rng.normal(0, 0.4, (3, 32, 40, 1))).astype("float32"),
             "unet": np.exp(rng.normal(0, 0.4, (3, 32, 48, 1))).astype("float32")}
    tiles = {}
    for name, density in cases.items():
        export(prepared / name)
        tiles[name] = np.concatenate([density[:, r:r + 16, c:c + 16]
                                      for r in (0, 16) for c in (0, 16)])
        np.save(tmp_path / f"{name}_map.npy", density)
        np.save(tmp_path / f"{name}_tiles.npy", np.log10(tiles[name]))
    code = f"""
        import json, sys, keras, numpy as np
        root, out, names = {str(prepared)!r}, {str(tmp_path)!r}, {{}}
        backend = keras.backend.backend()
        for name in ("cls", "unet"):
            tiles = np.load(f"{{out}}/{{name}}_tiles.npy")
            serving = keras.saving.load_model(f"{{root}}/{{name}}/serving.keras")
            names[name] = serving.input.name
            np.save(f"{{out}}/{{name}}_keras_{{backend}}.npy", serving.predict(tiles, verbose=0))
            if backend == "tensorflow":
                import tensorflow as tf
                model = keras.saving.load_model(f"{{root}}/{{name}}/model.keras")
                np.save(f"{{out}}/{{name}}_model.npy", model.predict(tiles, verbose=0))
                loaded = tf.saved_model.load(f"{{root}}/{{name}}/saved_model")
                served = loaded.serve(np.load(f"{{out}}/{{name}}_map.npy"))
                np.savez(f"{{out}}/{{name}}_served.npz", **{{k: v.numpy().astype(
                    str if k == "class_names" else "float32") for k, v in served.items()}})
        assert "crturb_keras" not in sys.modules
        print(json.dumps(names))
    """
    assert run_on_backend("tensorflow", code) == {"cls": "log10_density",
                                                  "unet": "log10_density"}
    run_on_backend("jax", code)
    grid = [(r, c) for r in (0, 1) for c in (0, 1)]
    for name in cases:
        record, model = load_run(prepared / name)
        expected = np.load(tmp_path / f"{name}_keras_tensorflow.npy")
        np.testing.assert_allclose(np.load(tmp_path / f"{name}_keras_jax.npy"), expected,
                                   rtol=1e-4, atol=1e-5)
        served = dict(np.load(tmp_path / f"{name}_served.npz"))
        # the stock network is the trained one: the run's model on the standardised tiles
        norm = record.normalization
        raw = model.predict((np.log10(tiles[name]) - norm.mean) / norm.std, verbose=0)
        np.testing.assert_allclose(np.load(tmp_path / f"{name}_model.npy"),
                                   model.predict(np.log10(tiles[name]), verbose=0),
                                   rtol=1e-5, atol=1e-5)
        if name == "cls":
            # the softmax at the run's validation-fitted temperature
            assert record.temperature > 0 and record.temperature != 1.0
            np.testing.assert_allclose(expected, keras.ops.convert_to_numpy(
                keras.ops.softmax(raw / record.temperature)), atol=1e-5)
            assert served["class_names"].tolist() == record.class_names
            # a 32x40 map: 2x2 tiles, the 8-px strip on the right not scored
            assert served["tile_probabilities"].shape == (3, 2, 2, len(record.classes))
            for i, (r, c) in enumerate(grid):
                np.testing.assert_allclose(served["tile_probabilities"][:, r, c],
                                           expected[3 * i:3 * i + 3], atol=1e-5)
            np.testing.assert_allclose(served["probabilities"],
                                       served["tile_probabilities"].mean(axis=(1, 2)),
                                       atol=1e-6)
            continue
        # every target channel with its own statistics (issue 18: un-standardising all of them
        # with Ec's passed a channel-0-only check)
        targets = record.targets
        assert sorted(served) == sorted(targets) and len(targets) == 2
        for channel, target in enumerate(targets):
            stats = record.target_normalization[target]
            np.testing.assert_allclose(expected[..., channel], 10 ** (
                raw[..., channel] * stats.std + stats.mean), rtol=1e-4)
            assert served[target].shape == (3, 32, 48, 1)
            for i, (r, c) in enumerate(grid):
                np.testing.assert_allclose(
                    served[target][:, 16 * r:16 * r + 16, 16 * c:16 * c + 16, 0],
                    expected[3 * i:3 * i + 3, ..., channel], rtol=1e-4)


def test_predict_map_with_blank_pixels(classifier_run, unet_run):
    rng = np.random.default_rng(4)
    image = np.exp(rng.normal(0, 0.4, (40, 27)))
    image[:12, :12] = np.nan
    result = predict_map(classifier_run, image, stride=8)
    assert result.probabilities.shape[1] == 5
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(result.map_probabilities, result.probabilities.mean(axis=0))
    np.testing.assert_allclose(result.map_spread, result.probabilities.std(axis=0))
    top = result.map_probabilities.argmax()
    assert result.agreement == pytest.approx(np.mean(result.probabilities.argmax(axis=1) == top))
    assert result.skipped_tiles == 1 and result.blank_fraction == pytest.approx(144 / 1080)
    rows, cols = result.positions.max(axis=0) + 16
    assert (rows, cols) == (40, 27)  # tiles cover the map to its edges
    fields = predict_map(unet_run, image).fields
    assert fields.shape == (40, 27, 2)
    assert np.isnan(fields[:12, :12]).all() and np.isfinite(fields[12:, 12:]).all()
    assert (fields[12:, 12:] > 0).all()  # physical energy densities
    small = predict_map(classifier_run, np.exp(rng.normal(0, 0.4, (10, 12))))
    assert len(small.positions) == 1
    with pytest.raises(DataFormatError, match="blank"):
        predict_map(classifier_run, np.full((20, 20), np.nan))
    with pytest.raises(DataFormatError, match="<= 0"):
        predict_map(classifier_run, -np.ones((20, 20)))


@pytest.mark.slow
def test_predict_says_when_a_map_is_unlike_the_training_tiles(classifier_run, prepared):
    """A density slice of the simulated boxes is inside the training tiles' statistics; the same
    slice smoothed by a 3-px Gaussian (as a beam would) is not, and predict warns with numbers
    (issue 16: a slice-trained model answered 1.000 on a projected, beam-smoothed map without a
    hint). The beam in a header is turned into the matching --smooth-sigma."""
    from astropy.io import fits
    from scipy import ndimage

    from crturb_keras.domain import beam_note
    from crturb_keras.io.athena import read_athdf

    record = json.loads((classifier_run / "config.json").read_text())
    assert set(record["data"]["reference_statistics"]) == {"std", "skewness", "kurtosis",
                                                          "spectral_slope"}
    path = sorted((prepared / "sim").rglob("*.athdf"))[0]
    rho = np.asarray(read_athdf(path)["rho"][:, :, 5], dtype=np.float64)
    assert predict_map(classifier_run, rho).outside_training == []
    smooth = ndimage.gaussian_filter(rho, 3.0, mode="wrap")
    with pytest.warns(UserWarning, match="outside the training tiles"):
        result = predict_map(classifier_run, smooth)
    assert any("spectral slope" in m or " std " in m for m in result.outside_training)
    header = fits.Header({"BMAJ": 0.05, "CDELT1": -0.01, "CDELT2": 0.01})
    note = beam_note(header, 0.0, "nhi.fits")
    assert "FWHM 5.00 px" in note and "--smooth-sigma 2.12" in note
    assert beam_note(fits.Header(), 0.0, "nhi.fits") is None


def test_command_line_jobs(prepared, unet_run, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--data", str(prepared / "prep"), "--out", str(run), "--epochs", "2", "--depth", "2",
            "--base-filters", "4", "--quiet"]
    assert train_cli.cli(args) == 0
    assert "run directory:" in capsys.readouterr().out
    assert evaluate_cli.cli([str(run)]) == 0
    table = capsys.readouterr().out
    assert "test slices" in table and "logistic" in table and "CR_Streaming" in table
    assert export_cli.cli([str(run)]) == 0
    assert (run / "saved_model" / "saved_model.pb").exists()
    header = fits.Header({"CTYPE1": "RA---CAR", "CTYPE2": "DEC--CAR", "CDELT1": -0.01,
                          "CDELT2": 0.01})
    fits.PrimaryHDU(np.exp(np.random.default_rng(5).normal(0, 0.4, (32, 48))).astype("float32"),
                    header).writeto(tmp_path / "map.fits")
    assert predict_cli.cli([str(run), str(tmp_path / "map.fits"), "--out",
                            str(tmp_path / "pred")]) == 0
    summary = json.loads((tmp_path / "pred.json").read_text())
    assert len(summary["tiles"]) > 1 and abs(sum(summary["map_probabilities"]) - 1) < 1e-5
    tiles = np.array([t["probabilities"] for t in summary["tiles"]])
    np.testing.assert_allclose(summary["map_spread"], tiles.std(axis=0), atol=1e-6)
    assert 0 < summary["agreement"] <= 1
    assert "of the tiles agree on" in capsys.readouterr().out
    assert (tmp_path / "pred.png").exists()
    assert predict_cli.cli([str(run), str(tmp_path / "map.fits"), "--out",
                            str(tmp_path / "pred")]) == 2
    assert "exists" in capsys.readouterr().err
    assert predict_cli.cli([str(unet_run), str(tmp_path / "map.fits"), "--out",
                            str(tmp_path / "ec.fits")]) == 0
    with fits.open(tmp_path / "ec.fits") as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "EC", "MAGNETIC_ENERGY_DENSITY"]
        assert hdul["EC"].header["CTYPE1"] == "RA---CAR" and hdul["EC"].data.shape == (32, 48)
    assert (tmp_path / "ec.png").stat().st_size > 5000  # the map and both fields, on the sky


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_models_train_on_every_backend(prepared, backend, tmp_path):
    """The user path on JAX and PyTorch (TensorFlow runs it in this process): train a classifier
    (and on PyTorch a U-net) run, evaluate it, load it back, predict on a map; train the
    diffusion model (and on PyTorch the autoencoder). Each loss must fall, the loaded models must give the trained models'
    outputs, and the evaluation's accuracy must follow from its confusion matrix. Found: the
    default ``steps_per_execution=8`` made ``train`` fail on PyTorch (which allows only 1)."""
    pytest.importorskip(backend)
    # JAX compiles every new batch shape (about 20 s per tiny run on 2 cores), so on JAX the
    # U-net run and the autoencoder are left to PyTorch, which runs the whole path
    full = backend == "torch"
    tasks = ("classify", "map") if full else ("classify",)
    code = f"""
        import json, keras, numpy as np
        from crturb_keras.data import make_dataset
        from crturb_keras.runs.evaluation import evaluate
        from crturb_keras.runs.predict import predict_map
        from crturb_keras.runs.training import TrainConfig, load_run, train
        data, out = {str(prepared / 'prep')!r}, {str(tmp_path)!r}
        report = {{"backend": keras.backend.backend(), "losses": {{}}}}
        tiny = dict(epochs=2, batch_size=32, depth=2, base_filters=4, patience=3, lr_patience=3,
                    learning_rate=3e-3)
        image = np.exp(np.random.default_rng(0).normal(0, 0.4, (32, 24)))
        for task in {tasks!r}:
            run = train(TrainConfig(data=data, out=out + "/" + task, task=task, **tiny),
                        verbose=0)
            with open(run / "history.csv") as handle:
                rows = handle.read().splitlines()[1:]
            header = open(run / "history.csv").readline().strip().split(",")
            report["losses"][task] = [float(r.split(",")[header.index("loss")]) for r in rows]
            metrics = evaluate(run)
            record, model = load_run(run)
            tiles = next(iter(make_dataset(data, "test", task, batch_size=8)))[0]
            again = keras.saving.load_model(run / "model.keras", compile=False)
            report[task] = {{
                "reloaded_max_diff": float(np.abs(model.predict(tiles, verbose=0)
                                                  - again.predict(tiles, verbose=0)).max()),
                "prediction": predict_map(run, image).probabilities.sum(axis=1).tolist()
                if task == "classify" else list(predict_map(run, image).fields.shape)}}
            if task == "classify":
                scores = metrics["kinds"]["slice"]
                matrix = np.array(scores["confusion_matrix"])
                report[task]["accuracy"] = [scores["accuracy"],
                                            float(np.trace(matrix) / matrix.sum())]
        from crturb_keras.models.autoencoder import build_autoencoder
        from crturb_keras.models.diffusion import DiffusionModel, build_denoiser
        keras.utils.set_random_seed(0)
        ddim = DiffusionModel(build_denoiser((16, 16, 1), widths=(8, 16), block_depth=1,
                                             embedding_dims=8, n_classes=5))
        ddim.compile(keras.optimizers.AdamW(3e-3, use_ema=True, ema_momentum=0.5))
        images = make_dataset(data, "train", "generate", batch_size=32, conditional=True)
        history = ddim.fit(images.map(lambda x, y: ((x, y),)), epochs=2, verbose=0)
        report["losses"]["ddim"] = history.history["loss"]
        assert ddim.generate(2, steps=2, labels=1, guidance=2.0).shape == (2, 16, 16, 1)
        if {full!r}:
            vae = build_autoencoder((16, 16, 1), widths=(8, 8), latent_channels=2)
            vae.compile(keras.optimizers.AdamW(3e-3), loss="mse")
            images = make_dataset(data, "train", "generate", batch_size=32)
            history = vae.fit(images.map(lambda x: (x, x)), epochs=2, verbose=0)
            report["losses"]["autoencoder"] = history.history["loss"]
        print(json.dumps(report))
    """
    report = run_on_backend(backend, code)
    assert report["backend"] == backend
    for name, values in report["losses"].items():
        assert values[-1] < values[0], f"{name} loss did not decrease on {backend}: {values}"
    for task in tasks:
        assert report[task]["reloaded_max_diff"] < 1e-5
    np.testing.assert_allclose(report["classify"]["prediction"], 1, atol=1e-5)
    if full:
        assert report["map"]["prediction"] == [32, 24, 2]
    stated, rebuilt = report["classify"]["accuracy"]
    assert stated == pytest.approx(rebuilt)


@pytest.mark.slow
def test_readme_main_command_flags_and_rerun(prepared, tmp_path, capsys):
    """README's main training command (``--skip-existing --evaluate --export``) trains, scores
    on the test split and exports in one go; run again it reuses the finished run (no training,
    the model file untouched) and still prints the test scores and the SavedModel."""
    run = tmp_path / "classify"
    args = ["--data", str(prepared / "prep"), "--out", str(run), "--skip-existing", "--evaluate",
            "--export", "--epochs", "1", "--depth", "2", "--base-filters", "4", "--quiet"]
    assert train_cli.cli(args) == 0
    first = capsys.readouterr().out
    assert "test slices" in first and (run / "saved_model" / "saved_model.pb").exists()
    assert json.loads((run / "metrics.json").read_text())
    stamp = (run / "model.keras").stat().st_mtime_ns
    assert train_cli.cli(args) == 0
    second = capsys.readouterr().out
    assert "training skipped" in second and "test slices" in second and "SavedModel" in second
    assert (run / "model.keras").stat().st_mtime_ns == stamp


def test_run_record_is_typed_and_checked(classifier_run, tmp_path):
    """``read_record`` gives the typed record every reader uses: task, classes in output order,
    normalisation, tile; a record whose prepared data is gone says so with the fix (issue 15)."""
    from crturb_keras.runs.record import InputNormalization, RunRecord, read_record

    record = read_record(classifier_run)
    assert isinstance(record, RunRecord) and record.task == "classify" and record.tile == 16
    assert record.class_names == sorted(record.classes, key=record.classes.get)
    assert isinstance(record.normalization, InputNormalization)
    assert record.normalization.method == "standardize" and record.normalization.std > 0
    assert record.prepared_data() == record.data_path
    values = json.loads((classifier_run / "config.json").read_text())
    values["data"]["path"] = str(tmp_path / "deleted")
    with pytest.raises(ConfigError, match="deleted is gone; prepare it again"):
        RunRecord.from_dict(values, classifier_run).prepared_data()
    del values["data"]["tile"]
    with pytest.raises(DataFormatError, match="damaged run record"):
        RunRecord.from_dict(values, classifier_run)
