"""Multi-device training matches single-device training (two logical CPU devices per backend)."""

from __future__ import annotations

import textwrap

import pytest

from crturb_keras.errors import ConfigError
from crturb_keras.runs.training import TrainConfig, train

from helpers import run_on_backend, surrogate_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    surrogate_dataset(root)
    return root


SCRIPT = """
    import json, os, sys
    {setup}
    from crturb_keras.runs.training import TrainConfig, train
    common = dict(data={data!r}, epochs=2, depth=2, base_filters=4, dropout=0.0,
                  steps_per_execution=1, patience=5)
    single = train(TrainConfig(out={out!r} + "/single", batch_size=64, learning_rate=2e-3,
                               **common), verbose=0)
    multi = train(TrainConfig(out={out!r} + "/multi", batch_size=32, learning_rate=1e-3,
                              distribute={mode!r}, **common), verbose=0)
    rows = []
    for run in (single, multi):
        record = json.load(open(os.path.join(run, "config.json")))["training"]
        history = open(os.path.join(run, "history.csv")).read().splitlines()
        rows.append([record, history])
    print(json.dumps(rows))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode, backend, setup, tolerance", [
    ("mirrored", "tensorflow", """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    """, 0.05),  # BatchNorm batch statistics are per replica (32 tiles) under MirroredStrategy
    ("data-parallel", "jax", "", 1e-3),
])
def test_two_devices_match_one(data, tmp_path, mode, backend, setup, tolerance):
    pytest.importorskip(backend)
    code = textwrap.dedent(SCRIPT).format(setup=textwrap.dedent(setup), data=str(data / "prep"),
                                          out=str(tmp_path), mode=mode)
    (single, single_history), (multi, multi_history) = run_on_backend(
        backend, code, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert multi["replicas"] == 2 and multi["global_batch"] == 64
    assert multi["learning_rate_used"] == pytest.approx(2e-3)
    assert single["replicas"] == 1
    header = single_history[0].split(",")
    loss = header.index("loss")
    for a, b in zip(single_history[1:], multi_history[1:]):
        assert float(b.split(",")[loss]) == pytest.approx(float(a.split(",")[loss]), rel=tolerance)


def test_wrong_backend_is_refused(data, tmp_path):
    with pytest.raises(ConfigError, match="data-parallel needs KERAS_BACKEND=jax"):
        train(TrainConfig(data=str(data / "prep"), out=str(tmp_path / "x"),
                          distribute="data-parallel"), verbose=0)
    with pytest.raises(ConfigError, match="distribute must be one of"):
        TrainConfig(distribute="horovod")
