import numpy as np
import pytest

from crturb_keras.errors import DataFormatError
from crturb_keras.snapshot import Snapshot, axis_index, stored_requirements

from helpers import make_snapshot


def test_derived_fields_are_computed_from_stored_ones(snapshot):
    b1, b2, b3 = snapshot["Bcc1"], snapshot["Bcc2"], snapshot["Bcc3"]
    np.testing.assert_allclose(snapshot["magnetic_energy_density"], 0.5 * (b1**2 + b2**2 + b3**2),
                               rtol=1e-6)
    np.testing.assert_allclose(snapshot["log10_rho"], np.log10(snapshot["rho"]), rtol=1e-6)
    assert snapshot["log10_rho"].dtype == np.float32
    assert "magnetic_energy_density" in snapshot and "Ec" not in snapshot


def test_missing_field_and_missing_requirement_raise_with_names():
    snap = make_snapshot(names=("rho",))
    with pytest.raises(DataFormatError, match="Bcc1, Bcc2, Bcc3"):
        snap["magnetic_energy_density"]
    with pytest.raises(DataFormatError, match="no field 'Ec'"):
        snap["Ec"]


def test_geometry_and_shape_checks(snapshot):
    assert snapshot.shape == (8, 12, 16)
    assert snapshot.bounds["x1"] == (-0.5, 0.5)
    np.testing.assert_allclose(snapshot.x2v, np.linspace(0, 2, 13)[:-1] + 1 / 12)
    with pytest.raises(DataFormatError, match="expected"):
        Snapshot(fields={"rho": np.ones((8, 12, 15), np.float32)}, x1f=snapshot.x1f,
                 x2f=snapshot.x2f, x3f=snapshot.x3f)


def test_axis_names_map_to_athena_order():
    assert [axis_index(a) for a in ("x1", "x2", "x3")] == [2, 1, 0]
    with pytest.raises(ValueError, match="x1"):
        axis_index("z")
    assert stored_requirements(["rho", "magnetic_energy_density", "log10_rho"]) == [
        "rho", "Bcc1", "Bcc2", "Bcc3"]
