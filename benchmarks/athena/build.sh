#!/usr/bin/env bash
# Build Athena++'s isothermal MHD turbulence binary with this package's problem generator, for
# `python -m benchmarks.athena_reference --athena-bin BUILD/bin/athena`.
#   bash benchmarks/athena/build.sh ATHENA_SOURCE_DIR BUILD_DIR [--cr]
# ATHENA_SOURCE_DIR: a checkout of PrincetonUniversity/athena (left untouched: it is copied).
# --cr: with Athena++'s two-moment cosmic-ray module (-cr), for `python -m benchmarks.mhd --preset
# CR_... --athena-bin`.
# GCC on x86 has _Float16 but no __fp16, and Debian's HDF5 1.10 has no float16 type; Athena++'s
# half-precision output names both, so both are mapped by -D (that output is then refused at run time).
# Needs g++, FFTW3 and serial HDF5 (Debian: apt-get install libfftw3-dev libhdf5-dev).
set -euo pipefail
src=$(realpath "$1"); build=$(realpath -m "$2")
cr=""
case "${3:-}" in
  "") ;;
  --cr) cr="-cr" ;;
  *) echo "$3: unknown option (only --cr)"; exit 2 ;;
esac
here=$(dirname "$(realpath "$0")")
[ -f "$src/configure.py" ] || { echo "$src: not an Athena++ checkout (no configure.py)"; exit 2; }
[ -e "$build" ] && { echo "$build exists; choose a new build folder"; exit 2; }
cp -r "$src" "$build"
cp "$here/crturb_mhd.cpp" "$build/src/pgen/crturb_mhd.cpp"
cd "$build"
hdf5=/usr/include/hdf5/serial
python3 configure.py --prob crturb_mhd -b $cr --flux hlld --eos isothermal -fft -hdf5 \
  --include "$hdf5" --lib_path /usr/lib/x86_64-linux-gnu/hdf5/serial --cxx g++ --cflag="-D__fp16=_Float16 -DH5T_NATIVE_FLOAT16=H5I_INVALID_HID" > configure.log
make -j"$(nproc)" > make.log 2>&1
echo "$build/bin/athena"
