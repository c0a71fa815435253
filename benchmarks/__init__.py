"""Benchmarks: each writes a JSON and a markdown report under benchmarks/results/ (``make bench-<name>``)."""
