"""Throughput and memory benchmarks; each writes JSON and prints one line of numbers."""

import crturb_keras  # noqa: E402,F401  (sets TensorFlow's oneDNN default before Keras is imported)
