"""The KFP v2 training pipeline: one module per step (steps/), thin KFP components, the pipeline."""
