"""The Feast feature repository: apply definitions, run the feature job, materialize online.

Definitions live in ``fraudcore.feature_repo`` (shared with the training pipeline); the feature
logic in ``fraudcore.features``.
"""
