"""Command-line jobs, run as ``python -m pipelines.<job>``: argument parsing around library calls."""

import os

# TensorFlow's C++ start-up notices drown the jobs' own output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
