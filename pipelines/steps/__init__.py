"""Plain-Python implementations of the pipeline steps, each a function a KFP component calls."""
