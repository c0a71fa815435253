"""Time-window aggregates per entity, for rows sorted by (entity, time)."""

from __future__ import annotations

import numpy as np

NS_PER_DAY = 86_400 * 10**9


def window_start(entity: np.ndarray, time_ns: np.ndarray, width_ns: int) -> np.ndarray:
    """For rows sorted by (entity, time): index of the first row of the same entity with time > t - width.

    Windows are half-open, (t - width, t], as pandas' ``rolling("Nd")``.
    """
    start = np.empty(len(entity), dtype=np.int64)
    boundaries = np.flatnonzero(np.diff(entity)) + 1
    for first, end in zip(np.r_[0, boundaries], np.r_[boundaries, len(entity)], strict=True):
        times = time_ns[first:end]
        start[first:end] = first + np.searchsorted(times, times - width_ns, side="right")
    return start


def window_sums(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Sum of ``values[start[i] : i + 1]`` for every row i."""
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return cumulative[np.arange(1, len(values) + 1)] - cumulative[start]
