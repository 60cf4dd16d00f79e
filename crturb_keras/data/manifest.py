"""The prepared dataset as readers see it: a typed :class:`Manifest`, and its shards read back.

``prepare`` (:mod:`crturb_keras.data.writer`) writes the folder; everything that reads one
(training, evaluation, the ``tf.data`` pipeline, interpretation, tuning) goes through
:func:`load_manifest`, which checks the file and returns the typed form, and through
:func:`check_shards` / :func:`load_split` for the arrays.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checks import inside, safe_name
from ..errors import ConfigError, DataFormatError
from ..io.hashing import sha256
from .config import KINDS, PrepareConfig
from .splits import SplitLayout

FORMAT = "crturb-prepared/1"
META_COLUMNS = ("source", "plane_start", "plane_stop", "row", "col", "roll_rows", "roll_cols",
                "axis")


@dataclass(frozen=True)
class Geometry:
    """Shape of the stored tiles.

    Attributes
    ----------
    axis : {"x1", "x2", "x3", "all"}
        Images are normal to this axis (``all``: to each of them; the meta column ``axis``
        says which, 1-3).
    tile, stride : int
        Tile side and step between tiles (px).
    channels : int
        Input channels (1: the field).
    targets : tuple of str
        Target fields stored beside the inputs.
    image_shape : (int, int)
        Shape of the plane the tiles were cut from.
    rotations_allowed : bool
        Whether 90-degree rotations are valid augmentations (images normal to the mean field).
    periodic_tiles : bool
        Whether each tile is a whole periodic plane (seamless under rolls).
    pixels_left_out : float
        Share of each plane no tile covers.
    meta_columns : tuple of str
        Columns of the ``meta`` arrays.
    """

    axis: str
    tile: int
    stride: int
    channels: int
    targets: tuple[str, ...]
    image_shape: tuple[int, int]
    rotations_allowed: bool
    periodic_tiles: bool
    pixels_left_out: float
    meta_columns: tuple[str, ...]

    @classmethod
    def from_dict(cls, values: dict) -> "Geometry":
        return cls(values["axis"], int(values["tile"]), int(values["stride"]),
                   int(values["channels"]), tuple(values["targets"]),
                   tuple(values["image_shape"]), bool(values["rotations_allowed"]),
                   bool(values["periodic_tiles"]), float(values["pixels_left_out"]),
                   tuple(values["meta_columns"]))


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` of a prepared folder, typed.

    Attributes
    ----------
    path : Path
        The prepared folder.
    config : PrepareConfig
        The settings it was prepared with.
    classes : dict of str to int
        Class name -> label index.
    geometry : Geometry
    normalization : dict
        Per image kind: ``{"input": {"method", "log10", ["mean", "std"]}, ["targets": {name:
        {"log10", "mean", "std"}}]}``, the statistics of the training split (copied into run
        records, which serve them to exported models).
    counts : dict
        ``counts[split][kind][class]``: tiles stored.
    shards : dict
        ``shards[split][kind]``: ``[{"class", "stem", "count", "targets", "files"}]``.
    sources : tuple of dict
        Per source snapshot: class, files (paths and SHA-256), how it was read, cycle, time,
        shape.
    layouts : tuple of SplitLayout
        Per source: its regions of train/val/test and the buffers between them.
    buffer_cells : int
        Cells left out between regions of different splits (0 when whole runs are split).
    dropped : dict of str to int
        Tiles dropped as ``blank`` (constant) or ``nonfinite``.
    seed : int
    raw : dict
        The JSON as written.
    """

    path: Path = field(compare=False)
    config: PrepareConfig
    classes: dict[str, int]
    geometry: Geometry
    normalization: dict[str, dict]
    counts: dict[str, dict[str, dict[str, int]]]
    shards: dict[str, dict[str, list[dict]]]
    sources: tuple[dict, ...]
    layouts: tuple[SplitLayout, ...]
    buffer_cells: int
    dropped: dict[str, int]
    seed: int
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, values: dict, path: str | os.PathLike) -> "Manifest":
        """Type the JSON of a manifest (``path``: its folder, named in errors)."""
        where = Path(path) / "manifest.json"
        try:
            return cls(Path(path), PrepareConfig.from_dict(values["config"]),
                       {str(k): int(v) for k, v in values["classes"].items()},
                       Geometry.from_dict(values["geometry"]), values["normalization"],
                       values["counts"], values["shards"], tuple(values["sources"]),
                       tuple(SplitLayout.from_dict(v) for v in values["layouts"]),
                       int(values["buffer"]["cells"]), dict(values["dropped"]),
                       int(values.get("seed", 0)), values)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataFormatError(f"{where}: damaged manifest (bad or missing {err}); prepare "
                                  f"again") from None

    @property
    def class_names(self) -> list[str]:
        """Class names in label order."""
        return sorted(self.classes, key=self.classes.get)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as written)."""
        return self.raw


def load_manifest(prepared_dir: str | os.PathLike) -> Manifest:
    """Read ``manifest.json`` of a prepared folder, with a clear error if it is not one."""
    path = Path(prepared_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataFormatError(f"{path}: not found; {prepared_dir} is not a prepared dataset "
                              f"(run python -m pipelines.prepare)") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: damaged manifest ({err}); prepare again") from None
    if manifest.get("format") != FORMAT:
        raise DataFormatError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    _check_names_and_shards(path, manifest)
    return Manifest.from_dict(manifest, prepared_dir)


def _check_names_and_shards(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse class or target names that are not safe file names, and shard stems that lead
    outside the prepared folder (a crafted manifest must not make readers open other files)."""
    try:
        for name in [*manifest["classes"], *(s["class"] for s in manifest["sources"])]:
            safe_name(name, str(path))
        for name in manifest["geometry"]["targets"]:
            safe_name(name, str(path), "target name")
        for table in (manifest["counts"], manifest["shards"]):
            for kind in (k for kinds in table.values() for k in kinds):
                if kind not in KINDS:  # kinds name figures and arrays readers write
                    raise DataFormatError(f"{path}: unknown image kind {kind!r} (expected one "
                                          f"of {KINDS}); prepare again")
        for kinds in manifest["shards"].values():
            for shard in (s for shards in kinds.values() for s in shards):
                safe_name(shard["class"], str(path))
                inside(path.parent, shard["stem"], f"{path}: shard")
    except (KeyError, TypeError, AttributeError) as err:
        raise DataFormatError(f"{path}: damaged manifest (bad or missing {err}); prepare "
                              f"again") from None


