"""Names Athena++'s ``.athdf`` files share: fixed-length strings, the root attributes Athena++
writes itself, the datasets a file must hold, and the ``<base>.out<id>.<num>.athdf`` file names
that group the outputs of one cycle."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Size of Athena++'s fixed-length name strings (``max_name_length + 1`` bytes).
NAME_BYTES = 21


#: Root attributes written by Athena++ itself (others are passed through as metadata).
ATHENA_ATTRIBUTES = (
    "NumCycles", "Time", "Coordinates", "RootGridX1", "RootGridX2", "RootGridX3",
    "RootGridSize", "NumMeshBlocks", "MeshBlockSize", "MaxLevel", "NumVariables",
    "DatasetNames", "VariableNames",
)


REQUIRED_DATASETS = ("Levels", "LogicalLocations", "x1f", "x2f", "x3f")

PathLike = str | os.PathLike


_OUTPUT_NAME = re.compile(r"^(?P<base>.+)\.out(?P<id>\d+)\.(?P<num>\d+)\.athdf$")


def cycle_stem(path: PathLike) -> str | None:
    """``run.00010`` for ``run.out2.00010.athdf``: the name shared by all outputs of one cycle.

    None for files not named like Athena++ outputs.
    """
    match = _OUTPUT_NAME.match(Path(path).name)
    return f"{match['base']}.{match['num']}" if match else None


def cycle_outputs(path: PathLike) -> list[Path]:
    """All ``.athdf`` files of the same run and output number as ``path`` (``out1``, ``out2``...).

    ``run.out1.00010.athdf`` -> ``[run.out1.00010.athdf, run.out2.00010.athdf]`` when both exist,
    sorted by output id, so :func:`read_athdf` can merge ``prim`` and ``cons`` outputs.
    """
    path = Path(path)
    match = _OUTPUT_NAME.match(path.name)
    if not match:
        return [path]
    pattern = f"{match['base']}.out*.{match['num']}.athdf"
    found = [p for p in path.parent.glob(pattern) if _OUTPUT_NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_OUTPUT_NAME.match(p.name)["id"]))
