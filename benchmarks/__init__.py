"""Throughput and memory benchmarks; each writes JSON and prints one line of numbers."""
