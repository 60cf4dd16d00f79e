"""Command-line jobs, run as ``python -m pipelines.<job>``: argument parsing around library calls."""
