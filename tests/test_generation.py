"""Generative runs end to end: training, run directory, sampling, evaluation, command lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers import surrogate_dataset
from crturb_keras.data import PrepareConfig
from crturb_keras.errors import ConfigError
from crturb_keras.generative.training import GenerateConfig, load_generator, train_generator
from crturb_keras.generative.evaluation import evaluate_generator, metrics_table, seam_ratio
from crturb_keras.runs.training import TrainConfig, train

TINY = dict(epochs=2, batch_size=16, widths=(8, 16), block_depth=1, embedding_dims=8,
            autoencoder_widths=(8, 8), latent_widths=(8, 16), autoencoder_epochs=2,
            sample_steps=2, ema=0.5, jit_compile="off")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return surrogate_dataset(tmp_path_factory.mktemp("generate"), PrepareConfig(tile=16))


@pytest.fixture(scope="module")
def cddim_run(prepared) -> Path:
    return train_generator(GenerateConfig(data=str(prepared), out=str(prepared.parent / "cddim"),
                                          model="cddim", **TINY), verbose=0)


@pytest.fixture(scope="module")
def classifier_run(prepared) -> Path:
    return train(TrainConfig(data=str(prepared), out=str(prepared.parent / "classifier"),
                             epochs=2, depth=2, base_filters=4), verbose=0)


@pytest.mark.slow
def test_conditional_run_directory_and_sampling(cddim_run):
    names = {p.name for p in cddim_run.iterdir()}
    assert {"config.json", "model.keras", "history.csv", "figures"} <= names
    assert (cddim_run / "figures" / "samples.png").stat().st_size > 0
    record = json.loads((cddim_run / "config.json").read_text())
    assert record["config"]["model"] == "cddim" and record["training"]["epochs_run"] == 2
    assert record["training"]["circular"] is False  # 16-px tiles of 32^3 boxes are not periodic
    assert record["data"]["classes_used"] == ["MHD", "CR_Advect", "CR_Diff_Fiducial",
                                              "CR_Diff100", "CR_Streaming"]
    generator = load_generator(cddim_run)
    a = generator.sample(3, "CR_Streaming", steps=2, seed=4)
    assert a.shape == (3, 16, 16, 1) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, generator.sample(3, "CR_Streaming", steps=2, seed=4))
    with pytest.raises(ConfigError, match="choose --class"):
        generator.sample(2, "Unknown", steps=2)
    with pytest.raises(ConfigError, match="never overwritten"):
        train_generator(GenerateConfig(data=record["data"]["path"], out=str(cddim_run),
                                       model="cddim", **TINY), verbose=0)


@pytest.mark.slow
def test_latent_diffusion_run_reports_reconstruction(prepared):
    """Mutation caught: a decoder that ignores its latent (VRMSE about 1; the bound was 2)."""
    run = train_generator(GenerateConfig(data=str(prepared), out=str(prepared.parent / "ldm"),
                                         model="ldm", classes=("MHD", "CR_Streaming"),
                                         **{**TINY, "autoencoder_epochs": 8}),
                          verbose=0)
    assert (run / "autoencoder.keras").exists() and (run / "autoencoder_history.csv").exists()
    training = json.loads((run / "config.json").read_text())["training"]
    assert training["latent_shape"] == [4, 4, 4]
    assert training["latent_training_copies"] == 8  # slices normal to x1: flips and transposes
    # better than the mean map (VRMSE 1): measured 0.73 after 8 epochs, 0.99 after 2
    assert 0 < training["autoencoder_val_vrmse"] < 0.85
    generator = load_generator(run)
    assert generator.autoencoder is not None
    assert generator.sample(2, "MHD", steps=2).shape == (2, 16, 16, 1)


@pytest.mark.slow
def test_unconditional_run_refuses_a_class(prepared):
    run = train_generator(GenerateConfig(data=str(prepared), out=str(prepared.parent / "ddim"),
                                         model="ddim", **dict(TINY, epochs=1)), verbose=0)
    generator = load_generator(run)
    assert not generator.conditional
    assert generator.sample(2, steps=2).shape == (2, 16, 16, 1)
    with pytest.raises(ConfigError, match="unconditional"):
        generator.sample(2, "MHD", steps=2)


def test_bad_generative_options():
    with pytest.raises(ConfigError, match="model must be one of"):
        GenerateConfig(model="gan")
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        GenerateConfig(epochs=0)


def test_seam_ratio_tells_periodic_from_cut_tiles():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal((64, 64)), 3, mode="wrap")
    periodic = np.stack([np.roll(field, (i, 2 * i), axis=(0, 1)) for i in range(4)])
    cut = np.stack([field[:32, :32], field[32:, :32], field[:32, 32:], field[32:, 32:]])
    assert seam_ratio(periodic) == pytest.approx(1.0, abs=0.15)
    assert seam_ratio(cut) > 2.0


@pytest.mark.slow
def test_evaluation_against_real_vs_real(cddim_run, classifier_run):
    metrics = evaluate_generator(cddim_run, classifier_run, n=8, steps=2)
    assert metrics["task"] == "generate" and set(metrics["classes"]) == {
        "MHD", "CR_Advect", "CR_Diff_Fiducial", "CR_Diff100", "CR_Streaming"}
    entry = metrics["classes"]["MHD"]
    for side in ("generated", "real_vs_real"):
        assert entry[side]["kid_physics"] is not None
        assert set(entry[side]["spectral_error"]) == {"low", "mid", "high"}
    # two real samples of one class are closer to each other than a 2-epoch model is to them
    assert entry["real_vs_real"]["pdf_wasserstein"] < entry["generated"]["pdf_wasserstein"]
    assert 0 <= entry["classifier_agreement"]["generated"] <= 1
    assert (cddim_run / "figures" / "generated_statistics.png").exists()
    assert len(metrics_table(metrics)) == 2 + 5
    assert json.loads((cddim_run / "metrics.json").read_text())["classes"]["MHD"] == entry


@pytest.mark.slow
def test_generate_and_train_command_lines(prepared, cddim_run, tmp_path, capsys):
    from pipelines import generate as generate_cli
    from pipelines import train as train_cli

    out = tmp_path / "samples"
    argv = [str(cddim_run), "--class", "MHD,CR_Streaming", "--n", "2", "--steps", "2",
            "--out", str(out)]
    assert generate_cli.cli(argv) == 0
    files = sorted(out.rglob("*.fits"))
    assert len(files) == 4 and (out / "samples.png").exists()
    with fits.open(files[0]) as hdul:
        assert hdul[0].header["CRCLASS"] in ("MHD", "CR_Streaming")
        assert hdul[0].data.shape == (16, 16) and (hdul[0].data > 0).all()  # a density
    assert generate_cli.cli(argv) == 0
    assert "reused" in capsys.readouterr().out
    assert generate_cli.cli([str(cddim_run), "--class", "MHD", "--n", "3", "--steps", "2",
                             "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert generate_cli.cli([str(cddim_run), "--class", "Nope", "--out", str(tmp_path / "x")]) == 2
    assert "not in this run" in capsys.readouterr().err

    run = tmp_path / "cli_ddim"
    code = train_cli.cli(["--task", "generate", "--model", "ddim", "--data", str(prepared),
                          "--out", str(run), "--epochs", "1", "--widths", "8,16",
                          "--block-depth", "1", "--embedding-dims", "8", "--sample-steps", "2",
                          "--jit-compile", "off", "--quiet"])
    assert code == 0 and (run / "model.keras").exists()
    assert "1 epochs" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:  # refused by the flag's choices, before any work
        train_cli.cli(["--task", "generate", "--model", "gan", "--data", str(prepared),
                       "--out", str(tmp_path / "bad")])
    assert stop.value.code == 2 and "choose from 'ddim', 'cddim', 'ldm'" in \
        capsys.readouterr().err
