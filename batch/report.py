"""The per-day summary of a batch run, for a person: a table and a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from fraudcore.settings import REPO_ROOT


def summary_table(summary: pd.DataFrame) -> str:
    shown = summary.assign(mean_score=summary["mean_score"].round(4))
    return shown.to_string()


def summary_png(summary: pd.DataFrame, scores: pd.DataFrame, path: Path) -> Path:
    """Daily score distribution (box plot, log scale) and flagged share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.5 * len(summary) + 3), 6), sharex=True)
    days = list(summary.index)
    by_day = [scores.loc[scores["date"] == day, "fraud_probability"].clip(lower=1e-6) for day in days]
    top.boxplot(by_day, showfliers=False)
    top.set(yscale="log", ylabel="fraud probability", title="Daily score distribution")
    bottom.bar(range(1, len(days) + 1), summary["flagged_%"])
    bottom.set(ylabel="flagged %", xlabel="day")
    bottom.set_xticks(range(1, len(days) + 1), [str(day) for day in days], rotation=45, ha="right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def report_path(first, last) -> Path:
    return REPO_ROOT / "reports" / f"batch-{first}-{last}.png"
