"""Benchmarks: each prints its measurements as ratios against a peer measured in the same run."""
