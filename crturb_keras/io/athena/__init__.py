"""Read and write Athena++ ``.athdf`` (HDF5) outputs of uniform meshes.

The layout follows Athena++'s ``src/outputs/athena_hdf5.cpp``:

* root attributes ``NumCycles`` (big-endian int32), ``Time`` (output real), ``Coordinates``
  (fixed-length byte string), ``RootGridX1..3`` (``[min, max, ratio]``), ``RootGridSize``,
  ``NumMeshBlocks``, ``MeshBlockSize``, ``MaxLevel``, ``NumVariables`` (one count per dataset),
  ``DatasetNames`` and ``VariableNames`` (fixed-length byte strings);
* datasets ``Levels`` ``(nblocks,)``, ``LogicalLocations`` ``(nblocks, 3)`` as ``(lx1, lx2, lx3)``,
  faces ``x1f`` ``(nblocks, bx1 + 1)`` etc., centres ``x1v`` ``(nblocks, bx1)`` etc., and one
  dataset per entry of ``DatasetNames`` of shape ``(nvar, nblocks, bx3, bx2, bx1)``. Variable
  names are split over the datasets in order by ``NumVariables`` (``prim`` + ``B``, ``cons`` + ``B``).

MeshBlocks are placed by their ``LogicalLocations``, never by file order. Mesh refinement is not
supported: the density maps this package learns from come from uniform turbulence boxes.
"""

from .layout import NAME_BYTES, cycle_outputs, cycle_stem
from .reader import athdf_variables, read_athdf
from .writer import fill_athdf, meshblock_edge, start_athdf, write_athdf

__all__ = ["NAME_BYTES", "athdf_variables", "cycle_outputs", "cycle_stem", "fill_athdf",
           "meshblock_edge", "read_athdf", "start_athdf", "write_athdf"]