def check_shards(prepared_dir: str | os.PathLike, manifest: Manifest, shards: list[dict],
                 parts: Sequence[str], verify: bool = False) -> None:
    """Check that the ``parts`` files of ``shards`` hold what the manifest says.

    Always (cheap: headers and labels only): each file exists and has the dtype and shape that
    the geometry, storage dtype and the shard's count give, and its labels are the index of its
    class. With ``verify``, also the SHA-256 recorded when it was prepared (reads every byte).

    Raises
    ------
    DataFormatError
        Naming the first file that is missing, unreadable or differs.
    """
    root = Path(prepared_dir)
    tile, storage = manifest.geometry.tile, manifest.config.dtype
    for shard in shards:
        count = shard["count"]
        expected = {"images": ((count, tile, tile, 1), storage),
                    "labels": ((count,), "int32"),
                    "meta": ((count, len(manifest.geometry.meta_columns)), "int32"),
                    "targets": ((count, tile, tile, len(manifest.geometry.targets)), storage)}
        for part in parts:
            path = root / f"{shard['stem']}.{part}.npy"
            try:
                array = np.load(path, mmap_mode="r")
            except FileNotFoundError:
                raise DataFormatError(f"{path}: missing; the prepared folder is incomplete, so "
                                      f"prepare it again") from None
            except (OSError, ValueError, EOFError) as err:
                raise DataFormatError(f"{path}: unreadable shard ({err}); prepare "
                                      f"again") from None
            shape, dtype = expected[part]
            if array.shape != shape or array.dtype != np.dtype(dtype):
                raise DataFormatError(f"{path}: holds {array.dtype} {list(array.shape)}, but the "
                                      f"manifest gives {dtype} {list(shape)} ({count} tiles of "
                                      f"{shard['class']}); it changed after prepare: prepare "
                                      f"again")
            index = manifest.classes[shard["class"]]
            if part == "labels" and np.any(array != index):
                raise DataFormatError(f"{path}: labels other than {index}, the manifest's index "
                                      f"of {shard['class']}; it changed after prepare: prepare "
                                      f"again")
            recorded = shard.get("files", {}).get(part, {}).get("sha256")
            if verify and recorded != sha256(path):
                raise DataFormatError(f"{path}: its SHA-256 is not the one recorded in the "
                                      f"manifest ({recorded or 'none recorded'}); it changed "
                                      f"after prepare: prepare again")


def load_split(prepared_dir: str | os.PathLike, split: str, kind: str = "slice",
               classes: Sequence[str] | None = None, targets: bool = False,
               verify: bool = False) -> dict[str, np.ndarray]:
    """Read one split of a prepared dataset into memory as numpy arrays (no TensorFlow).

    Returns a dict with ``images`` ``(n, tile, tile, 1)`` float32, ``labels`` ``(n,)`` int32,
    ``meta`` ``(n, 7)`` int32 and, with ``targets=True``, ``targets`` ``(n, tile, tile, T)``
    (only shards that carry targets are read then). Shards are read in manifest order, after
    :func:`check_shards` (with ``verify``: their SHA-256 too).
    """
    manifest = load_manifest(prepared_dir)
    if kind not in manifest.shards.get(split, {}):
        raise ConfigError(f"{prepared_dir}: no {split!r} split of {kind!r} images")
    shards = [s for s in manifest.shards[split][kind]
              if (classes is None or s["class"] in classes) and (s["targets"] or not targets)]
    if not shards:
        raise ConfigError(f"{prepared_dir}: the {split} {kind} data holds no tiles"
                          + (" with targets" if targets else ""))
    root = Path(prepared_dir)
    parts = ("images", "labels", "meta") + (("targets",) if targets else ())
    check_shards(root, manifest, shards, parts, verify)
    out = {p: np.concatenate([np.load(root / f"{s['stem']}.{p}.npy") for s in shards])
           for p in parts}
    out["images"] = out["images"].astype(np.float32)
    if targets:
        out["targets"] = out["targets"].astype(np.float32)
    return out
